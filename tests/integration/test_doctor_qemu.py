"""`vfio-hil doctor` starts every QEMU target's exact command line halted: a healthy host is
green, and a command line QEMU cannot start is red with QEMU's own message (here a ROM it
cannot find, as on a fresh Debian 12 without ipxe-qemu)."""

from pathlib import Path

import pytest

from harness import doctor
from harness.targets import get_target

pytestmark = pytest.mark.integration


def test_doctor_is_green_on_this_host(tmp_path):
    missing = [f"{c.name}: {c.detail}" for c in doctor.run_checks(tmp_path) if not c.ok]
    assert not missing, "\n".join(missing)


def test_a_command_line_qemu_cannot_start_is_red_with_qemus_message(tmp_path):
    config = get_target("qemu-virt-xgmac").lab_config_path()
    broken = tmp_path / "qemu-virt-twin.yaml"
    text = Path(config).read_text()
    nic = "-device virtio-net-device,netdev=mgmt"
    assert nic in text
    broken.write_text(text.replace(nic, f"{nic} -device virtio-net-pci,romfile=vfio-hil-missing.rom"))
    checks = {c.name: c for c in doctor.qemu_launch_checks({"qemu-virt-xgmac": broken})}
    bad = checks["QEMU starts (target qemu-virt-xgmac)"]
    assert not bad.ok
    assert 'failed to find romfile "vfio-hil-missing.rom"' in bad.detail
    assert "command: /usr/bin/qemu-system-aarch64" in bad.detail      # to reproduce it by hand
    assert all(c.ok for n, c in checks.items() if n != bad.name), [c for c in checks.values() if not c.ok]
