#!/usr/bin/env python3
"""Report benchmark: how long rendering each report file and the matrix takes, median of N,
from result directories already on disk (default: make matrix's reports/matrix/latest).

    .venv/bin/python benchmarks/report_times.py [--runs 5] [MATRIX_DIR]

Writes reports/benchmarks/report_times.json and prints a Markdown table (for the README).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from harness.report import load_run, load_runs
from harness.report.html import write_html
from harness.report.junit import write_junit
from harness.report.kcidb import write_kcidb
from harness.report.matrix import write_matrix
from harness.report.summary import write_summary_md

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return round(statistics.median(samples), 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("matrix_dir", nargs="?", type=Path, default=ROOT / "reports" / "matrix" / "latest")
    args = ap.parse_args()
    dirs = sorted(d for d in args.matrix_dir.iterdir() if (d / "run.json").exists())
    if not dirs:
        raise SystemExit(f"{args.matrix_dir}: no result directories; run `make matrix` first")
    one = dirs[0]
    record = {"runs": args.runs, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "result_dir": str(one), "seconds": {}, "bytes": {}}
    with tempfile.TemporaryDirectory(prefix="vfio-hil-bench-") as tmp:
        out = Path(tmp)
        run = load_run(one)
        s = record["seconds"]
        s["load results.jsonl"] = timed(lambda: load_run(one), args.runs)
        for name, fn in (("junit.xml", write_junit), ("kcidb.json", write_kcidb),
                         ("report.html", write_html), ("summary.md", write_summary_md)):
            s[name] = timed(lambda: fn([run], out / name), args.runs)
            record["bytes"][name] = (out / name).stat().st_size
        s[f"matrix of {len(dirs)} runs (load + md + html)"] = timed(
            lambda: write_matrix(load_runs(dirs), out), args.runs)
    path = ROOT / "reports" / "benchmarks" / "report_times.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"| rendering ({one.name}) | median s | size |  (median of {args.runs})\n|---|---:|---:|")
    for k, v in record["seconds"].items():
        size = record["bytes"].get(k)
        print(f"| {k} | {v} | {f'{size / 1024:.0f} KiB' if size else ''} |")
    print(f"\n(written to {path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
