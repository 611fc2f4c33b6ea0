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


# --- the overall verdict: removed > BROKEN > incomplete > needed and working ------------

CLEAN = ["boot", "bind.vfio", "reset.module_autoload", "reset.info_flag", "reset.ioctl",
         "teardown.sigkill.dma_bleed", "teardown.sigkill.irq_bleed", "deprecation.message",
         "reset.required_enforced", "reset.required_override", "control.null_reset.sigkill",
         "control.null_reset.reset_ioctl"]


def _run(tmp_path, changes=None, handler="m", header_extra=None):
    """A run of every check; ``changes`` maps an id to (verdict, evidence, reason)."""
    from harness.results import TestResult

    from .report_fixtures import HEADER, result_dir
    evidence = {"teardown.sigkill.dma_bleed": {"gap_check": {"changed": 0}},
                "control.null_reset.sigkill": {"gap_check": {"changed": 9560}},
                "bind.vfio": {"driver": "vfio-platform"}}
    tests = []
    for test_id in CLEAN:
        verdict, ev, reason = (changes or {}).get(test_id, ("pass", evidence.get(test_id, {}), ""))
        tests.append(TestResult(test_id, verdict, 1.0, ev, reason))
    dut = {**HEADER["dut"], "handler_config": {**HEADER["dut"]["handler_config"], "value": handler}}
    header = {**HEADER, "dut": dut, **(header_extra or {})}
    return load_run(result_dir(tmp_path / "r", tests, planned=CLEAN, header=header))


def test_matrix_every_check_passed_is_needed_and_working(tmp_path):
    cell = cells_for(_run(tmp_path))["overall"]
    assert cell.state == "good" and cell.text.startswith("needed and working"), cell


def test_matrix_a_failed_required_override_is_broken_never_working(tmp_path):
    # 6.1.192 refuses reset_required=0: a measured kernel behaviour, not a detail to bury.
    run = _run(tmp_path, {"reset.required_override": ("fail", {"driver": None}, "reset_required=0 did not ...")})
    cell = cells_for(run)["overall"]
    assert cell.state == "bad" and cell.text.startswith("BROKEN: reset.required_override ("), cell


def test_matrix_broken_names_every_failed_check(tmp_path):
    run = _run(tmp_path, {"reset.required_override": ("fail", {}, "refused"),
                          "teardown.sigkill.dma_bleed": ("fail", {"gap_check": {"changed": 9560}}, "bled")})
    cell = cells_for(run)["overall"]
    # in the run's order (the suite's), which is how they are listed
    assert cell.text.startswith("BROKEN: teardown.sigkill.dma_bleed, reset.required_override ("), cell


def test_matrix_a_fail_outranks_errors_and_unreached_checks(tmp_path):
    run = _run(tmp_path, {"reset.info_flag": ("fail", {}, "no VFIO_DEVICE_FLAGS_RESET"),
                          "reset.ioctl": ("error", {}, "call: SSH connection lost"),
                          "control.null_reset.sigkill": ("skip", {}, "not reached")})
    cell = cells_for(run)["overall"]
    assert cell.state == "bad" and cell.text.startswith("BROKEN: reset.info_flag ("), cell


def test_matrix_a_kernel_without_the_handler_is_removed_never_incomplete(tmp_path):
    # What the suite records when CONFIG_..._RESET is not set: the bind is refused, what needs the
    # device fails or errors, and hiding a handler that is not there is an infrastructure error.
    refused = {"bind.vfio": ("fail", {"driver": None, "original_driver": None}, "is bound to None"),
               "reset.module_autoload": ("fail", {}, "binding did not make the kernel load the reset handler"),
               "reset.info_flag": ("fail", {}, "the agent could not open fff50000.ethernet"),
               "reset.ioctl": ("error", {}, "call: CommandError"),
               "teardown.sigkill.dma_bleed": ("error", {}, "call: CommandError"),
               "teardown.sigkill.irq_bleed": ("error", {}, "call: CommandError"),
               "deprecation.message": ("skip", {}, "the reset handler never ran in this boot"),
               "reset.required_enforced": ("error", {}, "setup: InfrastructureError: no ...ko* under /lib/modules"),
               "reset.required_override": ("skip", {}, "not reached")}
    cell = cells_for(_run(tmp_path, refused, handler="not set"))["overall"]
    assert cell.text.startswith("removed: vfio-platform refuses the device (from "), cell
    assert "CONFIG_VFIO_PLATFORM_CALXEDAXGMAC_RESET not set" in cell.text and "bind.vfio" in cell.text, cell
    assert cell.state == "info"


def test_matrix_a_refusal_seen_by_the_checks_alone_is_removed(tmp_path):
    run = _run(tmp_path, {"bind.vfio": ("fail", {"driver": None}, "is bound to None"),
                          "reset.module_autoload": ("fail", {}, "not loaded"),
                          "reset.ioctl": ("error", {}, "call: CommandError")})
    cell = cells_for(run)["overall"]
    assert cell.text.startswith("removed: vfio-platform refuses the device"), cell
    assert "bind.vfio" in cell.text and "reset.required_enforced" in cell.text, cell


def test_matrix_a_device_that_bound_was_not_refused_whatever_the_config_says(tmp_path):
    run = _run(tmp_path, {"teardown.sigkill.dma_bleed": ("fail", {"gap_check": {"changed": 9560}}, "bled")},
               handler="not set")
    assert cells_for(run)["overall"].text.startswith("BROKEN: teardown.sigkill.dma_bleed"), cells_for(run)


def test_matrix_a_run_whose_suite_crashed_is_incomplete_even_if_all_reported_passed(tmp_path):
    cell = cells_for(_run(tmp_path, header_extra={"suite_rc": 3, "planned_written": True}))["overall"]
    assert cell.state == "unknown" and cell.text.startswith("incomplete"), cell
    assert "internal error" in cell.text


def test_matrix_markdown_explains_the_overall_verdicts(tmp_path):
    from harness.report.matrix import render_markdown

    run = _run(tmp_path, {"reset.required_override": ("fail", {}, "refused")})
    md = render_markdown(build_matrix([run]))
    assert "**BROKEN: reset.required_override (" in md
    assert "first match wins: **removed**" in md and "**needed and working**" in md
    from harness.report.matrix import render_html

    html = render_html(build_matrix([run]), tmp_path)
    assert "first match wins: <b>removed</b>" in html and "<b>needed and working</b>" in html


def test_matrix_a_failed_control_leaves_the_cell_undecided_never_broken(tmp_path):
    """A control that did not bleed is the lab's inability to provoke bleed, not the kernel's fault."""
    cell = cells_for(_run(tmp_path, {"control.null_reset.sigkill": ("fail", {"gap_check": {"changed": 0}},
                                                                     "no DMA bleed without the reset")}))["overall"]
    assert cell.state == "unknown" and cell.text.startswith("incomplete"), cell


def test_matrix_bleed_rates_show_their_spread_in_a_fitting_unit():
    from harness.report.matrix import _span

    assert _span(80_000, 85_000) == "78-83 KiB/s"
    assert _span(2_936, 3_150) == "2,936-3,150 B/s"        # FlexRM's MSIs and completions: not "3-3 KiB/s"
    assert _span(102_400, 102_400) == "100 KiB/s"


# --- fsl-mc before qDMA: never "needed and working" while DMA and MSIs are unmeasured ----------

def _fslmc_run(tmp_path, state="pass"):
    from harness.results import TestResult
    from harness.suite.fslmc import NO_DMA_YET

    from .report_fixtures import HEADER, result_dir
    header = {**HEADER, "target": "qemu-lx2160a",
              "dut": {"device": "dprc.2", "compatible": None, "reset_module": None,
                      "handler_config": {"symbol": "CONFIG_VFIO_FSL_MC", "value": "m"}}}
    left = [] if state == "pass" else ["enabled"]
    tests = [TestResult("boot", "pass", 1.0), TestResult("bind.vfio", "pass", 1.0),
             TestResult("teardown.sigkill.dma_bleed", "skip", 0.0, {}, NO_DMA_YET),
             TestResult("teardown.sigkill.reset_state", state, 1.0,
                        {"reset_state": {"tenant_set": ["enabled"], "left_set": left}}),
             TestResult("control.null_reset.sigkill", "pass", 1.0,
                        {"reset_state": {"tenant_set": ["enabled"], "left_set": ["enabled", "irq_enabled"]}})]
    return load_run(result_dir(tmp_path / "r", tests, planned=[t.id for t in tests], header=header))


def test_matrix_fslmc_names_what_was_measured_and_is_never_plain_working(tmp_path):
    cells = cells_for(_fslmc_run(tmp_path))
    assert cells["autoloaded"].text.startswith("not applicable")
    assert cells["effective"].text.startswith("object state only") and cells["effective"].state == "unknown"
    assert "DMA not measured yet" in cells["effective"].text
    assert "kept enabled, irq_enabled" in cells["necessary"].text
    overall = cells["overall"]
    assert overall.state == "unknown" and overall.text.startswith("working for what was measured"), overall
    assert "DMA not measured" in overall.text


def test_matrix_fslmc_state_left_after_teardown_is_broken(tmp_path):
    cells = cells_for(_fslmc_run(tmp_path, state="fail"))
    assert cells["effective"].state == "bad" and cells["overall"].text.startswith("BROKEN"), cells


def test_matrix_fslmc_a_refused_eventfd_is_not_called_bleed(tmp_path):
    from harness.results import TestResult
    from harness.suite.fslmc import NO_DMA_YET

    from .report_fixtures import HEADER, result_dir
    header = {**HEADER, "target": "qemu-lx2160a",
              "dut": {"device": "dprc.2", "handler_config": {"symbol": "CONFIG_VFIO_FSL_MC", "value": "m"}}}
    tests = [TestResult("teardown.sigkill.dma_bleed", "skip", 0.0, {}, NO_DMA_YET),
             TestResult("teardown.sigkill.reset_state", "pass", 1.0),
             TestResult("teardown.sigkill.irq_bleed", "fail", 1.0, {},
                        "the kernel refused the tenant's eventfd: {'errno': 19} (see the kernel log)")]
    cell = cells_for(load_run(result_dir(tmp_path / "r", tests, planned=[t.id for t in tests], header=header)))["effective"]
    assert cell.text.startswith("not measured: the kernel refused the tenant in 1 of 2 checks"), cell


def test_a_type1_run_is_a_row_of_its_own(tmp_path):
    import json
    plain = load_run(full_run(tmp_path / "plain"))
    t1_dir = full_run(tmp_path / "t1")
    (t1_dir / "run.json").write_text(json.dumps({**HEADER, "iommu": "type1", "started": "2026-12-06T00:00:00Z"}))
    t1 = load_run(t1_dir)
    assert t1.target == "qemu-highbank/type1" and plain.target == "qemu-highbank"
    m = build_matrix([plain, t1])
    assert m.targets == ["qemu-highbank", "qemu-highbank/type1"] and not m.superseded


# --- the next guest (VMM checks) ---------------------------------------------------------------

def _vmm_run(tmp, resets):
    from harness.results import TestResult
    from .report_fixtures import result_dir
    ev = {"twin": {"resets": resets}, "next_guest": {"changed": 38272, "irqs": 2}}
    return load_run(result_dir(tmp, [
        TestResult("vmm.sigkill.guest_dma_bleed", "pass", 9.0, {"twin": {"resets": [{"ms": 200, "what": "DMA_MR.SWR"}]}}),
        TestResult("vmm.system_reset.guest_dma_bleed", "fail", 5.0, ev, "38272 canary bytes"),
        TestResult("control.null_reset.vmm.sigkill.guest_dma_bleed", "pass", 9.0, {}),
        TestResult("control.null_reset.vmm.system_reset.guest_dma_bleed", "pass", 5.0, {})]))


def test_a_next_guest_bleed_the_device_was_never_reset_for_is_the_vmms_not_the_handlers(tmp_path):
    cells = cells_for(_vmm_run(tmp_path / "r", resets=[]))
    assert cells["next_guest"].state == "info"
    assert "sigkill: nothing reached it" in cells["next_guest"].text
    assert "system_reset: dma reached it, the device never reset" in cells["next_guest"].text
    assert not cells["overall"].text.startswith("BROKEN")


def test_a_next_guest_bleed_after_the_handler_ran_is_broken(tmp_path):
    cells = cells_for(_vmm_run(tmp_path / "r", resets=[{"ms": 200, "what": "PCS"}]))
    assert cells["next_guest"].state == "bad"
    assert cells["overall"].text.startswith("BROKEN: vmm.system_reset.guest_dma_bleed")


def test_next_guest_checks_skipped_for_a_stated_reason_leave_the_run_decidable(tmp_path):
    from harness.results import TestResult
    from .report_fixtures import result_dir
    why = "the profile names no vmm_device: no VMM can assign this device"
    run = load_run(result_dir(tmp_path / "r", [TestResult("vmm.sigkill.guest_dma_bleed", "skip", 0.0, {}, why)]))
    cells = cells_for(run)
    assert cells["next_guest"].text == f"not measured ({why})"
    assert "next guest" not in cells["overall"].text
