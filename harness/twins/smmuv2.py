"""An Arm MMU-500 (SMMUv2) as seen by a twin behind it: a register file in guest RAM and a walker.

QEMU has no SMMUv2 model, but the NXP LX2160A puts its Management Complex's objects behind an
MMU-500 driven by Linux's drivers/iommu/arm/arm-smmu/arm-smmu.c. The twin puts an
``arm,mmu-500`` node over SIZE bytes of reserved guest RAM and writes reset_image() there
before the guest boots. The arm-smmu driver then reads its ID registers from that RAM and writes
its configuration into it (plain RAM: a read returns what was last written); a twin's access
carrying stream ID ``sid`` is translated here from what the driver wrote, as the hardware would
(Arm IHI 0062, SMMUv2):

    sCR0.CLIENTPD -> bypass;  else SMR[0..NUMSMRG) stream matching -> S2CR[n]
    S2CR (translate / bypass / fault) -> context bank CBNDX: CBAR.TYPE, CBA2R.VA64
    CB_SCTLR.M, CB_TCR (T0SZ, TG0, EPD0), CB_TTBR0 -> stage-1 LPAE tables (lpae.walk_stage1)

Layouts (file:line in linux-source-6.1, drivers/iommu/arm/arm-smmu/): arm-smmu.h:27-39 (sCR0),
45-81 (ID0, ID1, ID2, ID7), 100-120 (SMR, S2CR), 123-142 (CBAR, CBA2R), 144-179 (CB_SCTLR,
CB_TTBR0, CB_TCR), 504-506 (GR0 is page 0, GR1 page 1, context bank n page NUMPAGE + n);
arm-smmu.c:1683 arm_smmu_device_cfg_probe (decodes ID0-2), 1602 arm_smmu_device_reset, 512
arm_smmu_write_context_bank, 890/901 arm_smmu_write_smr/_s2cr; arm-smmu-impl.c:110
arm_mmu500_reset (reads ID7 and sACR, clears CB_ACTLR.CPRE). 7.2 (arm-smmu.c:1742, 1661, 576)
has the same layouts; its differences are ones RAM answers as well as hardware: it reads CB_ACTLR
back after clearing CPRE (CONFIG_ARM_SMMU_MMU_500_CPRE_ERRATA; RAM keeps the cleared bit, so no
warning), and it registers the IOMMU (and so attaches masters) after the reset, not before.

Geometry: like LX2160A's MMU-500 (stream matching, stage 1, AArch64 4K, 48-bit, dma-coherent
walks) but small: 4 KiB register pages, 8 global pages then 8 context banks of one page each,
64 KiB in all (LX2160A: 64 KiB pages, 64 context banks, 8 MiB). Chosen so that the driver needs
nothing RAM cannot answer: ID0.ATOSNS, so it never uses the ATOS registers (a PAR that nobody
computes); sTLBGSTATUS and CB_TLBSTATUS read 0, so every TLB sync completes at once; sGFSR is
never raised, so it stays 0. One register keeps a value hardware would not: the driver's reset
writes ARM_SMMU_FSR_FAULT to every CB_FSR to clear it (write-one-to-clear on hardware), and RAM
keeps those bits, so CB_FSR reads as a pending fault from then on. That is harmless only because
nothing raises the context interrupts: give the node SPIs of its own, never shared with a line
the twin drives, or arm_smmu_context_fault would report a fault that never happened.

Approximations: stage 1 only (no stage 2, no nesting, no AArch32 formats, no TTBR1, no EXIDS);
faults are raised here as IommuFault (the engine logs them) and never reported to the kernel
(no CB_FSR/FAR/FSYNR, no context or global fault interrupt, no sGFSR.USF); no ATOS; privilege
(S2CR.PRIVCFG), memory attributes and the SCTLR fault-handling bits are ignored; writes are not
seen as writes (RAM), which is harmless because the walker polls nothing: it reads the registers
as they are when the twin makes an access. No TLB at all: every page of every access is walked
afresh, so the walker never goes stale, and a kernel that forgot a TLB invalidation is not
caught either (what walking every time costs: benchmarks/mmu500_walk.py, about 0.8 ms median).
"""

from __future__ import annotations

import struct

from harness.twins.lpae import PAGE, IommuFault, bits, walk_stage1

# -- geometry (what reset_image() advertises)
SIZE = 0x10000            # the node's reg size: 2 * NUMPAGE pages of 4 KiB (cfg_probe compares
                          # them, arm-smmu.c:1794; a mismatch is only a dev_warn, but noise)
PGSHIFT = 12              # ID1.PAGESIZE = 0: 4 KiB register pages
NUMPAGENDXB = 2           # NUMPAGE = 1 << (NUMPAGENDXB + 1) = 8 pages of global space
NUMPAGE = 1 << (NUMPAGENDXB + 1)
CB_BASE = NUMPAGE << PGSHIFT    # 0x8000: context bank 0 (ARM_SMMU_CB(s, n) = numpage + n)
NUMCB = 8                 # context banks, all usable for stage 1 (NUMS2CB = 0)
NUMSMRG = 32              # stream match register groups
NUMSIDB = 15              # stream ID bits: the kernel's streamid_mask is 0x7fff
SID_MASK = (1 << NUMSIDB) - 1
MMU500_MAJOR, MMU500_MINOR = 2, 4   # ID7: r2p4. arm_mmu500_reset only asks major >= 2 (then it
                                    # clears sACR.CACHE_LOCK, a RAM write like any other)
GLOBAL_IRQS = 1           # the node's #global-interrupts (arm-smmu requests each, IRQF_SHARED)
CONTEXT_IRQS = NUMCB      # SMMUv2: probe fails unless interrupts >= #global-interrupts + NUMCB
                          # ("found only %d context irq(s) but %d required", arm-smmu.c:2144)

# -- global register space 0 (page 0)
SCR0, SACR = 0x0, 0x10
ID0, ID1, ID2, ID3, ID4, ID5, ID6, ID7 = range(0x20, 0x40, 4)
SGFSR, STLBGSYNC, STLBGSTATUS = 0x48, 0x70, 0x74
SMR0, S2CR0 = 0x800, 0xc00                # SMR(n) = SMR0 + 4n, S2CR(n) = S2CR0 + 4n

SCR0_CLIENTPD = 1 << 0
SCR0_USFCFG = 1 << 10

ID0_S1TS, ID0_S2TS, ID0_NTS, ID0_SMS = 1 << 30, 1 << 29, 1 << 28, 1 << 27
ID0_ATOSNS, ID0_PTFS_NO_AARCH32, ID0_PTFS_NO_AARCH32S = 1 << 26, 1 << 25, 1 << 24
ID0_NUMIRPT_SHIFT, ID0_CTTW, ID0_NUMSIDB_SHIFT, ID0_EXIDS = 16, 1 << 14, 9, 1 << 8
ID1_PAGESIZE, ID1_NUMPAGENDXB_SHIFT, ID1_NUMS2CB_SHIFT = 1 << 31, 28, 16
ID2_PTFS_4K, ID2_UBS_SHIFT, ID2_OAS_SHIFT, ID2_IAS_SHIFT = 1 << 12, 8, 4, 0
ID_SIZE_48 = 5            # IAS/OAS/UBS encoding of 48 bits (arm_smmu_id_size_to_bits)
ID7_MAJOR_SHIFT = 4

SMR_VALID = 1 << 31       # ID 15:0, MASK 31:16
S2CR_TYPE_TRANS, S2CR_TYPE_BYPASS, S2CR_TYPE_FAULT = 0, 1, 2   # S2CR.TYPE 17:16, CBNDX 7:0

# -- global register space 1 (page 1)
GR1 = 1 << PGSHIFT
CBAR0, CBA2R0 = GR1 + 0x0, GR1 + 0x800    # CBAR(n) = CBAR0 + 4n, CBA2R(n) = CBA2R0 + 4n
CBAR_TYPE_NAMES = ("S2 translate", "S1 translate, S2 bypass", "S1 translate, S2 fault",
                   "S1 translate, S2 translate")
CBAR_TYPE_S1_TRANS_S2_BYPASS = 1          # CBAR.TYPE 17:16: the only one Linux uses for stage 1
CBA2R_VA64 = 1 << 0

# -- a context bank (page NUMPAGE + n)
CB_SCTLR, CB_ACTLR, CB_TCR2, CB_TTBR0, CB_TTBR1, CB_TCR, CB_FSR = 0x0, 0x4, 0x10, 0x20, 0x28, 0x30, 0x58
CB_TLBSYNC, CB_TLBSTATUS = 0x7f0, 0x7f4
SCTLR_M = 1 << 0
TCR_EPD0 = 1 << 7         # T0SZ 5:0, EPD0 7, TG0 15:14 (4K = 0): not SMMUv3's CD layout
TTBR_ADDR = ((1 << 48) - 1) & ~0xf      # ASID sits in 63:48


def smr(n: int) -> int:
    return SMR0 + 4 * n


def s2cr(n: int) -> int:
    return S2CR0 + 4 * n


def cbar(n: int) -> int:
    return CBAR0 + 4 * n


def cba2r(n: int) -> int:
    return CBA2R0 + 4 * n


def cb(n: int) -> int:
    """Offset of context bank ``n``'s page."""
    return CB_BASE + (n << PGSHIFT)


def reset_image() -> list[tuple[int, int]]:
    """[(offset, 32-bit value)]: the words the twin writes into the region before the guest boots.
    Every other word of the SIZE bytes must read 0 (fresh QEMU RAM does; after a reset of a
    running guest, zero the region first): sGFSR, the TLB status registers, every SMR (invalid),
    S2CR, CBAR and context bank."""
    id0 = (ID0_S1TS | ID0_SMS | ID0_ATOSNS | ID0_PTFS_NO_AARCH32 | ID0_PTFS_NO_AARCH32S
           | NUMCB << ID0_NUMIRPT_SHIFT | ID0_CTTW | NUMSIDB << ID0_NUMSIDB_SHIFT | NUMSMRG)
    id1 = NUMPAGENDXB << ID1_NUMPAGENDXB_SHIFT | 0 << ID1_NUMS2CB_SHIFT | NUMCB
    id2 = (ID2_PTFS_4K | ID_SIZE_48 << ID2_UBS_SHIFT | ID_SIZE_48 << ID2_OAS_SHIFT
           | ID_SIZE_48 << ID2_IAS_SHIFT)
    id7 = MMU500_MAJOR << ID7_MAJOR_SHIFT | MMU500_MINOR
    # MMU-500 comes out of reset with its client ports bypassing the SMMU until the driver's
    # arm_smmu_device_reset clears CLIENTPD.
    return [(ID0, id0), (ID1, id1), (ID2, id2), (ID7, id7), (SCR0, SCR0_CLIENTPD)]


class Smmuv2Walker:
    """Translates the accesses of every stream behind one MMU-500. ``readl(addr)`` and
    ``read(addr, size)`` read guest physical memory, the register file included (a QtestClient's
    methods); ``base`` is the register file's guest physical address."""

    def __init__(self, readl, read, base: int):
        self.readl, self.read, self.base = readl, read, base
        self.walks = 0          # pages resolved (no TLB: one per page of every access)

    def _q(self, addr: int) -> int:
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def translate(self, iova: int, size: int, write: bool, sid: int) -> list[tuple[int, int, int]]:
        """[(pa, offset into the access, length)] for an access of ``size`` bytes at ``iova`` by
        stream ``sid``, split at 4 KiB pages; raises IommuFault for the first page that faults
        (nothing is done)."""
        if sid is None or not 0 <= sid <= SID_MASK:
            raise ValueError(f"SID {sid!r}: a stream ID of {NUMSIDB} bits is required")
        ctx = self._context(iova, sid)     # the stream's configuration: once per access
        out, done = [], 0
        while done < size:
            va = iova + done
            n = min(size - done, PAGE - (va & (PAGE - 1)))
            page = va & ~(PAGE - 1)
            self.walks += 1
            if ctx is None:
                pa_page, writable = page, True
            else:
                try:
                    pa_page, writable = walk_stage1(self._q, page, *ctx)
                except IommuFault as exc:       # name the faulting byte, as CB_FAR would
                    raise IommuFault(va, exc.reason) from None
            if write and not writable:
                raise IommuFault(va, "permission fault (AP[2]: read-only)")
            out.append((pa_page | (va & (PAGE - 1)), done, n))
            done += n
        return out

    # -- the stream's configuration
    def _context(self, iova: int, sid: int) -> tuple[int, int, int, int] | None:
        """(T0SZ, TG0, EPD0, TTB0) of the stage-1 walk for ``sid``; None if its accesses go
        through untranslated (CLIENTPD, bypass, or a context bank with SCTLR.M clear)."""
        scr0 = self.readl(self.base + SCR0)
        if scr0 & SCR0_CLIENTPD:
            return None
        # The whole SMR and S2CR arrays in one read each: NUMSMRG readl's would be 2 x 32 round trips.
        smrs = struct.unpack(f"<{NUMSMRG}I", self.read(self.base + SMR0, 4 * NUMSMRG))
        # Only NUMSIDB bits take part: without EXIDS the MASK field's bit 15 is SMR.VALID itself.
        hits = [i for i, v in enumerate(smrs)
                if v & SMR_VALID and not (sid ^ bits(v, 15, 0)) & ~bits(v, 31, 16) & SID_MASK]
        if not hits:
            if scr0 & SCR0_USFCFG:
                raise IommuFault(iova, f"unidentified stream: SID {sid:#x} matches no SMR (sCR0.USFCFG)")
            return None
        if len(hits) > 1:
            raise IommuFault(iova, f"stream match conflict: SID {sid:#x} matches SMRs {hits}")
        idx = hits[0]
        s2 = struct.unpack(f"<{NUMSMRG}I", self.read(self.base + S2CR0, 4 * NUMSMRG))[idx]
        kind, cbndx = bits(s2, 17, 16), bits(s2, 7, 0)
        if kind == S2CR_TYPE_BYPASS:
            return None
        if kind != S2CR_TYPE_TRANS:
            what = "fault" if kind == S2CR_TYPE_FAULT else f"reserved ({kind})"
            raise IommuFault(iova, f"S2CR{idx}.TYPE {what} for SID {sid:#x}")
        return self._bank(iova, cbndx)

    def _bank(self, iova: int, n: int) -> tuple[int, int, int, int] | None:
        if n >= NUMCB:
            raise IommuFault(iova, f"S2CR.CBNDX {n} beyond the {NUMCB} context banks")
        kind = bits(self.readl(self.base + cbar(n)), 17, 16)
        if kind != CBAR_TYPE_S1_TRANS_S2_BYPASS:
            raise IommuFault(iova, f"CBAR{n}.TYPE {kind} ({CBAR_TYPE_NAMES[kind]}): only stage 1 with "
                                   "stage 2 bypass is modelled")
        if not self.readl(self.base + cba2r(n)) & CBA2R_VA64:
            raise IommuFault(iova, f"CBA2R{n}.VA64 clear: AArch32 format not modelled")
        # SCTLR, TTBR0 and TCR in one read: the bank's first 0x34 bytes.
        regs = self.read(self.base + cb(n), CB_TCR + 4)
        sctlr, = struct.unpack_from("<I", regs, CB_SCTLR)
        if not sctlr & SCTLR_M:
            return None                     # stage 1 disabled: the bank passes addresses through
        ttbr0, = struct.unpack_from("<Q", regs, CB_TTBR0)
        tcr, = struct.unpack_from("<I", regs, CB_TCR)
        return bits(tcr, 5, 0), bits(tcr, 15, 14), tcr >> 7 & 1, ttbr0 & TTBR_ADDR
