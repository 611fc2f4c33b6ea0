import json

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
    assert "control was fail" in out[0].reason


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
