"""`vfio-hil run --matrix`: every QEMU target on every matrix kernel, then the matrix.

Each cell is one ordinary `vfio-hil run` into OUT/<target>-<kernel>/ (with its
four report files), built from the cache when it can be. An OUT that already
holds a run (an earlier matrix) is refused before anything is built, as
`vfio-hil run --out` refuses one. A cell whose build or run breaks is reported
and the next one runs; the matrix shows it as not run and the exit code says so
(3). Otherwise the exit code is that of the runs: 0 when every test of every run
passed, 1 when any verdict was fail, error or inconclusive, 3 when a run did not
finish.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from harness.errors import UsageError, VfioHilError


def qemu_targets() -> list:
    """Targets that QEMU can run here and that have a device under test."""
    from harness.targets import available_targets, get_target

    out = []
    for name in available_targets():
        t = get_target(name)
        if t.qemu_settings() and t.dut_device and t.dma_window:
            out.append(t)
    return out


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", spec).strip("-")


def _refuse_stale(out: Path, cells: list[Path]) -> None:
    """OUT must hold no earlier run, in a cell this matrix writes (run_suite would mix two runs'
    records) or beside them (`vfio-hil matrix OUT` would mix two matrices); checked for every
    cell before anything is built. `make matrix` empties OUT first."""
    from harness.run import refuse_stale_out, stale_results

    twice = sorted({str(c) for c in cells if cells.count(c) > 1})
    if twice:
        raise UsageError(f"the matrix would run twice into {', '.join(twice)}: a target or kernel is listed twice")
    refuse_stale_out(out)
    earlier = [c for c in sorted(out.iterdir()) if c.is_dir()] if out.is_dir() else []
    for path in sorted(set(cells) | set(earlier)):
        found = stale_results(path)
        if found:
            raise UsageError(f"--out {out} already holds an earlier run in {path} ({', '.join(found)}); "
                             f"a new matrix would mix with it. Choose an empty or new directory, "
                             f"or delete {out} first")
        refuse_stale_out(path)    # a cell path that is a file


def run_matrix(args, say=print) -> int:
    from harness.artifacts import build_artifacts
    from harness.kernel.spec import parse_kernel_spec
    from harness.paths import REPORTS_DIR
    from harness.report import load_runs
    from harness.report.matrix import write_matrix
    from harness.run import RunInterrupted, exit_code, print_summary, run_suite
    from harness.targets import get_target

    specs = [s.strip() for s in args.matrix_kernels.split(",") if s.strip()]
    if not specs:
        raise UsageError("--matrix-kernels is empty; give kernel specs such as debian:6.1,debian:sid")
    parsed = [parse_kernel_spec(s) for s in specs]          # bad specs fail before anything runs
    if args.target:
        targets = [get_target(args.target)]
    elif getattr(args, "matrix_targets", None):
        targets = [get_target(n.strip()) for n in args.matrix_targets.split(",") if n.strip()]
    else:
        targets = qemu_targets()
    if not targets:
        raise UsageError("no QEMU target with a device under test in targets/")
    boards = [t.name for t in targets if t.in_shared_lab()]
    if boards:
        raise UsageError(f"the matrix runs local QEMU targets only; {', '.join(boards)} is a board in a shared lab "
                         f"(`vfio-hil run --target NAME --place PLACE`)")
    out = Path(args.out or REPORTS_DIR / "matrix" / time.strftime("%Y%m%dT%H%M%S"))
    # Every IOMMU mode a target has is a row of its own (type1 behind the SMMUv3, as well as no-IOMMU).
    # (--iommu MODE: only that mode's rows, of the targets that have it.)
    only = getattr(args, "iommu", None)
    targets = [t.for_iommu(mode) for t in targets for mode in t.iommu_modes if only in (None, mode)]
    if not targets:
        raise UsageError(f"no target of this matrix has IOMMU mode {only}")
    cells = [(spec_text, spec, target, out / f"{target.name}{target.mode_suffix}-{_slug(spec_text)}")
             for spec_text, spec in zip(specs, parsed) for target in targets]
    _refuse_stale(out, [cell for *_, cell in cells])
    out.mkdir(parents=True, exist_ok=True)
    say(f"matrix: {', '.join(t.name + t.mode_suffix for t in targets)} x {', '.join(specs)} into {out}")
    rc, dirs = 0, []
    for spec_text, spec, target, cell in cells:
        try:
            art = build_artifacts(target, spec, args.kernel_patch, refresh=args.refresh, jobs=args.jobs,
                                  say=say)
            doc = run_suite(target, art, cell, say=say)
        except KeyboardInterrupt as stop:     # the cells done so far still make a matrix
            if isinstance(stop, RunInterrupted):   # interrupted in its suite: its results are kept
                print_summary(stop.doc, cell)
                dirs.append(cell)
            say("matrix: interrupted; the matrix shows the cells run so far")
            rc = 3
            break
        except VfioHilError as exc:
            say(f"matrix cell {target.name} x {spec_text} did not run: {exc}")
            rc = max(rc, 3)
            continue
        print_summary(doc, cell)
        dirs.append(cell)
        rc = max(rc, exit_code(doc))
    if dirs:
        for path in write_matrix(load_runs(dirs), out):
            print(path)
    return rc
