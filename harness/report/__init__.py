"""Reports rendered from result directories: junit.xml, kcidb.json, report.html, summary.md,
the removal-impact matrix (matrix.md/.html) and the comparison of two runs."""

from __future__ import annotations

from pathlib import Path

from harness.report.runs import Run, load_run, load_runs

REPORT_FILES = ("junit.xml", "kcidb.json", "report.html", "summary.md")


def write_reports(runs: list[Run], out: Path) -> list[Path]:
    """Write the four report files into ``out``; each is written whole (temp file + rename)."""
    from harness.report.html import write_html
    from harness.report.junit import write_junit
    from harness.report.kcidb import write_kcidb
    from harness.report.summary import write_summary_md

    out.mkdir(parents=True, exist_ok=True)
    return [write_junit(runs, out / "junit.xml"), write_kcidb(runs, out / "kcidb.json"),
            write_html(runs, out / "report.html"), write_summary_md(runs, out / "summary.md")]


__all__ = ["REPORT_FILES", "Run", "load_run", "load_runs", "write_reports"]
