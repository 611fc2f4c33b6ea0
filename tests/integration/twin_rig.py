"""A twin on a real QEMU virt with no kernel, for the twin tests: this process plays the guest
through the twin's own qtest socket, under the engine's lock, as a guest store would land."""

import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from harness.twins.engine import EventLog, TwinEngine
from harness.twins.gic import GicLines
from harness.twins.qtest import QtestClient, QtestSocketDir

VIRT = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512", "-accel", "tcg",
        "-display", "none", "-serial", "none", "-monitor", "none"]


@contextmanager
def virt_twin(twin, *, gic: bool = True, log: Path | None = None):
    """Yields (engine, QEMU process); everything is stopped and removed afterwards."""
    sock = QtestSocketDir()
    proc = subprocess.Popen([*VIRT, *sock.qemu_args()])
    q = None
    engine = None
    try:
        q = QtestClient(sock.path)
        engine = TwinEngine(q, twin, GicLines.locate(q) if gic else None, EventLog(log)).start()
        yield engine, proc
    finally:
        if engine is not None:
            engine.stop()
        if q is not None:
            q.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        sock.close()


def guest(engine, fn):
    with engine.lock:
        return fn(engine.q)


def wait_for(engine, cond, deadline_s=2.0) -> float:
    """Polls ``cond(q)`` as a guest would; returns when it held, or fails the test."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if guest(engine, cond):
            return time.monotonic()
        time.sleep(0.0005)
    raise AssertionError(f"condition not reached within {deadline_s} s")


def settle(engine, steps: int = 3) -> None:
    """Wait until the engine has made ``steps`` more steps (each sees every earlier write)."""
    start = engine.steps
    end = time.monotonic() + 5
    while engine.steps < start + steps and time.monotonic() < end:
        time.sleep(0.001)
