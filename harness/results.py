"""Verdicts and the durable results of a run.

Every test's result is appended to ``results.jsonl`` (flushed and fsynced) the
moment it ends, so an interrupted run keeps what it measured; ``results.json``
is always rebuilt from those lines. The negative-control rule lives here: a
bleed verdict is only evidence if the null-reset control of the same variant
bled; if it did not, ``pass`` becomes ``inconclusive`` (never the reverse).
"""

from __future__ import annotations

import json
import os
import re
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


_BLEED = re.compile(r"^teardown\.(?P<variant>[\w-]+)\.(dma|irq)_bleed$")
_CONTROL = re.compile(r"^control\.null_reset\.(?P<variant>[\w-]+)$")


def apply_controls(results: list[TestResult]) -> list[TestResult]:
    """Bleed passes whose variant's control did not bleed (or did not run) become inconclusive."""
    controls = {m.group("variant"): r for r in results if (m := _CONTROL.match(r.id))}
    out = []
    for r in results:
        m = _BLEED.match(r.id)
        if m and r.verdict is Verdict.PASS:
            control = controls.get(m.group("variant"))
            if control is None or control.verdict is not Verdict.PASS:
                why = ("its null-reset control did not run" if control is None else
                       f"its null-reset control was {control.verdict.value}: the environment could not "
                       f"show that bleed would have been seen")
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


def exit_code(doc: dict) -> int:
    """3 when the run did not finish (interrupted, or tests never reached); otherwise 0 only
    when nothing failed, errored or was inconclusive, else 1."""
    if doc.get("interrupted") or any(t.get("reason") == "not reached" for t in doc["tests"]):
        return 3
    bad = {Verdict.FAIL.value, Verdict.ERROR.value, Verdict.INCONCLUSIVE.value}
    return 1 if any(t["verdict"] in bad for t in doc["tests"]) else 0
