"""make mutants' pure logic: its data file, what counts as a flip, and the table."""

from pathlib import Path

import pytest

from harness import mutants
from harness.errors import UsageError


def test_the_shipped_list_names_existing_patches_and_known_targets():
    from harness.targets import available_targets

    kernel, rows = mutants.load_rows()
    assert kernel.startswith("debian:")
    assert {r.target.split("/")[0] for r in rows} <= set(available_targets())
    assert len({r.name for r in rows}) == len(rows)
    # every action of the XGBE and FlexRM handlers has a row (issue 10, section 5)
    names = " ".join(r.name for r in rows)
    for action in ("pcs-reset", "pcs-wait", "an-disable", "an-intmask", "an-clear", "no-swr", "swr-wait",
                   "no-flush", "inactivate", "flush-wait", "flush-clear", "flush-clear-wait", "first-ring-only"):
        assert action in names, action


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "x.patch").write_text("")
    path = tmp_path / "mutants.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("body, says", [
    ("rows: []", "needs 'kernel"),
    ("kernel: debian:6.1\nrows: [{target: t}]", "rows[0]: every row needs 'target' and 'action'"),
    ("kernel: debian:6.1\nrows: [{target: t, action: a}]", "exactly one of 'patch'"),
    ("kernel: debian:6.1\nrows: [{target: t, action: a, patch: x.patch, policy: p=1}]", "exactly one of 'patch'"),
    ("kernel: debian:6.1\nrows: [{target: t, action: a, patch: missing.patch}]", "no patch"),
    ("kernel: debian:6.1\nrows: [{target: t, action: a, patch: x.patch, expects: 1}]", "unknown field"),
    ("kernel: debian:6.1\nrows: [{target: t, action: a, patch: x.patch, expect: maybe}]", "expect must be"),
    ("kernel: debian:6.1\nrows: [{target: t, action: a, patch: x.patch, expect: none}]", "must say why"),
])
def test_a_bad_list_is_a_usage_error_naming_the_row_and_field(tmp_path, body, says):
    with pytest.raises(UsageError, match=None) as exc:
        mutants.load_rows(_write(tmp_path, body))
    assert says in str(exc.value) and str(tmp_path) in str(exc.value)


def test_flips_and_judgement():
    base = {"a": "pass", "b": "pass", "c": "skip"}
    assert mutants.flips(base, dict(base)) == {}
    changed = mutants.flips(base, {"a": "fail", "b": "pass", "c": "skip", "d": "pass"})
    assert changed == {"a": ("pass", "fail"), "d": ("absent", "pass")}
    row = mutants.Row("r", "t", "the thing")
    assert mutants.judge(row, changed) == "flips"
    assert mutants.judge(row, {"d": ("absent", "pass")}) == "UNEXPLAINED"        # nothing turned to fail
    found = mutants.Row("r", "t", "the thing", finding="twin gap", expect="none")
    assert mutants.judge(found, {}) == "finding"
    assert mutants.judge(found, changed) == "STALE FINDING"
    artifact = mutants.Row("r", "t", "the thing", finding="flips through a twin approximation")
    assert mutants.judge(artifact, changed) == "flips"


def test_the_table_groups_variants_and_states_findings():
    row = mutants.Row("r", "qemu-seattle", "the SWR", patch=Path("r.patch"))
    changed = {f"teardown.{v}.dma_bleed": ("pass", "fail") for v in ("sigkill", "segv")}
    changed["reset.ioctl"] = ("pass", "fail")
    changed.update({f"vmm.{v}.guest_dma_bleed": ("pass", "fail") for v in ("sigkill", "crash", "clean_exit")})
    text = mutants.table("debian:6.1", [(row, "flips", changed),
                                        (mutants.Row("f", "t", "x", policy="p=1", finding="why", expect="none"), "finding", {})])
    assert "teardown.*.dma_bleed (2): pass→fail" in text and "reset.ioctl: pass→fail" in text
    assert "vmm.*.guest_dma_bleed (3): pass→fail" in text
    assert "`r.patch`" in text and "none — finding: why" in text and "`p=1`" in text


def test_twin_policies_parse_and_a_bad_one_names_the_variable():
    from harness.errors import TargetProfileError
    from harness.twins.runtime import make_twin, twin_policy

    assert twin_policy("") == {}
    assert twin_policy("swr_completes=false, swr_latency_s=0.5") == {"swr_completes": False, "swr_latency_s": 0.5}
    with pytest.raises(TargetProfileError, match="VFIO_HIL_TWIN_POLICY: 'x' is not name=value"):
        twin_policy("x")
    with pytest.raises(TargetProfileError, match="neither true/false nor a number"):
        twin_policy("swr_completes=maybe")
    with pytest.raises(TargetProfileError, match="VFIO_HIL_TWIN_POLICY: the xgbe twin has no such policy"):
        make_twin("xgbe", 0x7e000000, None, {"no_such_policy": True})


def test_a_row_in_a_mode_its_target_lacks_is_named(tmp_path):
    (tmp_path / "x.patch").write_text("")
    (tmp_path / "m.yaml").write_text("kernel: debian:6.1\nrows:\n"
                                     "  - {patch: x.patch, target: qemu-highbank/type1, action: a}\n")
    with pytest.raises(UsageError, match=r"rows\[0\].*qemu-highbank/type1.*iommu_modes"):
        mutants.load_rows(tmp_path / "m.yaml")
