"""The SMMUv3 as seen by a twin behind it: a table walker over guest memory.

QEMU 7.2's SMMUv3 model translates only its PCI devices' DMA; a twin's accesses arrive through
qtest as physical writes. So a twin with ``iommus = <&smmu SID>`` in the tree translates its own
accesses here: it reads the SMMU's registers (qtest reads of them have no side effects) and walks
what the kernel wrote into guest memory, as the hardware would (Arm IHI 0070, SMMUv3):

    STRTAB_BASE/_CFG -> stream table (linear, or 2-level: L1 descriptor -> L2 table) -> STE
    STE (abort / bypass / stage-1) -> context descriptor (substream 0) -> T0SZ, TG0, TTB0
    TTB0 -> stage-1 VMSAv8-64 LPAE tables, 4 KiB granule, 1 GiB and 2 MiB blocks

Layouts as the kernel writes them: drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (STRTAB_*,
CTXDESC_*) and drivers/iommu/io-pgtable-arm.c (ARM_LPAE_PTE_*; the table walk itself is
lpae.walk_stage1, shared with the SMMUv2 walker). Approximations (the twins'
README lists them): only stage 1 with a 4 KiB granule; no stage 2, no 52-bit addresses, no
substreams beyond 0; AP[1], XN, APTable and the memory attributes are ignored; a walk that
fails is a fault that is logged, never reported to the kernel's event queue (QEMU's model does
not know the twin). Walks are cached per page and the cache is dropped whenever the command
queue's producer index moves (every CFGI/TLBI the kernel issues goes through it), so a walk
never goes stale but a kernel that forgot a TLB invalidation is not caught either.
"""

from __future__ import annotations

import struct

# IommuFault lives with the shared walk; re-exported here (engine.py imports it from this module).
from harness.twins.lpae import PAGE, IommuFault, bits as _bits, walk_stage1

__all__ = ["IommuFault", "Smmuv3Walker"]

# Register offsets (Arm IHI 0070 6.3; QEMU hw/arm/smmuv3-internal.h)
CR0, GBPA = 0x20, 0x44
STRTAB_BASE, STRTAB_BASE_CFG = 0x80, 0x88
CMDQ_PROD = 0x98
CR0_SMMUEN = 1 << 0
GBPA_ABORT = 1 << 20
ADDR_51_6 = ((1 << 52) - 1) & ~0x3f
ADDR_51_12 = ((1 << 52) - 1) & ~0xfff
ADDR_51_4 = ((1 << 52) - 1) & ~0xf
STE_SIZE, CD_SIZE = 64, 64
STE_CFG_ABORT, STE_CFG_BYPASS, STE_CFG_S1 = 0, 4, 5


class Smmuv3Walker:
    """Translates one stream's accesses. ``readl(addr)`` and ``read(addr, size)`` read guest
    physical memory and registers (a QtestClient's methods)."""

    def __init__(self, readl, read, base: int, sid: int):
        self.readl, self.read, self.base, self.sid = readl, read, base, sid
        self._cache: dict[int, tuple[int, bool]] = {}   # IOVA page -> (PA page, writable)
        self._prod: int | None = None
        self.walks = 0          # table walks made (cache misses), for the benchmark and the log
        self.flushes = 0

    def _q(self, addr: int) -> int:
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def _reg64(self, off: int) -> int:
        return self.readl(self.base + off) | self.readl(self.base + off + 4) << 32

    def sync(self) -> None:
        """Drop every cached walk if the kernel has queued commands since the last look."""
        prod = self.readl(self.base + CMDQ_PROD)
        if prod != self._prod:
            self._prod = prod
            if self._cache:
                self.flushes += 1
            self._cache.clear()

    def translate(self, iova: int, size: int, write: bool, *,
                  sid: int | None = None) -> list[tuple[int, int, int]]:
        """[(pa, offset into the access, length)] for an access of ``size`` bytes at ``iova``, split
        at page boundaries; raises IommuFault for the first page that faults (nothing is done).
        ``sid``, if given, must be this walker's stream (the engine passes a sid to either walker;
        an SMMUv2 walker serves many streams, this one serves one)."""
        if sid is not None and sid != self.sid:
            raise ValueError(f"SID {sid:#x}: this walker translates SID {self.sid:#x} only")
        self.sync()
        out, done = [], 0
        while done < size:
            va = iova + done
            n = min(size - done, PAGE - (va & (PAGE - 1)))
            page = va & ~(PAGE - 1)
            hit = self._cache.get(page)
            if hit is None:
                hit = self._walk(page)
                self._cache[page] = hit
            pa_page, writable = hit
            if pa_page is None:
                raise IommuFault(va, "stream aborts (STE abort, or SMMU disabled with GBPA.ABORT)")
            if write and not writable:
                raise IommuFault(va, "permission fault (AP[2]: read-only)")
            out.append((pa_page | (va & (PAGE - 1)), done, n))
            done += n
        return out

    # -- the walk
    def _walk(self, page: int) -> tuple[int | None, bool]:
        self.walks += 1
        if not self.readl(self.base + CR0) & CR0_SMMUEN:
            return (None, False) if self.readl(self.base + GBPA) & GBPA_ABORT else (page, True)
        ste = self._ste()
        if not ste[0] & 1:
            raise IommuFault(page, f"STE of SID {self.sid:#x} not valid (C_BAD_STE)")
        cfg = _bits(ste[0], 3, 1)
        if cfg == STE_CFG_BYPASS:
            return page, True
        if cfg & 4 == 0:
            return None, False
        if cfg != STE_CFG_S1:
            raise IommuFault(page, f"STE.Config {cfg:#b}: stage 2 is not modelled")
        tcr, ttb0 = self._cd(ste[0])
        # CD word 0 (arm-smmu-v3.h CTXDESC_CD_0_TCR_*): T0SZ 5:0, TG0 7:6, EPD0 14.
        return walk_stage1(self._q, page, _bits(tcr, 5, 0), _bits(tcr, 7, 6), tcr >> 14 & 1, ttb0)

    def _ste(self) -> tuple[int, ...]:
        base = self._reg64(STRTAB_BASE) & ADDR_51_6
        cfg = self.readl(self.base + STRTAB_BASE_CFG)
        fmt, split, log2size = _bits(cfg, 17, 16), _bits(cfg, 10, 6), _bits(cfg, 5, 0)
        if self.sid >= 1 << log2size:
            raise IommuFault(0, f"SID {self.sid:#x} beyond the stream table (LOG2SIZE {log2size}): C_BAD_STREAMID")
        if fmt == 0:
            addr = base + self.sid * STE_SIZE
        elif fmt == 1:
            l1 = self._q(base + (self.sid >> split) * 8)
            span = _bits(l1, 4, 0)
            low = self.sid & ((1 << split) - 1)
            if span == 0 or low >= 1 << (span - 1):
                raise IommuFault(0, f"no L2 stream table for SID {self.sid:#x} (L1 span {span}): C_BAD_STREAMID")
            addr = (l1 & ADDR_51_6) + low * STE_SIZE
        else:
            raise IommuFault(0, f"STRTAB_BASE_CFG.FMT {fmt} is reserved")
        return struct.unpack("<8Q", self.read(addr, STE_SIZE))

    def _cd(self, ste0: int) -> tuple[int, int]:
        ptr = ste0 & ADDR_51_6
        s1fmt, cdmax = _bits(ste0, 5, 4), _bits(ste0, 63, 59)
        if cdmax and s1fmt == 1:        # 2-level CD table: substream 0's L1 descriptor, then its L2 table
            l1 = self._q(ptr)
            if not l1 & 1:
                raise IommuFault(0, "CD L1 descriptor for substream 0 not valid (C_BAD_CD)")
            ptr = l1 & ADDR_51_12
        cd0, cd1 = struct.unpack("<2Q", self.read(ptr, 16))
        if not cd0 >> 31 & 1:
            raise IommuFault(0, "context descriptor not valid (C_BAD_CD)")
        return cd0, cd1 & ADDR_51_4
