"""vfio-hil command line: doctor, targets, build, boot, run, report, matrix, compare."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from harness import proc
from harness.errors import VfioHilError

DEFAULT_KERNEL = "debian:6.1"


def _add_build_args(p: argparse.ArgumentParser, target_required: bool = True) -> None:
    p.add_argument("--target", required=target_required, help="target profile name (see `vfio-hil targets`)")
    p.add_argument("--kernel", default=DEFAULT_KERNEL,
                   help="kernel spec: debian:6.1, debian:sid, debian:7.2@sid, path:/abs/tree (default %(default)s)")
    p.add_argument("--kernel-patch", action="append", default=[], type=Path, metavar="FILE",
                   help="apply FILE with patch -p1 before building (repeatable, applied in order)")
    p.add_argument("--refresh", action="store_true", help="refresh the Debian package lists now")
    p.add_argument("-j", "--jobs", type=int, default=None, help="parallel make jobs (default: all cores)")


def _say(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold cyan]vfio-hil[/]: {msg}", highlight=False)


def _resolve(args):
    from harness.kernel.spec import parse_kernel_spec
    from harness.targets import get_target

    return get_target(args.target), parse_kernel_spec(args.kernel)


def cmd_build(args) -> int:
    from harness.artifacts import build_artifacts

    target, spec = _resolve(args)
    started = time.monotonic()
    art = build_artifacts(target, spec, args.kernel_patch, refresh=args.refresh, jobs=args.jobs, say=_say)
    elapsed = time.monotonic() - started
    meta = art.meta
    if args.json:
        print(json.dumps({**meta, "dir": str(art.dir), "cached": art.cached, "seconds": round(elapsed, 2)}, indent=2))
        return 0
    state = "from cache" if art.cached else "built"
    print(f"{target.name} {meta['release']} ({meta['kernel_spec']}) {state} in {elapsed:.1f} s: {art.dir}")
    for name in ("kernel", "dtb", "initramfs", "config", "agent", "modules"):
        print(f"  {name:10} {art.path(name) if meta['artifacts'][name] else 'from QEMU at run time, with the twin'}")
    for compat, rel in meta["null_reset"].items():
        print(f"  null-reset {compat}: {art.dir / rel}")
    for finding in meta["kconfig_findings"]:
        print(f"  FINDING: {finding}")
    return 0


def cmd_boot(args) -> int:
    from harness.artifacts import build_artifacts
    from harness.lab.session import booted
    from harness.paths import REPORTS_DIR

    target, spec = _resolve(args)
    if target.in_shared_lab():
        from harness.errors import UsageError

        raise UsageError(f"target {target.name} is a board in a shared lab: `boot` drives local QEMU only; "
                         f"use `vfio-hil run --target {target.name} --place NAME`")
    art = build_artifacts(target, spec, args.kernel_patch, refresh=args.refresh, jobs=args.jobs, say=_say)
    log_dir = Path(args.log_dir or REPORTS_DIR / "boots" / f"{target.name}-{time.strftime('%Y%m%dT%H%M%S')}")
    with booted(target, art, log_dir) as session:
        print(f"{session.strategy.ready_line}  (ready in {session.boot_seconds:.1f} s)")
        out, err, rc = session.ssh.run("vfio-hil-agent info", timeout=30)
        for line in out + err:
            print(f"  {line}")
    print(f"console log: {session.console_log}")
    return 0 if rc == 0 else 1


def cmd_targets(args) -> int:
    from harness.targets import available_targets, get_target

    for name in available_targets():
        t = get_target(name)
        qemu = t.qemu_settings()
        where = f"QEMU -M {qemu['machine']} -cpu {qemu['cpu']} -m {qemu['memory']}" if qemu else "board"
        print(f"{name:16} {t.arch:6} {where:44} {t.description}")
    return 0


def cmd_doctor(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.doctor import run_checks
    from harness.paths import cache_root

    checks = run_checks(cache_root())
    table = Table(title="vfio-hil host requirements")
    for col in ("requirement", "status", "detail", "fix"):
        table.add_column(col)
    for c in checks:
        table.add_row(c.name, "[green]found[/]" if c.ok else "[red]MISSING[/]", c.detail, "" if c.ok else c.fix)
    Console().print(table)
    missing = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(missing)} found, {len(missing)} missing")
    return 0 if not missing else 1


def _check_runnable(target) -> None:
    from harness.errors import TargetProfileError
    from harness.suite.fslmc import is_fslmc

    if is_fslmc(target):
        if not (target.dut_object and target.probe_portal):
            raise TargetProfileError(f"{target.source_file}: `run` on an fsl-mc container ({target.dut_device}) "
                                     f"needs dut_object (what the tenant enables) and probe_portal (the root "
                                     f"container's DPMCP the harness asks the firmware through)")
    elif not (target.dut_device and target.dut_compatible and target.dma_window and target.dut_reset_module):
        raise TargetProfileError(f"{target.source_file}: `run` needs dut_device, dut_compatible, "
                                 f"dut_reset_module and dma_window")
    if target.twin:        # a bad VFIO_HIL_TWIN_POLICY is refused before a build, not mid-suite
        from harness.twins.runtime import POLICY_ENV, make_twin, twin_policy

        make_twin(target.twin, 0, None, twin_policy(os.environ.get(POLICY_ENV, "")))


def _place(args, target):
    """(place lock, virtual lab): the labgrid place a board target runs on (--place), or the
    virtual lab's (--lab: a twin target on the lab's board), or (None, None) for local QEMU; a
    mismatch either way is refused before anything is built. Each CI job has its own identity
    (LG_USERNAME, else user-pid): one job's lock must not look like another's."""
    import getpass

    from harness.errors import UsageError
    from harness.lab.placelock import PlaceLock

    user = os.environ.get("LG_USERNAME") or f"{getpass.getuser()}-{os.getpid()}"
    if getattr(args, "lab", None):
        if args.place:
            raise UsageError("--lab runs on the virtual lab's own place; give --lab or --place, not both")
        from harness.lab.virtual import VirtualLabRun

        lab = VirtualLabRun.of(Path(args.lab), target)
        return lab.place_lock(user, args.place_wait), lab
    if not target.in_shared_lab():
        if args.place:
            raise UsageError(f"target {target.name} runs on local QEMU ({target.lab_config_path()} has no "
                             f"RemotePlace); --place is for a board target in a shared lab")
        return None, None
    if not args.place:
        raise UsageError(f"target {target.name} is a board in a shared lab: give --place NAME (the labgrid place "
                         f"that holds it; `labgrid-client places` lists them)")
    coordinator = args.coordinator or os.environ.get("LG_COORDINATOR")
    if not coordinator:
        raise UsageError("--place needs the labgrid coordinator: --coordinator HOST:PORT or LG_COORDINATOR")
    return PlaceLock(args.place, coordinator, user, wait_s=args.place_wait), None


def cmd_run(args) -> int:
    from harness.artifacts import build_artifacts
    from harness.paths import REPORTS_DIR
    from harness.run import RunInterrupted, exit_code, print_summary, refuse_stale_out, run_suite

    if args.matrix:
        if args.lab or args.place:
            from harness.errors import UsageError

            raise UsageError("--matrix runs local QEMU targets; --lab and --place take one --target")
        return cmd_run_matrix(args)
    if not args.target:
        from harness.errors import UsageError

        raise UsageError("run needs --target NAME (see `vfio-hil targets`), or --matrix for every QEMU target")
    target, spec = _resolve(args)
    target = target.for_iommu(args.iommu)
    _check_runnable(target)
    place, lab = _place(args, target)
    if args.out:
        refuse_stale_out(Path(args.out))     # before a build: a refusal must cost nothing
    art = build_artifacts(target, spec, args.kernel_patch, refresh=args.refresh, jobs=args.jobs, say=_say)
    out = Path(args.out or REPORTS_DIR / "runs" /
               f"{target.name}{target.mode_suffix}-{art.meta['release']}-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        doc = run_suite(target, art, out, say=_say, place=place, lab=lab)
    except RunInterrupted as stop:     # what it measured is kept; exit_code says 3 (interrupted)
        doc = stop.doc
    print_summary(doc, out)
    print(f"reports: {out}/report.html, junit.xml, kcidb.json, summary.md")
    return exit_code(doc)


def cmd_lab(args) -> int:
    """The virtual lab: up (namespace, coordinator, exporter, BMC, place), check (a job's lock, power
    on over IPMI, U-Boot over SOL, power off, release: run inside the namespace), down."""
    import subprocess

    from harness.lab import virtual

    workdir = Path(args.dir)
    if args.action == "up":
        from harness.targets import get_target

        state = virtual.up(workdir, get_target(args.target).for_iommu(args.iommu), firmware=args.firmware,
                           kexec=args.kexec)
        print(f"virtual lab up in namespace {state['netns']}: coordinator {state['coordinator']}, "
              f"place {state['place']} (state: {workdir / 'lab.json'})")
        return 0
    if args.action == "down":
        print("stopped: " + ", ".join(virtual.down(workdir)))
        return 0
    state = virtual.load(workdir)
    from harness.lab.netns import prefix

    proc = subprocess.run([*prefix(state["netns"]), sys.executable, "-m", "harness.lab.virtual", str(workdir.resolve())],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        from harness.errors import InfrastructureError

        raise InfrastructureError(f"the virtual lab's check failed: {proc.stderr.strip()[-1500:]}")
    print(proc.stdout.strip())
    return 0


def cmd_run_matrix(args) -> int:
    from harness.matrix_run import run_matrix

    return run_matrix(args, say=_say)


def cmd_report(args) -> int:
    from harness.errors import UsageError
    from harness.report import load_runs, write_reports

    runs = load_runs(args.dirs)
    if args.out is None and len(args.dirs) > 1:
        raise UsageError(f"{len(args.dirs)} result directories make one combined report: say where it goes "
                         f"with --out DIR")
    out = Path(args.out or args.dirs[0])
    for path in write_reports(runs, out):
        print(path)
    return 0


def _result_dirs(paths: list[Path]) -> list[Path]:
    """Result directories, or directories whose children are result directories (e.g. reports/runs)."""
    out = []
    for p in paths:
        if (p / "run.json").exists() or not p.is_dir():
            out.append(p)      # load_run names what is wrong with it
        else:
            kids = sorted(c for c in p.iterdir() if (c / "run.json").exists())
            out += kids or [p]
    return out


def cmd_matrix(args) -> int:
    from harness.errors import UsageError
    from harness.report import load_runs
    from harness.report.matrix import write_matrix

    if args.out is None and len(args.dirs) > 1:
        raise UsageError("several directories make one matrix: say where it goes with --out DIR")
    runs = load_runs(_result_dirs(args.dirs))
    for path in write_matrix(runs, Path(args.out or args.dirs[0])):
        print(path)
    return 0


def cmd_compare(args) -> int:
    from harness.report import load_run
    from harness.report.compare import compare, render_markdown

    c = compare(load_run(args.old), load_run(args.new))
    text = render_markdown(c)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 1 if c.regressions else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vfio-hil", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check the host's tools, with the fix for each missing one").set_defaults(fn=cmd_doctor)
    sub.add_parser("targets", help="list the target profiles").set_defaults(fn=cmd_targets)
    p = sub.add_parser("build", help="build kernel, dtb, modules, agent and initramfs for a target")
    _add_build_args(p)
    p.add_argument("--json", action="store_true", help="print the build metadata as JSON")
    p.set_defaults(fn=cmd_build)
    p = sub.add_parser("boot", help="build (or take from cache), boot to a shell, show the agent's VFIO info")
    _add_build_args(p)
    p.add_argument("--log-dir", help="where to keep the console log (default reports/boots/...)")
    p.set_defaults(fn=cmd_boot)
    p = sub.add_parser("run", help="build, boot and run the HIL reset/bleed suite; writes results and reports")
    _add_build_args(p, target_required=False)
    p.add_argument("--out", help="result directory (default reports/runs/<target>-<release>-<time>); "
                                 "with --matrix, the directory of the matrix and its runs")
    p.add_argument("--iommu", choices=["noiommu", "type1"], default=None,
                   help="how vfio reaches the device: noiommu (every address physical) or type1 behind an "
                        "IOMMU (a twin target: QEMU's SMMUv3); default: the target's first iommu_modes entry. "
                        "With --matrix: only that mode's rows (default: every mode of every target)")
    p.add_argument("--place", default=None, metavar="NAME",
                   help="a board target: the labgrid place that holds the board (reserved, locked for the run "
                        "as LG_USERNAME, always released)")
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="the labgrid coordinator of --place (default: LG_COORDINATOR)")
    p.add_argument("--place-wait", type=float, default=600.0, metavar="SECONDS",
                   help="how long to wait for a place another job holds (default %(default)s)")
    p.add_argument("--lab", default=None, metavar="DIR",
                   help="run on the virtual lab in DIR (`vfio-hil lab up --dir DIR`): its place, locked as a "
                        "job would, its board through IPMI, U-Boot and TFTP")
    p.add_argument("--matrix", action="store_true",
                   help="run every QEMU target (or just --target) on each of --matrix-kernels, then write "
                        "the removal-impact matrix")
    p.add_argument("--matrix-kernels", default="debian:6.1,debian:6.12,debian:sid", metavar="SPEC,SPEC",
                   help="kernels of the matrix (default %(default)s)")
    p.add_argument("--matrix-targets", default=None, metavar="NAME,NAME",
                   help="targets of the matrix (default: every QEMU target with a device under test)")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("lab", help="the virtual lab: a labgrid coordinator, exporter, IPMI BMC and a U-Boot "
                                   "board on QEMU, in a network namespace of its own")
    p.add_argument("action", choices=["up", "check", "down"])
    p.add_argument("--target", default="qemu-seattle", help="the arm64 twin target the board plays (up)")
    p.add_argument("--iommu", choices=["noiommu", "type1"], default=None,
                   help="the IOMMU mode the board is brought up in (up; default: the target's first)")
    p.add_argument("--firmware", choices=["uboot", "uefi"], default="uboot",
                   help="how the board boots (up): U-Boot and TFTP (Highbank, Stingray, LX2160A), or UEFI "
                        "network-booting GRUB (Seattle); default %(default)s")
    p.add_argument("--kexec", action="store_true",
                   help="(up, U-Boot board) U-Boot boots a stable system, which fetches the kernel under test "
                        "over TFTP and kexecs it, as a board with an installed system boots")
    p.add_argument("--dir", default="reports/lab", help="the lab's state directory (default %(default)s)")
    p.set_defaults(fn=cmd_lab)
    p = sub.add_parser("report", help="render junit.xml, kcidb.json, report.html and summary.md from result dirs")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="result directories of `vfio-hil run`")
    p.add_argument("--out", type=Path, help="where the reports go (default: the result directory, if only one)")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("matrix", help="the removal-impact matrix (targets x kernels) as matrix.md and matrix.html")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="result directories, or directories holding them (e.g. reports/runs)")
    p.add_argument("--out", type=Path, help="where matrix.md/.html go (default: DIR, if only one)")
    p.set_defaults(fn=cmd_matrix)
    p = sub.add_parser("compare", help="verdicts and evidence that changed between two runs; exit 1 on a regression")
    p.add_argument("old", type=Path, metavar="OLD", help="result directory of the reference run")
    p.add_argument("new", type=Path, metavar="NEW", help="result directory of the run under judgement")
    p.add_argument("--out", type=Path, help="also write the comparison (Markdown) to this file")
    p.set_defaults(fn=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (a CI job's cancel) unwinds like Ctrl-C, so every cleanup runs: a kernel build's
    # make and rsync are stopped (harness.proc), QEMU is shut down, results are kept. The
    # suite run installs its own handler while its child runs.
    signal.signal(signal.SIGTERM, proc.sigterm_as_interrupt)
    try:
        return args.fn(args)
    except VfioHilError as exc:
        print(f"vfio-hil: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vfio-hil: interrupted", file=sys.stderr)
        return 130
