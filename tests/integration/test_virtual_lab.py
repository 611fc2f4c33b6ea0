"""The virtual lab through the CLI: `vfio-hil lab up` makes a network namespace with a real
labgrid-coordinator, labgrid-exporter, an ipmi_sim BMC and a place; `lab check` (inside the
namespace) locks the place as a job, powers the board on over IPMI, meets U-Boot (Debian's
u-boot-qemu on the target's QEMU virt) over SOL, stops autoboot, runs a command and powers off;
`lab down` leaves no process of the lab and no namespace behind."""

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.lab import netns
from harness.proc import group_running

from .lab_rig import assert_lab_gone

pytestmark = [pytest.mark.integration, pytest.mark.lab]


def test_lab_up_check_down_leaves_nothing_behind(tmp_path, capsys):
    lab = tmp_path / "lab"
    assert main(["lab", "up", "--target", "qemu-seattle", "--dir", str(lab)]) == 0
    state = json.loads((lab / "lab.json").read_text())
    try:
        assert netns.exists(state["netns"])
        assert set(state["groups"]) == {"exporter_ssh", "uartcable", "coordinator", "ipmi_sim", "exporter"}
        assert all(group_running(pgid) for pgid in state["groups"].values())
        # Nothing of the lab listens in the host's namespace (its ports are the namespace's own).
        host_tcp = Path("/proc/self/net/tcp").read_text()
        assert f":{state['ports']['coordinator']:04X} " not in host_tcp
        assert (lab / "bmc-password").stat().st_mode & 0o077 == 0
        capsys.readouterr()
        assert main(["lab", "check", "--dir", str(lab)]) == 0
        seen = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert seen["holder"].endswith("/vfio-hil-lab-check")
        assert seen["power_after_on"] is True and seen["power_after_off"] is False
        assert seen["version"].startswith("U-Boot 20"), seen
    finally:
        board = (lab / "bmc" / "board" / "board.pid")
        board_pid = int(board.read_text()) if board.exists() else None
        assert main(["lab", "down", "--dir", str(lab)]) == 0
    assert_lab_gone(state)
    if board_pid is not None:
        assert not group_running(board_pid)
    assert main(["lab", "down", "--dir", str(lab)]) == 2          # no lab there any more: a clear refusal
    assert "no virtual lab" in capsys.readouterr().err


@pytest.mark.long       # 27 s, the firmware's fetch included: make lab-test, not make test
def test_a_uefi_lab_board_starts_its_network_boot_over_sol(tmp_path, capsys):
    """`lab up --firmware uefi` (Seattle's path): powered on over IPMI, the board's EDK2 starts its
    PXE boot, seen over SOL; `lab down` leaves nothing."""
    lab = tmp_path / "lab"
    assert main(["lab", "up", "--target", "qemu-seattle", "--firmware", "uefi", "--dir", str(lab)]) == 0
    state = json.loads((lab / "lab.json").read_text())
    try:
        assert state["firmware"] == "uefi" and (lab / "tftp" / "grubnetaa64.efi").is_file()
        capsys.readouterr()
        assert main(["lab", "check", "--dir", str(lab)]) == 0
        seen = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert seen["power_after_on"] is True and seen["power_after_off"] is False
        assert 0 < seen["uefi_pxe_s"] < 120, seen
    finally:
        assert main(["lab", "down", "--dir", str(lab)]) == 0
    assert_lab_gone(state)
