import json

from harness import results
from harness.results import (ResultsWriter, TestResult, Verdict, apply_controls, exit_code, read_jsonl,
                             with_unreached, write_summary)


def r(id, verdict, **kw):
    return TestResult(id, verdict, **kw)


def test_bleed_pass_with_a_bleeding_control_stays_pass():
    out = apply_controls([r("teardown.sigkill.dma_bleed", "pass"), r("control.null_reset.sigkill", "pass")])
    assert out[0].verdict is Verdict.PASS


def test_bleed_pass_without_control_bleed_is_inconclusive_never_pass():
    out = apply_controls([r("teardown.sigkill.dma_bleed", "pass"), r("teardown.sigkill.irq_bleed", "pass"),
                          r("control.null_reset.sigkill", "fail")])
    assert [x.verdict for x in out[:2]] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE]
    assert "control (control.null_reset.sigkill) was fail" in out[0].reason


def test_every_check_that_says_no_bleed_rests_on_its_own_control():
    """The gap checks and the next tenant's IRQs on their variant's control; reset.ioctl on its own
    (a variant's bleeding control proves nothing about VFIO_DEVICE_RESET); next_open on none."""
    out = apply_controls([r("teardown.sigkill.next_tenant_irq", "pass"), r("reset.ioctl", "pass"),
                          r("teardown.sigkill.next_open", "pass"), r("control.null_reset.sigkill", "pass")])
    assert [x.verdict for x in out[:3]] == [Verdict.PASS, Verdict.INCONCLUSIVE, Verdict.PASS]
    assert "control.null_reset.reset_ioctl" in out[1].reason
    (ok,) = apply_controls([r("reset.ioctl", "pass"), r("control.null_reset.reset_ioctl", "pass")])[:1]
    assert ok.verdict is Verdict.PASS


def test_each_next_guest_check_rests_on_its_own_measures_control():
    """vmm.<variant>.guest_dma_bleed on its variant's DMA control only: an IRQ control that bled
    proves nothing about DMA, nor another variant's."""
    out = apply_controls([r("vmm.sigkill.guest_dma_bleed", "pass"), r("vmm.sigkill.guest_irq_bleed", "pass"),
                          r("vmm.crash.guest_dma_bleed", "pass"),
                          r("control.null_reset.vmm.sigkill.guest_irq_bleed", "pass"),
                          r("control.null_reset.vmm.crash.guest_dma_bleed", "fail")])
    assert [x.verdict for x in out[:3]] == [Verdict.INCONCLUSIVE, Verdict.PASS, Verdict.INCONCLUSIVE]
    assert "control.null_reset.vmm.sigkill.guest_dma_bleed) did not run" in out[0].reason
    assert "control.null_reset.vmm.crash.guest_dma_bleed) was fail" in out[2].reason


def test_missing_control_is_inconclusive_too():
    (out,) = apply_controls([r("teardown.segv.irq_bleed", "pass")])
    assert out.verdict is Verdict.INCONCLUSIVE and "did not run" in out.reason


def test_fail_and_error_are_never_softened():
    out = apply_controls([r("teardown.sigkill.dma_bleed", "fail"), r("teardown.segv.dma_bleed", "error"),
                          r("control.null_reset.sigkill", "fail"), r("control.null_reset.segv", "error")])
    assert [x.verdict for x in out[:2]] == [Verdict.FAIL, Verdict.ERROR]


def test_controls_are_per_variant():
    out = apply_controls([r("teardown.sigkill.dma_bleed", "pass"), r("teardown.segv.dma_bleed", "pass"),
                          r("control.null_reset.sigkill", "pass"), r("control.null_reset.segv", "fail")])
    assert [x.verdict for x in out[:2]] == [Verdict.PASS, Verdict.INCONCLUSIVE]


def test_unreached_tests_are_listed_as_skip():
    out = with_unreached([r("boot", "pass")], ["boot", "bind.vfio"])
    assert out[1] == TestResult("bind.vfio", Verdict.SKIP, reason="not reached")


def test_jsonl_survives_a_torn_last_line_and_summary_is_rebuilt(tmp_path):
    w = ResultsWriter(tmp_path)
    w.add(r("boot", "pass", duration_s=4.5, evidence={"ready_s": 4.5}))
    w.add(r("teardown.sigkill.dma_bleed", "pass", evidence={"changed": 0}))
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write('{"id": "bind.vf')          # killed mid-write
    assert [x.id for x in read_jsonl(tmp_path / "results.jsonl")] == ["boot", "teardown.sigkill.dma_bleed"]
    doc = write_summary(tmp_path, {"target": "qemu-highbank"}, planned=["boot", "bind.vfio",
                                                                        "teardown.sigkill.dma_bleed"])
    assert doc["schema"] == "vfio-hil/results/1" and doc["target"] == "qemu-highbank"
    verdicts = {t["id"]: t["verdict"] for t in doc["tests"]}
    assert verdicts == {"boot": "pass", "bind.vfio": "skip", "teardown.sigkill.dma_bleed": "inconclusive"}
    assert json.loads((tmp_path / "results.json").read_text()) == doc
    assert exit_code(doc) == 3      # bind.vfio was never reached


def test_exit_code_zero_only_when_clean():
    assert exit_code({"tests": [{"verdict": "pass"}, {"verdict": "skip"}]}) == 0
    for bad in ("fail", "error", "inconclusive"):
        assert exit_code({"tests": [{"verdict": "pass"}, {"verdict": bad}]}) == 1


def test_an_unfinished_run_never_exits_zero():
    assert exit_code({"interrupted": "_Terminated", "tests": [{"verdict": "pass"}]}) == 3
    assert exit_code({"tests": [{"verdict": "pass"}, {"verdict": "skip", "reason": "not reached"}]}) == 3


# What run_suite records about its pytest child: ``suite_rc`` and ``planned_written``.
PASSED = [{"id": "boot", "verdict": "pass"}, {"id": "bind.vfio", "verdict": "pass"}]


def test_a_run_that_collected_nothing_never_exits_zero():
    # collection crashed before planned.json was written: no tests, nothing "not reached"
    assert exit_code({"tests": []}) == 3
    assert exit_code({"suite_rc": 4, "planned_written": False, "tests": []}) == 3
    assert exit_code({"suite_rc": 0, "planned_written": True, "tests": []}) == 3     # planned.json was []


def test_no_planned_json_is_unfinished_whatever_was_recorded():
    assert exit_code({"suite_rc": 0, "planned_written": False, "tests": PASSED}) == 3


def test_pytests_own_failure_codes_and_signals_are_unfinished():
    for rc in (2, 3, 4, 5, -9, -11, None):
        doc = {"suite_rc": rc, "planned_written": True, "tests": PASSED}
        assert exit_code(doc) == 3, rc
        assert "suite" in results.unfinished(doc)
    assert "SIGKILL" in results.unfinished({"suite_rc": -9, "planned_written": True, "tests": PASSED})


def test_a_child_that_exited_non_zero_with_no_result_is_unfinished():
    doc = {"suite_rc": 1, "planned_written": True,
           "tests": [{"id": "boot", "verdict": "skip", "reason": "not reached"}]}
    assert exit_code(doc) == 3 and "without recording a result" in results.unfinished(doc)


def test_pytest_exit_1_with_results_is_an_ordinary_run():
    doc = {"suite_rc": 1, "planned_written": True, "tests": [*PASSED, {"id": "reset.ioctl", "verdict": "fail"}]}
    assert exit_code(doc) == 1 and results.unfinished(doc) is None
    assert exit_code({"suite_rc": 0, "planned_written": True, "tests": PASSED}) == 0


def test_iova_bleed_rests_on_its_variants_control():
    from harness.results import control_of

    assert control_of("teardown.sigkill.iova_bleed") == "control.null_reset.sigkill"
