"""A twin on a real QEMU virt with no kernel, for the twin tests: this process plays the guest
through the twin's own qtest socket, under the engine's lock, as a guest store would land."""

import json
import time

from harness.twins.bare import bare_virt_twin as virt_twin  # noqa: F401  (the twin tests' fixture rig)


def guest(engine, fn):
    with engine.lock:
        return fn(engine.q)


def wait_for(engine, cond, deadline_s=2.0) -> float:
    """Polls ``cond(q)`` as a guest would; returns when it held, or fails the test."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if guest(engine, cond):
            return time.monotonic()
        time.sleep(0.0005)
    raise AssertionError(f"condition not reached within {deadline_s} s")


def settle(engine, steps: int = 3) -> None:
    """Wait until the engine has made ``steps`` more steps (each sees every earlier write)."""
    start = engine.steps
    end = time.monotonic() + 5
    while engine.steps < start + steps and time.monotonic() < end:
        time.sleep(0.001)


def events_by_test(log, kind: str = "reset") -> dict[str, list[dict]]:
    """A suite run's twin event log: its events of ``kind`` grouped by the test during which they
    happened (the suite writes a {"kind": "test"} mark as each test starts), so a check can tell
    the reset handler's resets from the native driver's."""
    out: dict[str, list[dict]] = {}
    current = "(before any test)"
    for line in log.read_text().splitlines():
        e = json.loads(line)
        if e["kind"] == "test":
            current = e["id"]
        elif e["kind"] == kind:
            out.setdefault(current, []).append(e)
    return out


def resets_by_test(log) -> dict[str, list[str]]:
    """What each reset event of a suite run's twin log reset, grouped by test (events_by_test)."""
    return {test: [e["what"] for e in evs] for test, evs in events_by_test(log).items()}
