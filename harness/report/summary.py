"""summary.md: the verdict table in Markdown, for CI job summaries and mailing-list posts."""

from __future__ import annotations

from pathlib import Path

from harness.report.runs import Run


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_summary(runs: list[Run]) -> str:
    out = ["# vfio-hil results", ""]
    for r in runs:
        counts = ", ".join(f"{n} {v}" for v, n in r.counts().items() if n)
        out += [f"## {r.target}, {r.kernel_label}", "",
                f"{counts}. Results: `{r.dir}`." + (f" **Interrupted ({r.interrupted})**: unreached tests are "
                                                      f"listed as skip \"not reached\"." if r.interrupted else ""),
                "", "| test | verdict | seconds | reason |", "|---|---|---:|---|"]
        for t in r.tests:
            verdict = t.verdict.value if t.verdict.value == "pass" else f"**{t.verdict.value}**"
            reason = t.reason if len(t.reason) <= 200 else t.reason[:197] + "..."
            out.append(f"| {t.id} | {verdict} | {t.duration_s:.1f} | {_cell(reason)} |")
        out.append("")
    return "\n".join(out)


def write_summary_md(runs: list[Run], path: Path) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_summary(runs))
    tmp.replace(path)
    return path
