"""Interrupting the harness's own tests (Ctrl-C, or SIGTERM as a CI job's cancel sends) stops
them within seconds, with no QEMU left behind, even in the middle of a suite run."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_suite_errors import _descendants

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _qemus(pid: int) -> list[int]:
    out = []
    for p in _descendants(pid):
        try:
            if b"qemu-system" in Path(f"/proc/{p}/cmdline").read_bytes():
                out.append(p)
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        return b"qemu-system" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_test_session_stops_and_leaves_no_qemu(sig, tmp_path):
    # A suite run that boots Highbank and then waits for a ready marker that never comes: the
    # interrupt lands inside run_suite, which used to swallow it and let the session go on.
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             "tests/integration/test_suite_errors.py::test_boot_hang_is_error_within_the_deadline",
                             f"--basetemp={tmp_path / 'inner'}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            # A shell's background job (nohup make test &) inherits SIGINT ignored, and
                            # Python keeps an ignored SIGINT ignored: give the session Ctrl-C as a terminal would.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300          # the kernel is cached by the earlier tests
        while not (qemus := _qemus(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, "the inner session never started QEMU"
            time.sleep(0.2)
        time.sleep(2)                               # QEMU is booting: inside run_suite's wait
        sent = time.monotonic()
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert took < 30, f"the session went on for {took:.0f} s after {sig.name}:\n{output[-3000:]}"
    assert proc.returncode == 2, f"pytest exited {proc.returncode}, not as interrupted (2):\n{output[-3000:]}"
    assert "KeyboardInterrupt" in output or "Interrupted" in output, output[-3000:]
    time.sleep(1)
    assert not [p for p in qemus if _alive(p)], f"QEMU {qemus} outlived the interrupted session"
