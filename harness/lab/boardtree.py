"""A board's device tree for one run: the kernel's own .dtb, with the IOMMUs the profile names
(noiommu_disable) switched off in a no-IOMMU run. With its SMMU driver built in, a board's kernel
would give the device under test an IOMMU group, which no-IOMMU VFIO cannot take; a node whose
status is "disabled" is no IOMMU at all to the device's probe (drivers/iommu/of_iommu.c:30-32 in
6.1: of_iommu_xlate returns NO_IOMMU, no deferral). A type1 run boots the tree as built."""

from __future__ import annotations

from pathlib import Path

import libfdt

from harness.errors import TargetProfileError
from harness.targets import TargetProfile


def for_run(target: TargetProfile, dtb: Path, out_dir: Path) -> Path:
    """The tree this run boots: ``dtb`` itself, or a copy in ``out_dir`` with the IOMMUs off."""
    if target.iommu_mode != "noiommu" or not target.noiommu_disable:
        return dtb
    fdt = libfdt.Fdt(dtb.read_bytes())
    fdt.resize(fdt.totalsize() + 64 * len(target.noiommu_disable))
    for path in target.noiommu_disable:
        try:
            node = fdt.path_offset(path)
        except libfdt.FdtException:
            raise TargetProfileError(f"{target.source_file}: noiommu_disable names {path}, which {dtb.name} does "
                                     f"not have; name the board's IOMMU nodes as the kernel's tree spells them "
                                     f"(dtc -I dtb -O dts {dtb})") from None
        fdt.setprop_str(node, "status", "disabled")
    fdt.pack()
    out = out_dir / f"{dtb.stem}-noiommu.dtb"
    out.write_bytes(bytes(fdt.as_bytearray()))
    return out
