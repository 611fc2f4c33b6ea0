"""A twin on a bare QEMU virt (no kernel, TCG): the twins' own tests and benchmarks play the
guest through the twin's qtest socket, under the engine's lock, as a guest store would land."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

from harness.proc import tail_of_file
from harness.twins.engine import EventLog, TwinEngine
from harness.twins.gic import GicLines
from harness.twins.qtest import QtestClient, QtestSocketDir

# No NIC: virt's default one is a virtio-net-pci whose option ROM (Debian's ipxe-qemu) a twin never
# needs; a QEMU that cannot find it refuses to start.
BARE_VIRT = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512", "-accel", "tcg",
             "-display", "none", "-serial", "none", "-monitor", "none", "-nic", "none"]


def death_probe(proc: subprocess.Popen, stderr_log: Path):
    """For QtestClient: None while ``proc`` runs, else its exit status and stderr tail."""
    def probe() -> str | None:
        if proc.poll() is None:
            return None
        return f"exit status {proc.returncode}; stderr: {tail_of_file(stderr_log).strip() or '(empty)'}"
    return probe


@contextmanager
def bare_virt(extra_args: tuple[str, ...] = ()):
    """Yields (socket dir, QEMU process); QEMU is killed and the socket dir removed afterwards.
    QEMU's stderr is kept in the socket dir (``sock.dir / "qemu-stderr.log"``) for death_probe."""
    sock = QtestSocketDir()
    with open(sock.dir / "qemu-stderr.log", "wb") as err:
        proc = subprocess.Popen([*BARE_VIRT, *extra_args, *sock.qemu_args()], stderr=err)
    try:
        yield sock, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        sock.close()


def bare_qtest(sock: QtestSocketDir, proc: subprocess.Popen) -> QtestClient:
    """A qtest client of a bare_virt() QEMU that, if QEMU died, says why."""
    return QtestClient(sock.path, qemu_death=death_probe(proc, sock.dir / "qemu-stderr.log"))


@contextmanager
def bare_virt_twin(twin, *, gic: bool = True, log: Path | None = None):
    """Yields (engine, QEMU process) with ``twin`` running; everything is stopped afterwards."""
    with bare_virt() as (sock, proc):
        q = bare_qtest(sock, proc)
        engine = None
        try:
            engine = TwinEngine(q, twin, GicLines.locate(q) if gic else None, EventLog(log)).start()
            yield engine, proc
        finally:
            if engine is not None:
                engine.stop()
            q.close()
