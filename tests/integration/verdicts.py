"""What a suite run's verdicts were, said so that a failed assertion in CI carries its own
diagnosis: CI keeps only pytest's output, not the run directory."""

import json


def not_passed(doc: dict) -> dict[str, str]:
    """{test id: verdict} of every test of a results document that did not pass."""
    return {t["id"]: t["verdict"] for t in doc["tests"] if t["verdict"] != "pass"}


def explain(doc: dict, expected=()) -> str:
    """Each unexpected non-pass test's reason and evidence (trimmed), for an assert message."""
    out = []
    for t in doc["tests"]:
        if t["verdict"] == "pass" or t["id"] in expected:
            continue
        ev = json.dumps(t.get("evidence", {}), default=str)
        out.append(f"{t['id']}: {t['verdict']}: {t.get('reason', '')[:600]}\n  evidence: {ev[:2500]}")
    return "\n".join(out) or "(every other test passed)"
