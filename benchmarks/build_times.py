#!/usr/bin/env python3
"""Build-time benchmark: cold, cached, one-line change in a path: tree, one-file --kernel-patch.

Runs the real CLI (`vfio-hil build --json`) and measures wall time. Results go to
reports/benchmarks/build_times.json and a Markdown table on stdout (for the README).

    .venv/bin/python benchmarks/build_times.py [--target qemu-highbank] [--kernel debian:6.1] [--skip-cold]

--skip-cold leaves out the cold build (it re-downloads the source into an empty
cache and compiles everything: minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "harness"]
RESET_FILE = "drivers/vfio/platform/reset/vfio_platform_calxedaxgmac.c"


def build(target: str, kernel: str, patches: list[Path] = (), env: dict | None = None) -> tuple[float, dict]:
    argv = [*CLI, "build", "--target", target, "--kernel", kernel, "--json"]
    for p in patches:
        argv += ["--kernel-patch", str(p)]
    started = time.monotonic()
    out = subprocess.run(argv, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                         timeout=3 * 3600)
    elapsed = time.monotonic() - started
    if out.returncode != 0:
        sys.exit(f"benchmark build failed ({' '.join(argv)}):\n{out.stderr[-3000:]}")
    return elapsed, json.loads(out.stdout)


def one_line_patch(pristine_file: Path, workdir: Path) -> Path:
    """A real unified diff that changes one line of the Calxeda reset handler."""
    a, b = workdir / "a", workdir / "b"
    for root in (a, b):
        (root / RESET_FILE).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pristine_file, root / RESET_FILE)
    text = (b / RESET_FILE).read_text()
    (b / RESET_FILE).write_text(text.replace("#include <linux/module.h>",
                                             "#include <linux/module.h> /* vfio-hil benchmark */", 1))
    diff = subprocess.run(["diff", "-u", f"a/{RESET_FILE}", f"b/{RESET_FILE}"], cwd=workdir,
                          capture_output=True, text=True).stdout
    patch = workdir / "one-line.patch"
    patch.write_text(diff)
    return patch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="qemu-highbank")
    ap.add_argument("--kernel", default="debian:6.1")
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()
    results: dict[str, float] = {}
    scratch = Path(tempfile.mkdtemp(prefix="vfio-hil-bench-"))
    try:
        if not args.skip_cold:
            cold_cache = scratch / "cold-cache"
            cold_cache.mkdir()
            results["cold (empty cache: download, unpack, compile everything)"], _ = build(
                args.target, args.kernel, env={"XDG_CACHE_HOME": str(cold_cache)})
            shutil.rmtree(cold_cache)
        _, meta = build(args.target, args.kernel)          # make sure the normal cache has it
        results["identical call, from cache"], again = build(args.target, args.kernel)
        assert again["cached"], "second identical build was not answered from the cache"

        # A maintainer's own tree: a copy of the same source, then one line touched.
        from harness.paths import cache_root

        pristine = cache_root() / "sources" / f"{meta['source']['package']}_{meta['source']['version']}"
        tree = scratch / "linux"
        subprocess.run(["cp", "-a", f"{pristine}/.", str(tree)], check=True, timeout=1800)
        results["path: tree, first build (objects via ccache)"], _ = build(args.target, f"path:{tree}")
        f = tree / RESET_FILE
        f.write_text(f.read_text().replace("#include <linux/module.h>",
                                           "#include <linux/module.h> /* one-line change */", 1))
        results["path: tree, one line changed in the Calxeda reset handler"], _ = build(args.target, f"path:{tree}")

        patch = one_line_patch(pristine / RESET_FILE, scratch)
        results["--kernel-patch changing one file (reuses the unpatched objects)"], _ = build(
            args.target, args.kernel, [patch])
        results["back to unpatched, from cache"], _ = build(args.target, args.kernel)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    record = {
        "target": args.target, "kernel": args.kernel, "host": platform.node(), "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": {k: round(v, 1) for k, v in results.items()},
    }
    out = ROOT / "reports" / "benchmarks" / "build_times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"| build ({args.target}, {args.kernel}, {os.cpu_count()} cores) | seconds |\n|---|---:|")
    for k, v in results.items():
        print(f"| {k} | {v:.1f} |")
    print(f"\n(written to {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
