"""The boot stage a lab board uses, on a local QEMU board: Debian's u-boot-qemu as firmware,
labgrid's UBootDriver stopping autoboot, the kernel, tree and initramfs staged with labgrid's
TFTPProviderDriver in the directory QEMU's own TFTP server serves, the strategy's tftp_boot
commands (U-Boot's own ${...} variables kept), then the ready line and SSH with the host key the
target printed. The lab's faults of this stage: a TFTP file missing names the command that
failed; a board whose firmware never prints a prompt is the lab's error within the deadline."""

import os
from pathlib import Path

import pytest
from labgrid import Environment
from labgrid.strategy.common import StrategyError

from harness.artifacts import build_artifacts
from harness.errors import InfrastructureError
from harness.kernel.spec import parse_kernel_spec
from harness.lab.session import bootargs, unwrap_strategy_error
from harness.lab.firmware import UBOOT
from harness.sshkey import ensure_key
from harness.paths import cache_root
from harness.targets import get_target
from harness.twins.runtime import build_dtb

pytestmark = [pytest.mark.integration, pytest.mark.lab]

ENV = """
targets:
  main:
    drivers:
      DeadlineQEMUDriver:
        log_dir: {log}
        qemu_bin: qemu
        machine: virt
        cpu: cortex-a57
        memory: 1024M
        bios: firmware
        extra_args: "-netdev user,id=mgmt,restrict=on,tftp={tftp} -device virtio-net-device,netdev=mgmt"
      UBootDriver:
        prompt: '=> '
        autoboot: 'Hit any key to stop autoboot'
        login_timeout: {uboot_timeout}
        boot_timeout: 120
      TFTPProviderDriver: {{}}
      ShellDriver:
        prompt: 'vfio-hil:[^ ]*# '
        login_prompt: 'vfio-hil login: '
        username: root
        login_timeout: 120
      ParamikoSSHDriver:
        keyfile: {key}
      VfioHilStrategy:
        ready_marker: 'VFIO-HIL-READY'
        boot_timeout: 60
        bootargs: "{bootargs}"
        tftp_boot:
          - "setenv ipaddr 10.0.2.15; setenv serverip 10.0.2.2"
          - "setenv bootargs '{{bootargs}}'"
          - "tftpboot ${{kernel_addr_r}} {{kernel}}"
          - "tftpboot 0x48000000 {{dtb}}"
          - "tftpboot ${{ramdisk_addr_r}} {{initrd}}"
          - "booti ${{kernel_addr_r}} ${{ramdisk_addr_r}}:${{filesize}} 0x48000000"
    resources:
      TFTPProvider:
        internal: {tftp}/
        external: ''
      NetworkService:
        address: 127.0.0.1
        username: root
        port: 0
images:
  firmware: {firmware}
  kernel: {kernel}
  dtb: {dtb}
  initrd: {initrd}
tools:
  qemu: /usr/bin/qemu-system-aarch64
imports:
  - harness.lab
"""


@pytest.fixture(scope="module")
def arm64(kernel_spec):
    target = get_target("qemu-virt-xgmac")
    return target, build_artifacts(target, parse_kernel_spec(kernel_spec), [])


def environment(tmp_path: Path, target, art, *, firmware=UBOOT, kernel=None, uboot_timeout=60) -> Environment:
    tftp = tmp_path / "tftp"
    tftp.mkdir()
    # The twin's tree as a lab board gets it: dumped with the board's firmware (no twin runs here).
    tree = build_dtb(target, tmp_path / "board.dtb", firmware=UBOOT)
    key, _ = ensure_key(cache_root())
    (tmp_path / "env.yaml").write_text(ENV.format(
        log=tmp_path, tftp=tftp, key=key, bootargs=bootargs(target), uboot_timeout=uboot_timeout,
        firmware=firmware, kernel=kernel or art.path("kernel"), dtb=tree, initrd=art.path("initramfs")))
    return Environment(str(tmp_path / "env.yaml"))


def bring_up(env: Environment):
    target = env.get_target("main")
    strategy = target.get_driver("VfioHilStrategy")
    try:
        strategy.transition("ssh")
    except StrategyError as exc:
        raise unwrap_strategy_error(exc, "the U-Boot board") from None
    return target, strategy


def test_u_boot_tftp_boot_reaches_ssh_with_the_pinned_key(tmp_path, arm64):
    target_profile, art = arm64
    env = environment(tmp_path, target_profile, art)
    target, strategy = bring_up(env)
    try:
        ssh = target.get_driver("ParamikoSSHDriver")
        assert ssh.run_check("uname -r") == [art.meta["release"]]
        assert ssh.host_key and ssh.host_key in strategy.ready_line
        # the tree U-Boot fetched is the twin's (its device node is there for the kernel)
        assert target_profile.dut_device in ssh.run_check("ls /sys/bus/platform/devices")
        cmdline = ssh.run_check("cat /proc/cmdline")[0]
        assert "rdinit=/init" in cmdline, cmdline           # the bootargs went through U-Boot's setenv
        assert sorted(p.name for p in (tmp_path / "tftp").iterdir()) == sorted(
            [Path(art.path("kernel")).name, "board.dtb", Path(art.path("initramfs")).name])
    finally:
        target.cleanup()


@pytest.mark.long       # make lab-test: make test measured 33 min 46 s cold with it (the fault is also a vlab row)
def test_a_missing_tftp_file_is_the_labs_error_naming_the_command(tmp_path, arm64):
    target_profile, art = arm64
    env = environment(tmp_path, target_profile, art)
    target = env.get_target("main")
    tftp = target.get_driver("TFTPProviderDriver")
    real_stage = tftp.stage

    def stage_then_lose(filename):          # staged, then gone from the TFTP root (a cleaned exporter)
        path = real_stage(filename)
        if filename.endswith(("Image", "zImage")):
            os.unlink(tmp_path / "tftp" / path)
        return path
    tftp.stage = stage_then_lose
    try:
        with pytest.raises((InfrastructureError, StrategyError)) as exc:
            target.get_driver("VfioHilStrategy").transition("shell")
        err = unwrap_strategy_error(exc.value, "the U-Boot board") if isinstance(exc.value, StrategyError) else exc.value
        assert isinstance(err, InfrastructureError) and "tftpboot ${kernel_addr_r}" in str(err), err
    finally:
        target.cleanup()


@pytest.mark.long       # make lab-test: make test measured 33 min 46 s cold with it
def test_firmware_that_never_prompts_is_the_labs_error(tmp_path, arm64):
    """A board whose firmware prints nothing (here: no firmware at all, QEMU virt runs zeros)."""
    target_profile, art = arm64
    empty = tmp_path / "no-firmware.bin"
    empty.write_bytes(bytes(4096))
    env = environment(tmp_path, target_profile, art, firmware=empty, uboot_timeout=10)
    target = env.get_target("main")
    try:
        with pytest.raises((InfrastructureError, StrategyError)) as exc:
            target.get_driver("VfioHilStrategy").transition("shell")
        err = unwrap_strategy_error(exc.value, "the U-Boot board") if isinstance(exc.value, StrategyError) else exc.value
        assert isinstance(err, InfrastructureError), err
        assert "U-Boot's prompt '=> ' never came on the console within 10 s of power-on" in str(err), err
    finally:
        target.cleanup()
