"""Verdicts and the durable results of a run.

Every test's result is appended to ``results.jsonl`` (flushed and fsynced) the
moment it ends, so an interrupted run keeps what it measured; ``results.json``
is always rebuilt from those lines. The negative-control rule lives here: a
bleed verdict is only evidence if its null-reset control (the same variant's,
or reset.ioctl's own) bled; if it did not, ``pass`` becomes ``inconclusive``
(never the reverse).
"""

from __future__ import annotations

import json
import os
import re
import signal
from enum import Enum
from pathlib import Path

import attrs

SCHEMA = "vfio-hil/results/1"
JSONL = "results.jsonl"
JSON = "results.json"


class Verdict(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"                # infrastructure: boot hang, QEMU died, SSH lost
    INCONCLUSIVE = "inconclusive"  # the negative control did not bleed: nothing was proven
    SKIP = "skip"                  # with a reason


@attrs.frozen
class TestResult:
    __test__ = False   # a result record, not a pytest test class

    id: str
    verdict: Verdict = attrs.field(converter=Verdict)
    duration_s: float = 0.0
    evidence: dict = attrs.field(factory=dict)
    reason: str = ""

    def to_json(self) -> dict:
        return {"id": self.id, "verdict": self.verdict.value, "duration_s": round(self.duration_s, 3),
                "evidence": self.evidence, **({"reason": self.reason} if self.reason else {})}

    @classmethod
    def from_json(cls, d: dict) -> "TestResult":
        return cls(d["id"], d["verdict"], d.get("duration_s", 0.0), d.get("evidence", {}), d.get("reason", ""))


class ResultsWriter:
    """Appends one JSON line per finished test; each line is on disk before the next test starts."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / JSONL

    def add(self, result: TestResult) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(result.to_json(), sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def read_jsonl(path: Path) -> list[TestResult]:
    """Results in file order; a torn last line (the run died mid-write) is ignored."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(TestResult.from_json(json.loads(line)))
        except (ValueError, KeyError):
            continue
    return out


# Every check that says "no bleed" rests on a null-reset control that proves the same measurement
# would have seen bleed: a teardown variant's gap checks and its next tenant's IRQs on that
# variant's control, VFIO_DEVICE_RESET's on its own.
_BLEED = re.compile(r"^teardown\.(?P<variant>[\w-]+)\.(dma_bleed|iova_bleed|irq_bleed|next_tenant_irq|reset_state|tx_leak)$")
# The next guest's (harness/vmm): each check on its own control, the same variant and measure.
_VMM = re.compile(r"^vmm\.(?P<variant>[\w-]+)\.(?P<measure>guest_dma_bleed|guest_irq_bleed)$")
_CONTROL = re.compile(r"^control\.null_reset\.(?P<variant>[\w.-]+)$")
RESET_IOCTL, RESET_IOCTL_CONTROL = "reset.ioctl", "control.null_reset.reset_ioctl"


def control_of(test_id: str) -> str | None:
    """The id of the null-reset control a check's pass rests on, or None for a check that needs none."""
    if test_id == RESET_IOCTL:
        return RESET_IOCTL_CONTROL
    m = _VMM.match(test_id)
    if m:
        return f"control.null_reset.vmm.{m.group('variant')}.{m.group('measure')}"
    m = _BLEED.match(test_id)
    return f"control.null_reset.{m.group('variant')}" if m else None


def apply_controls(results: list[TestResult]) -> list[TestResult]:
    """Passes whose control did not bleed (or did not run) become inconclusive."""
    controls = {r.id: r for r in results if _CONTROL.match(r.id)}
    out = []
    for r in results:
        control_id = control_of(r.id)
        if control_id and r.verdict is Verdict.PASS:
            control = controls.get(control_id)
            if control is None or control.verdict is not Verdict.PASS:
                why = (f"its null-reset control ({control_id}) did not run" if control is None else
                       f"its null-reset control ({control_id}) was {control.verdict.value}: the environment "
                       f"could not show that bleed would have been seen")
                r = attrs.evolve(r, verdict=Verdict.INCONCLUSIVE, reason=why)
        out.append(r)
    return out


def with_unreached(results: list[TestResult], planned: list[str]) -> list[TestResult]:
    """Planned tests that never reported are listed as skip "not reached", never silently missing."""
    seen = {r.id for r in results}
    return results + [TestResult(t, Verdict.SKIP, reason="not reached") for t in planned if t not in seen]


def final_results(out_dir: Path, planned: list[str] | None = None) -> list[TestResult]:
    """The run's verdicts as every output states them: results.jsonl with the control rule
    applied and every planned test that never reported listed as skip "not reached"."""
    results = apply_controls(read_jsonl(out_dir / JSONL))
    return with_unreached(results, planned) if planned else results


def write_summary(out_dir: Path, header: dict, planned: list[str] | None = None) -> dict:
    """Rebuild results.json from results.jsonl (controls applied, unreached tests listed)."""
    results = final_results(out_dir, planned)
    doc = {"schema": SCHEMA, **header, "tests": [r.to_json() for r in results]}
    tmp = out_dir / (JSON + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out_dir / JSON)
    return doc


# pytest's exit codes that mean the suite did not run to its end: 2 interrupted, 3 internal
# error, 4 usage error, 5 nothing collected. 1 (some test failed) is an ordinary outcome.
PYTEST_BROKEN_RC = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}


def unfinished(doc: dict) -> str | None:
    """Why the run did not finish, or None when it did. ``suite_rc`` and ``planned_written`` are
    recorded by run_suite; a document without them (an older run) is judged on its tests alone."""
    tests = doc.get("tests") or []
    unreached = sum(t.get("reason") == "not reached" for t in tests)
    recorded = len(tests) - unreached
    rc = doc.get("suite_rc", 0)
    if doc.get("interrupted"):
        return f"interrupted ({doc['interrupted']})"
    if doc.get("planned_written") is False:
        return "the suite wrote no planned.json: its collection never completed (see suite.log)"
    # The child's own status explains an empty or partial run better than its symptoms do.
    if rc is None:
        return "the suite's child left no exit status"
    if rc < 0:
        return f"the suite's child was killed by {_signal_name(-rc)} (see suite.log)"
    if rc in PYTEST_BROKEN_RC:
        return f"the suite's child exited {rc}, pytest's {PYTEST_BROKEN_RC[rc]} (see suite.log)"
    if rc != 0 and not recorded:
        return f"the suite's child exited {rc} without recording a result (see suite.log)"
    if not tests:
        return "no test reported a verdict (see suite.log)"
    if unreached:
        return f"{unreached} of {len(tests)} tests never reached"
    return None


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def exit_code(doc: dict) -> int:
    """3 when the run did not finish (see ``unfinished``: interrupted, tests never reached, nothing
    collected, the suite's child crashed); otherwise 0 only when nothing failed, errored or was
    inconclusive, else 1. An empty run is never 0: it proved nothing."""
    if unfinished(doc):
        return 3
    bad = {Verdict.FAIL.value, Verdict.ERROR.value, Verdict.INCONCLUSIVE.value}
    return 1 if any(t["verdict"] in bad for t in doc["tests"]) else 0
