"""The removal-impact matrix's answers and compare's regressions (pure logic)."""

from harness.report import load_run
from harness.report.compare import compare
from harness.report.matrix import build_matrix, cells_for

from .report_fixtures import HEADER, full_run


def test_matrix_answers_from_a_good_run(tmp_path):
    cells = cells_for(load_run(full_run(tmp_path / "r")))
    assert cells["built"].state == "good" and "=m" in cells["built"].text
    assert cells["autoloaded"].text == "yes"
    assert cells["effective"].state == "good"
    assert cells["necessary"].state == "good" and "9560" in cells["necessary"].text
    assert cells["deprecation"].text == "not printed"
    # reset.ioctl errored and a test was never reached: nothing may be called decided
    assert cells["overall"].state == "unknown" and cells["overall"].text.startswith("incomplete")


def test_matrix_says_broken_when_the_handler_lets_the_device_bleed(tmp_path):
    cells = cells_for(load_run(full_run(tmp_path / "r", bleed="fail")))
    assert cells["effective"].state == "bad" and "teardown.sigkill.dma_bleed" in cells["effective"].text
    assert cells["overall"].text.startswith("BROKEN")


def test_matrix_never_calls_an_unproven_handler_effective(tmp_path):
    cells = cells_for(load_run(full_run(tmp_path / "r", control="fail")))
    assert cells["effective"].state == "unknown"        # the bleed pass became inconclusive
    assert cells["necessary"].text.startswith("not shown")


def test_matrix_keeps_the_newest_run_of_a_cell(tmp_path):
    old = load_run(full_run(tmp_path / "old", bleed="fail"))
    header = {**HEADER, "started": "2026-11-22T00:00:00Z"}
    import json
    new_dir = full_run(tmp_path / "new")
    (new_dir / "run.json").write_text(json.dumps(header))
    m = build_matrix([load_run(new_dir), old])
    assert m.runs[("qemu-highbank", "6.1.192 (debian:6.1)")].dir == new_dir and m.superseded == [old]


def test_compare_flags_a_broken_handler_as_regression(tmp_path):
    c = compare(load_run(full_run(tmp_path / "good")), load_run(full_run(tmp_path / "bad", bleed="fail")))
    assert [(x.test, x.old, x.new) for x in c.regressions] == [("teardown.sigkill.dma_bleed", "pass", "fail")]
    assert ("teardown.sigkill.dma_bleed", "canary bytes written after death", 0, 9560) in c.moved


def test_compare_of_equal_runs_is_quiet(tmp_path):
    c = compare(load_run(full_run(tmp_path / "a")), load_run(full_run(tmp_path / "b")))
    assert not c.flips and not c.moved and not c.regressions


def test_an_improvement_is_not_a_regression(tmp_path):
    c = compare(load_run(full_run(tmp_path / "bad", bleed="fail")), load_run(full_run(tmp_path / "good")))
    assert c.flips and not c.regressions


def test_matrix_counts_irq_checks_skipped_for_a_device_without_irq_as_not_applicable(tmp_path):
    from harness.results import TestResult

    from .report_fixtures import result_dir
    no_irq = "FlexRM has no wired interrupt"
    r = load_run(result_dir(tmp_path / "r", [
        TestResult("teardown.sigkill.dma_bleed", "pass", 3.0, {"gap_check": {"changed": 0}}),
        TestResult("teardown.sigkill.irq_bleed", "skip", 0.1, {}, no_irq),
        TestResult("control.null_reset.sigkill", "pass", 3.0, {"gap_check": {"changed": 1587}}),
    ]))
    cells = cells_for(r)
    assert cells["effective"].state == "good", cells["effective"]
    assert "no DMA after teardown in all 1 variants" in cells["effective"].text and no_irq in cells["effective"].text
    assert cells["overall"].text.startswith("needed and working"), cells["overall"]


def test_matrix_never_counts_an_unreached_bleed_check_as_not_applicable(tmp_path):
    from harness.results import TestResult

    from .report_fixtures import result_dir
    r = load_run(result_dir(tmp_path / "r", [
        TestResult("teardown.sigkill.dma_bleed", "pass", 3.0, {"gap_check": {"changed": 0}}),
        TestResult("control.null_reset.sigkill", "pass", 3.0, {"gap_check": {"changed": 1587}}),
    ], planned=["teardown.sigkill.dma_bleed", "teardown.sigkill.irq_bleed", "control.null_reset.sigkill"]))
    assert cells_for(r)["effective"].state == "unknown"


def test_bleed_plot_knows_a_device_without_wired_irq(tmp_path):
    from harness.report.plots import wired_irq
    from harness.results import TestResult

    from .report_fixtures import BLED, TIMELINE, result_dir
    assert wired_irq(load_run(full_run(tmp_path / "calxeda")), "sigkill")
    r = load_run(result_dir(tmp_path / "flexrm", [
        TestResult("teardown.sigkill.dma_bleed", "pass", 3.0,
                   {"gap_check": {"changed": 0}, "timeline": TIMELINE, "next_tenant": {"irqs": 0, "wired_irq": False}}),
        TestResult("control.null_reset.sigkill", "pass", 3.0,
                   {"gap_check": {"changed": 1587}, "timeline": BLED, "next_tenant": {"irqs": 0, "wired_irq": False}}),
    ]))
    assert not wired_irq(r, "sigkill")
