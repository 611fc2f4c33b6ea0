"""A QEMU that dies under labgrid is reported with its exit status and stderr tail wherever the
harness waits on it (the serial console, QMP), never as a console timeout or a broken pipe.
The command line is qemu-highbank's own, on placeholder images (the guest spins on zeros)."""

import os
import signal
import time

import pytest

from harness.lab.frozen import PlaceholderImages
from harness.lab.qemu import QemuDiedError
from harness.lab.session import lab_environment, lab_variables
from harness.targets import get_target
from harness.traffic import UdpPorts

pytestmark = pytest.mark.integration


@pytest.fixture
def running_qemu(tmp_path):
    target = get_target("qemu-highbank")
    env = lab_environment(target.lab_config_path(),
                          lab_variables(target, PlaceholderImages(tmp_path), tmp_path, UdpPorts()))
    qemu = env.get_target("main").get_driver("DeadlineQEMUDriver")
    qemu.on()
    try:
        yield qemu
    finally:
        env.cleanup()


def test_the_console_reports_qemus_death(running_qemu):
    os.kill(running_qemu._child.pid, signal.SIGKILL)        # the QEMU this test started
    started = time.monotonic()
    with pytest.raises(QemuDiedError, match=r"QEMU died while the console was read: QEMU exited with status -9"):
        running_qemu.expect("never printed", timeout=30)
    assert time.monotonic() - started < 5                    # not the 30 s timeout


def test_qmp_reports_qemus_death(running_qemu):
    running_qemu.monitor_command("query-status")
    os.kill(running_qemu._child.pid, signal.SIGKILL)
    with pytest.raises(QemuDiedError, match=r"during QMP 'query-status': QEMU exited with status -9; its stderr"):
        running_qemu.monitor_command("query-status")


def test_a_qemu_that_stops_answering_qmp_is_killed_at_the_deadline(running_qemu, monkeypatch):
    """SIGSTOP: alive, but it never answers. labgrid's QMP read would block forever."""
    import harness.lab.qemu as qemu_mod

    monkeypatch.setattr(qemu_mod, "QMP_DEADLINE_S", 1.0)
    os.kill(running_qemu._child.pid, signal.SIGSTOP)         # the QEMU this test started
    started = time.monotonic()
    with pytest.raises(QemuDiedError, match=r"QEMU did not answer QMP 'query-status' within 1.0 s and was killed"):
        running_qemu.monitor_command("query-status")
    assert time.monotonic() - started < 5
