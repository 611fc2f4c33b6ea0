"""`vfio-hil run`: build what is missing, run the HIL suite under labgrid, write results.

The suite (testsuites/) runs in a pytest child process with labgrid's plugin
(--lg-env <the target's environment>) and ours (-p harness.suite.plugin), which
appends each verdict to results.jsonl as the test ends. Whatever happens to the
child (done, crashed, SIGTERM to us), results.json is rebuilt from those lines,
with every planned test that never reported listed as skip "not reached".

A run needs a directory of its own: results.jsonl is appended to, so a second run
into the same directory would mix its records with the first one's. ``refuse_stale_out``
turns that into a usage error before anything is built or booted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.artifacts import Artifacts
from harness.errors import UsageError
from harness.lab.session import DEFAULT_BOOT_TIMEOUT_S, lab_variables
from harness.paths import PROJECT_ROOT
from harness.proc import stop_process_group
from harness.report import load_run, write_reports
from harness.results import JSON, JSONL, exit_code, unfinished, write_summary
from harness.suite.plugin import PROGRESS_PREFIX
from harness.targets import TargetProfile
from harness.traffic import UdpPorts

SUITE_DIR = PROJECT_ROOT / "testsuites"
SUITE_DEADLINE_S = 1800
TERM_GRACE_S = 20
LEFTOVER_GRACE_S = 2.0   # what outlived the suite's child gets this long after SIGTERM
PLANNED = "planned.json"  # written by the suite's plugin once collection is done
# Only a run writes these; any of them in --out means an earlier run's results are there.
RESULT_FILES = (JSONL, JSON, PLANNED, "run.json")


def stale_results(path: Path) -> list[str]:
    """The result files an earlier run left in ``path`` (none for a new or empty directory)."""
    return [name for name in RESULT_FILES if (Path(path) / name).exists()]


def refuse_stale_out(out: Path) -> None:
    """Raise UsageError (exit 2) when ``out`` cannot take a new run: it already holds a run's
    results (appending to its results.jsonl would mix two runs), or it is not a directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory: choose a new directory for the results")
    found = stale_results(out)
    if found:
        raise UsageError(f"--out {out} already holds the results of an earlier run ({', '.join(found)}); "
                         f"a new run would mix its records with them. Choose an empty or new directory, "
                         f"or delete {out} first")


class _Terminated(Exception):
    pass


class RunInterrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C, SIGTERM) and its results and reports are written; raised
    by run_suite after that, so whoever called it stops too (pytest ends its session, a matrix
    its loop) instead of going on as if the run had finished. ``doc`` is the results document."""

    def __init__(self, doc: dict, out: Path):
        super().__init__(f"interrupted; results so far in {out}")
        self.doc, self.out = doc, out


def run_suite(target: TargetProfile, art: Artifacts, out: Path, say=print, *, extra_bootargs: str = "",
              boot_timeout_s: int = DEFAULT_BOOT_TIMEOUT_S, on_started=None, place=None, lab=None) -> dict:
    """Run the suite; ``on_started(child_pid)`` is called once the pytest child runs (tests use it).
    The results document records ``suite_rc`` (the child's exit status, negative for a signal,
    None if it never ended) and ``planned_written``, so exit_code can tell a crash from a run.
    ``place`` (harness.lab.placelock.PlaceLock): a board in a shared lab, acquired once the
    artifacts are built (no board is held while a kernel compiles) and always released, also on
    SIGTERM; the suite checks it is still ours before its power and boot steps. ``lab``
    (harness.lab.virtual.VirtualLabRun): the board is the virtual lab's, so the suite runs inside
    its namespace with its environment file, and the twin's tree is dumped as U-Boot boots it."""
    # Absolute: labgrid resolves image paths (the twin's tree) against the environment file's
    # directory, so a relative --out such as make matrix's reports/matrix/latest would miss.
    out = out.resolve()
    refuse_stale_out(out)     # callers check earlier, before building; this guards every caller
    out.mkdir(parents=True, exist_ok=True)
    ports = UdpPorts()
    noiommu = "vfio.enable_unsafe_noiommu_mode=1" if target.iommu_mode == "noiommu" else ""
    bootargs = f"{noiommu} {extra_bootargs}".strip()
    twin_plan = None
    if target.twin:
        from harness.twins.runtime import plan

        # tree + qtest socket (private, or the lab board's); the suite starts the twin
        twin_plan = lab.twin_plan(target, out) if lab is not None else plan(target, out)
    env = {**os.environ,
           **lab_variables(target, art, out, ports, extra_bootargs=bootargs, boot_timeout_s=boot_timeout_s,
                           twin_plan=twin_plan),
           **({"VFIO_HIL_TWIN_SOCKET": str(twin_plan.sockdir.path), "VFIO_HIL_TWIN_DTB": str(twin_plan.dtb)}
              if twin_plan else {}),
           "VFIO_HIL_TARGET": target.name, "VFIO_HIL_IOMMU": target.iommu_mode,
           "VFIO_HIL_RUN_DIR": str(out), "PYTHONUNBUFFERED": "1",
           "VFIO_HIL_DUT_PORTS": f"{ports.local},{ports.peer}",
           **(place.child_env() if place is not None else {}),
           **(lab.child_env() if lab is not None else {})}
    lab_config = lab.lab_config() if lab is not None else target.lab_config_path()
    argv = [*(lab.argv_prefix() if lab is not None else []),
            sys.executable, "-m", "pytest", str(SUITE_DIR), "-p", "harness.suite.plugin",
            "--lg-env", str(lab_config), "--lg-log", str(out / "console"),
            "-o", "testpaths=", "-q", "-rA", "-p", "no:cacheprovider", f"--junitxml={out / 'pytest-junit.xml'}"]
    header = run_header(target, art)
    _write_json(out / "run.json", {**header, "argv": argv})

    def on_term(signum, frame):
        raise _Terminated()

    old = signal.signal(signal.SIGTERM, on_term)
    child = None
    try:
        if place is not None:
            say(f"acquiring place {place.place} as {place.username} (waiting up to {place.wait_s:.0f} s)")
            place.acquire()
            header["place"] = {"name": place.place, "user": place.username, "coordinator": place.coordinator}
            _write_json(out / "run.json", {**header, "argv": argv})
        with open(out / "suite.log", "wb") as log:
            # Its own process group: whatever it starts (QEMU) can be found and stopped afterwards.
            child = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
            say(f"booting {target.name} and running the suite on {art.meta['release']} "
                f"(log: {out / 'suite.log'})")
            if on_started:
                on_started(child.pid)
            _stream(child, log, say, time.monotonic() + SUITE_DEADLINE_S)
    except (_Terminated, KeyboardInterrupt, subprocess.TimeoutExpired) as exc:
        header["interrupted"] = type(exc).__name__
        if child and child.poll() is None:
            child.send_signal(signal.SIGTERM)   # pytest's session teardown stops QEMU
            try:
                child.wait(timeout=TERM_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=TERM_GRACE_S)
    finally:
        signal.signal(signal.SIGTERM, old)
        if child is not None:
            _stop_leftovers(child)
        if place is not None:
            place.release()
        if twin_plan is not None:
            twin_plan.close()
    header["suite_rc"] = child.poll() if child is not None else None
    header["planned_written"] = (out / PLANNED).exists()
    planned = json.loads((out / PLANNED).read_text()) if header["planned_written"] else []
    header["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc = write_summary(out, header, planned)
    _write_json(out / "run.json", {**header, "argv": argv})
    # The reports are rebuilt from results.jsonl, the same way `vfio-hil report DIR` does.
    write_reports([load_run(out)], out)
    if header.get("interrupted") in ("_Terminated", "KeyboardInterrupt"):
        raise RunInterrupted(doc, out)     # a suite deadline is not an interrupt: that run just ends
    return doc


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def _stop_leftovers(child: subprocess.Popen) -> None:
    """After the suite's child is gone, stop anything still in its process group (a QEMU whose
    labgrid cleanup never ran because the child was terminated): soft, then hard."""
    if child.poll() is None:
        return
    stop_process_group(child.pid, LEFTOVER_GRACE_S)


def _maintainers(target: TargetProfile, source: dict) -> dict | None:
    """The MAINTAINERS entry of the handler's code in the tree under test, if the tree is at hand
    (a Debian source unpacked in the cache, or the maintainer's own tree)."""
    from harness.kernel.maintainers import entry
    from harness.paths import cache_root

    if not target.dut_reset_config:
        return None
    if source.get("kind") == "debian":
        tree = cache_root() / "sources" / f"{source['package']}_{source['version']}"
    elif source.get("kind") == "path":
        tree = Path(source["path"])
    else:
        return None
    return entry(tree, target.dut_reset_config) if tree.is_dir() else None


def run_header(target: TargetProfile, art: Artifacts) -> dict:
    """What the reports need to know about the run besides its results, copied in so that a
    result directory stands on its own (the artifact cache may be gone when it is read)."""
    m = art.meta
    handler = None
    if target.dut_reset_config:
        symbol = f"CONFIG_{target.dut_reset_config}"
        value = "not set"
        for line in art.path("config").read_text().splitlines():
            if line.startswith(symbol + "="):
                value = line.split("=", 1)[1]
        handler = {"symbol": symbol, "value": value}
    return {"target": target.name, "description": target.description, "iommu": target.iommu_mode,
            "dut": {"device": target.dut_device, "compatible": target.dut_compatible,
                    "reset_module": target.dut_reset_module, "handler_config": handler,
                    "maintainers": _maintainers(target, m.get("source", {}))},
            "kernel": {"spec": m["kernel_spec"], "release": m["release"], "patches": m["patches"],
                       "source_hash": m["source_hash"], "source": m.get("source", {})},
            "build": {"key": m["key"], "arch": m["arch"], "compiler": m.get("compiler", ""),
                      "fragments": m.get("fragments", []), "fragment_hash": m.get("fragment_hash", ""),
                      "kconfig_findings": m.get("kconfig_findings", []), "seconds": m.get("build_seconds")},
            "artifacts": str(art.dir), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _stream(child: subprocess.Popen, log, say, deadline: float) -> None:
    """Tee the child's output into the log; show each verdict as it arrives. Bounded by ``deadline``."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(child.stdout, selectors.EVENT_READ)
    pending = b""
    while True:
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(child.args, SUITE_DEADLINE_S)
        if not sel.select(timeout=1.0):
            if child.poll() is not None:
                break
            continue
        chunk = os.read(child.stdout.fileno(), 65536)
        if not chunk:
            break
        log.write(chunk)
        log.flush()
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            text = line.decode(errors="replace")
            at = text.find(PROGRESS_PREFIX)     # pytest's progress dots may precede it
            if at >= 0:
                say(text[at + len(PROGRESS_PREFIX):].strip())
    child.wait(timeout=30)


def print_summary(doc: dict, out: Path) -> None:
    width = max((len(t["id"]) for t in doc["tests"]), default=10)
    for t in doc["tests"]:
        why = f"  ({t['reason'][:100]})" if t.get("reason") else ""
        print(f"  {t['id']:<{width}}  {t['verdict']:<12} {t['duration_s']:6.1f} s{why}")
    counts: dict[str, int] = {}
    for t in doc["tests"]:
        counts[t["verdict"]] = counts.get(t["verdict"], 0) + 1
    print(f"{', '.join(f'{n} {v}' for v, n in sorted(counts.items()))}; results: {out / 'results.json'}")
    why = unfinished(doc)
    if why:
        print(f"the run did not finish: {why}")


__all__ = ["run_suite", "print_summary", "exit_code", "refuse_stale_out", "stale_results"]
