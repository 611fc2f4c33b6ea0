from harness.kernel.apt import AptSource, parse_deb822_sources, parse_one_line_sources, sources_for_suite

DEB822 = """Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: https://vendor.example/apt
Suites: nodistro
Components: main
"""


def test_deb822_parsing_and_debian_filter():
    sources = [s for s in parse_deb822_sources(DEB822) if s.is_debian()]
    assert [s.uri for s in sources] == ["http://mirror.example/debian", "http://mirror.example/debian-security"]
    assert sources[0].suites == ("bookworm", "bookworm-updates")


def test_one_line_parsing_with_options():
    text = "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main contrib\n# deb http://x y z\n"
    (s,) = parse_one_line_sources(text)
    assert (s.uri, s.suites, s.components, s.signed_by) == ("http://m.example/debian", ("bookworm",),
                                                            ("main", "contrib"), "/k.gpg")


def test_lines_are_one_per_suite():
    s = AptSource("http://m.example/debian", ("bookworm", "bookworm-updates"), ("main",), "/k.gpg")
    assert s.lines().splitlines() == ["deb [signed-by=/k.gpg] http://m.example/debian bookworm main",
                                      "deb [signed-by=/k.gpg] http://m.example/debian bookworm-updates main"]


def test_sid_reuses_the_hosts_archive_mirror():
    host = [s for s in parse_deb822_sources(DEB822) if s.is_debian()]
    (sid,) = sources_for_suite("sid", host, None)
    assert sid.uri == "http://mirror.example/debian" and sid.suites == ("sid",)


def test_stable_without_security_keeps_only_the_archive():
    host = [s for s in parse_deb822_sources(DEB822) if s.is_debian()]
    assert [s.uri for s in sources_for_suite("stable", host, None, security=False)] == ["http://mirror.example/debian"]
    assert len(sources_for_suite("stable", host, None, security=True)) == 2


def test_explicit_mirror_wins():
    (sid,) = sources_for_suite("sid", [], "http://lab-mirror.example/debian")
    assert sid.uri == "http://lab-mirror.example/debian"


def test_backports_are_the_host_stable_releases_own():
    host = parse_deb822_sources("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
                                "Components: main\n")
    (bp,) = sources_for_suite("backports", host, None)
    assert bp.uri == "http://mirror.example/debian" and bp.suites == ("bookworm-backports",)
    (bp,) = sources_for_suite("backports", [], "http://lab-mirror.example/debian")
    assert bp.suites == ("stable-backports",)


APT_SIMULATION = """\
Inst debconf (1.5.82 Debian:12.15/oldstable [all])
Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])
Inst libc6:arm64 (2.36-9+deb12u14 Debian:12.15/oldstable [arm64])
Inst libcap2:arm64 (1:2.66-4+deb12u3+b1 Debian:12.15/oldstable [arm64])
"""


def test_dependencies_are_the_targets_arch_never_the_hosts_copy_of_the_same_version(tmp_path, monkeypatch):
    import harness.kernel.apt as apt_mod
    from harness.kernel.apt import PrivateApt

    monkeypatch.setenv("VFIO_HIL_DEBIAN_MIRROR", "http://deb.example/debian")
    apt = PrivateApt(tmp_path, "stable", ["arm64"])
    archives = tmp_path / "archives"
    # Both arches of libc6 sit in the one directory (the host's came with another package's deps).
    for deb in ("debconf_1.5.82_all.deb", "libc6_2.36-9+deb12u14_amd64.deb", "libc6_2.36-9+deb12u14_arm64.deb",
                "libcap2_1%3a2.66-4+deb12u3+b1_amd64.deb", "libcap2_1%3a2.66-4+deb12u3+b1_arm64.deb"):
        (archives / deb).write_text("")

    class Done:
        stdout = APT_SIMULATION

    monkeypatch.setattr(apt_mod.proc, "run", lambda *a, **k: Done())
    debs = [d.name for d in apt.download_with_dependencies(["x"], "arm64")]
    assert debs == ["debconf_1.5.82_all.deb", "libc6_2.36-9+deb12u14_arm64.deb",
                    "libcap2_1%3a2.66-4+deb12u3+b1_arm64.deb"]


def test_one_download_is_the_asked_arch_even_beside_the_hosts(tmp_path, monkeypatch):
    import harness.kernel.apt as apt_mod
    from harness.kernel.apt import PrivateApt

    monkeypatch.setenv("VFIO_HIL_DEBIAN_MIRROR", "http://deb.example/debian")
    apt = PrivateApt(tmp_path / "apt", "stable", ["arm64"])
    dest = tmp_path / "debs"
    dest.mkdir()
    for deb in ("libc6_2.36-9+deb12u14_amd64.deb", "libc6_2.36-9+deb12u14_arm64.deb"):
        (dest / deb).write_text("")
    monkeypatch.setattr(apt_mod.proc, "run", lambda *a, **k: None)
    assert apt.download("libc6:arm64", "2.36-9+deb12u14", dest).name == "libc6_2.36-9+deb12u14_arm64.deb"
    (dest / "libc6_2.36-9+deb12u14_amd64.deb").rename(dest / "libc6_2.36-9+deb12u14_zz64.deb")
    assert apt.download("libc6:arm64", "2.36-9+deb12u14", dest).name == "libc6_2.36-9+deb12u14_arm64.deb"
