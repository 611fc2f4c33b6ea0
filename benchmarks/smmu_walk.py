#!/usr/bin/env python3
"""Walker benchmark: what translating one twin DMA access through QEMU virt's SMMUv3 costs, on a
real QEMU (TCG, no kernel), with tables laid the way Linux lays them (2-level stream table split 8,
one context descriptor, 4-level stage-1 tables, 4 KiB pages), written into guest RAM via qtest.

    .venv/bin/python benchmarks/smmu_walk.py [--samples 2000]

Cold: the walk cache dropped before every access (what the first access after every kernel
command costs: CR0, stream table, STE, CD and four table levels, about ten qtest round trips).
Cached: the same page again (one CMDQ_PROD read). Writes reports/benchmarks/smmu_walk_{cold,cached}.json.
"""

from __future__ import annotations

import argparse
import struct
import time

from harness.twins import smmuv3
from harness.twins.bare import bare_qtest, bare_virt
from harness.twins.smmuv3 import Smmuv3Walker
from latency import report

SMMU = 0x9050000
RAM = 0x40000000
STRTAB, L2, CD, PGD = RAM + 0x100000, RAM + 0x110000, RAM + 0x120000, RAM + 0x130000
SID, IOVA, PAGES = 0xfe00, 0xc0000000, 256


def lay_tables(q) -> None:
    q.write(STRTAB + (SID >> 8) * 8, struct.pack("<Q", L2 | 9))
    q.write(L2 + (SID & 0xff) * 64, struct.pack("<Q", CD | smmuv3.STE_CFG_S1 << 1 | 1))
    q.write(CD, struct.pack("<QQ", 1 << 31 | 16, PGD))
    # level 0 -> 1 -> 2 -> 3 for IOVA 0xc0000000 (L0 index 0, L1 index 3, L2 index 0)
    q.write(PGD, struct.pack("<Q", (PGD + 0x1000) | 3))
    q.write(PGD + 0x1000 + 3 * 8, struct.pack("<Q", (PGD + 0x2000) | 3))
    q.write(PGD + 0x2000, struct.pack("<Q", (PGD + 0x3000) | 3))
    q.write(PGD + 0x3000, b"".join(struct.pack("<Q", (RAM + 0x1000000 + i * 4096) | 1 << 10 | 3)
                                   for i in range(PAGES)))
    q.writel(SMMU + smmuv3.STRTAB_BASE, STRTAB & 0xffffffff)
    q.writel(SMMU + smmuv3.STRTAB_BASE + 4, STRTAB >> 32)
    q.writel(SMMU + smmuv3.STRTAB_BASE_CFG, 1 << 16 | 8 << 6 | 16)
    q.writel(SMMU + smmuv3.CR0, smmuv3.CR0_SMMUEN)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=2000)
    args = ap.parse_args()
    with bare_virt(("-machine", "iommu=smmuv3")) as (sock, proc):
        q = bare_qtest(sock, proc)
        lay_tables(q)
        w = Smmuv3Walker(q.readl, q.read, SMMU, SID)
        expect = RAM + 0x1000000 + 5 * 4096 + 0x10
        got = w.translate(IOVA + 5 * 4096 + 0x10, 64, True)
        if got != [(expect, 0, 64)]:
            raise SystemExit(f"the walk through QEMU's SMMU registers gave {got}, expected {expect:#x}")
        cold, cached = [], []
        for i in range(args.samples):
            va = IOVA + (i % PAGES) * 4096
            w._cache.clear()
            t = time.perf_counter()
            w.translate(va, 64, True)
            cold.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            w.translate(va, 64, True)
            cached.append((time.perf_counter() - t) * 1000)
        q.close()
    report("smmu_walk_cold", "one access, walk cache empty (stream table to page)", cold)
    report("smmu_walk_cached", "one access, walk cached (CMDQ_PROD read only)", cached)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
