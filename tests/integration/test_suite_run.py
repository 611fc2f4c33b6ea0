"""`vfio-hil run` end to end on Highbank with broken Calxeda handlers: the verdicts such kernels
must get, and `vfio-hil compare` calling one a regression against the unpatched run of the
matrix (the correct kernel's verdicts are checked in test_matrix_reports).
- tests/patches/calxeda-reset-keeps-intr-ena.patch: DMA_INTR_ENA left set;
- tests/patches/calxeda-reset-refuses-busy.patch: the handler returns -EBUSY for a device whose
  receive DMA still runs (the very case it exists for): the kernel then WARNs in release and
  refuses the next open, which must be `fail` with the kernel's words, never `error`."""

import subprocess
import sys

import pytest

from harness.suite.platform import VARIANTS

pytestmark = pytest.mark.integration

CONTROLS = [f"control.null_reset.{v}" for v in VARIANTS]
KEEPS_INTR_ENA = "calxeda-reset-keeps-intr-ena.patch"
REFUSES_BUSY = "calxeda-reset-refuses-busy.patch"


def verdicts(doc):
    return {t["id"]: t["verdict"] for t in doc["tests"]}


@pytest.mark.mutant     # make mutant-tests: a patched kernel and a run; make test measured 31 min 47 s cold with it
def test_handler_that_leaves_interrupts_armed_fails_irq_but_not_dma(suite_runs):
    doc = suite_runs("qemu-highbank", "debian:6.1", KEEPS_INTR_ENA)
    v = verdicts(doc)
    # In the gap (read through /dev/mem) and after the next open alike, interrupts stay armed.
    assert [v[f"teardown.{x}.irq_bleed"] for x in VARIANTS] == ["fail"] * len(VARIANTS), v
    assert [v[f"teardown.{x}.next_tenant_irq"] for x in VARIANTS] == ["fail"] * len(VARIANTS), v
    assert [v[f"teardown.{x}.dma_bleed"] for x in VARIANTS] == ["pass"] * len(VARIANTS), v
    assert [v[f"teardown.{x}.next_open"] for x in VARIANTS] == ["pass"] * len(VARIANTS), v
    # the enables the tenant set are not back to their reset value 0 at the end of the gap
    assert [v[f"teardown.{x}.reset_state"] for x in VARIANTS] == ["fail"] * len(VARIANTS), v
    assert [v[t] for t in CONTROLS] == ["pass"] * len(CONTROLS), v      # the controls still bleed
    assert v["reset.ioctl"] == "fail"
    gap = next(t for t in doc["tests"] if t["id"] == "teardown.sigkill.irq_bleed")["evidence"]["gap_irq"]
    assert gap["armed_samples"] == gap["samples"] > 5 and gap["last"]["DMA_INTR_ENA"] != "0x0", gap


@pytest.mark.mutant     # make mutant-tests: a patched kernel and a run, moved out of make test (31 min 17 s cold with it)
def test_a_handler_error_is_the_kernels_fail_never_an_error(suite_runs):
    doc = suite_runs("qemu-highbank", "debian:6.1", REFUSES_BUSY)
    tests = {t["id"]: t for t in doc["tests"]}
    v = verdicts(doc)
    assert "error" not in v.values(), {k: tests[k]["reason"] for k, x in v.items() if x == "error"}
    # The first teardown: the tenant opened an idle device; at its death the handler refused the
    # busy device, the kernel WARNed in release, the device bled and the next open was refused.
    first = tests["teardown.sigkill.dma_bleed"]
    assert first["verdict"] == "fail" and "the kernel reported a fault" in first["reason"], first["reason"]
    assert any("reset call failed in release" in f for f in first["evidence"]["kernel_faults"]), first
    assert v["teardown.sigkill.irq_bleed"] == "fail"
    assert v["teardown.sigkill.next_open"] == "fail" and "refused" in tests["teardown.sigkill.next_open"]["reason"]
    # From then on the device stays busy: every open is refused, and each check says so as a fail.
    for x in VARIANTS[1:]:
        assert v[f"teardown.{x}.dma_bleed"] == "fail" and "refused" in tests[f"teardown.{x}.dma_bleed"]["reason"]
    assert v["reset.ioctl"] == "fail" and "refused" in tests["reset.ioctl"]["reason"], tests["reset.ioctl"]
    assert [v[t] for t in CONTROLS] == ["pass"] * len(CONTROLS), v      # the null handler refuses nothing


@pytest.mark.mutant     # the same patched run as above
def test_compare_calls_the_broken_handler_a_regression(suite_runs, matrix_dir):
    broken = suite_runs("qemu-highbank", "debian:6.1", KEEPS_INTR_ENA)["dir"]
    cmp = subprocess.run([sys.executable, "-m", "harness", "compare", str(matrix_dir / "qemu-highbank-debian-6.1"),
                          str(broken)], capture_output=True, text=True, timeout=120)
    assert cmp.returncode == 1, cmp.stdout + cmp.stderr
    # 5 irq_bleed, 5 next_tenant_irq, 5 reset_state and reset.ioctl
    assert "**16 regressions**" in cmp.stdout, cmp.stdout
    assert "| teardown.sigkill.irq_bleed | pass | fail | **yes** |" in cmp.stdout
    ok = subprocess.run([sys.executable, "-m", "harness", "compare", str(matrix_dir / "qemu-highbank-debian-6.1"),
                         str(matrix_dir / "qemu-midway-debian-6.1")], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 2 and "two runs of one target" in ok.stderr
