"""The device tree node of the NXP Management Complex twin, shaped as
arch/arm64/boot/dts/freescale/fsl-lx2160a.dtsi's fsl_mc node.

- reg 0: the root DPRC's command portal (64 bytes, as the SoC tree has it); reg 1: the MC's
  control registers (GCR1, GSR with BOOT_DONE, FAPR).
- #address-cells = <3> (region type, offset) and ranges for the MC portals (type 0) and QBMan
  portals (type 1): parse_mc_ranges() in drivers/bus/fsl-mc/fsl-mc-bus.c insists on both.
- msi-map, beside msi-parent = <&its 0>: the fsl-mc MSI domain maps each container's ICID to an
  ITS DeviceID with msi-map (6.1: of_msi_map_id() in drivers/irqchip/irq-gic-v3-its-fsl-mc-msi.c;
  7.x: of_msi_xlate()), and
  the tenant container's ICID goes to DeviceID 0, the only one a qtest write to GITS_TRANSLATER
  carries; the root container's to a DeviceID of its own, so that the two pools never share an
  ITS device.
- dma-coherent, as on the SoC.
"""

from __future__ import annotations

from harness.errors import TargetProfileError
from harness.twins.dt import DtBuilder, u32s

ROOT_DEVICE_ID = 0x10


def add_soc_bus(b: DtBuilder) -> str:
    """A simple-bus with dma-ranges, as fsl-lx2160a.dtsi's soc node (identity, 1 TiB): of_dma_configure_id()
    configures a device's IOMMU only when its bus describes DMA (of_dma_get_range(), drivers/of/
    device.c:130-139 in 6.1; fsl-mc passes force_dma = 0), so behind the MMU-500 the fsl-mc node
    sits under it, as on the SoC."""
    path = "/soc"
    b.set(path, "compatible", "simple-bus")
    b.set(path, "#address-cells", b.addr_cells)
    b.set(path, "#size-cells", b.size_cells)
    b.set(path, "ranges", True)
    # (bus address, CPU address, size) in virt's 2 + 2 + 2 cells: bus 0 is CPU 0, for 1 TiB
    b.set(path, "dma-ranges", u32s([0, 0, 0, 0, 0x100, 0]))
    return path


def add_fslmc_node(b: DtBuilder, portal_base: int, portals_size: int, ctrl_base: int,
                   qbman_base: int, qbman_size: int, root_icid: int, tenant_icid: int, parent: str = "") -> str:
    """``parent``: the path of the bus it sits on ("": the root)."""
    its = b.find_compatible("arm,gic-v3-its")
    if its is None:
        raise TargetProfileError("the fsl-mc twin needs a GICv3 ITS: run the machine with gic-version=3")
    path = f"{parent}/fsl-mc@{portal_base:x}"
    b.set(path, "compatible", "fsl,qoriq-mc")
    b.set(path, "reg", b.reg([(portal_base, 0x40), (ctrl_base, 0x40)]))
    b.set(path, "#address-cells", 3)
    b.set(path, "#size-cells", 1)
    its_ph = b.phandle(its)
    b.set(path, "ranges", u32s([0, 0, 0, portal_base >> 32, portal_base & 0xffffffff, portals_size,
                               1, 0, 0, qbman_base >> 32, qbman_base & 0xffffffff, qbman_size]))
    b.set(path, "msi-map", u32s([root_icid, its_ph, ROOT_DEVICE_ID, 1, tenant_icid, its_ph, 0, 1]))
    # 7.x finds the MSI domain through msi-parent (fsl_mc_get_msi_parent(), drivers/bus/fsl-mc/
    # fsl-mc-msi.c:76-88 in 7.2) and still maps the IDs with msi-map first (of_msi_xlate(),
    # drivers/of/irq.c:815-844); QEMU's ITS has #msi-cells = <1>, so the phandle takes one cell.
    b.set(path, "msi-parent", u32s([its_ph, 0]))
    b.set(path, "dma-coherent", True)
    b.set(path, "status", "okay")
    return path
