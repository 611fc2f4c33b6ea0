#!/usr/bin/env python3
"""Virtual lab benchmark: how long `vfio-hil lab up`, a job's first contact with its board
(lock, IPMI power-on, the firmware seen over SOL: U-Boot's prompt, or UEFI's PXE start) and
`lab down` take, median of N rounds, for each board firmware. A whole suite through the lab is
timed by the integration tests (test_virtual_lab_suite, test_virtual_lab_uefi) and the README.

    .venv/bin/python benchmarks/lab_times.py [--runs 3] [--firmware uboot --firmware uefi]

Writes reports/benchmarks/lab_times.json and prints a Markdown table (for the README).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from harness.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent


def one_round(firmware: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="vfio-hil-labbench-") as tmp:
        lab = Path(tmp) / "lab"
        t0 = time.monotonic()
        if cli(["lab", "up", "--target", "qemu-seattle", "--firmware", firmware, "--dir", str(lab)]) != 0:
            raise SystemExit("lab up failed")
        up = time.monotonic() - t0
        try:
            t1 = time.monotonic()
            rc = cli(["lab", "check", "--dir", str(lab)])
            check = time.monotonic() - t1
        finally:
            t2 = time.monotonic()
            cli(["lab", "down", "--dir", str(lab)])
            down = time.monotonic() - t2
        if rc != 0:
            raise SystemExit("lab check failed")
    return {"up_s": up, "check_s": check, "down_s": down}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--firmware", action="append", choices=["uboot", "uefi"])
    args = ap.parse_args()
    rows = {}
    for fw in args.firmware or ["uboot", "uefi"]:
        one_round(fw)                       # untimed: the UEFI firmware's first fetch, caches warm
        rounds = [one_round(fw) for _ in range(args.runs)]
        rows[fw] = {k: round(statistics.median(r[k] for r in rounds), 1) for k in rounds[0]}
    out = ROOT / "reports" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "lab_times.json").write_text(json.dumps({"runs": args.runs, "rows": rows}, indent=2) + "\n")
    print("| board firmware | lab up | job's first contact (lock, power on, firmware over SOL, off) | lab down |")
    print("|---|---|---|---|")
    for fw, r in rows.items():
        print(f"| {fw} | {r['up_s']} s | {r['check_s']} s | {r['down_s']} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
