from harness import doctor


def test_requirements_file_parses_and_names_packages():
    reqs = doctor.load_requirements()
    assert {"qemu-system-arm", "gcc-arm-linux-gnueabihf", "ccache", "kmod"} <= {r.package for r in reqs}
    assert all(r.probe.split(":")[0] in ("cmd", "file", "pymod") for r in reqs)


def test_package_for_command():
    assert doctor.package_for_command("arm-linux-gnueabihf-gcc") == "gcc-arm-linux-gnueabihf"
    assert doctor.package_for_command("no-such-tool") is None


def test_missing_tools_are_reported_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    checks = {c.name: c for c in doctor.run_checks(tmp_path)}
    cc = checks["gcc-arm-linux-gnueabihf (cmd:arm-linux-gnueabihf-gcc)"]
    assert not cc.ok and "apt-get install gcc-arm-linux-gnueabihf" in cc.fix



def test_machine_listing_of_a_qemu_without_highbank():
    qemu11 = "Supported machines are:\nvirt                 QEMU 11.0 ARM Virtual Machine (alias of virt-11.0)\n"
    qemu72 = qemu11 + "highbank             Calxeda Highbank (ECX-1000)\nmidway               Calxeda Midway (ECX-2000)\n"
    assert not doctor.machine_listed(qemu11, "highbank")
    assert doctor.machine_listed(qemu72, "highbank") and doctor.machine_listed(qemu72, "midway")
    assert not doctor.machine_listed(qemu72, "high")


def test_a_machine_with_options_is_looked_up_by_its_name():
    """qemu-iproc's machine is "virt,gic-version=3"; -machine help lists only "virt"."""
    qemu72 = "Supported machines are:\nvirt                 QEMU 7.2 ARM Virtual Machine (alias of virt-7.2)\n"
    assert doctor.machine_listed(qemu72, "virt,gic-version=3")
    assert not doctor.machine_listed(qemu72, "highbank,foo=1")
