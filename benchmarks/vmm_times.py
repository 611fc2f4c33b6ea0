#!/usr/bin/env python3
"""The next guest's timings: per VMM experiment (one variant, real handler or control) the time
from the first VMM's start to the next guest's report with its VMM ended (check_s), the first
guest's arming (armed_after_s), death to the next guest's report (next_guest_ms), and the staging
of the VMM bundle; median and range over the runs. Runs qemu-seattle in type1 with only the VMM
checks (-k vmm), artifacts built first, untimed; or reads finished runs (--from DIR ...).

    .venv/bin/python benchmarks/vmm_times.py [--runs 1] [--kernel debian:6.1 ...] [--from DIR ...]

Writes reports/benchmarks/vmm_times.json and prints a Markdown table (for the README).
The budget: each check (an experiment) under two minutes (issue 14).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def runs_of(kernels: list[str], n: int, keep: Path) -> list[Path]:
    from harness.artifacts import build_artifacts
    from harness.kernel.spec import parse_kernel_spec
    from harness.run import run_suite
    from harness.targets import get_target

    target = get_target("qemu-seattle").for_iommu("type1")
    os.environ["PYTEST_ADDOPTS"] = "-k vmm"            # the suite's child pytest reads it
    out = []
    for kernel in kernels:
        art = build_artifacts(target, parse_kernel_spec(kernel), [], say=lambda m: None)
        for i in range(n):
            d = Path(tempfile.mkdtemp(prefix=f"vmm-{kernel.replace(':', '-')}-{i}-", dir=keep))
            run_suite(target, art, d, say=lambda m: None)
            out.append(d)
    return out


def measure(run_dir: Path) -> dict:
    doc = json.loads((run_dir / "results.json").read_text())
    release = doc.get("kernel", {}).get("release", "?")
    rows = {}
    for t in doc["tests"]:
        ev = t.get("evidence") or {}
        if not t["id"].endswith("guest_dma_bleed") or "check_s" not in ev:
            continue            # one experiment is read by both its checks: count it once
        kind = "control" if t["id"].startswith("control.") else "real"
        rows[f"{kind} {ev['variant']}"] = {"check_s": ev["check_s"], "armed_after_s": ev["armed_after_s"],
                                           "next_guest_ms": ev["next_guest_ms"],
                                           "stage_s": (ev.get("staged") or {}).get("stage_s")}
    return {"dir": str(run_dir), "release": release, "experiments": rows}


def span(values: list[float]) -> str:
    lo, hi, med = min(values), max(values), statistics.median(values)
    return f"{med:g}" if lo == hi else f"{med:g} ({lo:g}-{hi:g})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--kernel", action="append", default=None)
    ap.add_argument("--from", dest="dirs", nargs="+", type=Path, default=None, help="finished run directories")
    args = ap.parse_args()
    out_dir = ROOT / "reports" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    dirs = args.dirs or runs_of(args.kernel or ["debian:6.1", "debian:sid"], args.runs, out_dir)
    measured = [measure(d) for d in dirs]
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": measured}
    (out_dir / "vmm_times.json").write_text(json.dumps(record, indent=1) + "\n")
    print("| release | experiment | check (s) | first guest armed (s) | death to next guest's report (ms) |")
    print("|---|---|---|---|---|")
    for release in sorted({m["release"] for m in measured}):
        mine = [m for m in measured if m["release"] == release]
        for name in sorted({k for m in mine for k in m["experiments"]}):
            rows = [m["experiments"][name] for m in mine if name in m["experiments"]]
            print(f"| {release} | {name} | {span([r['check_s'] for r in rows])} | "
                  f"{span([r['armed_after_s'] for r in rows])} | {span([r['next_guest_ms'] for r in rows])} |")
        stages = [r["stage_s"] for m in mine for r in m["experiments"].values() if r["stage_s"] is not None]
        if stages:
            print(f"| {release} | staging the VMM bundle (once a run) | {span(sorted(set(stages)))} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
