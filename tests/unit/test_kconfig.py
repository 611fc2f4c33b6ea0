from harness.kernel import kconfig


def _reqs(text, name="frag.config"):
    return {r.symbol: r for r in kconfig.parse_config_lines(text, name)}


def test_parse_fragment_lines_with_locations():
    reqs = kconfig.parse_config_lines("# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n", "f.config")
    assert [(r.symbol, r.value, r.where) for r in reqs] == [
        ("A", "y", "f.config:2"), ("B", "n", "f.config:3"), ("C", '"x y"', "f.config:4")]


def test_later_fragments_override_earlier(tmp_path):
    a, b = tmp_path / "a.config", tmp_path / "b.config"
    a.write_text("CONFIG_X=y\nCONFIG_Y=y\n")
    b.write_text("# CONFIG_X is not set\n")
    reqs = kconfig.requested([a, b])
    assert reqs["X"].value == "n" and reqs["X"].where == "b.config:1"
    assert reqs["Y"].value == "y"


def test_verify_reports_what_did_not_land():
    reqs = _reqs("CONFIG_A=y\nCONFIG_B=m\nCONFIG_C=m\nCONFIG_D=y\n# CONFIG_E is not set\n# CONFIG_F is not set\n")
    final = kconfig.parse_final_config("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_D is not set\nCONFIG_F=y\n")
    bad = {m.symbol: m for m in kconfig.verify(reqs, final)}
    # B=m satisfied by =y; E absent is "not set"; C absent, D=n, F=y are mismatches.
    assert sorted(bad) == ["C", "D", "F"]
    assert bad["C"].got is None and "absent" in bad["C"].describe()
    assert bad["D"].got == "n"
    assert "frag.config:4" in bad["D"].describe()


def test_findings_are_split_from_errors():
    reqs = _reqs("CONFIG_VFIO_PLATFORM_CALXEDAXGMAC_RESET=m\nCONFIG_MMU=y\n")
    mism = kconfig.verify(reqs, {})
    findings, errors = kconfig.split_findings(mism, ["VFIO_PLATFORM_CALXEDAXGMAC_RESET"])
    assert [m.symbol for m in findings] == ["VFIO_PLATFORM_CALXEDAXGMAC_RESET"]
    assert [m.symbol for m in errors] == ["MMU"]


def test_all_landed_gives_nothing():
    reqs = _reqs("CONFIG_A=y\nCONFIG_B=m\n")
    assert kconfig.verify(reqs, {"A": "y", "B": "m"}) == []
