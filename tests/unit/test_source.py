import os
import subprocess
import time

import pytest

from harness.errors import KernelSpecError, PatchError
from harness.kernel.source import (apply_patches, check_patches, describe_patch_failure, newest_linux_source,
                                   sync_work_tree, tree_content_hash, _path_source)
from harness.kernel.spec import parse_kernel_spec


def test_newest_linux_source_compares_numerically():
    names = ["linux-source", "linux-source-6.1", "linux-source-6.12", "linux-source-7.2", "linux-source-7.10x"]
    assert newest_linux_source(names) == "linux-source-7.2"
    assert newest_linux_source(["linux-source"]) is None


def _tree(root, files):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_content_hash_follows_content_not_mtime(tmp_path):
    tree = _tree(tmp_path / "t", {"Makefile": "all:\n", "drivers/a.c": "int a;\n"})
    memo = tmp_path / "memo.json"
    h1 = tree_content_hash(tree, memo)
    os.utime(tree / "drivers/a.c", (time.time() + 5, time.time() + 5))
    assert tree_content_hash(tree, memo) == h1
    (tree / "drivers/a.c").write_text("int b;\n")
    assert tree_content_hash(tree, memo) != h1
    (tree / ".git").mkdir()
    (tree / ".git/HEAD").write_text("ref")
    h3 = tree_content_hash(tree, memo)
    (tree / ".git/HEAD").write_text("other")
    assert tree_content_hash(tree, memo) == h3


def test_sync_restores_and_touches_changed_files(tmp_path):
    pristine = _tree(tmp_path / "p", {"a.c": "one\n", "b.c": "two\n"})
    work = tmp_path / "w"
    log = tmp_path / "log"
    assert sync_work_tree(pristine, work, log) == 2
    (work / "a.c").write_text("patched\n")
    (work / "junk.rej").write_text("x")
    past = time.time() - 1000
    os.utime(pristine / "a.c", (past, past))
    before = time.time()
    assert sync_work_tree(pristine, work, log) == 1
    assert (work / "a.c").read_text() == "one\n"
    assert not (work / "junk.rej").exists()
    # Restored to older content, yet newer than any object built from the patched file.
    assert (work / "a.c").stat().st_mtime >= before - 1
    assert sync_work_tree(pristine, work, log) == 0


def _diff(tmp_path, old, new, name="drivers/x.c"):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, text in ((a, old), (b, new)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    out = subprocess.run(["diff", "-u", f"a/{name}", f"b/{name}"], cwd=tmp_path, capture_output=True, text=True).stdout
    patch = tmp_path / "change.patch"
    patch.write_text(out)
    return patch


def test_patch_applies(tmp_path):
    work = _tree(tmp_path / "w", {"drivers/x.c": "a\nb\nc\n"})
    patch = _diff(tmp_path, "a\nb\nc\n", "a\nB\nc\n")
    apply_patches(work, [patch], tmp_path / "log")
    assert (work / "drivers/x.c").read_text() == "a\nB\nc\n"


def test_patch_that_does_not_apply_names_patch_file_and_hunk(tmp_path):
    work = _tree(tmp_path / "w", {"drivers/x.c": "completely\ndifferent\ncontent\n"})
    patch = _diff(tmp_path, "a\nb\nc\n", "a\nB\nc\n")
    with pytest.raises(PatchError) as exc:
        apply_patches(work, [patch], tmp_path / "log")
    msg = str(exc.value)
    assert str(patch) in msg and "drivers/x.c" in msg and "hunk #1 FAILED" in msg
    assert exc.value.exit_code == 2
    assert not list(work.rglob("*.rej")) and not list(work.rglob("*.orig"))


def test_patch_for_a_missing_file(tmp_path):
    work = _tree(tmp_path / "w", {"other.c": ""})
    patch = _diff(tmp_path, "a\n", "b\n")
    with pytest.raises(PatchError, match="does not exist in this tree"):
        apply_patches(work, [patch], tmp_path / "log")


def test_describe_failure_for_garbage():
    assert "not a patch" in describe_patch_failure("patch: **** Only garbage was found in the patch input.")


def test_missing_patch_file():
    with pytest.raises(PatchError, match="no such file"):
        check_patches([__import__("pathlib").Path("/nonexistent/fix.patch")])


def test_tree_built_in_place_is_refused(tmp_path):
    tree = _tree(tmp_path / "linux", {"Makefile": "", "Kconfig": "", ".config": "CONFIG_X=y\n"})
    with pytest.raises(KernelSpecError, match="make mrproper"):
        _path_source(parse_kernel_spec(f"path:{tree}"), tmp_path / "cache")
