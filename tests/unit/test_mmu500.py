"""The MMU-500 twin's tree and reset image (pure logic: a small tree built with libfdt, no QEMU)."""

import struct

import libfdt

from harness.twins import mmu500, smmuv2
from harness.twins.dt import DtBuilder
from harness.twins.fslmc_dt import add_fslmc_node, add_soc_bus
from harness.twins.qdma import QdmaQueue


def _tree() -> DtBuilder:
    fdt = libfdt.Fdt.create_empty_tree(4096)
    fdt.setprop_u32(0, "#address-cells", 2)
    fdt.setprop_u32(0, "#size-cells", 2)
    b = DtBuilder(bytes(fdt.as_bytearray()))
    b.set("/its@8080000", "compatible", "arm,gic-v3-its")
    return b


def _cells(b, path, prop):
    raw = bytes(b.fdt.getprop(b.fdt.path_offset(path), prop))
    return list(struct.unpack(f">{len(raw) // 4}I", raw))


def test_the_container_sits_on_a_dma_bus_and_its_icids_are_the_mmu500s_streams():
    b = _tree()
    mc = add_fslmc_node(b, 0x7c000000, 0x100000, 0x7c100000, 0x7c200000, 0x200000, 0x10, 0x20, parent=add_soc_bus(b))
    smmu = mmu500.add_node(b, 0x7c400000, mc)
    assert mc == "/soc/fsl-mc@7c000000" and smmu == "/iommu@7c400000"
    # identity DMA for 1 TiB: else of_dma_configure_id() never gives the objects an IOMMU
    assert _cells(b, "/soc", "dma-ranges") == [0, 0, 0, 0, 0x100, 0]
    assert _cells(b, mc, "iommu-map") == [0, b.phandle(smmu), 0, mmu500.ICIDS]
    assert b.fdt.getprop(b.fdt.path_offset(smmu), "compatible").as_str() == "arm,mmu-500"
    # arm-smmu refuses an SMMUv2 with fewer context interrupts than context banks
    irqs = _cells(b, smmu, "interrupts")
    assert len(irqs) == 3 * (smmuv2.GLOBAL_IRQS + smmuv2.NUMCB)
    assert _cells(b, smmu, "#global-interrupts") == [smmuv2.GLOBAL_IRQS]
    assert _cells(b, smmu, "reg") == [0, 0x7c400000, 0, smmuv2.SIZE]


def test_the_reset_image_holds_the_id_registers_where_the_kernel_reads_them():
    image = mmu500.reset_image_bytes()
    assert len(image) == smmuv2.SIZE
    for offset, value in smmuv2.reset_image():
        assert struct.unpack_from("<I", image, offset)[0] == value
    assert struct.unpack_from("<I", image, 0x20)[0] & (1 << 30), "ID0.S1TS: stage 1 translation"


class _Engine:
    def __init__(self, iommu):
        self.iommu, self.accesses, self.logged = iommu, [], []
        self.log = self

    def add(self, kind, **fields):
        self.logged.append((kind, fields))

    def dma_read_logged(self, addr, size, what, sid=None):
        self.accesses.append(("read", addr, sid))
        if what.endswith("frame list"):      # a frame list: src at 0xc0000400, dst at 0xc0010000, 1 KiB
            return (bytes(32) + struct.pack("<QIHH", 0xc0000400, 1024, 0, 0) + bytes(16)
                    + struct.pack("<QIHH", 0xc0010000, 1024, 0, 1 << 15) + bytes(16))
        return bytes(size)

    def dma_write(self, addr, data, what, sid=None):
        self.accesses.append(("write", addr, sid))


def _fd(addr):
    return struct.pack("<QIHH", addr, 1024, 0, 1 << 12) + bytes(16)


def test_behind_an_iommu_a_job_runs_on_iovas_with_its_containers_stream():
    q = QdmaQueue("dpdmai.1", (0x7f100000, 0x100000), 0.01)
    engine = _Engine(iommu=object())
    q.enqueue(engine, _fd(0xc0000000))
    q.run(engine, 1.0, sid=0x20)
    assert engine.accesses == [("read", 0xc0000000, 0x20), ("read", 0xc0000400, 0x20), ("write", 0xc0010000, 0x20)]


def test_without_an_iommu_the_physical_window_still_fences_the_engine():
    q = QdmaQueue("dpdmai.1", (0x7f100000, 0x100000), 0.01)
    engine = _Engine(iommu=None)
    q.enqueue(engine, _fd(0xc0000000))
    q.run(engine, 1.0)
    assert engine.accesses == [] and engine.logged[0][1]["error"] == "not a frame list in the DMA window"


def test_the_mc_twin_sits_behind_its_mmu500_and_the_others_behind_virts_smmuv3():
    from harness.targets import get_target
    from harness.twins import runtime

    lx, seattle = get_target("qemu-lx2160a"), get_target("qemu-seattle")
    assert runtime.iommu_model(lx) is None and runtime.iommu_model(seattle) is None
    assert runtime.iommu_model(lx.for_iommu("type1")) == "mmu500"
    assert runtime.machine_options(lx.for_iommu("type1")) == []          # no SMMUv3 beside the MMU-500
    assert runtime.iommu_model(seattle.for_iommu("type1")) == "smmuv3"
    assert runtime.machine_options(seattle.for_iommu("type1")) == ["iommu=smmuv3"]
