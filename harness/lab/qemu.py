"""DeadlineQEMUDriver: labgrid's QEMUDriver with deadlines and evidence.

What it adds, after QEMU's python/qemu/machine:
- QEMU's stderr goes to a log file; a launch failure raises with the command
  line and the log tail instead of blocking forever in accept();
- shutdown is soft first (QMP quit, bounded wait), then hard (kill), and the
  cleanup always runs;
- the process we started is the only one we ever signal, by its PID;
- a QEMU that dies later (console EOF, a QMP command) is reported with its exit
  status and stderr tail, never as a console timeout or a broken pipe;
- ``start_frozen()`` brings the exact command line up halted (-S), so that
  `vfio-hil doctor` can prove a target's QEMU starts without booting anything.
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import attr
from labgrid.driver.qemudriver import QEMUDriver
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.util.qmp import QMPError, QMPMonitor

from harness.errors import CommandError, InfrastructureError
from harness.proc import tail_of_file

LAUNCH_DEADLINE_S = 30.0
SOFT_SHUTDOWN_S = 10.0
DEATH_GRACE_S = 2.0      # after the console's EOF, how long QEMU gets to exit before we say so
QMP_DEADLINE_S = 30.0    # one QMP command's answer (a stop or a port forward takes milliseconds)


class QemuDiedError(InfrastructureError):
    """QEMU exited under us; the message carries its exit status and stderr tail."""


@target_factory.reg_driver
@attr.s(eq=False)
class DeadlineQEMUDriver(QEMUDriver):
    log_dir = attr.ib(default="", validator=attr.validators.instance_of(str))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.stderr_log: Path | None = None

    @property
    def command_line(self) -> list[str]:
        return list(self._cmd)

    @step()
    def on(self):
        if self.status:
            return
        self.start_frozen()
        for v in self._forwarded_ports.values():
            self._add_port_forward(*v)
        self.monitor_command("cont")

    def start_frozen(self) -> None:
        """Start QEMU halted (labgrid's command line always has -S), accept its serial connection
        and complete the QMP handshake; the guest has not run a single instruction yet."""
        log_dir = Path(self.log_dir or tempfile.mkdtemp(prefix="vfio-hil-qemu-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_log = log_dir / "qemu-stderr.log"
        with open(self.stderr_log, "ab") as err:
            err.write(f"$ {shlex.join(self._cmd)}\n".encode())
            err.flush()
            self._child = subprocess.Popen(self._cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        # QEMU connects to our serial socket at start-up; if it died first, say why.
        deadline = time.monotonic() + LAUNCH_DEADLINE_S
        while True:
            ready, _, _ = select.select([self._socket], [], [], 0.2)
            if ready:
                break
            if self._child.poll() is not None or time.monotonic() > deadline:
                rc = self._child.returncode
                self._reap(kill=True)
                raise self._launch_error("QEMU did not connect to its serial socket", rc)
        self._clientsocket, _ = self._socket.accept()
        self._clientsocket.setblocking(0)
        try:
            with self._qmp_deadline("the QMP handshake"):
                self.qmp = QMPMonitor(self._child.stdout, self._child.stdin)
        except QMPError as exc:
            rc = self._child.poll()
            self._reap(kill=True)
            raise self._launch_error(f"QMP handshake failed: {exc}", rc) from exc
        self.status = 1

    def death_report(self) -> str | None:
        """None while QEMU runs; once it has exited, its status and the tail of its stderr."""
        child = self._child
        if child is None or child.poll() is None:
            return None
        return (f"QEMU exited with status {child.returncode}; its stderr ({self.stderr_log}) ends:\n"
                f"{tail_of_file(self.stderr_log)}")

    def _died(self, during: str) -> QemuDiedError | None:
        """A QemuDiedError if QEMU has exited (waiting up to DEATH_GRACE_S for it to finish)."""
        child = self._child
        if child is None:
            return None
        try:
            child.wait(timeout=DEATH_GRACE_S)
        except subprocess.TimeoutExpired:
            return None
        return QemuDiedError(f"QEMU died {during}: {self.death_report()}")

    def _read(self, size=1, timeout=10, max_size=None):
        data = super()._read(size=size, timeout=timeout, max_size=max_size)
        if data == b"":      # the serial socket's EOF: QEMU closed it, i.e. it is exiting
            raise self._died("while the console was read") or QemuDiedError(
                f"QEMU closed its serial console but still runs (pid {self._child.pid})")
        return data

    @contextmanager
    def _qmp_deadline(self, what: str):
        """labgrid's QMP client reads its answer with a blocking readline: a QEMU that is alive but
        never answers would hang the run. Past QMP_DEADLINE_S our own child is killed, which ends
        the read, and the wait is reported as QEMU's fault with its stderr tail."""
        child, fired = self._child, threading.Event()

        def expire():
            fired.set()
            child.kill()
        timer = threading.Timer(QMP_DEADLINE_S, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except Exception as exc:
            if fired.is_set():
                child.wait(timeout=DEATH_GRACE_S)
                raise QemuDiedError(f"QEMU did not answer {what} within {QMP_DEADLINE_S} s and was killed: "
                                    f"{self.death_report()}") from exc
            raise
        finally:
            timer.cancel()

    def monitor_command(self, command, arguments={}):  # noqa: B006 (labgrid's signature)
        try:
            with self._qmp_deadline(f"QMP {command!r}"):
                return super().monitor_command(command, arguments)
        except QemuDiedError:
            raise
        except (QMPError, OSError, ValueError) as exc:
            died = self._died(f"during QMP {command!r}") if command != "quit" else None
            if died is not None:
                raise died from exc
            raise

    @step()
    def off(self):
        """Soft (QMP quit, bounded) then hard (SIGKILL to our own child); cleanup always runs."""
        if not self.status or self._child is None:
            self.status = 0
            return
        try:
            if self._child.poll() is None:
                try:
                    self.monitor_command("quit")
                except Exception:  # QMP may already be gone; the hard path follows
                    pass
        finally:
            self._reap(kill=False)
            self.status = 0

    def _reap(self, kill: bool) -> None:
        child = self._child
        if child is None:
            return
        try:
            if not kill:
                try:
                    child.wait(timeout=SOFT_SHUTDOWN_S)
                except subprocess.TimeoutExpired:
                    kill = True
            if kill and child.poll() is None:
                os.kill(child.pid, 9)
                child.wait(timeout=SOFT_SHUTDOWN_S)
        finally:
            for stream in (child.stdin, child.stdout):
                if stream:
                    try:
                        stream.close()
                    except OSError:     # a QMP command left buffered for a QEMU that died: nothing to flush to
                        pass
            if self._clientsocket:
                self._clientsocket.close()
                self._clientsocket = None
            self._child = None

    def _atexit(self):
        self._reap(kill=True)

    def _launch_error(self, what: str, rc: int | None) -> CommandError:
        """rc None: QEMU was still running (no connection within the deadline) and was killed."""
        return CommandError(f"QEMU launch ({what})", self._cmd, rc, tail_of_file(self.stderr_log), self.stderr_log)
