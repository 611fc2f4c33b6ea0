"""The kexec boot path through the virtual lab (`vfio-hil lab up --kexec`): U-Boot boots the
board's "stable system" (the run's own kernel and initramfs, marked vfiohil.stable on its command
line); its shell, reached over SOL by StableShellDriver, fetches the staged kernel, tree and
initramfs from the exporter's TFTP and kexecs the kernel under test. The suite's verdicts must be
the local run's, and the suite must have run on the kexec'd kernel (its host key pinned from the
second ready line, its command line without the stable mark). Then the stage's faults, each the
lab's error for every test, named: a file the stable system cannot fetch, and a kexec -e that
comes back to the stable system's prompt. In `make lab-test` (too long for make test)."""

import re
import shutil
from pathlib import Path

import pytest

from harness.lab import chassis, virtual
from harness.paths import LAB_CONFIGS_DIR
from harness.run import run_suite

from .lab_rig import lab_up_for_module, seattle  # noqa: F401  (seattle: a fixture)
from .verdicts import explain

pytestmark = [pytest.mark.integration, pytest.mark.lab, pytest.mark.long]

TARGET = "qemu-seattle"


@pytest.fixture(scope="module")
def kexec_lab(tmp_path_factory, seattle):
    yield from lab_up_for_module(tmp_path_factory.mktemp("vlab-kexec") / "lab", seattle[0], kexec=True)


def run_through(kexec_lab, seattle, out: Path, user: str, lab_config: Path | None = None) -> dict:
    workdir, _ = kexec_lab
    target, art = seattle
    cls = virtual.VirtualLabRun
    if lab_config is not None:
        class WithConfig(virtual.VirtualLabRun):       # the same lab, another environment for the job
            def lab_config(self) -> Path:
                return lab_config
        cls = WithConfig
    lab = cls.of(workdir, target)
    return run_suite(target, art, out, say=lambda m: None, place=lab.place_lock(user, wait_s=60), lab=lab)


def broken_config(tmp_path: Path, replace: dict[str, str]) -> Path:
    """The kexec board's environment with some of its stable-system commands changed."""
    text = (LAB_CONFIGS_DIR / virtual.KEXEC_LAB_CONFIG).read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "virtual-lab-kexec-broken.yaml"
    path.write_text(text)
    return path


def test_the_suite_through_a_kexec_board_runs_on_the_kexecd_kernel_with_the_local_verdicts(
        kexec_lab, seattle, suite_runs, tmp_path):
    workdir, state = kexec_lab
    doc = run_through(kexec_lab, seattle, tmp_path / "run", "ci-job-kexec")
    local = suite_runs(TARGET, "debian:6.1")
    assert {t["id"]: t["verdict"] for t in doc["tests"]} == {t["id"]: t["verdict"] for t in local["tests"]}, \
        explain(doc)
    console = (tmp_path / "run" / "console" / "console_main").read_text(errors="replace")
    # Two kernels booted: the stable system (U-Boot's, marked) and the kernel under test (kexec's).
    cmdlines = re.findall(r"Kernel command line: ([^\r\n]*)", console)
    assert len(cmdlines) == 2, cmdlines
    assert "vfiohil.stable" in cmdlines[0] and "vfiohil.stable" not in cmdlines[1], cmdlines
    assert "kexec -l /tmp/vfio-hil-kexec/kernel" in console
    # The suite ran on the second: the key it pinned (and SSH accepted all run long) is the second's.
    keys = re.findall(r"VFIO-HIL-READY [^\r\n]*hostkey=(\S+)", console)
    assert len(keys) == 2 and keys[0] != keys[1], keys
    boot = next(t for t in doc["tests"] if t["id"] == "boot")
    assert f"hostkey={keys[1]}" in boot["evidence"]["ready"]
    assert chassis._pid(Path(state["board_dir"])) is None


@pytest.mark.parametrize("fault,replace,reason", [
    ("a file the stable system cannot fetch",
     {"tftp -g -r {dtb} ": "tftp -g -r {dtb}.missing "},
     r"the stable system: `tftp -g -r \S+\.missing -l /tmp/vfio-hil-kexec/dtb 10\.0\.2\.2` failed \(exit 1\)"),
    ("kexec -e with nothing loaded",
     {"kexec -l /tmp": "true kexec -l /tmp"},
     r"kexec -e came back to the stable system's prompt"),
], ids=["fetch-fails", "nothing-loaded"])
def test_a_kexec_stage_that_fails_is_the_labs_error_for_every_test(kexec_lab, seattle, tmp_path, fault, replace,
                                                                     reason):
    workdir, state = kexec_lab
    doc = run_through(kexec_lab, seattle, tmp_path / "run", "ci-job-kexec-fault", broken_config(tmp_path, replace))
    assert doc["tests"] and {t["verdict"] for t in doc["tests"]} == {"error"}, (fault, explain(doc))
    first = doc["tests"][0]
    assert re.search(reason, first["reason"]), (fault, first["reason"])
    assert chassis._pid(Path(state["board_dir"])) is None, "the board is switched off after a failed boot"
    shutil.rmtree(tmp_path / "run", ignore_errors=True)
