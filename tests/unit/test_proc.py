"""harness.proc stops the whole process group it started, on a deadline and on an interrupt."""

import os
import signal
import threading
import time

import pytest

from harness import proc
from harness.errors import CommandError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive: it waits for its parent (here, init) to reap it
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def _grandchild(pidfile) -> int:
    end = time.monotonic() + 5
    while time.monotonic() < end:
        if pidfile.exists() and pidfile.read_text().strip():
            return int(pidfile.read_text())
        time.sleep(0.02)
    raise AssertionError("the command never wrote its background pid")


def _wait_dead(pid: int) -> bool:
    end = time.monotonic() + 5
    while time.monotonic() < end and _alive(pid):
        time.sleep(0.05)
    return not _alive(pid)


def test_a_deadline_stops_the_command_and_what_it_started(tmp_path):
    pidfile = tmp_path / "bg.pid"
    with pytest.raises(CommandError) as exc:
        proc.run(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], what="a stuck build",
                 log=tmp_path / "log", timeout=1)
    assert "a stuck build" in str(exc.value)
    assert _wait_dead(_grandchild(pidfile)), "the command's background child outlived the deadline"


def test_sigterm_stops_the_command_and_what_it_started(tmp_path):
    """SIGTERM, as `vfio-hil` handles it (harness.cli: it unwinds like Ctrl-C), mid-command."""
    pidfile = tmp_path / "bg.pid"
    old = signal.signal(signal.SIGTERM, proc.sigterm_as_interrupt)
    timer = threading.Timer(1.0, os.kill, [os.getpid(), signal.SIGTERM])
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            proc.run(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], what="a long build",
                     log=tmp_path / "log", timeout=30)
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, old)
    assert _wait_dead(_grandchild(pidfile)), "the command's background child outlived the interrupt"
