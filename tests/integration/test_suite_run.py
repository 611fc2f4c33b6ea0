"""`vfio-hil run` end to end on Highbank with a broken Calxeda handler (tests/patches/
calxeda-reset-keeps-intr-ena.patch: DMA_INTR_ENA left set): the verdicts such a kernel must
get, and `vfio-hil compare` calling it a regression against the unpatched run of the matrix
(the correct kernel's verdicts are checked in test_matrix_reports)."""

import subprocess
import sys

import pytest

from harness.suite.platform import VARIANTS

pytestmark = pytest.mark.integration

CONTROLS = [f"control.null_reset.{v}" for v in VARIANTS]
KEEPS_INTR_ENA = "calxeda-reset-keeps-intr-ena.patch"


def verdicts(doc):
    return {t["id"]: t["verdict"] for t in doc["tests"]}


def test_handler_that_leaves_interrupts_armed_fails_irq_but_not_dma(suite_runs):
    v = verdicts(suite_runs("qemu-highbank", "debian:6.1", KEEPS_INTR_ENA))
    assert [v[f"teardown.{x}.irq_bleed"] for x in VARIANTS] == ["fail"] * len(VARIANTS), v
    assert [v[f"teardown.{x}.dma_bleed"] for x in VARIANTS] == ["pass"] * len(VARIANTS), v
    assert [v[t] for t in CONTROLS] == ["pass"] * len(CONTROLS), v      # the controls still bleed
    assert v["reset.ioctl"] == "fail"


def test_compare_calls_the_broken_handler_a_regression(suite_runs, matrix_dir):
    broken = suite_runs("qemu-highbank", "debian:6.1", KEEPS_INTR_ENA)["dir"]
    cmp = subprocess.run([sys.executable, "-m", "harness", "compare", str(matrix_dir / "qemu-highbank-debian-6.1"),
                          str(broken)], capture_output=True, text=True, timeout=120)
    assert cmp.returncode == 1, cmp.stdout + cmp.stderr
    assert "**6 regressions**" in cmp.stdout, cmp.stdout        # 5 irq_bleed checks and reset.ioctl
    assert "| teardown.sigkill.irq_bleed | pass | fail | **yes** |" in cmp.stdout
    ok = subprocess.run([sys.executable, "-m", "harness", "compare", str(matrix_dir / "qemu-highbank-debian-6.1"),
                         str(matrix_dir / "qemu-midway-debian-6.1")], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 2 and "two runs of one target" in ok.stderr
