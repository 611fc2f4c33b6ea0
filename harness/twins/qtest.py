"""A client for QEMU's qtest protocol, the twins' only way into the guest.

qtest gives total control of the guest (its memory, its interrupt lines), so the
socket lives in a private 0700 directory that only this process's user can
enter, and is removed with it. Every command has a deadline; a QEMU that stops
answering is an infrastructure error naming the command, never a silent hang.

Protocol (qemu/system/qtest.c): one line per command, one "OK ..." or "FAIL ..."
line per answer; "IRQ raise|lower N" lines arrive asynchronously once
irq_intercept_in/out is used, and are kept, not mistaken for answers.

Whoever started QEMU passes ``qemu_death``: a callable that returns None while QEMU
runs and, once it has exited, its exit status and stderr tail. Every failure to
reach QEMU then says why QEMU is gone (a missing ROM, a bad option), not only that
the socket is.
"""

from __future__ import annotations

import base64
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from harness.errors import InfrastructureError

DEFAULT_DEADLINE_S = 5.0


class QtestError(InfrastructureError):
    pass


class QtestSocketDir:
    """A private directory for the qtest socket: 0700, removed on close."""

    def __init__(self, prefix: str = "vfio-hil-qtest-"):
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))     # mkdtemp creates it 0700
        self.dir.chmod(0o700)
        self.path = self.dir / "qtest.sock"

    def qemu_args(self) -> list[str]:
        """QEMU listens; it does not wait for us, so the guest runs from the start. QEMU would
        otherwise log every qtest command to stderr; the twin keeps its own event log."""
        return ["-qtest", f"unix:{self.path},server=on,wait=off", "-qtest-log", "/dev/null"]

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class BoardQtestSocket(QtestSocketDir):
    """The qtest socket of a board that outlives a run (the virtual lab's: its QEMU is started by
    the BMC's chassis power, its command line fixed when the lab came up). Its directory is the
    lab's (made 0700 by the lab), so a run neither makes nor removes it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.dir = self.path.parent

    def close(self) -> None:
        pass


DeathProbe = Callable[[], Optional[str]]


class QtestClient:
    def __init__(self, path: Path, connect_deadline_s: float = 10.0, deadline_s: float = DEFAULT_DEADLINE_S,
                 qemu_death: DeathProbe | None = None):
        self.path = Path(path)
        self.deadline_s = deadline_s
        self._qemu_death = qemu_death
        self.irq_events: list[tuple[float, str, int]] = []
        self._buf = b""
        self._sock = self._connect(connect_deadline_s)
        # QEMU listens before it has finished starting: a QEMU that then fails (a missing ROM)
        # has accepted us and exits. One round trip proves it runs, or says why not.
        self.endianness = self.cmd("endianness")

    def _connect(self, deadline_s: float) -> socket.socket:
        end = time.monotonic() + deadline_s
        last: OSError | None = None
        while time.monotonic() < end:
            self._raise_if_qemu_died("before its qtest socket accepted a connection")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(self.path))
                return s
            except OSError as exc:      # QEMU not listening yet
                last = exc
                s.close()
                time.sleep(0.02)
        self._raise_if_qemu_died("before its qtest socket accepted a connection")
        raise QtestError(f"no qtest socket at {self.path} within {deadline_s} s ({last}), and QEMU still runs: "
                         f"is it started with -qtest unix:{self.path},server=on,wait=off?")

    def _raise_if_qemu_died(self, when: str) -> None:
        report = self._qemu_death() if self._qemu_death else None
        if report:
            raise QtestError(f"QEMU died {when}: {report}")

    def _await_death(self, when: str, grace_s: float = 2.0) -> None:
        """The socket's EOF means QEMU is exiting: give it ``grace_s`` to finish, then say why."""
        end = time.monotonic() + grace_s
        while time.monotonic() < end:
            self._raise_if_qemu_died(when)
            time.sleep(0.05)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "QtestClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _readline(self, end: float, command: str) -> str:
        while b"\n" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                raise QtestError(f"QEMU did not answer qtest command {command!r} within {self.deadline_s} s")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as exc:
                self._await_death(f"during qtest command {command!r}")
                raise QtestError(f"qtest socket broke during {command!r}: {exc}") from exc
            if not chunk:
                self._await_death(f"during qtest command {command!r}")
                raise QtestError(f"QEMU closed the qtest socket during {command!r} but has not exited")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, command: str) -> str:
        """Send one command, return what follows "OK" (stripped)."""
        end = time.monotonic() + self.deadline_s
        try:
            self._sock.sendall(command.encode() + b"\n")
        except OSError as exc:
            self._raise_if_qemu_died(f"before qtest command {command!r}")
            raise QtestError(f"qtest socket broke sending {command!r}: {exc}") from exc
        while True:
            line = self._readline(end, command)
            if line.startswith("IRQ "):
                _, what, n = line.split()
                self.irq_events.append((time.monotonic(), what, int(n)))
                continue
            if line == "OK" or line.startswith("OK "):
                return line[3:].strip()
            raise QtestError(f"qtest command {command!r} failed: {line}")

    def readl(self, addr: int) -> int:
        return int(self.cmd(f"readl {addr:#x}"), 16)

    def writel(self, addr: int, value: int) -> None:
        self.cmd(f"writel {addr:#x} {value & 0xffffffff:#x}")

    def read(self, addr: int, size: int) -> bytes:
        return base64.b64decode(self.cmd(f"b64read {addr:#x} {size:#x}"))

    def write(self, addr: int, data: bytes) -> None:
        if data:
            self.cmd(f"b64write {addr:#x} {len(data):#x} {base64.b64encode(data).decode()}")

    def set_irq_in(self, qom_path: str, name: str, num: int, level: int) -> None:
        self.cmd(f"set_irq_in {qom_path} {name} {num} {level}")
