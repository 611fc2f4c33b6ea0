"""One run's results, loaded from the durable files of its result directory.

Reports are always rebuilt from ``results.jsonl`` (one fsynced line per finished
test), ``planned.json`` (what the suite meant to run) and ``run.json`` (target,
kernel, build), never from a rendered file, so a run killed halfway still gets a
report in which every planned test appears, unreached ones as skip "not reached".

Every record in ``results.jsonl`` belongs to the run that ``run.json`` describes:
`vfio-hil run` refuses an --out that already holds results. A directory in which
two runs were mixed anyway (one written before that refusal existed) is refused
here, so report, matrix and compare never judge a stale record.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import attrs

from harness.errors import ResultsError
from harness.results import TestResult, Verdict, final_results

RUN_JSON = "run.json"
PLANNED = "planned.json"
CONSOLE = Path("console") / "console_main"


@attrs.frozen
class Run:
    dir: Path
    header: dict
    tests: list[TestResult]

    @property
    def target(self) -> str:
        """The target, with the IOMMU mode when it is not no-IOMMU (qemu-seattle/type1): a type1 run
        is a row of its own in every report."""
        mode = self.header.get("iommu", "noiommu")
        return self.header["target"] if mode == "noiommu" else f"{self.header['target']}/{mode}"

    @property
    def kernel(self) -> dict:
        return self.header["kernel"]

    @property
    def release(self) -> str:
        return self.kernel.get("release", "?")

    @property
    def kernel_label(self) -> str:
        """e.g. "7.2.13 (debian:sid)" or "6.1.192 (debian:6.1) + calxeda-reset-noop.patch"."""
        patches = self.kernel.get("patches") or []
        names = " + ".join(Path(p["path"] if isinstance(p, dict) else p).name for p in patches)
        return f"{self.release} ({self.kernel.get('spec', '?')})" + (f" + {names}" if names else "")

    @property
    def interrupted(self) -> str | None:
        return self.header.get("interrupted")

    def test(self, test_id: str) -> TestResult | None:
        return next((t for t in self.tests if t.id == test_id), None)

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for t in self.tests:
            out[t.verdict.value] += 1
        return out

    @property
    def console_log(self) -> Path:
        return self.dir / CONSOLE

    def console_text(self, limit: int = 400_000) -> str:
        path = self.console_log
        if not path.exists():
            return ""
        text = path.read_text(errors="replace")
        # Terminal control sequences (busybox's cursor queries) would show as noise.
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
        return text if len(text) <= limit else f"[... {len(text) - limit} earlier characters cut ...]\n" + text[-limit:]


def load_run(path: Path) -> Run:
    """Load a result directory; anything that is not one is a usage error naming what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise ResultsError(f"{path}: no such result directory (give the --out directory of a `vfio-hil run`)")
    header_file = path / RUN_JSON
    if not header_file.exists():
        raise ResultsError(f"{path}: not a vfio-hil result directory: {RUN_JSON} is missing "
                           f"(give the --out directory of a `vfio-hil run`)")
    try:
        header = json.loads(header_file.read_text())
        planned = json.loads((path / PLANNED).read_text()) if (path / PLANNED).exists() else []
    except ValueError as exc:
        raise ResultsError(f"{header_file.parent}: unreadable JSON ({exc}); the run's results.jsonl "
                           f"is the durable record, rerun `vfio-hil report` once the file is repaired") from exc
    for key in ("target", "kernel"):
        if key not in header:
            raise ResultsError(f"{header_file}: field {key!r} is missing; this file is written by `vfio-hil run`")
    tests = final_results(path, planned)
    repeated = sorted(i for i, n in Counter(t.id for t in tests).items() if n > 1)
    if repeated:
        # The plugin writes one record per test, so a repeat means a second run appended here.
        raise ResultsError(f"{path}: results.jsonl holds more than one record of {', '.join(repeated[:3])}"
                           f"{' ...' if len(repeated) > 3 else ''}: more than one run wrote into this directory "
                           f"and their verdicts cannot be told apart; rerun into an empty directory")
    return Run(path, header, tests)


def load_runs(paths: list[Path]) -> list[Run]:
    if not paths:
        raise ResultsError("no result directory given")
    return [load_run(p) for p in paths]
