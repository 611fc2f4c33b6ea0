"""Infrastructure failures end as `error`, within a bounded time, with the console
log and the results already measured kept: a kernel panic, a boot that hangs,
and QEMU killed in the middle of the suite."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.artifacts import build_artifacts
from harness.kernel.spec import parse_kernel_spec
from harness.results import read_jsonl
from harness.run import run_suite

from .conftest import N_TESTS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def artifacts(highbank):
    return build_artifacts(highbank, parse_kernel_spec("debian:6.1"), [])


def verdicts(doc):
    return {t["id"]: t["verdict"] for t in doc["tests"]}


def test_kernel_panic_is_error_not_fail(highbank, artifacts, tmp_path):
    started = time.monotonic()
    # The later rdinit= on the command line overrides the harness's rdinit=/init.
    doc = run_suite(highbank, artifacts, tmp_path, say=lambda m: None,
                    extra_bootargs="init=/nonexistent rdinit=/nonexistent", boot_timeout_s=60)
    assert time.monotonic() - started < 90
    assert set(verdicts(doc).values()) == {"error"}, verdicts(doc)
    assert "Kernel panic" in doc["tests"][0]["reason"]
    assert "Kernel panic" in (tmp_path / "console" / "console_main").read_text(errors="replace")


def test_boot_hang_is_error_within_the_deadline(highbank, artifacts, tmp_path):
    started = time.monotonic()
    doc = run_suite(highbank, artifacts, tmp_path, say=lambda m: None,
                    extra_bootargs="vfiohil_hang_before_ready", boot_timeout_s=20)
    assert time.monotonic() - started < 90
    assert set(verdicts(doc).values()) == {"error"}, verdicts(doc)
    assert "no 'VFIO-HIL-READY' on the console within 20 s" in doc["tests"][0]["reason"]
    assert "hanging before ready" in (tmp_path / "console" / "console_main").read_text(errors="replace")


def _descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (ours: the suite's child and what it started), from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        frontier += kids
    return out


def test_qemu_killed_mid_suite_keeps_results_and_errors_the_rest(highbank, artifacts, tmp_path):
    killed = {}

    def killer(child_pid):
        def watch():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if len(read_jsonl(tmp_path / "results.jsonl")) >= 7:
                    for pid in _descendants(child_pid):
                        try:
                            if b"qemu-system" in Path(f"/proc/{pid}/cmdline").read_bytes():
                                os.kill(pid, signal.SIGKILL)   # a QEMU our own run started
                                killed["pid"] = pid
                        except OSError:
                            pass
                    return
                time.sleep(0.2)
        threading.Thread(target=watch, daemon=True).start()

    started = time.monotonic()
    doc = run_suite(highbank, artifacts, tmp_path, say=lambda m: None, on_started=killer)
    assert killed, "the test never found the QEMU to kill"
    assert time.monotonic() - started < 180
    v = list(verdicts(doc).items())
    # measured before the death: kept (native.probe: Highbank's profile names no native driver)
    assert [x for _, x in v[:5]] == ["pass", "skip", "pass", "pass", "pass"], v
    # The sixth and seventh, bleed checks, passed when measured, but their controls never ran
    # (QEMU was dead by then), so they cannot stand as passes.
    assert v[5:7] == [("teardown.sigkill.dma_bleed", "inconclusive"), ("teardown.segv.dma_bleed", "inconclusive")], v
    assert [r.verdict.value for r in read_jsonl(tmp_path / "results.jsonl")[5:7]] == ["pass", "pass"]
    after = {x for _, x in v[7:]}
    assert "error" in after and "fail" not in after, v
    # What passes after the death was measured before it: the next opens of the two teardowns
    # that had run (a next open needs no control).
    assert [k for k, x in v[7:] if x == "pass"] == ["teardown.sigkill.next_open", "teardown.segv.next_open"], v
    assert (tmp_path / "console" / "console_main").is_file()


def test_sigterm_mid_suite_still_writes_all_four_reports(tmp_path):
    """The real CLI, SIGTERMed (as a CI job's timeout does) once six tests have ended."""
    import json
    import subprocess
    import sys

    from junitparser import JUnitXml

    from harness.report import REPORT_FILES

    out = tmp_path / "run"
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--target", "qemu-highbank",
                             "--kernel", "debian:6.1", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while len(read_jsonl(out / "results.jsonl")) < 6:
            assert time.monotonic() < deadline and proc.poll() is None, "the run never got six tests in"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 240
    for f in REPORT_FILES:
        assert (out / f).stat().st_size > 0, f"{f} missing after SIGTERM:\n{output[-2000:]}"
    doc = json.loads((out / "results.json").read_text())
    assert doc["interrupted"] == "_Terminated"
    unreached = [t["id"] for t in doc["tests"] if t.get("reason") == "not reached"]
    assert len(doc["tests"]) == N_TESTS and unreached, doc["tests"]
    assert "not reached" in (out / "summary.md").read_text() and "interrupted" in (out / "report.html").read_text()
    kcidb = json.loads((out / "kcidb.json").read_text())
    assert sum(t["status"] == "MISS" for t in kcidb["tests"]) == len(unreached)
    (suite,) = list(JUnitXml.fromfile(str(out / "junit.xml")))
    assert suite.tests == N_TESTS and suite.skipped >= len(unreached)
    assert proc.returncode == 3      # the run did not finish: never 0, whatever the verdicts so far
    # Nothing the run started outlives it: no process (QEMU logs its stderr there) holds a file
    # of the run's directory open.
    time.sleep(1)
    left = _holders(out)
    assert not left, f"processes of the interrupted run still alive: {left}"


def _holders(directory: Path) -> list[str]:
    out = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit() or int(proc_dir.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd).startswith(str(directory)) for fd in (proc_dir / "fd").iterdir()):
                out.append((proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200])
        except OSError:
            continue
    return out
