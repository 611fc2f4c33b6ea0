"""Cache keys: what must and must not change them."""
import pytest

from harness.artifacts import check_disk_space, harness_inputs_hash
from harness.errors import HostError
from harness.kernel.build import fragment_hash, object_key, patches_hash
from harness.kernel.source import SourceTree
from harness.kernel.spec import parse_kernel_spec
from harness.targets import ARCHES, get_target


def _src(identity, content="c0"):
    return SourceTree(parse_kernel_spec("debian:6.1"), path=None, identity=identity, origin={}, content_hash=content)


def test_fragment_hash_follows_content_and_order(tmp_path):
    a, b = tmp_path / "a.config", tmp_path / "b.config"
    a.write_text("CONFIG_A=y\n")
    b.write_text("CONFIG_B=y\n")
    h = fragment_hash([a, b])
    assert fragment_hash([b, a]) != h
    b.write_text("CONFIG_B=m\n")
    assert fragment_hash([a, b]) != h


def test_object_dir_is_shared_across_edits_but_not_across_arch_or_compiler():
    arm = ARCHES["arm"]
    k = object_key(_src("path:/src/linux", "c1"), "f", arm, "gcc 12")
    # An edited tree (new content hash) keeps its object dir: incremental rebuilds.
    assert object_key(_src("path:/src/linux", "c2"), "f", arm, "gcc 12") == k
    assert object_key(_src("path:/src/linux"), "f", ARCHES["arm64"], "gcc 12") != k
    assert object_key(_src("path:/src/linux"), "f", arm, "gcc 13") != k
    assert object_key(_src("path:/src/other"), "f", arm, "gcc 12") != k
    assert object_key(_src("path:/src/linux"), "g", arm, "gcc 12") != k


def test_patch_hash_is_order_sensitive(tmp_path):
    p1, p2 = tmp_path / "1.patch", tmp_path / "2.patch"
    p1.write_text("one")
    p2.write_text("two")
    assert patches_hash([p1, p2]) != patches_hash([p2, p1])
    assert patches_hash([]) != patches_hash([p1])


def test_harness_inputs_hash_is_stable():
    t = get_target("qemu-highbank")
    assert harness_inputs_hash(t) == harness_inputs_hash(t)


def test_no_disk_space_is_a_clear_host_error(tmp_path):
    with pytest.raises(HostError) as exc:
        check_disk_space(tmp_path, needed_gib=10**9)
    assert "no disk space" in str(exc.value) and "XDG_CACHE_HOME" in str(exc.value)
    assert exc.value.exit_code == 2
