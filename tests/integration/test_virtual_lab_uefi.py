"""AMD Seattle's boot path through the virtual lab: `vfio-hil lab up --firmware uefi` plays a board
whose UEFI firmware (EDK2) network-boots Debian's GRUB image over TFTP; a run stages kernel, tree,
initramfs and grub.cfg on the exporter's TFTP provider (GRUB's prefix) before power-on, and GRUB
boots the kernel through its EFI stub with the twin's tree (never ACPI). The suite's verdicts must
be the local run's; nothing of the lab is left. In `make lab-test` (too long for make test)."""

from pathlib import Path

import pytest

from harness.artifacts import build_artifacts
from harness.kernel.spec import parse_kernel_spec
from harness.lab import chassis, virtual
from harness.run import run_suite
from harness.targets import get_target

from .lab_rig import assert_lab_gone
from .verdicts import explain

pytestmark = [pytest.mark.integration, pytest.mark.lab, pytest.mark.long]


def test_the_suite_through_a_uefi_grub_board_gives_the_local_verdicts(tmp_path, kernel_spec, suite_runs):
    target = get_target("qemu-seattle")
    art = build_artifacts(target, parse_kernel_spec(kernel_spec), [])
    workdir = tmp_path / "lab"
    state = virtual.up(workdir, target, firmware="uefi")
    try:
        lab = virtual.VirtualLabRun.of(workdir, target)
        doc = run_suite(target, art, tmp_path / "run", say=lambda m: None,
                        place=lab.place_lock("ci-job-uefi", wait_s=60), lab=lab)
        local = suite_runs("qemu-seattle", "debian:6.1")
        assert {t["id"]: t["verdict"] for t in doc["tests"]} == {t["id"]: t["verdict"] for t in local["tests"]}, \
            explain(doc)
        console = (tmp_path / "run" / "console" / "console_main").read_text(errors="replace")
        assert "Start PXE over IPv4" in console and "EFI stub: Booting Linux Kernel" in console, console[-2000:]
        assert (workdir / "tftp" / "grub" / "grub.cfg").is_symlink()
        cfg = (workdir / "tftp" / "grub" / "grub.cfg").read_text()
        assert "devicetree (tftp)/grub/twin.dtb" in cfg and "acpi=off" in cfg, cfg
        assert chassis._pid(Path(state["board_dir"])) is None
    finally:
        virtual.down(workdir)
    assert_lab_gone(state)
