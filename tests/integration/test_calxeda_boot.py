"""The built Calxeda kernel boots under QEMU -M highbank and -M midway to the ready marker,
and the on-target agent reports real VFIO state."""

import re
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness.artifacts import build_artifacts
from harness.bootlog import scan, unexpected
from harness.errors import InfrastructureError
from harness.kernel.spec import parse_kernel_spec
from harness.lab.session import booted
from harness.suite import platform

pytestmark = pytest.mark.integration

DUT = "fff50000.ethernet"


def test_artifacts_are_complete(highbank_artifacts):
    art = highbank_artifacts
    for name in ("kernel", "dtb", "initramfs", "config", "agent"):
        assert art.path(name).is_file(), name
    assert (art.path("modules") / "modules.dep").is_file()
    meta = art.meta
    assert re.match(r"^\d+\.\d+", meta["release"])
    assert meta["source_hash"] and meta["fragment_hash"] and meta["compiler"]
    config = art.path("config").read_text()
    assert "CONFIG_VFIO_PLATFORM=m" in config and "# CONFIG_ARM_LPAE is not set" in config
    listing = subprocess.run(f"gzip -dc {art.path('initramfs')} | cpio -it --quiet", shell=True,
                             capture_output=True, text=True, check=True, timeout=120).stdout.split()
    rel = meta["release"]
    for member in ("init", "bin/busybox", "sbin/modprobe", "usr/sbin/dropbear", "usr/bin/vfio-hil-agent",
                   f"lib/modules/{rel}/modules.dep", f"lib/modules/{rel}/modules.alias",
                   "lib/vfio-hil/null-reset/calxeda_hb-xgmac/vfio_null_reset.ko", "root/.ssh/authorized_keys"):
        assert member in listing, member
    alias = (art.path("modules") / "modules.alias").read_text()
    assert "alias vfio-reset:calxeda,hb-xgmac vfio_platform_calxedaxgmac" in alias


def test_identical_build_is_answered_from_the_cache(highbank, highbank_artifacts, kernel_spec):
    again = build_artifacts(highbank, parse_kernel_spec(kernel_spec), [])
    assert again.cached and again.dir == highbank_artifacts.dir


def test_boots_to_ready_and_agent_reports_vfio(board, board_artifacts, tmp_path):
    with booted(board, board_artifacts, tmp_path / "boot",
                extra_bootargs="vfio.enable_unsafe_noiommu_mode=1") as s:
        assert "VFIO-HIL-READY" in s.strategy.ready_line
        assert f"release={board_artifacts.meta['release']}" in s.strategy.ready_line
        assert "ssh=up" in s.strategy.ready_line

        # The SSH host key the target printed on its console is pinned: a server showing another
        # key (here: the pin swapped for a key of our own) is refused, never accepted.
        ssh = s.lg_target.get_driver("ParamikoSSHDriver", activate=False)   # (s.ssh would activate it)
        pinned = ssh.host_key
        assert pinned and pinned in s.strategy.ready_line
        s.lg_target.deactivate(ssh)
        ssh.host_key = Ed25519PrivateKey.generate().public_key().public_bytes(
            Encoding.OpenSSH, PublicFormat.OpenSSH).split()[1].decode()
        with pytest.raises(InfrastructureError, match="the host key changed"):
            s.lg_target.activate(ssh)
        ssh.host_key = pinned
        s.lg_target.activate(ssh)

        # Serial and SSH reach the same machine.
        serial_uname = s.shell.run_check("uname -r")
        ssh_uname = s.ssh.run_check("uname -r")
        assert serial_uname == ssh_uname == [board_artifacts.meta["release"]]

        # Files travel both ways over SSH (dropbear has no SFTP).
        blob = bytes(range(256)) * 300
        (tmp_path / "up.bin").write_bytes(blob)
        s.ssh.put(str(tmp_path / "up.bin"), "/tmp/up.bin")
        s.ssh.get("/tmp/up.bin", str(tmp_path / "down.bin"))
        assert (tmp_path / "down.bin").read_bytes() == blob

        # Before vfio is loaded the agent says so instead of failing.
        info = platform.events(s.ssh.run("vfio-hil-agent info")[0])
        assert info[0]["event"] == "info" and info[0]["vfio_module"] is False and info[0]["container"] is False

        # Bind the device under test to vfio-platform; the reset module must be
        # loaded by the kernel's own request_module("vfio-reset:calxeda,hb-xgmac").
        s.ssh.run_check("modprobe vfio_platform")
        assert "vfio_platform_calxedaxgmac" not in "\n".join(s.ssh.run_check("cat /proc/modules"))
        platform.bind_to_vfio(s.ssh, DUT)
        modules = "\n".join(s.ssh.run_check("cat /proc/modules"))
        assert "vfio_platform_calxedaxgmac" in modules

        selftest = platform.events(s.ssh.run_check("vfio-hil-agent selftest"))
        assert selftest[-1] == {"event": "selftest", "result": "ok", "api_version": 0}

        events = platform.events(s.ssh.run_check("vfio-hil-agent info"))
        info = events[0]
        assert info["container"] and info["ext_noiommu"] and info["noiommu_mode"] == "Y"
        assert any(e["event"] == "vfio_node" and "noiommu-" in e["path"] for e in events)
        (device,) = [e for e in events if e["event"] == "device"]
        assert device["name"] == DUT and device["platform"] and device["reset"] and device["noiommu"]
        assert device["num_regions"] == 1 and device["num_irqs"] == 3

        dmesg = "\n".join(s.ssh.run_check("dmesg"))
    console = s.console_log.read_text(errors="replace")
    assert "VFIO-HIL-READY" in console
    for name, text in (("console", console), ("dmesg", dmesg)):
        bad = unexpected(scan(text, board.known_boot_warnings))
        assert not bad, f"{name}: " + "\n---\n".join(f"line {i.line_no}: {i.text}" for i in bad)


def test_null_reset_control_replaces_the_handler(board, board_artifacts, tmp_path):
    """The negative control binds in the real handler's place, and opening the device runs it."""
    ko = "/lib/vfio-hil/null-reset/calxeda_hb-xgmac/vfio_null_reset.ko"
    with booted(board, board_artifacts, tmp_path / "boot",
                extra_bootargs="vfio.enable_unsafe_noiommu_mode=1") as s:
        s.ssh.run_check("modprobe vfio_platform")
        platform.bind_to_vfio(s.ssh, DUT)
        assert "vfio_platform_calxedaxgmac" in "\n".join(s.ssh.run_check("cat /proc/modules"))
        s.ssh.run_check(f"echo {DUT} > /sys/bus/platform/drivers/vfio-platform/unbind")
        s.ssh.run_check("rmmod vfio_platform_calxedaxgmac")
        s.ssh.run_check(f"insmod {ko}")
        s.ssh.run_check(f"echo {DUT} > /sys/bus/platform/drivers_probe")
        modules = "\n".join(s.ssh.run_check("cat /proc/modules"))
        assert "vfio_null_reset" in modules and "vfio_platform_calxedaxgmac" not in modules

        events = platform.events(s.ssh.run_check("vfio-hil-agent info"))   # opens the device: reset runs
        (device,) = [e for e in events if e["event"] == "device"]
        assert device["reset"]
        dmesg = "\n".join(s.ssh.run_check("dmesg"))
        assert "vfio-hil: null reset for calxeda,hb-xgmac" in dmesg
