import pytest

from harness.errors import KernelSpecError
from harness.kernel.spec import parse_kernel_spec


def test_debian_series_defaults_to_stable():
    s = parse_kernel_spec("debian:6.1")
    assert (s.kind, s.series, s.suite) == ("debian", "6.1", "stable")


def test_debian_sid_means_newest_in_unstable():
    s = parse_kernel_spec("debian:sid")
    assert (s.series, s.suite) == (None, "sid")


def test_debian_series_at_suite():
    s = parse_kernel_spec("debian:7.2@sid")
    assert (s.series, s.suite) == ("7.2", "sid")


def test_path_spec_accepts_a_kernel_tree(tmp_path):
    (tmp_path / "Makefile").write_text("")
    (tmp_path / "Kconfig").write_text("")
    s = parse_kernel_spec(f"path:{tmp_path}")
    assert s.kind == "path" and s.path == tmp_path


@pytest.mark.parametrize("text, needle", [
    ("6.1", "KIND:VALUE"),
    ("debian:", "KIND:VALUE"),
    ("debian:six", "not a kernel series"),
    ("debian:6.1@experimental", "unknown Debian suite"),
    ("git:https://example.invalid/linux", "unknown kind 'git'"),
    ("path:relative/tree", "absolute path"),
    ("path:/nonexistent/vfio-hil-tree", "no directory"),
])
def test_bad_specs_name_the_problem_and_the_fix(text, needle):
    with pytest.raises(KernelSpecError) as exc:
        parse_kernel_spec(text)
    assert needle in str(exc.value)
    assert text in str(exc.value)
    assert exc.value.exit_code == 2


def test_path_that_is_not_a_kernel_tree(tmp_path):
    with pytest.raises(KernelSpecError, match="not a kernel source tree"):
        parse_kernel_spec(f"path:{tmp_path}")


def test_debian_series_at_backports():
    s = parse_kernel_spec("debian:6.12@backports")
    assert (s.series, s.suite) == ("6.12", "backports")
    assert parse_kernel_spec("debian:6.12").suite == "stable"     # stable first, then its backports
