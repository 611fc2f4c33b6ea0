#!/usr/bin/env python3
"""Suite benchmark: boot-to-shell, time per test and total suite time, median of N runs,
for each target and kernel, with artifacts cached (they are built first, untimed).

    .venv/bin/python benchmarks/suite_times.py [--runs 3] [--target T ...] [--kernel K ...]

Writes reports/benchmarks/suite_times.json and prints Markdown tables (for the README).
Targets: boot under 5 s, the whole suite under 120 s per target per kernel.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from harness.artifacts import build_artifacts
from harness.kernel.spec import parse_kernel_spec
from harness.run import run_suite
from harness.targets import get_target

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--target", action="append", default=None)
    ap.add_argument("--kernel", action="append", default=None)
    args = ap.parse_args()
    targets = args.target or ["qemu-highbank", "qemu-midway"]
    kernels = args.kernel or ["debian:6.1", "debian:sid"]
    record = {"runs": args.runs, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": []}
    for name in targets:
        target = get_target(name)
        for kernel in kernels:
            art = build_artifacts(target, parse_kernel_spec(kernel), [], say=lambda m: None)
            totals, boots, per_test = [], [], {}
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory(prefix="vfio-hil-bench-") as out:
                    started = time.monotonic()
                    doc = run_suite(target, art, Path(out), say=lambda m: None)
                    totals.append(time.monotonic() - started)
                for t in doc["tests"]:
                    per_test.setdefault(t["id"], []).append(t["duration_s"])
                    if t["id"] == "boot" and "boot_s" in t["evidence"]:
                        boots.append(t["evidence"]["boot_s"])
            record["results"].append({
                "target": name, "kernel": kernel, "release": art.meta["release"],
                "boot_to_shell_s": round(statistics.median(boots), 2) if boots else None,
                "suite_total_s": round(statistics.median(totals), 1),
                "per_test_s": {k: round(statistics.median(v), 2) for k, v in per_test.items()},
            })
    out = ROOT / "reports" / "benchmarks" / "suite_times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"| target | kernel | boot to shell (s) | whole suite (s) |  (median of {args.runs})\n|---|---|---:|---:|")
    for r in record["results"]:
        print(f"| {r['target']} | {r['release']} | {r['boot_to_shell_s']} | {r['suite_total_s']} |")
    first = record["results"][0]
    print(f"\n| test ({first['target']}, {first['release']}) | median s |\n|---|---:|")
    for k, v in first["per_test_s"].items():
        print(f"| {k} | {v} |")
    print(f"\n(written to {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
