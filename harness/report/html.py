"""report.html: one self-contained file (inline CSS, plots as data: URIs, no scripts, no fetches).

Order is what a reader needs first: per run the verdict table, then the bleed
figures, then per test its reason, evidence and kernel log, and last the console
log folded away.
"""

from __future__ import annotations

import base64
import json
import re
import time
from importlib import resources
from pathlib import Path

import jinja2

from harness.report.plots import bleed_figure
from harness.report.runs import Run

_VARIANT = re.compile(r"^(?:teardown\.(?P<a>[\w-]+)\.(?:dma|irq)_bleed|control\.null_reset\.(?P<b>[\w-]+))$")
HIDDEN_EVIDENCE = ("timeline", "dmesg_excerpt")   # shown as a plot and as the kernel log instead


def template_env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def css() -> str:
    return resources.files("harness.report").joinpath("templates/style.css").read_text()


def variant_of(test_id: str) -> str | None:
    m = _VARIANT.match(test_id)
    return (m.group("a") or m.group("b")) if m else None


class RunView:
    """What the template shows of one run."""

    def __init__(self, run: Run, index: int):
        self.run = run
        self.anchor = f"r{index}"
        self.counts = [(v, n) for v, n in run.counts().items() if n]
        self.console = run.console_text()
        variants = []
        for t in run.tests:
            v = variant_of(t.id)
            if v and v not in variants:
                variants.append(v)
        self.figures = {}
        for v in variants:
            png = bleed_figure(run, v)
            if png:
                self.figures[v] = base64.b64encode(png).decode()

    @staticmethod
    def variant_of(test_id: str) -> str | None:
        return variant_of(test_id)

    @staticmethod
    def shown_evidence(t) -> str:
        ev = {k: v for k, v in t.evidence.items() if k not in HIDDEN_EVIDENCE}
        return json.dumps(ev, indent=1, sort_keys=True) if ev else ""


def render_html(runs: list[Run]) -> str:
    title = ", ".join(f"{r.target} {r.kernel_label}" for r in runs)
    return template_env().get_template("report.html.j2").render(
        runs=[RunView(r, i) for i, r in enumerate(runs, 1)], title=title, css=css(),
        generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))


def write_html(runs: list[Run], path: Path) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_html(runs))
    tmp.replace(path)
    return path
