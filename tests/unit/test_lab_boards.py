"""The board environments (lab-configs/boards/) and the pure parts of the lab layer: each
environment parses with labgrid's own loader, names only drivers and resources labgrid's factory
knows (ours registered by harness.lab), and its boot commands fill in; the IPMI command line never
carries a password."""

from pathlib import Path

import pytest
from labgrid import Environment
from labgrid.factory import target_factory

import harness.lab  # noqa: F401  (registers our drivers and resources)
from harness.errors import InfrastructureError
from harness.lab.ipmi import IPMIBMC, ipmitool_argv, parse_power_status
from harness.lab.strategy import boot_commands

BOARDS = sorted((Path(__file__).parents[2] / "lab-configs" / "boards").glob("*.yaml"))
VARS = {"LG_PLACE": "lab-highbank-1", "LG_VFIO_HIL_SSH_KEY": "/k", "LG_VFIO_HIL_BOOT_TIMEOUT": "300",
        "LG_VFIO_HIL_BOOTARGS": "console=ttyAMA0 rdinit=/init", "LG_VFIO_HIL_KERNEL": "/a/zImage",
        "LG_VFIO_HIL_DTB": "/a/board.dtb", "LG_VFIO_HIL_INITRD": "/a/initramfs.cpio.gz",
        "LG_VFIO_HIL_LOG_DIR": "/run-dir"}


@pytest.fixture
def lab_vars(monkeypatch):
    for k, v in VARS.items():
        monkeypatch.setenv(k, v)


def test_there_is_an_environment_per_board_kind():
    assert {p.stem for p in BOARDS} >= {"calxeda-highbank", "bcm-stingray", "nxp-lx2160a", "amd-seattle"}


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.stem)
def test_board_environment_loads_and_names_only_known_classes(path, lab_vars):
    env = Environment(config_file=str(path))
    main = env.config.get_targets()["main"]
    assert set(main["resources"]) == {"RemotePlace"}, "a board's resources come from its place"
    assert main["resources"]["RemotePlace"]["name"] == VARS["LG_PLACE"]
    unknown = [d for d in main["drivers"] if d not in target_factory.drivers]
    assert not unknown, f"{path.name}: drivers labgrid does not know: {unknown}"
    strategy = main["drivers"]["VfioHilStrategy"]
    uefi = "grub_cfg" in strategy         # a UEFI board: GRUB reads a staged grub.cfg, nothing is typed
    staged = {"kernel": "r/k", "dtb": "r/d", "initrd": "r/i", "tftp_host": "exporter-7"}
    if "kexec" in strategy:               # a stable system kexecs the kernel under test
        assert "StableShellDriver" in main["drivers"]
        kexec = boot_commands(strategy["kexec"], staged, VARS["LG_VFIO_HIL_BOOTARGS"])
        assert all(any(f in c for c in kexec) for f in ("r/k", "r/d", "r/i")), kexec
        assert kexec[-1] == "kexec -e" and any(c.startswith("kexec -l ") and "--dtb=" in c for c in kexec)
        if "virtual-lab" not in path.stem:
            assert any("tftp://exporter-7/r/k" in c for c in kexec), "fetched from the place's TFTP host"
        if "seattle" in path.stem:
            assert any("acpi=off" in c for c in kexec), "Seattle boots with its tree, never ACPI"
        if "tftp_boot" not in strategy:
            return
    cmds = boot_commands(strategy["grub_cfg" if uefi else "tftp_boot"], staged, VARS["LG_VFIO_HIL_BOOTARGS"])
    assert any("r/k" in c for c in cmds) and any("r/i" in c for c in cmds) and any("r/d" in c for c in cmds)
    if uefi:
        assert "UBootDriver" not in main["drivers"] and strategy["stage_dir"] == "/run-dir"
        assert any(c.strip().startswith("devicetree ") for c in cmds), "Seattle boots with its tree, never ACPI"
        assert any("acpi=off" in c for c in cmds)
    else:
        assert cmds[-1].startswith(("bootz", "booti")), cmds[-1]
    assert {"kernel", "dtb", "initrd"} <= set(env.config.data["images"])


def test_boot_arguments_with_a_quote_are_refused():
    with pytest.raises(InfrastructureError, match="quote"):
        boot_commands(["setenv bootargs '{bootargs}'"], {"kernel": "", "dtb": "", "initrd": ""}, "a='b'")


def test_ipmitool_gets_the_password_from_its_environment_never_argv():
    bmc = IPMIBMC(None, "bmc", host="10.0.0.7", username="admin", password_env="LAB_BMC_PW")
    argv = ipmitool_argv(bmc, "chassis", "power", "on")
    assert "-E" in argv and "-P" not in argv and argv[-3:] == ["chassis", "power", "on"]
    assert argv[argv.index("-C") + 1] == "3" and argv[argv.index("-I") + 1] == "lanplus"


def test_a_bmc_password_env_must_be_a_variable_name():
    with pytest.raises(ValueError):
        IPMIBMC(None, "bmc", host="h", password_env="s3cret!")


@pytest.mark.parametrize("text,want", [("Chassis Power is on\n", True), ("Chassis Power is off", False)])
def test_power_status_is_parsed(text, want):
    assert parse_power_status(text) is want


@pytest.mark.parametrize("text", ["", "Chassis Power is unknown", "Error: Unable to establish IPMI v2 session"])
def test_anything_else_is_not_a_power_status(text):
    with pytest.raises(ValueError):
        parse_power_status(text)
