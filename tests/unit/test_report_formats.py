"""junit.xml, kcidb.json, summary.md and report.html from a result directory (pure data, no QEMU)."""

import json
import re

import kcidb_io
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from harness.errors import ResultsError
from harness.report import REPORT_FILES, load_run, write_reports
from harness.report.kcidb import kcidb_status
from harness.results import TestResult, Verdict

from .report_fixtures import full_run, result_dir


@pytest.fixture
def reports(tmp_path):
    run_dir = full_run(tmp_path / "run")
    write_reports([load_run(run_dir)], run_dir)
    return run_dir


def test_unreached_tests_are_listed_as_skip_not_reached(tmp_path):
    run = load_run(full_run(tmp_path / "run"))
    assert run.test("reset.required_enforced").verdict is Verdict.SKIP
    assert run.test("reset.required_enforced").reason == "not reached"


def test_junit_keeps_error_failure_and_inconclusive_apart(tmp_path):
    run_dir = full_run(tmp_path / "run", control="fail")    # the control did not bleed
    write_reports([load_run(run_dir)], run_dir)
    cases = {c.name: c for suite in JUnitXml.fromfile(str(run_dir / "junit.xml")) for c in suite}
    assert isinstance(cases["reset.ioctl"].result[0], Error)
    assert isinstance(cases["control.null_reset.sigkill"].result[0], Failure)
    inconclusive = cases["teardown.sigkill.dma_bleed"].result[0]
    assert isinstance(inconclusive, Skipped) and inconclusive.type == "inconclusive"
    assert inconclusive.message.startswith("INCONCLUSIVE:")
    assert cases["boot"].is_passed and "boot_s" in cases["boot"].system_out
    assert cases["reset.required_enforced"].result[0].message == "not reached"


def test_a_reason_carrying_a_consoles_control_characters_still_makes_a_junit_file(tmp_path):
    # A boot error's console tail: the shell's cursor query (ESC [6n) and a bell.
    reason = "kexec -e came back; last console lines:\nvfio-hil:/# \x1b[6nkexec -e\x07"
    run_dir = result_dir(tmp_path / "run", [TestResult("boot", "error", 1.0, {"tail": "\x1b[6n"}, reason)])
    write_reports([load_run(run_dir)], run_dir)
    case = next(c for suite in JUnitXml.fromfile(str(run_dir / "junit.xml")) for c in suite)
    assert case.result[0].message.endswith("vfio-hil:/# \\x1b[6nkexec -e\\x07")     # shown, not lost


def test_kcidb_validates_and_maps_statuses_honestly(reports):
    data = json.loads((reports / "kcidb.json").read_text())
    kcidb_io.schema.LATEST.validate(data)
    status = {t["path"].rsplit(".calxeda_hb-xgmac.", 1)[1]: t["status"] for t in data["tests"]}
    assert status["boot"] == "PASS" and status["reset.ioctl"] == "ERROR"
    assert status["reset.required_enforced"] == "MISS"
    assert data["checkouts"][0]["patchset_hash"] == "" and data["builds"][0]["architecture"] == "arm"
    assert all(t["path"].startswith("vfio.platform.reset.calxeda_hb-xgmac.") for t in data["tests"])


def test_kcidb_status_never_turns_inconclusive_into_pass_or_fail():
    assert kcidb_status(Verdict.INCONCLUSIVE, "x") == "DONE"
    assert kcidb_status(Verdict.SKIP, "not reached") == "MISS"
    assert kcidb_status(Verdict.SKIP, "not applicable") == "SKIP"


def test_html_is_self_contained_with_table_and_plots(reports):
    html = (reports / "report.html").read_text()
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html), "the report must not fetch anything"
    assert html.index('id="verdicts-1"') < html.index("Bleed at a glance") < html.index("console log")
    assert html.count('src="data:image/png;base64,') >= 3    # glance + dma + irq + control sections


def test_summary_md_has_the_verdict_table(reports):
    md = (reports / "summary.md").read_text()
    assert "| reset.ioctl | **error** |" in md and "| boot | pass |" in md


def test_all_four_files_are_written(reports):
    assert all((reports / f).is_file() for f in REPORT_FILES)


def test_a_directory_that_is_not_a_result_is_a_usage_error(tmp_path):
    with pytest.raises(ResultsError, match="run.json is missing"):
        load_run(tmp_path)
    result_dir(tmp_path / "bad", [], header={"kernel": {}})
    with pytest.raises(ResultsError, match="'target' is missing"):
        load_run(tmp_path / "bad")
