#!/usr/bin/env python3
"""MC twin benchmark: how long one Management Complex command takes to answer, on a real QEMU
virt (TCG, no kernel). Each sample is what mc_send_command() does: parameters, then the header
with status READY into the root portal (through qtest, as the guest's stores would land), then
polling the status until the twin has answered (DPRC get_container_id).

    .venv/bin/python benchmarks/mc_latency.py [--samples 500]

Writes reports/benchmarks/mc_latency.json. The kernel allows 15 s per command (mc-sys.c) and
vfio-fsl-mc 5 s; the twin's target is the engine's own, a median under 5 ms.
"""

from __future__ import annotations

import argparse
import struct
import time

from harness.twins import fslmc
from harness.twins.bare import bare_virt_twin
from latency import report

BASE = 0x50000000
WAIT_DEADLINE_S = 5.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=500)
    args = ap.parse_args()
    header = struct.pack("<BBBBHH", 0, 0, fslmc.STATUS_READY, 0, 0, 0x830 << 4 | 1)
    with bare_virt_twin(fslmc.FslMcTwin(BASE, BASE + fslmc.CTRL_OFFSET), gic=False) as (engine, _):
        q = engine.q
        samples = []
        for _ in range(args.samples):
            with engine.lock:
                q.write(BASE + 8, bytes(56))
                q.write(BASE, header)
            started = time.perf_counter()
            deadline = time.monotonic() + WAIT_DEADLINE_S
            while True:
                with engine.lock:
                    if q.read(BASE, 8)[2] != fslmc.STATUS_READY:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the MC twin did not answer within {WAIT_DEADLINE_S} s")
                time.sleep(0.0001)      # the kernel polls with a pause too (udelay(500) when atomic)
            samples.append((time.perf_counter() - started) * 1000)
    report("mc_latency", "MC twin: one command answered (get_container_id)", samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
