"""`vfio-hil run` end to end on Highbank with a broken Calxeda handler (tests/patches/): the
verdicts such a kernel must get, and `vfio-hil compare` calling it a regression against the
unpatched run of the matrix (the correct kernel's verdicts are checked in test_matrix_reports)."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.artifacts import build_artifacts
from harness.kernel.spec import parse_kernel_spec
from harness.run import run_suite
from harness.suite.platform import VARIANTS

pytestmark = pytest.mark.integration

PATCHES = Path(__file__).resolve().parent.parent / "patches"
BLEED = [f"teardown.{v}.{k}_bleed" for v in VARIANTS for k in ("dma", "irq")]
CONTROLS = [f"control.null_reset.{v}" for v in VARIANTS]


def verdicts(doc):
    return {t["id"]: t["verdict"] for t in doc["tests"]}


@pytest.fixture(scope="module")
def kernel():
    return "debian:6.1"


def test_noop_handler_fails_every_bleed_check_and_compare_calls_it_a_regression(highbank, kernel, tmp_path,
                                                                              matrix_dir):
    art = build_artifacts(highbank, parse_kernel_spec(kernel), [PATCHES / "calxeda-reset-noop.patch"])
    doc = run_suite(highbank, art, tmp_path, say=lambda m: None)
    v = verdicts(doc)
    cmp = subprocess.run([sys.executable, "-m", "harness", "compare", str(matrix_dir / "qemu-highbank-debian-6.1"),
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert cmp.returncode == 1, cmp.stdout + cmp.stderr
    assert "**11 regressions**" in cmp.stdout, cmp.stdout       # 10 bleed checks and reset.ioctl
    assert "| teardown.sigkill.dma_bleed | pass | fail | **yes** |" in cmp.stdout
    assert [v[t] for t in BLEED] == ["fail"] * len(BLEED), v
    assert [v[t] for t in CONTROLS] == ["pass"] * len(CONTROLS), v      # the controls still bleed
    assert v["reset.ioctl"] == "fail"
    dma = next(t for t in doc["tests"] if t["id"] == "teardown.sigkill.dma_bleed")
    assert dma["evidence"]["gap_check"]["changed"] > 0 and "canary bytes written" in dma["reason"]


def test_handler_that_leaves_interrupts_armed_fails_irq_but_not_dma(highbank, kernel, tmp_path):
    art = build_artifacts(highbank, parse_kernel_spec(kernel), [PATCHES / "calxeda-reset-keeps-intr-ena.patch"])
    v = verdicts(run_suite(highbank, art, tmp_path, say=lambda m: None))
    assert [v[f"teardown.{x}.irq_bleed"] for x in VARIANTS] == ["fail"] * len(VARIANTS), v
    assert [v[f"teardown.{x}.dma_bleed"] for x in VARIANTS] == ["pass"] * len(VARIANTS), v
    assert [v[t] for t in CONTROLS] == ["pass"] * len(CONTROLS), v
