"""Stand-ins for a board's parts in the lab tests: its serial port behind the BMC."""

import socket
import threading
from pathlib import Path

import pytest

from harness.lab import chassis, netns
from harness.proc import group_running


class UBootSerial:
    """A board's serial port: prints U-Boot's banner and prompt to whoever connects (the BMC, when
    it starts: before any SOL session, so nobody sees it), then answers each line with
    ``echo: <line>`` and the prompt again, an empty line with the prompt."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen()
        self.port = self.srv.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        with conn:
            conn.sendall(b"\r\nU-Boot 2023.01 (vfio-hil test board)\r\nHighbank # ")
            buf = b""
            while True:
                try:
                    data = conn.recv(1024)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r" in buf or b"\n" in buf:
                    line, _, buf = buf.replace(b"\r", b"\n").partition(b"\n")
                    conn.sendall((b"echo: " + line + b"\r\n" if line else b"") + b"Highbank # ")

    def close(self):
        self.srv.close()


def assert_lab_gone(state: dict) -> None:
    """After `lab down`: no namespace, none of the recorded process groups, no board, no socket."""
    assert not netns.exists(state["netns"])
    assert not [name for name, pgid in state["groups"].items() if group_running(pgid)]
    assert chassis._pid(Path(state["board_dir"])) is None
    assert not Path(state["qtest_socket"]).parent.exists()


@pytest.fixture(scope="module")
def seattle(kernel_spec):
    """qemu-seattle and its artifacts on the session's kernel: the virtual lab's suite tests'
    target (a fixture the test modules import)."""
    from harness.artifacts import build_artifacts
    from harness.kernel.spec import parse_kernel_spec
    from harness.targets import get_target

    target = get_target("qemu-seattle")
    return target, build_artifacts(target, parse_kernel_spec(kernel_spec), [])


def lab_up_for_module(workdir: Path, target, **up_args):
    """A module fixture's body: the virtual lab up in ``workdir``, yielded as (workdir, state);
    down after, with nothing of it left."""
    from harness.lab import virtual

    state = virtual.up(workdir, target, **up_args)
    try:
        yield workdir, state
    finally:
        virtual.down(workdir)
    assert_lab_gone(state)
