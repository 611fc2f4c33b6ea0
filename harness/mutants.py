"""`make mutants`: does every action of every reset handler matter to some verdict?

tests/patches/mutants.yaml lists rows: one handler patch (or one twin policy, a device fault)
on one target. For each target the suite runs once unpatched, then once per row, each an
ordinary `vfio-hil run` into OUT/<row>/; a row's result is the verdicts that differ from the
unpatched run's. A removed action must turn some verdict to `fail`; a row known to flip nothing
says `expect: none` and why under `finding` (a twin gap, or an action nothing depends on), and
such a row that does flip something is reported (the finding is stale). A row that flips for a
reason of the twin's, not the device's, keeps the default `expect: fail` and says so under
`finding`. The table goes to
OUT/mutants.md and stdout. Exit 0 when every row is as its data says, 1 when one is not,
3 when a run could not give verdicts (its build or the lab broke).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import attrs
import yaml

from harness.errors import UsageError, VfioHilError
from harness.targets import get_target

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "patches" / "mutants.yaml"


@attrs.frozen
class Row:
    name: str
    target: str
    action: str
    patch: Path | None = None
    policy: str | None = None
    finding: str | None = None
    expect: str = "fail"          # "fail": some verdict must turn to fail; "none": nothing may


def load_rows(path: Path = DATA) -> tuple[str, list[Row]]:
    """The kernel spec and the rows; a bad file is a UsageError naming the row and the field."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read the mutant list: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list) or not doc.get("kernel"):
        raise UsageError(f"{path}: needs 'kernel: SPEC' and 'rows: [...]'")
    rows = []
    for i, r in enumerate(doc["rows"]):
        where = f"{path}: rows[{i}]"
        if not isinstance(r, dict) or not r.get("target") or not r.get("action"):
            raise UsageError(f"{where}: every row needs 'target' and 'action'")
        if bool(r.get("patch")) == bool(r.get("policy")):
            raise UsageError(f"{where}: give exactly one of 'patch' (in {path.parent}) or 'policy' (name=value)")
        unknown = set(r) - {"patch", "policy", "target", "action", "finding", "expect"}
        if unknown:
            raise UsageError(f"{where}: unknown field(s) {sorted(unknown)}")
        if r.get("expect", "fail") not in ("fail", "none"):
            raise UsageError(f"{where}: expect must be 'fail' (the default) or 'none', not {r['expect']!r}")
        if r.get("expect") == "none" and not r.get("finding"):
            raise UsageError(f"{where}: a row expected to flip nothing must say why under 'finding'")
        patch = path.parent / r["patch"] if r.get("patch") else None
        if patch is not None and not patch.is_file():
            raise UsageError(f"{where}: no patch {patch}")
        target, _, mode = r["target"].partition("/")
        try:
            get_target(target).for_iommu(mode or None)
        except VfioHilError as exc:
            raise UsageError(f"{where}: target {r['target']!r}: {exc}") from None
        name = patch.stem if patch else "policy-" + r["policy"].replace("=", "-").replace(",", "_")
        if mode:                        # a target in another IOMMU mode (qemu-seattle/type1)
            name += "-" + mode
        rows.append(Row(name, r["target"], r["action"], patch, r.get("policy"), r.get("finding"),
                        r.get("expect", "fail")))
    return doc["kernel"], rows


def verdicts(run_dir: Path) -> dict[str, str]:
    """{test id: final verdict} of a run (its controls applied, as its reports show them); {} when
    the directory holds no run (its build broke)."""
    from harness.report.runs import load_run
    from harness.errors import ResultsError

    try:
        return {t.id: t.verdict.value for t in load_run(run_dir).tests}
    except ResultsError:
        return {}


def flips(base: dict[str, str], mutant: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Every id whose verdict differs from the unpatched run's: {id: (before, after)}."""
    return {i: (base.get(i, "absent"), mutant.get(i, "absent"))
            for i in sorted(set(base) | set(mutant)) if base.get(i) != mutant.get(i)}


def judge(row: Row, changed: dict[str, tuple[str, str]]) -> str:
    """'flips' (some verdict turned to fail, as expected), 'finding' (nothing did, as the row
    says), or 'UNEXPLAINED' / 'STALE FINDING' when the data and the measurement disagree."""
    to_fail = any(after == "fail" for _, after in changed.values())
    if row.expect == "none":
        return "STALE FINDING" if to_fail else "finding"
    return "flips" if to_fail else "UNEXPLAINED"


def _compact(changed: dict[str, tuple[str, str]]) -> str:
    """'teardown.*.dma_bleed (5), reset.ioctl: pass→fail' style: ids grouped over variants."""
    groups: dict[tuple[str, str, str], int] = {}
    for test_id, (before, after) in changed.items():
        parts = test_id.split(".")
        key = ".".join([parts[0], "*", *parts[2:]]) if parts[0] in ("teardown", "control", "vmm") and len(parts) > 2 \
            else test_id
        groups[(key, before, after)] = groups.get((key, before, after), 0) + 1
    return "; ".join(f"{k}{f' ({n})' if n > 1 else ''}: {b}→{a}" for (k, b, a), n in sorted(groups.items()))


def table(kernel: str, results: list[tuple[Row, str, dict]]) -> str:
    lines = [f"| patch / policy | target | removed | result | verdicts that changed ({kernel}) |",
             "|---|---|---|---|---|"]
    for row, outcome, changed in results:
        what = _compact(changed) or "none"
        if row.finding:
            what += f" — finding: {row.finding}"
        lines.append(f"| `{row.patch.name if row.patch else row.policy}` | {row.target} | {row.action} | "
                     f"**{outcome}** | {what} |")
    return "\n".join(lines) + "\n"


# The runs use this tree's harness, whatever an installed vfio-hil entry point would import (an
# editable install elsewhere, e.g. another clone's): the rows and the code that judges them agree.
HERE = Path(__file__).resolve().parents[1]


def _run(hil: list[str], row: Row | None, target: str, kernel: str, out: Path) -> int:
    from harness import proc
    name, _, mode = target.partition("/")       # qemu-seattle/type1: that target with --iommu type1
    argv = [*hil, "run", "--target", name, "--kernel", kernel, "--out", str(out)] + (["--iommu", mode] if mode else [])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    if row is not None and row.patch:
        argv += ["--kernel-patch", str(row.patch)]
    if row is not None and row.policy:
        env["VFIO_HIL_TWIN_POLICY"] = row.policy
    return proc.run(argv, what=f"vfio-hil run ({row.name if row else 'unpatched'})", log=out.with_suffix(".log"),
                    env=env, timeout=3600, check=False, stop_grace_s=60).returncode


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (a CI job cancelled) stops the current run as Ctrl-C does: proc.run gives the
    # suite SIGTERM and its grace, so no QEMU outlives us; what was measured stays in OUT.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", action="append", default=[], help="run only rows whose name contains this")
    args = ap.parse_args(argv)
    try:
        kernel, rows = load_rows()
        if args.out.exists() and any(args.out.iterdir()):
            raise UsageError(f"--out {args.out} is not empty: choose a new directory or delete it first")
    except UsageError as exc:
        print(f"vfio-hil mutants: {exc}", file=sys.stderr)
        return 2
    rows = [r for r in rows if not args.only or any(o in r.name for o in args.only)]
    args.out.mkdir(parents=True, exist_ok=True)
    hil = [sys.executable, "-m", "harness"]
    base, broken, broken_targets, results = {}, [], set(), []
    for target in dict.fromkeys(r.target for r in rows):
        unpatched = args.out / f"unpatched-{target.replace('/', '-')}"
        rc = _run(hil, None, target, kernel, unpatched)
        base[target] = verdicts(unpatched)
        print(f"mutants: {target} unpatched: exit {rc}, {len(base[target])} verdicts", flush=True)
        if rc not in (0, 1):
            broken.append(f"unpatched {target} (exit {rc})")
            broken_targets.add(target)
    for row in rows:
        if row.target in broken_targets:
            continue
        rc = _run(hil, row, row.target, kernel, args.out / row.name)
        if rc not in (0, 1):
            broken.append(f"{row.name} (exit {rc}; log {args.out / row.name}.log)")
            continue
        changed = flips(base[row.target], verdicts(args.out / row.name))
        results.append((row, judge(row, changed), changed))
        print(f"mutants: {row.name}: {results[-1][1]}: {_compact(changed) or 'nothing changed'}", flush=True)
    text = table(kernel, results)
    if broken:
        text += "\nNo verdicts (build or lab broke): " + "; ".join(broken) + "\n"
    (args.out / "mutants.md").write_text(text)
    print(text)
    if broken:
        return 3
    return 1 if any(o in ("UNEXPLAINED", "STALE FINDING") for _, o, _ in results) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
