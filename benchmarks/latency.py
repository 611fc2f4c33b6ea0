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
