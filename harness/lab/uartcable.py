"""The serial cable between a virtual board and its BMC: two TCP ports on 127.0.0.1, one that the
BMC (ipmi_sim's SOL) connects to once, when it starts, and one that the board's QEMU connects to
(``-serial tcp:127.0.0.1:PORT``) each time it is powered on; bytes pass both ways between
whatever is connected now. Needed because ipmi_sim connects its SOL device only at its start
(measured: a port that opens later is never connected), while the board's serial exists only
while the board is on. Bytes with nobody on the other end are dropped, as on a cable.

Run as ``python -m harness.lab.uartcable <bmc port> <board port>`` in a session of its own;
``UartCable`` starts it so (inside the virtual lab's namespace).
"""

from __future__ import annotations

import selectors
import socket
import subprocess
import sys
from pathlib import Path

import attrs

from harness.lab import netns
from harness.lab.daemon import Daemon, own_tree_env

READY_DEADLINE_S = 10.0


def listener(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def serve(bmc_port: int, board_port: int) -> None:
    sel = selectors.DefaultSelector()
    ends: dict[str, socket.socket | None] = {"bmc": None, "board": None}
    for name, port in (("bmc", bmc_port), ("board", board_port)):
        sel.register(listener(port), selectors.EVENT_READ, ("listen", name))
    while True:
        for key, _ in sel.select():
            kind, name = key.data
            if kind == "listen":
                conn, _ = key.fileobj.accept()
                if ends[name] is not None:          # a new connection replaces the old (a board re-powered)
                    sel.unregister(ends[name])
                    ends[name].close()
                ends[name] = conn
                sel.register(conn, selectors.EVENT_READ, ("conn", name))
                continue
            other = ends["board" if name == "bmc" else "bmc"]
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                ends[name] = None
                continue
            if other is not None:
                try:
                    other.sendall(data)
                except OSError:
                    pass


@attrs.define
class UartCable(Daemon):
    workdir: Path
    bmc_port: int
    board_port: int
    netns: str | None = None
    proc: subprocess.Popen | None = None
    log_name = "uartcable.log"

    def start(self) -> "UartCable":
        argv = [*netns.prefix(self.netns), sys.executable, "-m", "harness.lab.uartcable", str(self.bmc_port),
                str(self.board_port)]
        self.spawn(argv, env=own_tree_env())
        self.await_ready(lambda: netns.listening(self.proc.pid, "tcp", self.bmc_port), argv,
                         f"the UART cable did not listen on 127.0.0.1:{self.bmc_port}", READY_DEADLINE_S)
        return self


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
