#!/usr/bin/env python3
"""Twin boot overhead: qemu-virt-xgmac booted to SSH with no twin attached, and with the XGMAC
twin's engine attached from the moment QEMU opens its qtest socket (polling all through the
boot), median of N each, alternating. Target: the twin slows boot by less than 20%.

    .venv/bin/python benchmarks/twin_boot.py [--runs 5] [--kernel debian:6.1]

Writes reports/benchmarks/twin_boot.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from harness.artifacts import build_artifacts
from harness.kernel.spec import parse_kernel_spec
from harness.lab.session import booted
from harness.targets import get_target
from harness.traffic import free_udp_port

ROOT = Path(__file__).resolve().parent.parent


def boot_once(target, art, with_twin: bool) -> float:
    from harness.twins.runtime import RunningTwin

    holder: dict = {}

    def attach(plan):
        def run():
            holder["twin"] = RunningTwin(target, plan.sockdir.path, free_udp_port(), None)
        threading.Thread(target=run, daemon=True).start()

    with tempfile.TemporaryDirectory(prefix="vfio-hil-bench-") as tmp:
        with booted(target, art, Path(tmp), on_twin_plan=attach if with_twin else None) as s:
            seconds = s.boot_seconds
            if with_twin:
                twin = holder.get("twin")
                assert twin is not None and twin.engine.steps > 0, "the twin never ran during the boot"
                holder["steps"] = twin.engine.steps
                twin.stop()
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kernel", default="debian:6.1")
    args = ap.parse_args()
    target = get_target("qemu-virt-xgmac")
    art = build_artifacts(target, parse_kernel_spec(args.kernel), [], say=lambda m: None)
    without, with_ = [], []
    for _ in range(args.runs):
        without.append(boot_once(target, art, False))
        with_.append(boot_once(target, art, True))
    a, b = statistics.median(without), statistics.median(with_)
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": args.runs,
              "release": art.meta["release"], "boot_s_without_twin": round(a, 2), "boot_s_with_twin": round(b, 2),
              "slowdown_pct": round(100 * (b - a) / a, 1), "samples": {"without": without, "with": with_}}
    out = ROOT / "reports" / "benchmarks" / "twin_boot.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"| qemu-virt-xgmac {record['release']}, boot to SSH (median of {args.runs}) | s |\n|---|---:|")
    print(f"| without a twin | {record['boot_s_without_twin']} |\n| with the XGMAC twin polling | "
          f"{record['boot_s_with_twin']} |\n| slowdown | {record['slowdown_pct']} % |\n\n(written to {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
