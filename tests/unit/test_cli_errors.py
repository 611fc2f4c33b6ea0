"""Every bad input ends with one readable message, exit code 2, and nothing half-built."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "vfio-hil"


def _fake_kernel_tree(root):
    (root / "drivers").mkdir(parents=True)
    (root / "Makefile").write_text("# not really a kernel\n")
    (root / "Kconfig").write_text("")
    (root / "drivers/x.c").write_text("int x;\n")
    return root


def test_unknown_target(capsys):
    assert main(["build", "--target", "qemu-vax"]) == 2
    err = capsys.readouterr().err
    assert "unknown target 'qemu-vax'" in err and "qemu-highbank" in err


def test_unknown_kernel_spec(capsys):
    assert main(["build", "--target", "qemu-highbank", "--kernel", "fedora:40"]) == 2
    assert "unknown kind 'fedora'" in capsys.readouterr().err


def test_missing_tree(capsys):
    assert main(["build", "--target", "qemu-highbank", "--kernel", "path:/nonexistent/linux"]) == 2
    assert "no directory at /nonexistent/linux" in capsys.readouterr().err


def test_missing_patch_file(capsys, tmp_path):
    tree = _fake_kernel_tree(tmp_path / "linux")
    assert main(["build", "--target", "qemu-highbank", "--kernel", f"path:{tree}",
                 "--kernel-patch", str(tmp_path / "nope.patch")]) == 2
    assert "nope.patch: no such file" in capsys.readouterr().err


def test_patch_that_does_not_apply_leaves_no_artifact(capsys, tmp_path, private_cache):
    tree = _fake_kernel_tree(tmp_path / "linux")
    patch = tmp_path / "broken.patch"
    patch.write_text("--- a/drivers/x.c\n+++ b/drivers/x.c\n@@ -1 +1 @@\n-int y;\n+int z;\n")
    assert main(["build", "--target", "qemu-highbank", "--kernel", f"path:{tree}",
                 "--kernel-patch", str(patch)]) == 2
    err = capsys.readouterr().err
    assert "broken.patch does not apply" in err and "drivers/x.c: hunk #1 FAILED" in err
    artifacts = private_cache / "artifacts"
    assert not artifacts.exists() or not [p for p in artifacts.rglob("*") if p.is_file()]
    assert (tree / "drivers/x.c").read_text() == "int x;\n"   # the user's tree is never touched


def test_missing_cross_compiler(capsys, tmp_path, monkeypatch):
    tree = _fake_kernel_tree(tmp_path / "linux")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert main(["build", "--target", "qemu-highbank", "--kernel", f"path:{tree}"]) == 2
    err = capsys.readouterr().err
    assert "arm-linux-gnueabihf-gcc not found" in err and "gcc-arm-linux-gnueabihf" in err


def test_run_with_unknown_target_or_kernel(capsys):
    assert main(["run", "--target", "qemu-vax"]) == 2
    assert "unknown target 'qemu-vax'" in capsys.readouterr().err
    assert main(["run", "--target", "qemu-highbank", "--kernel", "debian:"]) == 2
    assert "KIND:VALUE" in capsys.readouterr().err


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "vfio-hil"
    out = subprocess.run([str(script), "targets"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "qemu-highbank" in out.stdout


def test_report_of_something_that_is_not_a_result_dir(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such result directory" in capsys.readouterr().err


def test_combined_report_needs_out(tmp_path, capsys):
    from .report_fixtures import full_run

    a, b = full_run(tmp_path / "a"), full_run(tmp_path / "b")
    assert main(["report", str(a), str(b)]) == 2
    assert "--out" in capsys.readouterr().err


def test_compare_refuses_two_targets(tmp_path, capsys):
    import json

    from .report_fixtures import HEADER, full_run

    a, b = full_run(tmp_path / "a"), full_run(tmp_path / "b")
    (b / "run.json").write_text(json.dumps({**HEADER, "target": "qemu-midway"}))
    assert main(["compare", str(a), str(b)]) == 2
    assert "two runs of one target" in capsys.readouterr().err


def test_run_without_target_or_matrix(capsys):
    assert main(["run"]) == 2
    assert "--target" in capsys.readouterr().err


def test_matrix_with_a_bad_kernel_spec_fails_before_running(capsys, tmp_path):
    assert main(["run", "--matrix", "--matrix-kernels", "debian:6.1,ubuntu:22.04", "--out", str(tmp_path)]) == 2
    assert "ubuntu:22.04" in capsys.readouterr().err


@pytest.fixture
def no_build(monkeypatch):
    """Records build attempts; a build that is reached ends the command as an infrastructure error."""
    import harness.artifacts
    from harness.errors import InfrastructureError

    calls = []

    def build(target, spec, *a, **kw):
        calls.append((target.name, spec))
        raise InfrastructureError("a build was started")
    monkeypatch.setattr(harness.artifacts, "build_artifacts", build)
    return calls


def _stale(path):
    path.mkdir(parents=True)
    (path / "results.jsonl").write_text('{"id": "boot", "verdict": "pass"}\n')
    (path / "run.json").write_text("{}\n")
    return path


def test_run_into_a_directory_with_results_is_refused_before_building(tmp_path, capsys, no_build):
    out = _stale(tmp_path / "old-run")
    assert main(["run", "--target", "qemu-highbank", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {out} already holds the results of an earlier run (results.jsonl, run.json)" in err
    assert "Choose an empty or new directory" in err and f"delete {out}" in err
    assert no_build == [] and (out / "results.jsonl").read_text() == '{"id": "boot", "verdict": "pass"}\n'


def test_run_into_a_new_or_empty_directory_goes_on_to_build(tmp_path, no_build):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new", tmp_path / "empty"):
        assert main(["run", "--target", "qemu-highbank", "--out", str(out)]) == 3
    assert len(no_build) == 2


MATRIX = ["run", "--matrix", "--matrix-targets", "qemu-highbank,qemu-midway", "--matrix-kernels", "debian:6.1"]


def test_matrix_into_an_earlier_matrix_is_refused_before_building(tmp_path, capsys, no_build):
    out = tmp_path / "matrix"
    _stale(out / "qemu-midway-debian-6.1")         # the second cell: still refused before the first
    assert main([*MATRIX, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {out} already holds an earlier run in {out / 'qemu-midway-debian-6.1'}" in err
    assert f"delete {out}" in err and no_build == []


def test_matrix_refuses_an_earlier_run_beside_its_cells(tmp_path, capsys, no_build):
    out = tmp_path / "matrix"
    _stale(out / "qemu-seattle-debian-sid")        # `vfio-hil matrix OUT` would mix it in
    assert main([*MATRIX, "--out", str(out)]) == 2
    assert "qemu-seattle-debian-sid" in capsys.readouterr().err and no_build == []


def test_matrix_into_an_emptied_directory_runs(tmp_path, no_build):
    # `make matrix` does rm -rf $(MATRIX_OUT) first: a missing OUT is the usual case.
    assert main([*MATRIX, "--out", str(tmp_path / "latest")]) == 3       # every (fake) build broke
    assert [name for name, _ in no_build] == ["qemu-highbank", "qemu-midway"]


def test_compare_refuses_a_directory_two_runs_wrote_into(tmp_path, capsys):
    from .report_fixtures import full_run

    mixed = full_run(tmp_path / "mixed")
    with open(mixed / "results.jsonl") as fh:
        first = fh.readline()
    with open(mixed / "results.jsonl", "a") as fh:
        fh.write(first)                            # a second run appended its own boot record
    assert main(["compare", str(full_run(tmp_path / "good")), str(mixed)]) == 2
    err = capsys.readouterr().err
    assert f"{mixed}: results.jsonl holds more than one record of boot" in err and "empty directory" in err


def test_a_board_target_needs_a_place_and_a_qemu_target_refuses_one(capsys, private_cache, monkeypatch):
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    assert main(["run", "--target", "highbank"]) == 2
    assert "board in a shared lab: give --place NAME" in capsys.readouterr().err
    assert main(["run", "--target", "highbank", "--place", "hb-1"]) == 2
    assert "--coordinator HOST:PORT or LG_COORDINATOR" in capsys.readouterr().err
    assert main(["run", "--target", "qemu-highbank", "--place", "hb-1"]) == 2
    assert "runs on local QEMU" in capsys.readouterr().err
    assert main(["run", "--matrix", "--matrix-targets", "qemu-midway,highbank"]) == 2
    assert "the matrix runs local QEMU targets only; highbank is a board" in capsys.readouterr().err
    assert main(["boot", "--target", "highbank"]) == 2
    assert "use `vfio-hil run --target highbank --place NAME`" in capsys.readouterr().err
    assert not (private_cache / "artifacts").exists(), "a refusal must build nothing"


def test_a_run_on_the_virtual_lab_is_refused_before_any_build_unless_the_lab_fits(capsys, private_cache, tmp_path):
    lab = tmp_path / "lab"
    assert main(["run", "--target", "qemu-seattle", "--lab", str(lab)]) == 2
    assert f"no virtual lab in {lab} (no lab.json): `vfio-hil lab up` first" in capsys.readouterr().err
    lab.mkdir()
    (lab / "lab.json").write_text(json.dumps({"target": "qemu-iproc", "iommu": "noiommu", "netns": "x",
                                              "place": "vlab-qemu-iproc", "coordinator": "127.0.0.1:1"}))
    assert main(["run", "--target", "qemu-seattle", "--lab", str(lab)]) == 2
    assert "plays qemu-iproc (noiommu), not qemu-seattle (noiommu)" in capsys.readouterr().err
    assert main(["run", "--target", "qemu-iproc", "--iommu", "type1", "--lab", str(lab)]) == 2
    assert "not qemu-iproc (type1)" in capsys.readouterr().err
    assert main(["run", "--target", "qemu-iproc", "--lab", str(lab), "--place", "p"]) == 2
    assert "give --lab or --place, not both" in capsys.readouterr().err
    assert main(["run", "--matrix", "--lab", str(lab)]) == 2
    assert "--lab and --place take one --target" in capsys.readouterr().err
    assert not (private_cache / "artifacts").exists(), "a refusal must build nothing"


def test_the_kexec_board_is_refused_before_anything_starts_unless_it_fits(capsys, tmp_path):
    lab = tmp_path / "lab"
    assert main(["lab", "up", "--kexec", "--firmware", "uefi", "--dir", str(lab)]) == 2
    assert "--kexec is the U-Boot board's boot path" in capsys.readouterr().err
    assert main(["lab", "up", "--kexec", "--target", "qemu-iproc", "--dir", str(lab)]) == 2
    err = capsys.readouterr().err
    assert "qemu-iproc's initramfs plays the stable system, which needs kexec-tools" in err
    assert "qemu-iproc.yaml" in err
    assert not lab.exists(), "a refusal must start nothing"
