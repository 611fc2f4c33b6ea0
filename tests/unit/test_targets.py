import pytest
import yaml

from harness.errors import TargetProfileError, UnknownTargetError
from harness.targets import available_targets, get_target, load_profile
from harness.paths import TARGETS_DIR


def test_every_shipped_target_loads():
    names = available_targets()
    assert "qemu-highbank" in names
    for name in names:
        assert get_target(name).name == name


def test_highbank_never_asks_for_lpae():
    # Cortex-A9 has no LPAE; a kernel with it hangs silently on -M highbank.
    t = get_target("qemu-highbank")
    text = "".join(p.read_text() for p in t.kconfig_paths())
    assert "CONFIG_ARM_LPAE=y" not in text
    assert "# CONFIG_ARM_LPAE is not set" in text


def test_unknown_target_lists_the_available_ones():
    with pytest.raises(UnknownTargetError) as exc:
        get_target("qemu-nonesuch")
    assert "qemu-nonesuch" in str(exc.value) and "qemu-highbank" in str(exc.value)
    assert exc.value.exit_code == 2


def _profile(tmp_path, **changes):
    data = yaml.safe_load((TARGETS_DIR / "qemu-highbank.yaml").read_text())
    data.update(changes)
    data["kconfig"] = [str(TARGETS_DIR / k) for k in data["kconfig"]]
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_field_is_named(tmp_path):
    with pytest.raises(TargetProfileError, match=r"unknown field\(s\) qemu_machin"):
        load_profile(_profile(tmp_path, qemu_machin="highbank"))


def test_bad_field_value_names_file_and_field(tmp_path):
    with pytest.raises(TargetProfileError) as exc:
        load_profile(_profile(tmp_path, arch="sparc"))
    assert "qemu-highbank.yaml" in str(exc.value) and "arch" in str(exc.value)


def test_missing_fragment_file_is_named(tmp_path):
    with pytest.raises(TargetProfileError, match="does not exist"):
        load_profile(_profile(tmp_path, kconfig=["kconfig/nope.config"]))


def test_findings_must_be_symbols(tmp_path):
    with pytest.raises(TargetProfileError, match="Kconfig symbols"):
        load_profile(_profile(tmp_path, kconfig_findings=["CONFIG_VFIO"]))


def test_compatible_split_by_a_yaml_flow_list_is_caught(tmp_path):
    path = _profile(tmp_path)
    path.write_text(path.read_text().replace("- calxeda,hb-xgmac", "- calxeda\n- hb-xgmac"))
    with pytest.raises(TargetProfileError, match="not device-tree compatibles"):
        load_profile(path)


def test_irq_registers_must_be_quiescence_registers(tmp_path):
    with pytest.raises(TargetProfileError, match="not in dut_quiescence"):
        load_profile(_profile(tmp_path, dut_irq_enable_registers=["DMA_STATUS"]))


def test_quiescence_masks_must_be_hex(tmp_path):
    with pytest.raises(TargetProfileError, match="hex masks"):
        load_profile(_profile(tmp_path, dut_quiescence={"DMA_CONTROL": 2}))


def test_a_twin_needs_the_qemu_tree_and_the_qemu_tree_needs_a_twin(tmp_path):
    with pytest.raises(TargetProfileError, match="set both `twin:` and `dtb: qemu`"):
        load_profile(_profile(tmp_path, twin="xgmac"))
    with pytest.raises(TargetProfileError, match="set both `twin:` and `dtb: qemu`"):
        load_profile(_profile(tmp_path, dtb="qemu"))


def test_an_unknown_twin_is_refused(tmp_path):
    with pytest.raises(TargetProfileError, match="twin"):
        load_profile(_profile(tmp_path, twin="e1000", dtb="qemu"))


def test_objects_the_harness_assigns_must_be_fsl_mc_objects_and_never_a_container(tmp_path):
    with pytest.raises(TargetProfileError, match="not fsl-mc objects"):
        load_profile(_profile(tmp_path, dut_create=["dpio.1", "dprc.3"]))
    with pytest.raises(TargetProfileError, match="not fsl-mc objects"):
        load_profile(_profile(tmp_path, dut_create=["dpio1"]))


def test_iommu_modes_default_first_and_a_run_picks_one():
    t = get_target("qemu-seattle")
    assert t.iommu_modes == ["noiommu", "type1"] and t.iommu_mode == "noiommu"
    assert t.for_iommu("type1").iommu_mode == "type1"
    assert t.for_iommu(None).iommu_mode == "noiommu"


def test_a_mode_the_target_lacks_is_a_usage_error():
    from harness.errors import UsageError

    with pytest.raises(UsageError, match="iommu_modes") as exc:
        get_target("qemu-highbank").for_iommu("type1")
    assert exc.value.exit_code == 2


def test_type1_needs_a_twin_and_its_stream_id(tmp_path):
    with pytest.raises(TargetProfileError, match="iommu_sid"):
        load_profile(_profile(tmp_path, iommu_modes=["noiommu", "type1"]))
    with pytest.raises(TargetProfileError, match="iommu_modes"):
        load_profile(_profile(tmp_path, iommu_modes=["iommu"]))


def test_a_board_whose_kernel_drives_its_iommu_may_run_type1_and_names_the_iommus_a_noiommu_run_disables(tmp_path):
    seattle = get_target("seattle")
    assert seattle.iommu_modes == ["noiommu", "type1"] and seattle.qemu_settings() is None
    assert seattle.noiommu_disable and seattle.vmm_device == "vfio-amd-xgbe"
    with pytest.raises(TargetProfileError, match="noiommu_disable must list device tree node paths"):
        load_profile(_profile(tmp_path, noiommu_disable=["smb/iommu@e0600000"]))
    with pytest.raises(TargetProfileError, match="vmm_device"):
        load_profile(_profile(tmp_path, vmm_device="vfio-calxeda-xgmac"))


def _lx_profile(tmp_path, **changes):
    data = yaml.safe_load((TARGETS_DIR / "qemu-lx2160a.yaml").read_text())
    data.update(changes)
    data["kconfig"] = [str(TARGETS_DIR / k) for k in data["kconfig"]]
    data["lab_config"] = str(TARGETS_DIR.parent / "lab-configs" / data["lab_config"])
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
    return path


def test_the_mc_twins_streams_are_its_icids_and_type1_needs_the_probe_portals_address(tmp_path):
    t = get_target("qemu-lx2160a")
    assert t.iommu_modes == ["noiommu", "type1"] and t.iommu_sid is None and t.probe_portal_phys
    with pytest.raises(TargetProfileError, match="iommu_sid does not apply"):
        load_profile(_lx_profile(tmp_path, iommu_sid="0xfe00"))
    with pytest.raises(TargetProfileError, match="probe_portal_phys"):
        load_profile(_lx_profile(tmp_path, probe_portal_phys=None))
