"""VFIO platform reset: bind, reset, abnormal teardown and bleed, with a negative control.

Order matters and is the file's order: real-handler checks, then the checks
that remove the handler, then the null-reset controls.
"""

import re

import pytest

from harness.bootlog import scan, unexpected
from harness.errors import InfrastructureError
from harness.suite import platform
from harness.suite.plugin import Inconclusive

VARIANTS = platform.VARIANTS


@pytest.mark.vfio_id("boot")
def test_boot(booted, ssh, profile, evidence):
    dmesg = "\n".join(ssh.run_check("dmesg"))
    incidents = scan(dmesg, profile.known_boot_warnings)
    evidence.update(ready=booted["strategy"].ready_line, boot_s=booted["boot_s"],
                    known=[{"line": i.text.splitlines()[0], "reason": i.known_reason} for i in incidents
                           if i.known_reason],
                    unexpected=[i.text for i in unexpected(incidents)])
    assert not evidence["unexpected"], f"kernel warnings during boot: {evidence['unexpected']}"


@pytest.mark.vfio_id("native.probe")
def test_native_probe(booted, ssh, profile, twin, evidence):
    """The device's own kernel driver probes it (and, for a NIC, opens and closes it) without an
    error in the kernel log; then it is removed, so the rest of the suite starts from an unbound
    device. On a twin this is a fidelity check by code nobody here wrote."""
    if not profile.dut_native_module:
        pytest.skip("the profile names no native driver (dut_native_module)")
    result = platform.native_probe(ssh, profile)
    evidence.update(result)
    assert result["driver"], f"{profile.dut_native_module} did not bind {profile.dut_device}: {result['errors']}"
    assert not result["errors"], f"{profile.dut_native_module} logged errors: {result['errors']}"


@pytest.mark.vfio_id("bind.vfio")
def test_bind(dut_bound, ssh, profile, evidence):
    driver = platform.current_driver(ssh, profile.dut_device)
    nodes = ssh.run_check("ls /dev/vfio")
    evidence.update(original_driver=dut_bound["driver"], driver=driver, dev_vfio=nodes)
    assert driver == "vfio-platform", f"{profile.dut_device} is bound to {driver!r}"
    assert any(re.match(r"(noiommu-)?\d+$", n) for n in nodes), f"no group node in /dev/vfio: {nodes}"


@pytest.mark.vfio_id("reset.module_autoload")
def test_module_autoload(dut_bound, ssh, profile, evidence):
    handler = profile.dut_reset_module
    after = platform.modules(ssh)
    evidence.update(before=handler in dut_bound["modules"], after=handler in after)
    assert handler not in dut_bound["modules"], "the handler was loaded before the bind: autoload not shown"
    assert handler in after, "binding did not make the kernel load the reset handler"


@pytest.mark.vfio_id("reset.info_flag")
def test_info_flag(dut_bound, ssh, profile, evidence):
    evs = platform.events(ssh.run_check("vfio-hil-agent info"))
    devices = [e for e in evs if e.get("event") == "device" and e["name"] == profile.dut_device]
    evidence.update(device=devices[0] if devices else None)
    assert devices, f"the agent could not open {profile.dut_device}: {evs}"
    assert devices[0]["reset"], f"VFIO_DEVICE_GET_INFO flags {devices[0]['flags']} lack VFIO_DEVICE_FLAGS_RESET"


@pytest.mark.vfio_id("reset.ioctl")
def test_reset_ioctl(dut_bound, ssh, profile, evidence):
    evs = platform.events(ssh.run_check(
        f"vfio-hil-agent reset-check --device {profile.dut_device} --compat {profile.dut_compatible} "
        f"--window {profile.dma_window} --watch-ms 1000", timeout=60))
    q = [e for e in evs if e.get("event") == "quiescence"]
    after = platform.one(evs, "after_reset")
    busy_before, busy_after = platform.busy_bits(profile, q[0]), platform.busy_bits(profile, q[-1])
    evidence.update(before=q[0], after=q[-1], reset=platform.one(evs, "reset"), watch=after,
                    busy_after=busy_after)
    if not busy_before:
        raise Inconclusive("the device was not running before the reset: nothing to stop")
    assert not busy_after, f"bits still set after VFIO_DEVICE_RESET that must be zero: {busy_after}"
    assert after["canary_changed"] == 0, f"DMA after VFIO_DEVICE_RESET: {after['canary_changed']} bytes"
    assert after["irqs"] == 0, f"{after['irqs']} IRQs after VFIO_DEVICE_RESET"


def _teardown(runs, key, ssh, profile, variant):
    if key not in runs:
        runs[key] = platform.run_variant(ssh, profile, variant)
    return runs[key]


@pytest.mark.vfio_id("teardown.{variant}.dma_bleed")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_dma_bleed(dut_bound, ssh, profile, teardown_runs, variant, evidence):
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant)
    evidence.update(ev)
    if variant == "child_holds_fd":
        assert ev["while_holder_lives"]["changed"] > 0, \
            "the device stopped while a child still held its fd: reset without the last close"
    assert not platform.dma_bled(ev), f"{ev['gap_check']['changed']} canary bytes written after the tenant died"


@pytest.mark.vfio_id("teardown.{variant}.irq_bleed")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_irq_bleed(dut_bound, ssh, profile, teardown_runs, variant, evidence):
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant)
    evidence.update(variant=variant, next_tenant=ev["next_tenant"], timeline=ev["timeline"])
    platform.check_irq_wiring(profile, ev)
    if profile.dut_no_wired_irq:
        pytest.skip(profile.dut_no_wired_irq)
    nt = ev["next_tenant"]
    assert not platform.irq_bled(profile, ev), (
        f"the next tenant got {nt['irqs']} IRQs (first at {nt['first_irq_ms']} ms) and found interrupts "
        f"armed={platform.irq_armed(profile, nt['quiescence'])}")


@pytest.mark.vfio_id("deprecation.message")
def test_deprecation_message(ssh, evidence):
    """Informational: whether the handler printed the DEPRECATION line when it ran (7.2 does, 6.1 does not)."""
    lines = ssh.run_check("dmesg")
    ran = any("VFIO: reset" in m for m in lines)
    printed = [m for m in lines if "DEPRECATION:" in m]
    evidence.update(handler_ran=ran, printed=bool(printed), lines=printed[:3],
                    release=ssh.run_check("uname -r")[0])
    if not ran:
        pytest.skip("the reset handler never ran in this boot")


@pytest.fixture(scope="session")
def handler_hidden(dut_bound, ssh, profile):
    """The real handler unloaded and its .ko moved away, so request_module() finds nothing; always restored."""
    # Kbuild object names keep the Makefile's spelling: vfio-platform-calxedaxgmac.ko but
    # vfio_platform_bcmflexrm.ko, both loaded as vfio_platform_*; match either.
    pattern = profile.dut_reset_module.replace("_", "[-_]")
    found = ssh.run_check(f"find /lib/modules -name '{pattern}.ko*'")
    if not found:
        raise InfrastructureError(f"no {pattern}.ko* under /lib/modules: the handler module "
                                  f"{profile.dut_reset_module} was not installed")
    ko = found[0]
    platform.unbind(ssh, profile.dut_device)
    ssh.run_check(f"rmmod {profile.dut_reset_module}")
    ssh.run_check(f"mv {ko} /tmp/hidden-handler.ko")
    yield ko
    ssh.run(f"mv /tmp/hidden-handler.ko {ko}")


@pytest.mark.vfio_id("reset.required_enforced")
def test_required_enforced(handler_hidden, ssh, profile, evidence):
    """No handler available and reset_required=1 (default): vfio-platform must refuse the device."""
    mark = platform.dmesg_mark(ssh)
    platform.bind_to_vfio(ssh, profile.dut_device)
    driver = platform.current_driver(ssh, profile.dut_device)
    msgs = platform.dmesg_since(ssh, mark)
    evidence.update(driver=driver, dmesg=msgs[-5:])
    assert driver is None, f"bound to {driver} without any reset handler"
    assert any("No reset function found" in m for m in msgs), f"no 'No reset function found' in {msgs}"


@pytest.mark.vfio_id("reset.required_override")
def test_required_override(handler_hidden, ssh, profile, evidence):
    """reset_required=0 lets the device bind without a handler (measured: 6.1.192 refuses, 7.2 honours it)."""
    try:
        platform.unbind(ssh, profile.dut_device)
        ssh.run_check("rmmod vfio_platform")
        ssh.run_check("modprobe vfio_platform reset_required=0")
        mark = platform.dmesg_mark(ssh)
        platform.bind_to_vfio(ssh, profile.dut_device)
        driver = platform.current_driver(ssh, profile.dut_device)
        evidence.update(driver=driver, dmesg=platform.dmesg_since(ssh, mark)[-5:],
                        release=ssh.run_check("uname -r")[0])
        assert driver == "vfio-platform", \
            f"reset_required=0 did not let {profile.dut_device} bind: {evidence['dmesg']}"
    finally:
        platform.unbind(ssh, profile.dut_device)
        ssh.run("rmmod vfio_platform")
        ssh.run_check("modprobe vfio_platform")


@pytest.fixture(scope="session")
def null_reset_loaded(dut_bound, ssh, profile):
    """The negative control: the null-reset module in the real handler's place."""
    compat_dir = profile.dut_compatible.replace(",", "_")
    platform.unbind(ssh, profile.dut_device)
    ssh.run(f"rmmod {profile.dut_reset_module}")
    ssh.run_check(f"insmod /lib/vfio-hil/null-reset/{compat_dir}/vfio_null_reset.ko")
    platform.bind_to_vfio(ssh, profile.dut_device)
    assert platform.current_driver(ssh, profile.dut_device) == "vfio-platform"
    return True


@pytest.mark.vfio_id("control.null_reset.{variant}")
@pytest.mark.parametrize("variant", VARIANTS)
def test_control_null_reset(null_reset_loaded, ssh, profile, teardown_runs, variant, evidence):
    ev = _teardown(teardown_runs, ("null", variant), ssh, profile, variant)
    evidence.update(ev)
    platform.check_irq_wiring(profile, ev)
    assert platform.dma_bled(ev), "no DMA bleed without the reset: the environment could not provoke it"
    if not profile.dut_no_wired_irq:     # else its MSIs are DMA writes, counted by the canary above
        assert platform.irq_bled(profile, ev), "no IRQ bleed without the reset: the environment could not provoke it"
