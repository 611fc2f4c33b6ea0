#!/usr/bin/env python3
"""Twin benchmark: how fast the XGBE twin reacts to a register write, on a real QEMU virt (TCG,
no kernel). A write of DMA_MR.SWR is made through qtest (as a guest store would land in the
register window) and timed until the twin has reset the device and cleared the bit; the
twin's own reset latency is set to 0, so this is pure polling + reaction. Also: engine steps/s.

    .venv/bin/python benchmarks/twin_latency.py [--samples 500]

Writes reports/benchmarks/twin_latency.json. Target: median under 5 ms.
"""

from __future__ import annotations

import argparse
import time

from harness.twins.bare import bare_virt_twin
from harness.twins.xgbe import XgbeTwin
from latency import report, swr_reaction_ms

XGMAC, XPCS = 0x50000000, 0x50080000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=500)
    args = ap.parse_args()
    with bare_virt_twin(XgbeTwin(XGMAC, XPCS, [40, 41], swr_latency_s=0.0)) as (engine, _):
        steps0, t0 = engine.steps, time.monotonic()
        samples = [swr_reaction_ms(engine, XGMAC + 0x3000) for _ in range(args.samples)]
        steps_per_s = (engine.steps - steps0) / (time.monotonic() - t0)
    record = report("twin_latency", "twin reaction to a register write (XGBE DMA_MR.SWR)", samples,
                    engine_steps_per_s=round(steps_per_s))
    print(f"engine steps/s while measuring: {record['engine_steps_per_s']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
