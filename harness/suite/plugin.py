"""pytest plugin: turn each HIL test into one verdict, written the moment it ends.

Loaded by `vfio-hil run` with ``-p harness.suite.plugin``. Mapping:
- call passed -> pass; AssertionError in the call -> fail (the kernel misbehaved);
- ``Inconclusive`` -> inconclusive;
- any other exception, in the call or in a fixture (boot hang, QEMU died, SSH
  lost) -> error, never fail;
- skipped -> skip, with its reason.
The test id comes from ``@pytest.mark.vfio_id("teardown.{variant}.dma_bleed")``,
formatted with the test's parameters.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from harness.proc import sigterm_as_interrupt
from harness.results import ResultsWriter, TestResult, Verdict


PROGRESS_PREFIX = "VFIO-HIL-RESULT"


class Inconclusive(Exception):
    """The test could not prove anything either way (e.g. the environment produced no DMA)."""


def vfio_id(item) -> str:
    marker = item.get_closest_marker("vfio_id")
    if marker is None:
        return item.name
    params = getattr(getattr(item, "callspec", None), "params", {})
    return marker.args[0].format(**params)


def _run_dir() -> Path | None:
    d = os.environ.get("VFIO_HIL_RUN_DIR")
    return Path(d) if d else None


def pytest_configure(config):
    config.addinivalue_line("markers", "vfio_id(template): the vfio-hil test id, formatted with the parameters")
    config.addinivalue_line("markers", "buses(*names): the buses ('platform', 'fsl-mc') whose suite has this check")
    config.addinivalue_line("markers", "iommu(*modes): the IOMMU modes ('noiommu', 'type1') whose suite has this check")
    # `vfio-hil run` stops the suite with SIGTERM; as KeyboardInterrupt it unwinds the session, so
    # labgrid shuts QEMU down (what still runs afterwards is stopped by run.py, by process group).
    if _run_dir() is not None:
        signal.signal(signal.SIGTERM, sigterm_as_interrupt)


def _bus_of_target() -> str | None:
    name = os.environ.get("VFIO_HIL_TARGET")
    if not name:
        return None
    from harness.suite import fslmc
    from harness.targets import get_target

    return fslmc.NAME if fslmc.is_fslmc(get_target(name)) else "platform"


def pytest_collection_modifyitems(session, config, items):
    # A check marked buses(...) belongs to those buses' suites only (e.g. reset.required_enforced
    # is vfio-platform's reset_required; teardown.*.reset_command reads the MC's command log):
    # on another bus it is not part of the suite, so it is neither run nor reported.
    bus = _bus_of_target()
    if bus:
        mode = os.environ.get("VFIO_HIL_IOMMU") or "noiommu"
        other = [i for i in items if (i.get_closest_marker("buses") and bus not in i.get_closest_marker("buses").args)
                 or (i.get_closest_marker("iommu") and mode not in i.get_closest_marker("iommu").args)]
        if other:
            config.hook.pytest_deselected(items=other)
            items[:] = [i for i in items if i not in other]
    run_dir = _run_dir()
    if run_dir:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "planned.json").write_text(json.dumps([vfio_id(i) for i in items], indent=1) + "\n")


def _verdict(report, call) -> tuple[Verdict, str]:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return Verdict.SKIP, reason.removeprefix("Skipped: ")
    if report.passed:
        return Verdict.PASS, ""
    exc = call.excinfo.value if call.excinfo else None
    text = call.excinfo.exconly() if call.excinfo else str(report.longrepr)
    if isinstance(exc, Inconclusive):
        return Verdict.INCONCLUSIVE, str(exc)
    if report.when == "call" and isinstance(exc, AssertionError):
        # The check's own message, without pytest's rewritten "assert ..." explanation.
        return Verdict.FAIL, str(exc).split("\nassert ")[0] or text
    return Verdict.ERROR, f"{report.when}: {text}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    run_dir = _run_dir()
    if run_dir is None:
        return
    # One record per test: its call, or the setup that kept it from running.
    if report.when == "call" or (report.when == "setup" and not report.passed):
        verdict, reason = _verdict(report, call)
        evidence = item.funcargs.get("evidence", {}) if hasattr(item, "funcargs") else {}
        started = getattr(item, "_vfio_started", None)
        duration = time.monotonic() - started if started else report.duration
        ResultsWriter(run_dir).add(TestResult(vfio_id(item), verdict, duration, dict(evidence), reason[:4000]))
        reporter = item.config.pluginmanager.getplugin("terminalreporter")
        if reporter:
            reporter.write_line(f"{PROGRESS_PREFIX} {vfio_id(item)} {verdict.value} {duration:.1f}s")


def pytest_runtest_setup(item):
    item._vfio_started = time.monotonic()
