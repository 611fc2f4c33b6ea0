"""junit.xml: one testsuite per run, one testcase per test id, evidence in system-out.

JUnit has four outcomes and vfio-hil five verdicts, so the mapping is explicit:
fail -> <failure> (the kernel misbehaved), error -> <error> (the infrastructure
broke; never a failure), skip -> <skipped>, and inconclusive -> <skipped
type="inconclusive"> with "INCONCLUSIVE:" leading its message: neither a pass
nor a failure, and named as such in every JUnit viewer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from harness.report.runs import Run
from harness.results import Verdict

INCONCLUSIVE_TYPE = "inconclusive"
# What XML 1.0 cannot carry, escaped or not: C0 controls but tab, newline and return (a console's
# ESC sequences reach a reason through a boot error's console tail; junitparser then wrote a file
# its own parser refused, and the run lost its junit.xml: measured).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry shown as \\xNN instead."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def suite_name(run: Run) -> str:
    return f"vfio-hil.{run.target}.{run.release}"


def _case(run: Run, t) -> TestCase:
    case = TestCase(t.id, classname=suite_name(run), time=round(t.duration_s, 3))
    reason = xml_text(t.reason)
    if t.verdict is Verdict.FAIL:
        case.result = [Failure(reason or "failed", type_="fail")]
    elif t.verdict is Verdict.ERROR:
        case.result = [Error(reason or "infrastructure error", type_="infrastructure")]
    elif t.verdict is Verdict.SKIP:
        case.result = [Skipped(reason or "skipped", type_="skip")]
    elif t.verdict is Verdict.INCONCLUSIVE:
        case.result = [Skipped(f"INCONCLUSIVE: {reason}", type_=INCONCLUSIVE_TYPE)]
    case.system_out = xml_text(f"verdict: {t.verdict.value}\n" + json.dumps(t.evidence, indent=1, sort_keys=True))
    return case


def write_junit(runs: list[Run], path: Path) -> Path:
    xml = JUnitXml("vfio-hil")
    for run in runs:
        suite = TestSuite(suite_name(run))
        suite.timestamp = run.header.get("started", "")
        for key, value in (("target", run.target), ("kernel", run.kernel_label),
                           ("kernel.source_hash", run.kernel.get("source_hash", "")),
                           ("result_dir", str(run.dir)), ("interrupted", run.interrupted or "no")):
            suite.add_property(key, value)
        for t in run.tests:
            suite.add_testcase(_case(run, t))
        suite.update_statistics()
        xml.add_testsuite(suite)
    xml.update_statistics()
    tmp = path.with_suffix(".tmp")
    xml.write(str(tmp), pretty=True)
    tmp.replace(path)
    return path
