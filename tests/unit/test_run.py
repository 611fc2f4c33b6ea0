"""run_suite's bookkeeping around its pytest child, with a stand-in suite instead of a board:
the child's exit status and planned.json are recorded, and a crash never exits 0."""

import json
import textwrap
from types import SimpleNamespace

import pytest

import harness.run
from harness.errors import UsageError
from harness.run import exit_code, run_suite

from .report_fixtures import HEADER

# A labgrid environment with nothing in it: the stand-in suites never ask for a target.
EMPTY_ENV = "targets:\n  main:\n    resources: {}\n    drivers: {}\n"

CONFTEST_CRASH = 'raise RuntimeError("the suite could not even be collected")\n'
KILLED_AFTER_LAST_TEST = """
    import os, signal
    import pytest

    @pytest.fixture(scope="session")
    def dies_at_teardown():
        yield
        os.kill(os.getpid(), signal.SIGKILL)     # as a crash in labgrid's session cleanup would

    @pytest.mark.vfio_id("boot")
    def test_boot(dies_at_teardown):
        pass
"""


@pytest.fixture
def suite(tmp_path, monkeypatch):
    """suite(files) -> the results document of run_suite over a suite made of ``files``."""
    env = tmp_path / "env.yaml"
    env.write_text(EMPTY_ENV)
    target = SimpleNamespace(name="qemu-highbank", iommu_mode="", twin=None, lab_config_path=lambda: env)
    art = SimpleNamespace(meta={"release": HEADER["kernel"]["release"]})
    monkeypatch.setattr(harness.run, "lab_variables", lambda *a, **kw: {})
    monkeypatch.setattr(harness.run, "run_header", lambda target, art: json.loads(json.dumps(HEADER)))

    def run(files: dict[str, str]) -> dict:
        suite_dir = tmp_path / "suite"
        suite_dir.mkdir()
        for name, text in files.items():
            (suite_dir / name).write_text(textwrap.dedent(text))
        monkeypatch.setattr(harness.run, "SUITE_DIR", suite_dir)
        return run_suite(target, art, tmp_path / "out", say=lambda m: None)
    return run


def test_a_suite_that_cannot_be_collected_exits_3(suite):
    doc = suite({"conftest.py": CONFTEST_CRASH})
    assert exit_code(doc) == 3
    assert doc["tests"] == [] and doc["planned_written"] is False and doc["suite_rc"] == 4   # pytest: usage error


def test_a_suite_child_killed_after_its_last_test_exits_3(suite):
    doc = suite({"test_x.py": KILLED_AFTER_LAST_TEST})
    assert exit_code(doc) == 3
    assert [t["verdict"] for t in doc["tests"]] == ["pass"] and doc["suite_rc"] == -9


def test_a_result_directory_is_never_written_twice(tmp_path):
    for name in ("results.jsonl", "results.json", "planned.json", "run.json"):
        out = tmp_path / name.replace(".", "-")
        out.mkdir()
        (out / name).write_text("{}\n")
        with pytest.raises(UsageError, match=rf"--out {out} already holds .*{name}.* delete {out}"):
            harness.run.refuse_stale_out(out)
    harness.run.refuse_stale_out(tmp_path / "new")          # new, or empty: fine
    (tmp_path / "empty").mkdir()
    harness.run.refuse_stale_out(tmp_path / "empty")


def test_run_suite_itself_refuses_a_directory_with_results(suite, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.jsonl").write_text('{"id": "boot", "verdict": "pass"}\n')
    with pytest.raises(UsageError, match="already holds"):
        suite({"test_x.py": "def test_never_run():\n    raise AssertionError\n"})
    assert (tmp_path / "out" / "results.jsonl").read_text() == '{"id": "boot", "verdict": "pass"}\n'
