"""A twin on a bare QEMU virt (no kernel, TCG): the twins' own tests and benchmarks play the
guest through the twin's qtest socket, under the engine's lock, as a guest store would land."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

from harness.twins.engine import EventLog, TwinEngine
from harness.twins.gic import GicLines
from harness.twins.qtest import QtestClient, QtestSocketDir

BARE_VIRT = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512", "-accel", "tcg",
             "-display", "none", "-serial", "none", "-monitor", "none"]


@contextmanager
def bare_virt():
    """Yields (socket dir, QEMU process); QEMU is killed and the socket dir removed afterwards."""
    sock = QtestSocketDir()
    proc = subprocess.Popen([*BARE_VIRT, *sock.qemu_args()])
    try:
        yield sock, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        sock.close()


@contextmanager
def bare_virt_twin(twin, *, gic: bool = True, log: Path | None = None):
    """Yields (engine, QEMU process) with ``twin`` running; everything is stopped afterwards."""
    with bare_virt() as (sock, proc):
        q = QtestClient(sock.path)
        engine = None
        try:
            engine = TwinEngine(q, twin, GicLines.locate(q) if gic else None, EventLog(log)).start()
            yield engine, proc
        finally:
            if engine is not None:
                engine.stop()
            q.close()
