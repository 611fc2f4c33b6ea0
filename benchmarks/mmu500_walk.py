#!/usr/bin/env python3
"""Walker benchmark for the MC twin's MMU-500 (harness/twins/smmuv2.py): what translating one twin
DMA access costs on a real QEMU (TCG, no kernel), with the register file and tables laid in guest
RAM via qtest the way arm-smmu.c and io-pgtable-arm.c lay them (one stream matched in SMR 5 of 32,
context bank 0, stage-1 AArch64, 4-level tables, 4 KiB pages).

    .venv/bin/python benchmarks/mmu500_walk.py [--samples 2000]

The walker keeps no cache (the register file is RAM: no command queue to tell it when to drop
one), so every access pays: sCR0, the SMR and S2CR arrays, CBAR, CBA2R, the bank's registers and
four table levels. Writes reports/benchmarks/mmu500_walk.json.
"""

from __future__ import annotations

import argparse
import struct
import time

from harness.twins import mmu500, smmuv2
from harness.twins.bare import bare_qtest, bare_virt
from harness.twins.smmuv2 import Smmuv2Walker
from latency import report

RAM = 0x40000000
SMMU, PGD = RAM + 0x200000, RAM + 0x300000
SID, IOVA, PAGES = 0x20, 0xc0000000, 256


def lay(q) -> None:
    q.write(SMMU, mmu500.reset_image_bytes())
    q.writel(SMMU + smmuv2.SCR0, smmuv2.SCR0_USFCFG)                    # the kernel's reset: CLIENTPD clear
    q.writel(SMMU + smmuv2.s2cr(5), smmuv2.S2CR_TYPE_TRANS << 16 | 0)
    q.writel(SMMU + smmuv2.smr(5), smmuv2.SMR_VALID | mmu500.STREAM_MATCH_MASK << 16 | SID)
    q.writel(SMMU + smmuv2.cba2r(0), smmuv2.CBA2R_VA64)
    q.writel(SMMU + smmuv2.cbar(0), smmuv2.CBAR_TYPE_S1_TRANS_S2_BYPASS << 16)
    bank = SMMU + smmuv2.cb(0)
    q.writel(bank + smmuv2.CB_TCR, 16)                                  # T0SZ 16, TG0 4K
    q.write(bank + smmuv2.CB_TTBR0, struct.pack("<Q", 1 << 48 | PGD))   # ASID 1
    q.writel(bank + smmuv2.CB_SCTLR, smmuv2.SCTLR_M)
    # level 0 -> 1 -> 2 -> 3 for IOVA 0xc0000000 (L0 index 0, L1 index 3, L2 index 0)
    q.write(PGD, struct.pack("<Q", (PGD + 0x1000) | 3))
    q.write(PGD + 0x1000 + 3 * 8, struct.pack("<Q", (PGD + 0x2000) | 3))
    q.write(PGD + 0x2000, struct.pack("<Q", (PGD + 0x3000) | 3))
    q.write(PGD + 0x3000, b"".join(struct.pack("<Q", (RAM + 0x1000000 + i * 4096) | 1 << 10 | 3)
                                   for i in range(PAGES)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=2000)
    args = ap.parse_args()
    with bare_virt(()) as (sock, proc):
        q = bare_qtest(sock, proc)
        lay(q)
        w = Smmuv2Walker(q.readl, q.read, SMMU)
        expect = RAM + 0x1000000 + 5 * 4096 + 0x10
        got = w.translate(IOVA + 5 * 4096 + 0x10, 64, True, SID)
        if got != [(expect, 0, 64)]:
            raise SystemExit(f"the walk through the MMU-500 register file gave {got}, expected {expect:#x}")
        samples = []
        for i in range(args.samples):
            t = time.perf_counter()
            w.translate(IOVA + (i % PAGES) * 4096, 64, True, SID)
            samples.append((time.perf_counter() - t) * 1000)
        q.close()
    report("mmu500_walk", "one access, stream matching to page (no cache)", samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
