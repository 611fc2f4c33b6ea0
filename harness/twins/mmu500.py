"""LX2160A's MMU-500 in front of the MC twin (qemu-lx2160a in type1 mode): where its register
file sits, its device tree node, and the reset image QEMU loads there at power-on.

Why not QEMU virt's SMMUv3, as the other twins use: on the fsl-mc bus every object of a container
carries the container's ICID (fsl_mc_device_add(), drivers/bus/fsl-mc/fsl-mc-bus.c:885 in 6.1),
so one stream ID serves several devices. arm-smmu-v3 refuses the second device on a stream it
already has ("stream %u already in tree", arm_smmu_insert_master(), arm-smmu-v3.c:2637-2650 in
6.1) and groups platform devices one by one (generic_device_group(), :2757-2769); only arm-smmu
(SMMUv1/v2) groups an fsl-mc container's objects together (fsl_mc_device_group()), as
vfio-fsl-mc needs. The SoC has an MMU-500 (fsl-lx2160a.dtsi, smmu: iommu@5000000); QEMU has no
SMMUv2 model, so the twin plays one: its register file is reserved guest RAM (plain memory: the
kernel reads back what it wrote, status registers read 0, so its TLB syncs end at once), its
ID registers loaded before the kernel boots, and smmuv2.Smmuv2Walker reads what the kernel
programmed there to translate the twin's DMA and MSIs. Approximations: harness/twins/README.md.
"""

from __future__ import annotations

import struct

from harness.twins import smmuv2
from harness.twins.dt import DtBuilder, u32s

# Beside the MC twin's portals (0x0-0x100000), control registers (0x100000) and QBMan portals
# (0x200000-0x400000), inside the one reserved region.
OFFSET = 0x400000
# SPIs of the node's interrupts: one global, one per context bank (arm-smmu refuses an SMMUv2
# with fewer context interrupts than context banks). The twin never raises them: faults are
# logged by the twin, not reported to the kernel (approximation 15).
FIRST_SPI = 80
# fsl-lx2160a.dtsi: stream-match-mask = <0x7C00>; the ICIDs are below 0x80.
STREAM_MATCH_MASK = 0x7c00
ICIDS = 0x80


def reset_image_bytes() -> bytes:
    """The register file as the MMU-500 comes out of reset: the ID registers, sCR0 with its
    client ports bypassing; everything else 0."""
    image = bytearray(smmuv2.SIZE)
    for offset, value in smmuv2.reset_image():
        struct.pack_into("<I", image, offset, value)
    return bytes(image)


def add_node(b: DtBuilder, base: int, mc_path: str) -> str:
    """The arm,mmu-500 node at ``base``, shaped as the SoC's, and the fsl-mc node's iommu-map:
    ICID n is stream n (on a board U-Boot writes the map; fsl-lx2160a.dtsi leaves a placeholder)."""
    spis = list(range(FIRST_SPI, FIRST_SPI + smmuv2.GLOBAL_IRQS + smmuv2.CONTEXT_IRQS))
    path = b.device("iommu", ["arm,mmu-500"], [(base, smmuv2.SIZE)], spis=spis,
                    props={"#global-interrupts": smmuv2.GLOBAL_IRQS, "#iommu-cells": 1,
                           "stream-match-mask": STREAM_MATCH_MASK, "dma-coherent": True})
    b.set(mc_path, "iommu-map", u32s([0, b.phandle(path), 0, ICIDS]))
    return path
