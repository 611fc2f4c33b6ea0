"""`vfio-hil compare OLD NEW`: what changed between two runs of one target.

A regression is a test that passed in OLD and does not in NEW (fail, error,
inconclusive, or never reached), or that fails in NEW and did not fail in OLD.
Evidence that moved is reported when the change is beyond the noise the
measurement is known to have (thresholds below, from repeated runs on QEMU: the
null-reset control's canary count varies by a few frames, boot time by ~0.5 s);
for the checks whose correct value is zero, any change counts.

Both runs are read from their results.jsonl, which holds one run's records only:
`vfio-hil run` refuses an --out that already holds results, and load_run refuses a
directory in which two runs were mixed anyway.
"""

from __future__ import annotations

import re

import attrs

from harness.errors import ResultsError
from harness.report.runs import Run
from harness.results import Verdict


@attrs.frozen
class Metric:
    tests: str          # regex over test ids
    name: str
    path: tuple         # keys into the evidence
    abs_noise: float    # a change must exceed both to count
    rel_noise: float


METRICS = [
    Metric(r"^boot$", "boot seconds", ("boot_s",), 1.0, 0.25),
    Metric(r"^teardown\..*\.dma_bleed$", "canary bytes written after death", ("gap_check", "changed"), 0, 0),
    Metric(r"^teardown\..*\.irq_bleed$", "next tenant's IRQs", ("next_tenant", "irqs"), 0, 0),
    Metric(r"^reset\.ioctl$", "DMA bytes after VFIO_DEVICE_RESET", ("watch", "canary_changed"), 0, 0),
    Metric(r"^reset\.ioctl$", "IRQs after VFIO_DEVICE_RESET", ("watch", "irqs"), 0, 0),
    Metric(r"^control\.", "canary bytes without reset", ("gap_check", "changed"), 1024, 0.5),
    Metric(r"^control\.", "next tenant's first IRQ (ms) without reset", ("next_tenant", "first_irq_ms"), 50, 1.0),
]


@attrs.frozen
class Change:
    test: str
    old: str
    new: str
    regression: bool
    note: str = ""


@attrs.frozen
class Comparison:
    old: Run
    new: Run
    flips: list
    moved: list        # (test, metric name, old, new)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.flips if c.regression]


def _label(t) -> str:
    if t is None:
        return "absent"
    if t.verdict is Verdict.SKIP and t.reason == "not reached":
        return "not reached"
    return t.verdict.value


def _is_regression(old: str, new: str) -> bool:
    if new == "fail" and old != "fail":
        return True
    return old == "pass" and new != "pass"


def _get(evidence: dict, path: tuple):
    for k in path:
        if not isinstance(evidence, dict) or k not in evidence:
            return None
        evidence = evidence[k]
    return evidence if isinstance(evidence, (int, float)) and not isinstance(evidence, bool) else None


def _moved(m: Metric, old: float, new: float) -> bool:
    delta = abs(new - old)
    return delta > m.abs_noise and delta > m.rel_noise * max(abs(old), 1)


def compare(old: Run, new: Run) -> Comparison:
    if old.target != new.target:
        raise ResultsError(f"compare needs two runs of one target: {old.dir} is {old.target}, "
                           f"{new.dir} is {new.target}")
    ids = [t.id for t in old.tests] + [t.id for t in new.tests if old.test(t.id) is None]
    flips, moved = [], []
    for test_id in ids:
        a, b = old.test(test_id), new.test(test_id)
        la, lb = _label(a), _label(b)
        if la != lb:
            note = (b.reason if b is not None else "")[:200]
            flips.append(Change(test_id, la, lb, _is_regression(la, lb), note))
        if a is None or b is None:
            continue
        for m in METRICS:
            if re.match(m.tests, test_id):
                x, y = _get(a.evidence, m.path), _get(b.evidence, m.path)
                if x is not None and y is not None and _moved(m, x, y):
                    moved.append((test_id, m.name, x, y))
    return Comparison(old, new, flips, moved)


def render_markdown(c: Comparison) -> str:
    out = [f"# vfio-hil compare: {c.old.target}", "",
           f"- OLD: {c.old.kernel_label} (`{c.old.dir}`)", f"- NEW: {c.new.kernel_label} (`{c.new.dir}`)", ""]
    regs = c.regressions
    out.append(f"**{len(regs)} regression{'s' if len(regs) != 1 else ''}**, "
               f"{len(c.flips) - len(regs)} other verdict change{'s' if len(c.flips) - len(regs) != 1 else ''}, "
               f"{len(c.moved)} measurement{'s' if len(c.moved) != 1 else ''} moved beyond noise.")
    if c.flips:
        out += ["", "| test | OLD | NEW | regression | NEW's reason |", "|---|---|---|---|---|"]
        out += [f"| {x.test} | {x.old} | {x.new} | {'**yes**' if x.regression else 'no'} | "
                f"{x.note.replace('|', '/')} |" for x in c.flips]
    if c.moved:
        out += ["", "| test | measurement | OLD | NEW |", "|---|---|---:|---:|"]
        out += [f"| {t} | {name} | {x} | {y} |" for t, name, x, y in c.moved]
    return "\n".join(out) + "\n"
