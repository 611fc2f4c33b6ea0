"""`vfio-hil run --matrix` end to end (both Calxeda boards, on the session's kernels), and the
reports it leaves: verdicts, the removal-impact matrix, kcidb.json validated by kcidb-io,
junit.xml read back by a JUnit parser, and report.html rendered by headless Chromium."""

import json
import shutil
import subprocess

import kcidb_io
import pytest
from junitparser import JUnitXml
from matplotlib.image import imread

from harness.report import REPORT_FILES, load_run
from harness.report.plots import CONTROL_COLOR, REAL_COLOR
from harness.suite.platform import VARIANTS

from .conftest import BOARDS, N_TESTS

pytestmark = pytest.mark.integration
# Measured: 7.2 prints the DEPRECATION line when the handler runs, 6.1 does not; 6.1.192 does
# not honour reset_required=0.
DEPRECATION = {"debian:6.1": "not printed", "debian:sid": "printed"}


def cells(kernels):
    return [(b, k, f"{b}-{k.replace(':', '-')}") for k in kernels for b in BOARDS]


def verdicts(run):
    return {t.id: t.verdict.value for t in run.tests}


def test_every_cell_has_the_expected_verdicts_and_four_reports(matrix_dir, matrix_kernels):
    for _, kernel, cell in cells(matrix_kernels):
        run = load_run(matrix_dir / cell)
        v = verdicts(run)
        assert len(v) == N_TESTS
        # native.probe: the Calxeda kernels do not build calxedaxgmac, so the profile names no driver
        expected_bad = {"native.probe": "skip"}
        # tx_leak: QEMU's XGMAC sends only on a poll-demand write (the profile's dut_no_tx)
        expected_bad.update({f"teardown.{x}.tx_leak": "skip" for x in VARIANTS})
        if kernel == "debian:6.1":
            expected_bad["reset.required_override"] = "fail"
        assert {k: x for k, x in v.items() if x != "pass"} == expected_bad, (cell, v)
        for f in REPORT_FILES:
            assert (matrix_dir / cell / f).stat().st_size > 0, f
        # The controls bleed the way QEMU's XGMAC does without a reset: DMA still on, interrupts armed.
        control = run.test("control.null_reset.sigkill").evidence
        assert control["gap_check"]["changed"] > 0 and 0 <= control["next_tenant"]["first_irq_ms"] < 100
        q = control["next_tenant"]["quiescence"]
        assert (q["DMA_CONTROL"], q["DMA_INTR_ENA"]) == ("0x2", "0x10040"), q
        real = run.test("teardown.sigkill.dma_bleed").evidence
        assert real["timeline"]["tenant"] and real["timeline"]["canary"], "no timeline to plot"


def test_matrix_answers_every_question(matrix_dir, matrix_kernels):
    md = (matrix_dir / "matrix.md").read_text()
    assert (matrix_dir / "matrix.html").is_file()
    n = len(matrix_kernels)
    for board in BOARDS:
        rows = {line.split("|")[2].strip(): line for line in md.splitlines() if line.startswith(f"| {board} |")}
        assert set(rows) == {"handler built?", "maintained? (the tree's MAINTAINERS)", "autoloaded on bind?",
                             "effective? (no bleed after teardown, all variants)",
                             "necessary? (the device bleeds without it)", "deprecation message?", "overall",
                             "next guest safe? (a VMM's guest after its VMM dies, exits or resets it)"}
        assert rows["handler built?"].count("=m)") == n
        # The Calxeda boards have no VMM checks (type1 on qemu-seattle only): said, never a verdict.
        assert rows["next guest safe? (a VMM's guest after its VMM dies, exits or resets it)"].count(
            "not measured (the VMM checks run in type1 on a profile with a vmm_device)") == n
        assert rows["maintained? (the tree's MAINTAINERS)"].count("Maintained: Eric Auger (VFIO PLATFORM DRIVER)") == n
        assert rows["effective? (no bleed after teardown, all variants)"].count("yes: no DMA or IRQ") == n
        assert rows["necessary? (the device bleeds without it)"].count("yes: without it") == n
        # Columns are in release order, as the kernels are.
        if set(matrix_kernels) <= set(DEPRECATION):
            shown = [c.strip() for c in rows["deprecation message?"].split("|")[3:3 + n]]
            assert shown == [DEPRECATION[k] for k in sorted(matrix_kernels, key=list(DEPRECATION).index)]
        # Any fail makes a cell BROKEN: 6.1.192's refusal of reset_required=0 is one.
        broken = sum(k == "debian:6.1" for k in matrix_kernels)
        assert rows["overall"].count("BROKEN: reset.required_override (") == broken, rows["overall"]
        assert rows["overall"].count("needed and working") == n - broken, rows["overall"]


def test_kcidb_json_validates_with_kcidb_io(matrix_dir, matrix_kernels):
    for _, _, cell in cells(matrix_kernels):
        data = json.loads((matrix_dir / cell / "kcidb.json").read_text())
        kcidb_io.schema.LATEST.validate(data)
        assert len(data["tests"]) == N_TESTS and {t["status"] for t in data["tests"]} <= {"PASS", "FAIL", "SKIP"}


def test_junit_parses_and_counts_the_one_failure(matrix_dir):
    xml = JUnitXml.fromfile(str(matrix_dir / "qemu-highbank-debian-6.1" / "junit.xml"))
    (suite,) = list(xml)
    # skipped: native.probe and the five tx_leak checks (no TX path that can send by itself here)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (N_TESTS, 1, 0, 1 + len(VARIANTS))


def test_report_html_renders_in_headless_chromium(matrix_dir, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: run `make setup`"
    report = matrix_dir / "qemu-highbank-debian-6.1" / "report.html"
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2400", "--hide-scrollbars"]
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", report.as_uri()], capture_output=True, timeout=120, check=True)
    dom = subprocess.run([*flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    # The verdict table first, one row per test; a figure per teardown variant.
    assert dom.index('id="verdicts-1"') < dom.index("Bleed at a glance")
    table = dom[dom.index('id="verdicts-1"'):dom.index("</table>")]
    assert table.count('class="verdict v-') == N_TESTS and table.count("v-fail") == 1
    assert dom.count('class="plot"') >= 3 * len(VARIANTS)
    # What the screenshot shows: the table's pass cells, and both sides of the plots.
    pixels = (imread(str(shot))[:, :, :3] * 255).round().astype(int)

    def count(color):
        rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
        return int(((abs(pixels - rgb)).max(axis=2) <= 8).sum())

    assert count("#c8e6c9") > 5000, "no green verdict cells in the screenshot"
    assert count(CONTROL_COLOR) > 500 and count(REAL_COLOR) > 500, "the bleed plots did not render"
