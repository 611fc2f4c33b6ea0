"""The SMMUv3 walker against tables laid out the way Linux's arm-smmu-v3 and io-pgtable-arm write
them (pure logic: guest memory is a bytearray)."""

import struct

import pytest

from tests.unit import lpae_tables

from harness.twins import smmuv3
from harness.twins.smmuv3 import IommuFault, Smmuv3Walker

SMMU, STRTAB, L2, CD, PGD = 0x9050000, 0x100000, 0x110000, 0x120000, 0x130000
SID = 0xfe01
AF, RO = lpae_tables.AF, lpae_tables.RO


class Memory:
    def __init__(self):
        self.b = bytearray(0x400000)
        self.regs = {smmuv3.CR0: smmuv3.CR0_SMMUEN, smmuv3.CMDQ_PROD: 0}

    def readl(self, addr):
        if SMMU <= addr < SMMU + 0x20000:
            return self.regs.get(addr - SMMU, 0)
        return struct.unpack_from("<I", self.b, addr)[0]

    def read(self, addr, size):
        return bytes(self.b[addr:addr + size])

    def q(self, addr, value):
        struct.pack_into("<Q", self.b, addr, value)

    def reg64(self, off, value):
        self.regs[off], self.regs[off + 4] = value & 0xffffffff, value >> 32


def two_level(mem, cfg=smmuv3.STE_CFG_S1, t0sz=16):
    """Linux's layout: 2-level stream table, split 8; one CD; 4-level tables for a 48-bit IOVA."""
    mem.reg64(smmuv3.STRTAB_BASE, STRTAB)
    mem.regs[smmuv3.STRTAB_BASE_CFG] = 1 << 16 | 8 << 6 | 16
    mem.q(STRTAB + (SID >> 8) * 8, L2 | 9)                         # span 9: 256 STEs
    mem.q(L2 + (SID & 0xff) * 64, CD | cfg << 1 | 1)
    mem.q(CD, 1 << 31 | t0sz)                                      # V, TG0 4K
    mem.q(CD + 8, PGD)


def map_page(mem, iova, pa, extra=0, levels=4):
    """io-pgtable-arm's tables below PGD (4 levels: a 48-bit IOVA, T0SZ 16)."""
    lpae_tables.map_page(mem, PGD, iova, pa, extra, levels)


def walker(mem):
    return Smmuv3Walker(mem.readl, mem.read, SMMU, SID)


def test_stage1_page_translates_and_splits_at_pages():
    mem = Memory()
    two_level(mem)
    map_page(mem, 0xc0000000, 0x5000000)
    map_page(mem, 0xc0001000, 0x7000000)
    out = walker(mem).translate(0xc0000ff0, 0x20, write=True)
    assert out == [(0x5000ff0, 0, 0x10), (0x7000000, 0x10, 0x10)]


def test_unmapped_iova_faults():
    mem = Memory()
    two_level(mem)
    map_page(mem, 0xc0000000, 0x5000000)
    with pytest.raises(IommuFault, match="invalid level-3"):
        walker(mem).translate(0xc0002000, 4, write=False)


def test_read_only_mapping_refuses_writes_only():
    mem = Memory()
    two_level(mem)
    map_page(mem, 0xc0000000, 0x5000000, extra=RO)
    w = walker(mem)
    assert w.translate(0xc0000000, 4, write=False) == [(0x5000000, 0, 4)]
    with pytest.raises(IommuFault, match="permission"):
        w.translate(0xc0000000, 4, write=True)


def test_2mib_block():
    mem = Memory()
    two_level(mem)
    map_page(mem, 0xc0000000, 0x5000000)                   # makes the level-0..2 tables
    l2 = struct.unpack_from("<Q", mem.b, PGD + 0x1000 + 3 * 8)[0] & ~0xfff   # level-1 entry 3 (IOVA 3 GiB)
    mem.q(l2 + 1 * 8, 0x40200000 | AF | 1)                # level-2 entry 1: a block at 0xc0200000
    assert walker(mem).translate(0xc0212345, 4, False) == [(0x40212345, 0, 4)]


def test_bypass_and_abort_stes():
    mem = Memory()
    two_level(mem, cfg=smmuv3.STE_CFG_BYPASS)
    assert walker(mem).translate(0x12345678, 4, True) == [(0x12345678, 0, 4)]
    two_level(mem, cfg=smmuv3.STE_CFG_ABORT)
    with pytest.raises(IommuFault, match="aborts"):
        walker(mem).translate(0x12345678, 4, True)


def test_missing_l2_stream_table_is_bad_streamid():
    mem = Memory()
    two_level(mem)
    mem.q(STRTAB + (SID >> 8) * 8, 0)
    with pytest.raises(IommuFault, match="C_BAD_STREAMID"):
        walker(mem).translate(0xc0000000, 4, False)


def test_cache_dropped_when_the_command_queue_moves():
    """An unmap (PTE cleared, then a TLBI through the command queue) is seen at once; without a
    command the cached walk stands (the documented approximation)."""
    mem = Memory()
    two_level(mem)
    map_page(mem, 0xc0000000, 0x5000000)
    w = walker(mem)
    assert w.translate(0xc0000000, 4, True)
    mem.q(PGD + 0x3000, 0)                      # the unmap: the level-3 entry map_page made
    assert w.translate(0xc0000000, 4, True), "no command queued: the cached walk stands"
    mem.regs[smmuv3.CMDQ_PROD] = 2
    with pytest.raises(IommuFault):
        w.translate(0xc0000000, 4, True)
    assert w.walks == 2 and w.flushes == 1


def test_three_level_tables_from_t0sz():
    mem = Memory()
    two_level(mem, t0sz=25)                      # a 39-bit IOVA space starts at level 1
    table = PGD
    mem.q(table + 3 * 8, PGD + 0x1000 | 3)
    mem.q(PGD + 0x1000, PGD + 0x2000 | 3)
    mem.q(PGD + 0x2000, 0x6000000 | AF | 3)
    assert walker(mem).translate(0xc0000000, 4, True) == [(0x6000000, 0, 4)]


def test_smmu_disabled_follows_gbpa():
    mem = Memory()
    mem.regs[smmuv3.CR0] = 0
    assert walker(mem).translate(0x1000, 4, True) == [(0x1000, 0, 4)]
    mem.regs[smmuv3.GBPA] = smmuv3.GBPA_ABORT
    with pytest.raises(IommuFault):
        walker(mem).translate(0x1000, 4, True)
