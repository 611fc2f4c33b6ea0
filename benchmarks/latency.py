"""What the twin latency benchmarks share: a sample list summarised and written where the README
takes its numbers from (reports/benchmarks/NAME.json), and the Markdown table they print."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def report(name: str, title: str, samples_ms: list[float], **extra) -> dict:
    """Median, p95 and max of ``samples_ms``, with ``extra`` fields, in reports/benchmarks/NAME.json;
    prints them as a table under ``title``."""
    samples = sorted(samples_ms)
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "samples": len(samples),
              "median_ms": round(statistics.median(samples), 3),
              "p95_ms": round(samples[int(0.95 * len(samples)) - 1], 3), "max_ms": round(samples[-1], 3), **extra}
    out = ROOT / "reports" / "benchmarks" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"| {title} | ms |\n|---|---:|")
    for k in ("median_ms", "p95_ms", "max_ms"):
        print(f"| {k.removesuffix('_ms')} | {record[k]} |")
    print(f"\n(written to {out})")
    return record


SWR_DEADLINE_S = 5.0


def swr_reaction_ms(engine, dma_mr: int) -> float:
    """Write DMA_MR.SWR (at ``dma_mr``) as a guest store would land, and time (ms) until the XGBE
    twin has reset the device and cleared the bit; the deadline ends the benchmark."""
    q = engine.q
    with engine.lock:
        q.writel(dma_mr, 1)
    started, deadline = time.perf_counter(), time.monotonic() + SWR_DEADLINE_S
    while True:
        with engine.lock:
            if not q.readl(dma_mr) & 1:
                return (time.perf_counter() - started) * 1000
        if time.monotonic() > deadline:
            raise SystemExit(f"the twin did not clear DMA_MR.SWR within {SWR_DEADLINE_S} s")
        time.sleep(0.0001)      # a guest polls too; without a pause this loop would starve the engine
