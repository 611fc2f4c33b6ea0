"""The MMU-500 (SMMUv2) register file and walker against registers and tables laid out the way
Linux's arm-smmu.c (arm_smmu_device_reset, arm_smmu_write_sme, arm_smmu_write_context_bank) and
io-pgtable-arm.c write them (pure logic: guest RAM and the register file are one bytearray)."""

import struct

import pytest

from tests.unit import lpae_tables

from harness.twins import smmuv2
from harness.twins.smmuv2 import IommuFault, Smmuv2Walker
from harness.twins.smmuv3 import Smmuv3Walker

SMMU, PGD = 0x600000, 0x100000
SID, CBNDX, ASID = 0x4001, 3, 0x2a
AF, RO = lpae_tables.AF, lpae_tables.RO


class Memory:
    """Guest RAM with the register file at SMMU; counts the walker's reads."""

    def __init__(self):
        self.b = bytearray(0x800000)
        self.readls = self.reads = 0
        for off, value in smmuv2.reset_image():
            self.w(off, value)

    def readl(self, addr):
        self.readls += 1
        return struct.unpack_from("<I", self.b, addr)[0]

    def read(self, addr, size):
        self.reads += 1
        return bytes(self.b[addr:addr + size])

    def w(self, off, value):
        """A 32-bit register write by the driver (offset in the register file)."""
        struct.pack_into("<I", self.b, SMMU + off, value)

    def r(self, off):
        return struct.unpack_from("<I", self.b, SMMU + off)[0]

    def q(self, addr, value):
        struct.pack_into("<Q", self.b, addr, value)


def driver_reset(mem, disable_bypass=True):
    """arm_smmu_device_reset: every S2CR to its init value (fault if disable_bypass, else bypass),
    SMRs invalid, context banks off, then sCR0 with CLIENTPD cleared."""
    init = smmuv2.S2CR_TYPE_FAULT if disable_bypass else smmuv2.S2CR_TYPE_BYPASS
    for i in range(smmuv2.NUMSMRG):
        mem.w(smmuv2.s2cr(i), init << 16)
        mem.w(smmuv2.smr(i), 0)
    for n in range(smmuv2.NUMCB):
        mem.w(smmuv2.cb(n) + smmuv2.CB_SCTLR, 0)
        mem.w(smmuv2.cb(n) + smmuv2.CB_FSR, 0x800001fe)     # ARM_SMMU_FSR_FAULT: RAM keeps it
    scr0 = mem.r(smmuv2.SCR0) | 0x3 << 4 | 0x3 << 1 | 1 << 11 | 1 << 12    # GCFGF*, GF*, VMIDPNE, PTM
    scr0 &= ~smmuv2.SCR0_CLIENTPD
    scr0 = scr0 | smmuv2.SCR0_USFCFG if disable_bypass else scr0 & ~smmuv2.SCR0_USFCFG
    mem.w(smmuv2.SCR0, scr0)


def attach(mem, idx, sid, mask=0, kind=smmuv2.S2CR_TYPE_TRANS, cbndx=CBNDX):
    """arm_smmu_write_sme: S2CR (type, cbndx), then SMR (VALID | MASK | ID)."""
    mem.w(smmuv2.s2cr(idx), kind << 16 | cbndx)
    mem.w(smmuv2.smr(idx), smmuv2.SMR_VALID | mask << 16 | sid)


def context_bank(mem, n=CBNDX, t0sz=16, m=True, va64=True, cbar_type=1, tcr_extra=0, asid=ASID):
    """arm_smmu_write_context_bank for an ARM_SMMU_CTX_FMT_AARCH64 stage-1 domain."""
    mem.w(smmuv2.cba2r(n), smmuv2.CBA2R_VA64 if va64 else 0)
    mem.w(smmuv2.cbar(n), cbar_type << 16 | 0xf << 12 | 3 << 8)          # MEMATTR WB, BPSHCFG NSH
    base = smmuv2.cb(n)
    mem.w(base + smmuv2.CB_TCR2, 7 << 15 | 1 << 4 | 5)                   # SEP_UPSTREAM, AS, PASIZE 48
    mem.w(base + smmuv2.CB_TCR, 3 << 12 | 1 << 10 | 1 << 8 | t0sz | tcr_extra)   # SH0 IS, WBWA, TG0 4K
    mem.q(SMMU + base + smmuv2.CB_TTBR0, asid << 48 | PGD)
    mem.q(SMMU + base + smmuv2.CB_TTBR1, asid << 48)
    mem.w(base + 0x38, 0x0004ff44)                                        # MAIR0
    mem.w(base + smmuv2.CB_SCTLR, (1 << 12 | 0x3 << 5 | 1 << 2 | 1 << 1 | 1) if m else 0)


def booted(mem=None, **bank):
    """A kernel that has probed the SMMU and attached SID to a DMA domain in context bank CBNDX."""
    mem = mem or Memory()
    driver_reset(mem)
    attach(mem, 5, SID)
    context_bank(mem, **bank)
    return mem


def map_page(mem, iova, pa, extra=0, levels=4):
    """io-pgtable-arm's tables below PGD (4 levels: a 48-bit IOVA, T0SZ 16)."""
    lpae_tables.map_page(mem, PGD, iova, pa, extra, levels)


def walker(mem):
    return Smmuv2Walker(mem.readl, mem.read, SMMU)


def test_translated_page_reads_and_writes():
    mem = booted()
    map_page(mem, 0xfffff000, 0x5000000)
    w = walker(mem)
    assert w.translate(0xfffff010, 8, True, SID) == [(0x5000010, 0, 8)]
    assert w.translate(0xfffff010, 8, False, sid=SID) == [(0x5000010, 0, 8)]   # as the engine calls it
    assert w.walks == 2, "no TLB: every access walks"


def test_register_reads_are_few():
    """sCR0, CBAR and CBA2R are readl's; the SMR and S2CR arrays and the bank's SCTLR..TCR are one
    read() each (plus one per table level), not NUMSMRG readl's."""
    mem = booted()
    map_page(mem, 0xc0000000, 0x5000000)
    walker(mem).translate(0xc0000000, 4, False, SID)
    assert mem.readls == 3
    assert mem.reads == 3 + 4


def test_read_only_page_refuses_writes_only():
    mem = booted()
    map_page(mem, 0xc0000000, 0x5000000, extra=RO)
    w = walker(mem)
    assert w.translate(0xc0000000, 4, False, SID) == [(0x5000000, 0, 4)]
    with pytest.raises(IommuFault, match="permission"):
        w.translate(0xc0000000, 4, True, SID)


def test_unmapped_iova_faults():
    mem = booted()
    map_page(mem, 0xc0000000, 0x5000000)
    with pytest.raises(IommuFault, match="invalid level-3") as exc:
        walker(mem).translate(0xc0002008, 4, False, SID)
    assert exc.value.iova == 0xc0002008


def test_clientpd_bypasses_everything():
    """The reset image (before the driver runs) has CLIENTPD set: every stream passes through."""
    mem = Memory()
    assert walker(mem).translate(0x12345678, 4, True, SID) == [(0x12345678, 0, 4)]
    booted(mem)
    mem.w(smmuv2.SCR0, mem.r(smmuv2.SCR0) | smmuv2.SCR0_CLIENTPD)    # arm_smmu_device_shutdown
    assert walker(mem).translate(0x12345678, 4, True, SID) == [(0x12345678, 0, 4)]


def test_unmatched_stream_faults_with_usfcfg_and_bypasses_without():
    mem = Memory()
    driver_reset(mem, disable_bypass=True)
    # arm_smmu_test_smr_masks leaves its probe values in a free SMR, VALID clear: not a match.
    mem.w(smmuv2.smr(0), smmuv2.SID_MASK << 16)
    with pytest.raises(IommuFault, match="unidentified stream"):
        walker(mem).translate(0x1000, 4, True, SID)
    driver_reset(mem, disable_bypass=False)
    assert walker(mem).translate(0x1000, 4, True, SID) == [(0x1000, 0, 4)]


def test_smr_mask_matches_sids_differing_in_masked_bits():
    mem = Memory()
    driver_reset(mem)
    attach(mem, 7, 0x100, mask=0x3)
    context_bank(mem)
    map_page(mem, 0xc0000000, 0x5000000)
    for sid in (0x100, 0x101, 0x103):
        assert walker(mem).translate(0xc0000000, 4, True, sid) == [(0x5000000, 0, 4)]
    with pytest.raises(IommuFault, match="unidentified"):
        walker(mem).translate(0xc0000000, 4, True, 0x104)


def test_two_matching_smrs_are_a_conflict():
    mem = booted()
    attach(mem, 9, SID & ~0xf, mask=0xf)
    with pytest.raises(IommuFault, match=r"conflict.*\[5, 9\]"):
        walker(mem).translate(0xc0000000, 4, False, SID)


def test_s2cr_bypass_and_fault_types():
    mem = booted()
    attach(mem, 5, SID, kind=smmuv2.S2CR_TYPE_BYPASS)
    assert walker(mem).translate(0x9000, 4, True, SID) == [(0x9000, 0, 4)]
    attach(mem, 5, SID, kind=smmuv2.S2CR_TYPE_FAULT)
    with pytest.raises(IommuFault, match="S2CR5.TYPE fault"):
        walker(mem).translate(0x9000, 4, True, SID)


def test_sctlr_m_clear_is_flat():
    mem = booted(m=False)
    assert walker(mem).translate(0xabc000, 0x10, True, SID) == [(0xabc000, 0, 0x10)]


def test_cba2r_without_va64_faults():
    mem = booted(va64=False)
    with pytest.raises(IommuFault, match="AArch32 format not modelled"):
        walker(mem).translate(0xc0000000, 4, False, SID)


def test_stage2_context_bank_faults_naming_it():
    mem = booted(cbar_type=0)
    with pytest.raises(IommuFault, match=r"CBAR3.TYPE 0 \(S2 translate\)"):
        walker(mem).translate(0xc0000000, 4, False, SID)


def test_asid_bits_in_ttbr0_are_ignored():
    mem = booted(asid=0xffff)
    map_page(mem, 0xc0000000, 0x5000000)
    assert walker(mem).translate(0xc0000000, 4, False, SID) == [(0x5000000, 0, 4)]


def test_tcr_fields_decoded_at_smmuv2_bits():
    """EPD0 is TCR bit 7 and TG0 bits 15:14 (SMMUv3's CD has them at 14 and 7:6)."""
    mem = booted(tcr_extra=smmuv2.TCR_EPD0)
    map_page(mem, 0xc0000000, 0x5000000)
    with pytest.raises(IommuFault, match="EPD0"):
        walker(mem).translate(0xc0000000, 4, False, SID)
    context_bank(mem, tcr_extra=1 << 14)                    # TG0 64K
    with pytest.raises(IommuFault, match="TG0 1"):
        walker(mem).translate(0xc0000000, 4, False, SID)


def test_access_crossing_a_page_splits():
    mem = booted()
    map_page(mem, 0xc0000000, 0x5000000)
    map_page(mem, 0xc0001000, 0x7000000)
    w = walker(mem)
    assert w.translate(0xc0000ff0, 0x20, True, SID) == [(0x5000ff0, 0, 0x10), (0x7000000, 0x10, 0x10)]
    assert w.walks == 2


def test_2mib_block():
    mem = booted()
    map_page(mem, 0xc0000000, 0x5000000)                   # makes the level-0..2 tables
    l1 = struct.unpack_from("<Q", mem.b, PGD)[0] & ~0xfff  # level-0 entry 0
    l2 = struct.unpack_from("<Q", mem.b, l1 + 3 * 8)[0] & ~0xfff   # level-1 entry 3 (IOVA 3 GiB)
    mem.q(l2 + 1 * 8, 0x40200000 | AF | 1)                # level-2 entry 1: a block at 0xc0200000
    assert walker(mem).translate(0xc0212345, 4, False, SID) == [(0x40212345, 0, 4)]


def test_sid_is_required_and_bounded():
    mem = booted()
    with pytest.raises(ValueError):
        walker(mem).translate(0x1000, 4, False, None)
    with pytest.raises(ValueError):
        walker(mem).translate(0x1000, 4, False, smmuv2.SID_MASK + 1)


def test_smmuv3_walker_takes_its_own_sid_only():
    """The engine passes sid= to either walker: SMMUv3's accepts None or its own stream."""
    w = Smmuv3Walker(lambda a: 0, lambda a, n: bytes(n), 0x9050000, 0x10)    # SMMU disabled, GBPA 0
    assert w.translate(0x1000, 4, True, sid=0x10) == [(0x1000, 0, 4)]
    assert w.translate(0x1000, 4, True, sid=None) == [(0x1000, 0, 4)]
    with pytest.raises(ValueError):
        w.translate(0x1000, 4, True, sid=0x11)


def _id_size_to_bits(size):
    """arm_smmu_id_size_to_bits (arm-smmu.c:1664)."""
    return {0: 32, 1: 36, 2: 40, 3: 42, 4: 44}.get(size, 48)


def test_reset_image_satisfies_cfg_probe():
    """Decode the image as arm_smmu_device_cfg_probe does for an "arm,mmu-500" (ARM_SMMU_V2)."""
    image = dict(smmuv2.reset_image())
    assert len(image) == len(smmuv2.reset_image()), "each offset once"
    assert all(0 <= v < 1 << 32 and off % 4 == 0 and off < smmuv2.SIZE for off, v in image.items())
    f = smmuv2.bits
    id0, id1, id2, id7 = (image[o] for o in (smmuv2.ID0, smmuv2.ID1, smmuv2.ID2, smmuv2.ID7))
    # ID0: stage 1 only; ATOSNS, so no ARM_SMMU_FEAT_TRANS_OPS (ATOS never used); stream matching.
    assert id0 & 1 << 30 and not id0 & (1 << 29 | 1 << 28)
    assert id0 & 1 << 26
    assert not id0 & 1 << 8, "no EXIDS"
    assert (1 << f(id0, 12, 9)) - 1 == 0x7fff == smmuv2.SID_MASK
    assert id0 & 1 << 27 and f(id0, 7, 0) == smmuv2.NUMSMRG > 0
    assert id0 & 1 << 25 and id0 & 1 << 24, "no AArch32 formats"
    assert id0 & 1 << 14, "CTTW"
    # ID1: the size check "2 * size << pgshift" against the node's reg size, and the CB base.
    pgshift = 16 if id1 & 1 << 31 else 12
    numpage = 1 << (f(id1, 30, 28) + 1)
    assert 2 * numpage << pgshift == smmuv2.SIZE == 0x10000
    assert numpage << pgshift == smmuv2.CB_BASE == 0x8000
    num_s2, num_cb = f(id1, 23, 16), f(id1, 7, 0)
    assert num_cb == smmuv2.NUMCB == 8 and num_s2 <= num_cb
    assert smmuv2.cb(num_cb - 1) + (1 << pgshift) == smmuv2.SIZE
    # ID2: 48-bit IAS/OAS/UBS, AArch64 4K tables (pgsize_bitmap 4K | 2M | 1G).
    assert [_id_size_to_bits(f(id2, hi, lo)) for hi, lo in ((3, 0), (7, 4), (11, 8))] == [48, 48, 48]
    assert id2 & 1 << 12 and not id2 & (1 << 13 | 1 << 14)
    # ID7: arm_mmu500_reset clears sACR.CACHE_LOCK for major >= 2.
    assert f(id7, 7, 4) >= 2
    # sCR0: client ports bypass until the driver's reset; sGFSR and sTLBGSTATUS read 0.
    assert image[smmuv2.SCR0] == smmuv2.SCR0_CLIENTPD
    assert smmuv2.SGFSR not in image and smmuv2.STLBGSTATUS not in image
    # The node: as many context interrupts as context banks (arm-smmu.c:2142), >= 1 global.
    assert smmuv2.CONTEXT_IRQS >= num_cb and smmuv2.GLOBAL_IRQS >= 1
