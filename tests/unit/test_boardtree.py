"""A board's tree for a run (harness/lab/boardtree.py): a no-IOMMU run switches the profile's
IOMMU nodes off, a type1 run boots the tree as built, a path the tree lacks is the profile's error."""

import subprocess

import attrs
import libfdt
import pytest

from harness.errors import TargetProfileError
from harness.lab.boardtree import for_run
from harness.targets import get_target

DTS = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
    smb { #address-cells = <2>; #size-cells = <2>;
        xgmac0_smmu: iommu@e0600000 { compatible = "arm,mmu-401"; reg = <0 0xe0600000 0 0x10000>; };
        iommu@e0800000 { compatible = "arm,mmu-401"; reg = <0 0xe0800000 0 0x10000>; };
        xgmac@e0700000 { compatible = "amd,xgbe-seattle-v1a"; iommus = <&xgmac0_smmu 0 0x17>; };
    };
};
"""


@pytest.fixture
def dtb(tmp_path):
    (tmp_path / "board.dts").write_text(DTS)
    subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "board.dtb"), str(tmp_path / "board.dts")],
                   check=True)
    return tmp_path / "board.dtb"


def status(path, node):
    fdt = libfdt.Fdt(path.read_bytes())
    return fdt.getprop(fdt.path_offset(node), "status", libfdt.QUIET_NOTFOUND)


def test_a_noiommu_run_switches_the_boards_iommus_off(dtb, tmp_path):
    seattle = get_target("seattle").for_iommu("noiommu")
    out = for_run(seattle, dtb, tmp_path)
    assert out != dtb
    for node in seattle.noiommu_disable:
        assert status(out, node).as_str() == "disabled"
    assert status(dtb, "/smb/iommu@e0600000") == -libfdt.NOTFOUND     # the build's tree is untouched


def test_a_type1_run_boots_the_tree_as_built(dtb, tmp_path):
    assert for_run(get_target("seattle").for_iommu("type1"), dtb, tmp_path) == dtb


def test_a_node_the_tree_lacks_names_the_profile_and_the_path(dtb, tmp_path):
    seattle = attrs.evolve(get_target("seattle"), noiommu_disable=["/smb/iommu@e0a00000"])
    with pytest.raises(TargetProfileError, match=r"seattle.yaml: noiommu_disable names /smb/iommu@e0a00000"):
        for_run(seattle, dtb, tmp_path)
