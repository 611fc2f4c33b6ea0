#!/usr/bin/env python3
"""Twin benchmark: the XGBE twin's reaction to a register write while it does RX DMA, with and
without the SMMUv3 walker between it and memory (real QEMU virt with iommu=smmuv3, TCG, no
kernel). Each sample arms channel 0's RX ring (descriptor fetches and frame writes every engine
step), lets it run a few steps, then writes DMA_MR.SWR and times until the twin has cleared it.
Without the walker the ring's addresses are physical; with it they are IOVAs the walker
translates through tables laid as Linux lays them (benchmarks/smmu_walk.py).

    .venv/bin/python benchmarks/twin_latency_iommu.py [--samples 200]

Writes reports/benchmarks/twin_latency_{phys,iommu}.json. Target: median under 5 ms.
"""

from __future__ import annotations

import argparse
import struct
import time

from harness.twins.bare import bare_qtest, bare_virt
from harness.twins.engine import EventLog, TwinEngine
from harness.twins.gic import GicLines
from harness.twins.smmuv3 import Smmuv3Walker
from harness.twins.xgbe import CH_IER, CH_RCR, CH_RDLR_HI, CH_RDLR_LO, CH_RDRLR, SR_RI, XgbeTwin
from latency import report, swr_reaction_ms
from smmu_walk import IOVA, RAM, SID, SMMU, lay_tables

XGMAC, XPCS = 0x50000000, 0x50080000
CH0 = XGMAC + 0x3100
RING_PA = RAM + 0x1000000            # where smmu_walk's tables map IOVA 0xc0000000


def arm_rx(q, base: int) -> None:
    """Four RX descriptors at ``base`` (the device's address) with buffers after them; written at RING_PA."""
    for i in range(4):
        q.write(RING_PA + 16 * i, struct.pack("<IIII", base + 0x1000 + 2048 * i, 0, 0, 1 << 31))
    q.writel(CH0 + CH_RDLR_HI, base >> 32)
    q.writel(CH0 + CH_RDLR_LO, base & 0xffffffff)
    q.writel(CH0 + CH_RDRLR, 3)
    q.writel(CH0 + CH_IER, SR_RI)
    q.writel(CH0 + CH_RCR, 1)


def measure(iommu: bool, samples: int) -> tuple[list[float], float, int]:
    with bare_virt(("-machine", "iommu=smmuv3")) as (sock, proc):
        q = bare_qtest(sock, proc)
        lay_tables(q)
        walker = Smmuv3Walker(q.readl, q.read, SMMU, SID) if iommu else None
        engine = TwinEngine(q, XgbeTwin(XGMAC, XPCS, [40, 41], swr_latency_s=0.0), GicLines.locate(q),
                            EventLog(None), iommu=walker).start()
        out, steps0, t0 = [], engine.steps, time.monotonic()
        try:
            for _ in range(samples):
                with engine.lock:
                    arm_rx(q, IOVA if iommu else RING_PA)
                time.sleep(0.01)                      # a few steps of DMA through the ring
                out.append(swr_reaction_ms(engine, XGMAC + 0x3000))
            engine.check_alive()
            steps_per_s = (engine.steps - steps0) / (time.monotonic() - t0)
            dma = engine.log.counts.get("dma", 0)
        finally:
            engine.stop()
            q.close()
    return out, steps_per_s, dma


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    for name, iommu in (("phys", False), ("iommu", True)):
        samples, steps, dma = measure(iommu, args.samples)
        if not dma:
            raise SystemExit(f"{name}: the twin wrote no frame: the benchmark measured no DMA")
        report(f"twin_latency_{name}", f"twin reaction to DMA_MR.SWR during RX DMA, {name}", samples,
               engine_steps_per_s=round(steps), dma_writes=dma)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
