"""The whole suite through the virtual lab, as a CI job in a real lab runs it (issue 13's "done
when"): `vfio-hil lab up` for qemu-seattle, then a run that locks the lab's place at its
coordinator, powers the board on over IPMI, stops U-Boot over SOL, stages kernel, tree and
initramfs through labgrid's TFTP provider (over SSH to the exporter's host) and boots them, runs
the suite over SSH with the XGBE twin on the board's qtest socket, switches the board off and
releases the place. Its verdicts must be the local run's. Then the lab's faults during a whole
run: a board whose console stays silent, a BMC that does not answer, the place taken from the job
and the coordinator killed mid-run. Each keeps what it measured, and `lab down` leaves no process
and no namespace behind. `make lab-test` runs all of them; all are marked long, so make test runs
none (they do not fit its 30 minutes: the last one to leave, the whole suite through the lab, took
3 min 27 s of a cold make test measured at 31 min 9 s with it)."""

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.lab import chassis, netns, virtual
from harness.lab.placelock import PlaceLock, labgrid_bin
from harness.proc import stop_process_group
from harness.run import run_suite

from .lab_rig import lab_up_for_module, seattle  # noqa: F401  (seattle: a fixture)
from .verdicts import explain

pytestmark = [pytest.mark.integration, pytest.mark.lab]

TARGET = "qemu-seattle"


@pytest.fixture(scope="module")
def vlab(tmp_path_factory, seattle):
    yield from lab_up_for_module(tmp_path_factory.mktemp("vlab") / "lab", seattle[0])


def run_through_lab(vlab, seattle, out: Path, user: str, on_started=None) -> dict:
    workdir, _ = vlab
    target, art = seattle
    lab = virtual.VirtualLabRun.of(workdir, target)
    return run_suite(target, art, out, say=lambda m: None, place=lab.place_lock(user, wait_s=60),
                     lab=lab, on_started=on_started)


def holder(state: dict) -> str | None:
    return PlaceLock(state["place"], state["coordinator"], "observer", netns=state["netns"]).holder()


def admin(state: dict, *args: str, user: str) -> None:
    """labgrid-client inside the lab's namespace as ``user`` (an admin, another job)."""
    env = {**os.environ, "LG_COORDINATOR": state["coordinator"], "LG_USERNAME": user}
    proc = subprocess.run([*netns.prefix(state["netns"]), labgrid_bin("labgrid-client"), *args], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def once_tests_reported(out: Path, n: int, action, done: threading.Event):
    """run_suite's on_started: a watcher that does ``action`` once the run has recorded ``n``
    verdicts (within 300 s), then sets ``done``."""
    def start(_pid):
        def watch():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                jsonl = out / "results.jsonl"
                if jsonl.exists() and len(jsonl.read_text().splitlines()) >= n:
                    action()
                    done.set()
                    return
                time.sleep(0.2)
        threading.Thread(target=watch, daemon=True).start()
    return start


def verdicts(doc: dict) -> dict[str, str]:
    return {t["id"]: t["verdict"] for t in doc["tests"]}


@pytest.mark.long       # make lab-test: 3 min 27 s of make test's cold 31 min 9 s
def test_the_suite_through_the_lab_gives_the_local_verdicts(vlab, seattle, suite_runs, tmp_path):
    workdir, state = vlab
    local = suite_runs(TARGET, "debian:6.1")
    doc = run_through_lab(vlab, seattle, tmp_path / "run", "ci-job-vlab")
    assert verdicts(doc) == verdicts(local), explain(doc)
    assert len(doc["tests"]) > 40
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["place"]["name"] == state["place"] and run["place"]["user"] == "ci-job-vlab"
    # It really went that way: U-Boot fetched the staged images from the exporter's TFTP root,
    # staged over SSH to the exporter's host with the lab's key.
    console = (tmp_path / "run" / "console" / "console_main").read_text(errors="replace")
    assert "Hit any key to stop autoboot" in console and console.count("Bytes transferred") == 3
    assert {p.name for p in (workdir / "tftp").iterdir()} == {"Image", "twin.dtb", "initramfs.cpio.gz"}
    assert "Pubkey auth succeeded" in (Path(state["exporter_ssh"]) / "dropbear.log").read_text()
    # Left as a job must leave it: the board off, the place free.
    assert chassis._pid(Path(state["board_dir"])) is None
    assert holder(state) is None


@pytest.mark.long
def test_a_board_whose_console_stays_silent_is_the_labs_error_and_is_switched_off(vlab, seattle, tmp_path):
    """Power on, and nothing on the console (a dead UART, a wrong baud rate): U-Boot's prompt never
    comes; every test is the lab's error naming it, the board is switched off, the place freed."""
    workdir, state = vlab
    board_json = Path(state["board_dir"]) / "board.json"
    saved = board_json.read_text()
    argv = json.loads(saved)["argv"]
    serial = argv.index("-serial")
    argv[serial + 1] = "null"                       # the board's UART goes nowhere
    board_json.write_text(json.dumps({"argv": argv}))
    try:
        started = time.monotonic()
        doc = run_through_lab(vlab, seattle, tmp_path / "run", "ci-job-silent")
        took = time.monotonic() - started
    finally:
        board_json.write_text(saved)
    assert set(verdicts(doc).values()) == {"error"} and len(doc["tests"]) > 40, explain(doc)
    reasons = {t["reason"] for t in doc["tests"]}
    assert all("U-Boot's prompt '=> ' never came on the console within 60 s of power-on" in r for r in reasons), reasons
    assert took < 150, f"the silent board took {took:.0f} s to be given up"
    assert chassis._pid(Path(state["board_dir"])) is None
    assert holder(state) is None


@pytest.mark.long
def test_a_bmc_that_does_not_answer_is_the_labs_error_for_every_test(vlab, seattle, tmp_path):
    """The BMC stops answering (its process frozen): the first power step fails within the power
    driver's deadline, every test is the lab's error naming the BMC, the place is freed."""
    workdir, state = vlab
    bmc = state["groups"]["ipmi_sim"]
    os.killpg(bmc, signal.SIGSTOP)
    try:
        started = time.monotonic()
        doc = run_through_lab(vlab, seattle, tmp_path / "run", "ci-job-no-bmc")
        took = time.monotonic() - started
    finally:
        os.killpg(bmc, signal.SIGCONT)
    assert set(verdicts(doc).values()) == {"error"} and len(doc["tests"]) > 40, explain(doc)
    assert all(f"BMC 127.0.0.1:{state['ports']['bmc']}" in t["reason"] for t in doc["tests"]), explain(doc)
    assert took < 120, f"the run against a silent BMC took {took:.0f} s"
    assert chassis._pid(Path(state["board_dir"])) is None
    assert holder(state) is None


@pytest.mark.long
def test_a_place_taken_from_the_job_mid_run_makes_the_rest_the_labs_error_and_the_board_is_left_alone(
        vlab, seattle, tmp_path):
    """An admin kicks the job off its place (`labgrid-client release --kick`): the tests after that
    are the lab's error saying so; the board, no longer the job's, is not switched off by it."""
    workdir, state = vlab
    out = tmp_path / "run"
    taken = threading.Event()
    kick = once_tests_reported(out, 3, lambda: admin(state, "-p", state["place"], "release", "--kick",
                                                     user="lab-admin"), taken)
    try:
        doc = run_through_lab(vlab, seattle, out, "ci-job-kicked", on_started=kick)
        assert taken.is_set()
        tests = doc["tests"]
        first_lost = next(i for i, t in enumerate(tests) if t["verdict"] == "error")
        assert first_lost >= 3 and all(t["verdict"] == "pass" for t in tests[:first_lost]), explain(doc)
        assert all("the place was lost" in t["reason"] and "released (we are ci-job-kicked)" in t["reason"]
                   for t in tests[first_lost:]), explain(doc)
        assert chassis._pid(Path(state["board_dir"])) is not None      # left on: not the job's to switch
        assert holder(state) is None
    finally:
        chassis.power_off(Path(state["board_dir"]))


@pytest.mark.long       # make lab-test with the other whole-run faults: make test measured 33 min 46 s cold with it
def test_a_coordinator_killed_mid_run_makes_the_rest_the_labs_error_and_keeps_what_was_measured(
        vlab, seattle, tmp_path):
    """Last in this module: the lab's coordinator does not come back."""
    workdir, state = vlab
    out = tmp_path / "run"
    killed = threading.Event()
    kill = once_tests_reported(out, 3, lambda: stop_process_group(state["groups"]["coordinator"], 5.0), killed)
    started = time.monotonic()
    doc = run_through_lab(vlab, seattle, out, "ci-job-orphaned", on_started=kill)
    took = time.monotonic() - started
    assert killed.is_set()
    tests = doc["tests"]
    first_lost = next(i for i, t in enumerate(tests) if t["verdict"] == "error")
    assert first_lost >= 3, explain(doc)
    assert all(t["verdict"] == "pass" for t in tests[:first_lost]), explain(doc)   # measured before: kept
    assert "the place was lost during the run" in tests[first_lost]["reason"]
    assert all(t["verdict"] == "error" and "the place was lost" in t["reason"] for t in tests[first_lost:])
    assert len(tests) > 40 and not doc.get("interrupted")
    assert took < 240, f"the orphaned run took {took:.0f} s"
    # The board is no longer ours to switch: left as it is; `lab down` (the fixture) switches it off.
