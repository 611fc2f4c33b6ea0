"""VFIO device reset: bind, reset, abnormal teardown and bleed, with a negative control, for
vfio-platform and vfio-fsl-mc alike: what differs between the buses is in their step modules
(the ``bus`` fixture: harness.suite.platform or harness.suite.fslmc), and a check that only one
bus has is marked ``buses(...)``.

Order matters and is the file's order: real-handler checks (the abnormal
teardowns first, from a freshly bound device, then VFIO_DEVICE_RESET), then the
checks that remove the handler, then the null-reset controls.
"""

import re

import pytest

from harness.bootlog import scan, unexpected
from harness.errors import InfrastructureError
from harness.suite import fslmc, platform
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
    if fslmc.is_fslmc(profile):
        result = fslmc.native_probe(ssh, profile, twin)
        evidence.update(result)
        wrong = {o: d for o, d in result["drivers"].items() if o in result["expected"] and d != result["expected"][o]}
        assert not wrong, f"objects of {profile.dut_device} not on their own drivers {result['expected']}: {wrong}"
        assert not result["errors"], f"{profile.dut_native_module} logged errors: {result['errors']}"
        return
    result = platform.native_probe(ssh, profile)
    evidence.update(result)
    assert result["driver"], f"{profile.dut_native_module} did not bind {profile.dut_device}: {result['errors']}"
    assert not result["errors"], f"{profile.dut_native_module} logged errors: {result['errors']}"


@pytest.mark.vfio_id("bind.vfio")
def test_bind(dut_bound, ssh, profile, bus, evidence):
    driver = bus.current_driver(ssh, profile.dut_device)
    nodes = ssh.run_check("ls /dev/vfio")
    evidence.update(original_driver=dut_bound["driver"], driver=driver, dev_vfio=nodes)
    assert driver == bus.DRIVER, f"{profile.dut_device} is bound to {driver!r}"
    if bus is fslmc:     # vfio-fsl-mc takes every object of the container with it
        objects = {d: fslmc.current_driver(ssh, d) for d in fslmc.container_objects(ssh, profile.dut_device)}
        evidence["objects"] = objects
        assert all(v == fslmc.DRIVER for v in objects.values()), f"objects of {profile.dut_device} not on {fslmc.DRIVER}: {objects}"
    assert any(re.match(r"(noiommu-)?\d+$", n) for n in nodes), f"no group node in /dev/vfio: {nodes}"


@pytest.mark.vfio_id("iommu.msi_isolation")
@pytest.mark.iommu("type1")
def test_iommu_msi_isolation(dut_bound, ssh, profile, evidence):
    """Type1 attaches the device's group (VFIO_SET_IOMMU, the device not opened). A kernel that
    refuses a group without isolated MSIs (6.3+: EPERM) is a finding the evidence names, with the
    parameter the harness then set (allow_unsafe_interrupts=1) for the rest of the run."""
    attach = dut_bound.get("iommu_attach")
    evidence.update(iommu_attach=attach)
    assert attach is not None, f"{profile.dut_device} was not bound to its vfio driver: no group to attach"
    assert "refused" not in attach, attach.get("refused")
    if attach["finding"]:
        evidence["finding"] = attach["finding"]


@pytest.mark.vfio_id("reset.module_autoload")
@pytest.mark.buses("platform")
def test_module_autoload(dut_bound, ssh, profile, evidence):
    handler = profile.dut_reset_module
    after = platform.modules(ssh)
    evidence.update(before=handler in dut_bound["modules"], after=handler in after)
    assert handler not in dut_bound["modules"], "the handler was loaded before the bind: autoload not shown"
    assert handler in after, "binding did not make the kernel load the reset handler"


@pytest.mark.vfio_id("reset.info_flag")
def test_info_flag(dut_bound, ssh, profile, bus, evidence):
    evs = bus.device_info(ssh, profile)
    devices = [e for e in evs if e.get("event") == "device" and e["name"] == profile.dut_device]
    evidence.update(device=devices[0] if devices else None)
    assert devices, f"the agent could not open {profile.dut_device}: {evs}"
    assert devices[0]["reset"], f"VFIO_DEVICE_GET_INFO flags {devices[0]['flags']} lack VFIO_DEVICE_FLAGS_RESET"


def _teardown(runs, key, ssh, profile, variant, twin, evidence, capture=None):
    if key not in runs:
        runs[key] = fslmc.bus_of(profile).run_variant(ssh, profile, variant, twin, capture)
    ev = runs[key]
    stuck = platform.stuck_reason(ev)
    if stuck:                         # the kernel hung in the release path: every check of it fails
        evidence.update(variant=variant, stuck=ev["stuck"], armed=ev.get("armed"))
    assert not stuck, stuck
    return ev


@pytest.mark.vfio_id("teardown.{variant}.dma_bleed")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_dma_bleed(dut_bound, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """No canary byte in the DMA window changes between the death and the next open."""
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
    evidence.update(ev)
    if fslmc.is_fslmc(profile):
        fslmc.check_dma_wiring(ev)
    if ev.get("dma_judged_by") == platform.DMA_JUDGED_BY_TWIN:   # type1: what the device tried, whatever the IOMMU let through
        assert not platform.dma_bled(ev), (
            f"after the tenant died the device tried {ev['gap_dma_writes']} DMA writes and {ev['gap_dma_reads']} "
            f"reads ({ev['gap_iommu_faults']} refused by the IOMMU), seen by the twin")
        return
    assert not platform.dma_bled(ev), f"{ev['gap_check']['changed']} canary bytes written after the tenant died"
    assert not ev["gap_dma_reads"], (f"the device made {ev['gap_dma_reads']} DMA reads (descriptor fetches) of "
                                     f"memory that was no longer its owner's, seen by the twin")


@pytest.mark.vfio_id("teardown.{variant}.iova_bleed")
@pytest.mark.iommu("type1")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_iova_bleed(dut_bound, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """Type1: after the death the next tenant maps its own canary at the dead tenant's IOVAs, before
    it opens the device (whose open-time reset would hide a failed close-time reset), and watches
    it: no stale write may land there. The IOMMU faults of the gap (before the mapping) are shown:
    they are what an unmapped IOVA looks like."""
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
    if fslmc.is_fslmc(profile):
        fslmc.check_dma_wiring(ev)
    evidence.update(variant=variant, canary=ev["canary"], gap_fill=ev["gap_fill"], gap_check=ev["gap_check"],
                    gap_iommu_faults=ev.get("gap_iommu_faults"), gap_dma_writes=ev.get("gap_dma_writes"),
                    timeline=ev["timeline"])
    assert not platform.iova_bled(ev), (
        f"{ev['gap_check']['changed']} bytes of the next tenant's own memory (first at offset "
        f"{ev['gap_check']['first_changed_offset']}) were written by the device its previous owner left running")


@pytest.mark.vfio_id("teardown.child_holds_fd.holder_keeps_device")
def test_holder_keeps_device(dut_bound, ssh, profile, twin, teardown_runs, traffic, evidence):
    """While a forked child still holds the fd, the device has an owner: the kernel must not
    reset it, so DMA goes on. A kernel that resets early is a finding of its own, not a bleed."""
    ev = _teardown(teardown_runs, ("real", "child_holds_fd"), ssh, profile, "child_holds_fd", twin, evidence, traffic)
    if fslmc.is_fslmc(profile):
        held = ev["while_holder_lives"]
        early = fslmc.container_resets(profile, ev["resets_while_holder_lives"])
        evidence.update(while_holder_lives=held, resets_while_holder_lives=early)
        assert held["enabled"] and not early, \
            f"{profile.dut_object} was reset while a child still held the container's fd: {held}, {early}"
        return
    evidence.update(while_holder_lives=ev["while_holder_lives"], tenant_killed_ms=ev["tenant_killed_ms"])
    assert ev["while_holder_lives"]["changed"] > 0, \
        "the device stopped while a child still held its fd: reset without the last close"


@pytest.mark.vfio_id("teardown.{variant}.irq_bleed")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_irq_bleed(dut_bound, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """Between the death and the next open (which would run the handler again) the device neither
    drives its interrupt line nor keeps a source enabled: its status and enable registers read
    through /dev/mem every 100 ms and, on a twin, the line's level from the twin itself."""
    if fslmc.is_fslmc(profile):
        ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
        evidence.update(variant=variant, gap_msis=ev["gap_msis"], tenant_irqs=ev["tenant_irqs"])
        fslmc.check_msi_wiring(ev)
        assert not ev["gap_msis"], (f"after the tenant died {profile.dut_object} sent {ev['gap_msis']} MSIs "
                                    f"in {platform.GAP_S} s while nobody had it open (seen by the MC twin)")
        return
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
    evidence.update(variant=variant, gap_irq=ev["gap_irq"], timeline=ev["timeline"])
    platform.check_irq_wiring(profile, ev)
    if profile.dut_no_wired_irq:
        pytest.skip(profile.dut_no_wired_irq)
    g = ev["gap_irq"]
    assert not platform.irq_bled_in_gap(ev), (
        f"after the tenant died the device drove its IRQ in {g['pending_samples']} of {g['samples']} samples and "
        f"had a source enabled in {g['armed_samples']}; line high (ms): {g['line_high_ms']}; last: {g['last']}")


@pytest.mark.vfio_id("teardown.{variant}.reset_state")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_reset_state(dut_bound, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """At the end of the gap (death, then the release-time reset, and nobody has opened the device)
    every register the profile names reads its documented reset value, among them every setting
    the tenant made: its DMA and interrupt enables and its non-default modes (e.g. XGBE's PCS
    loopback and DMA_MR.INTM). The expectations are the device's (dut_quiescence), not the handler's."""
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
    rs = ev["reset_state"]
    evidence.update(variant=variant, reset_state=rs,
                    gap_last=ev["gap_state"] if fslmc.is_fslmc(profile) else ev["gap_irq"]["last"])
    if not rs["tenant_set"]:
        raise Inconclusive(f"the tenant set none of {rs['checked']}: a reset could not be told from none")
    assert not rs["left_set"], (f"after the tenant died and before anyone opened the device these bits were still "
                                f"set where the device's reset value is 0: {rs['left_set']} (the tenant had set "
                                f"{rs['tenant_set']})")


@pytest.mark.vfio_id("teardown.{variant}.tx_leak")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_tx_leak(dut_bound, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """Between the death and the next open the device transmits nothing on its backend: a device
    that keeps reading memory (the window, now the next user's, holds the canary) and sends it
    out is a leak. The frames are captured where the device's backend delivers them."""
    if fslmc.is_fslmc(profile):
        pytest.skip(profile.dut_no_tx or fslmc.NO_DMA)
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
    evidence.update(variant=variant, gap_tx=ev["gap_tx"])
    if profile.dut_no_tx:
        pytest.skip(profile.dut_no_tx)
    platform.check_tx_wiring(profile, ev)
    tx = ev["gap_tx"]
    assert not platform.tx_leaked(ev), (f"after the tenant died the device transmitted {tx['frames']} frames "
                                        f"({tx['bytes']} bytes; the first begins {tx['first_head'][:48]})")


@pytest.mark.vfio_id("teardown.{variant}.next_open")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_next_open(dut_bound, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """The next user can open the device after the abnormal teardown (for kill_during_ioctl, a
    death inside SET_IRQS/GET_REGION_INFO must not leave the device unusable)."""
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
    nt = ev["next_tenant"]
    evidence.update(variant=variant, next_tenant=nt)
    assert nt["opened"], f"the next tenant could not open the device: {nt['refused']}"


@pytest.mark.vfio_id("teardown.{variant}.next_tenant_irq")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_next_tenant_irq(dut_bound, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """The next tenant, registering its eventfd before anything else, gets no IRQ and does not
    find interrupts armed: what the open-time reset leaves."""
    if fslmc.is_fslmc(profile):
        ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
        nt = ev["next_tenant"]
        evidence.update(variant=variant, next_tenant=nt, tenant_irqs=ev["tenant_irqs"])
        fslmc.check_msi_wiring(ev, need_twin=False)
        assert not nt.get("irq_refused"), f"the kernel refused the next tenant's eventfd: {nt.get('irq_refused')}"
        assert not nt["irqs"], (f"the next tenant got {nt['irqs']} MSIs (first at {nt['first_irq_ms']} ms) "
                                f"before it enabled anything")
        return
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
    nt = ev["next_tenant"]
    evidence.update(variant=variant, next_tenant=nt, timeline=ev["timeline"])
    platform.check_irq_wiring(profile, ev)
    if profile.dut_no_wired_irq:
        pytest.skip(profile.dut_no_wired_irq)
    if not nt["opened"]:
        pytest.skip(f"the next tenant could not open the device (teardown.{variant}.next_open fails)")
    assert not platform.next_tenant_irq_bled(profile, ev), (
        f"the next tenant got {nt['irqs']} IRQs (first at {nt['first_irq_ms']} ms) and found interrupts "
        f"armed={platform.irq_armed(profile, nt['quiescence'])}")


@pytest.mark.vfio_id("reset.ioctl")
def test_reset_ioctl(dut_bound, ssh, profile, evidence):
    """DMA and IRQ armed, VFIO_DEVICE_RESET: it must succeed (an error from it, or a refused open,
    is the kernel's: KernelRefused, a fail), leave the device quiescent, and no DMA or IRQ may
    follow for 1 s while frames flow. On fsl-mc: the object the tenant enabled (and its
    interrupt) must read disabled afterwards."""
    if fslmc.is_fslmc(profile):
        ev = fslmc.reset_ioctl(ssh, profile)
        evidence.update(ev)
        if not ev["busy_before"]:
            raise Inconclusive(f"{profile.dut_object} was not enabled before the reset: nothing to stop")
        assert not ev["busy_after"], f"{profile.dut_object} still has {ev['busy_after']} after VFIO_DEVICE_RESET"
        return
    evs = platform.reset_check(ssh, profile)
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


@pytest.mark.vfio_id("teardown.{variant}.reset_command")
@pytest.mark.buses("fsl-mc")
@pytest.mark.parametrize("variant", VARIANTS)
def test_teardown_reset_command(dut_bound, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """After the last fd closed, the kernel asked the MC to reset the container (DPRC_RESET_CONTAINER,
    through the container's own handle) with DPRC_RESET_OPTION_NON_RECURSIVE, as
    vfio_fsl_mc_reset_device() does: read from the firmware's command log, which only a twin has."""
    if twin is None:
        pytest.skip("only the MC twin keeps a log of the commands the kernel sent the firmware")
    ev = _teardown(teardown_runs, ("real", variant), ssh, profile, variant, twin, evidence, traffic)
    resets = fslmc.container_resets(profile, ev["gap_resets"])
    evidence.update(variant=variant, gap_resets=ev["gap_resets"])
    assert resets, f"no reset of {profile.dut_device} reached the MC after its last fd closed: {ev['gap_resets']}"
    assert all(r["non_recursive"] for r in resets), f"a reset of {profile.dut_device} without NON_RECURSIVE: {resets}"


@pytest.mark.vfio_id("teardown.container_portal.object_reset")
@pytest.mark.buses("fsl-mc")
def test_teardown_container_portal_object_reset(dut_bound, ssh, profile, twin, teardown_runs, traffic, evidence):
    """A tenant that opened its object through the container's own portal (the DPRC region's
    write(), which the kernel's handle shares; a guest's fsl-mc bus would) and was killed: the
    object must still be reset, and no reset may fail on the way (vfio-fsl-mc resets each object
    through that same portal, where the MC allows one open of an object)."""
    key = ("real", "container_portal")
    if key not in teardown_runs:
        teardown_runs[key] = fslmc.run_variant(ssh, profile, "sigkill", twin, via_container=True)
    ev = teardown_runs[key]
    stuck = platform.stuck_reason(ev)
    assert not stuck, stuck
    rs = ev["reset_state"]
    evidence.update(reset_state=rs, gap_state=ev["gap_state"], gap_resets=ev["gap_resets"])
    if not rs["tenant_set"]:
        raise Inconclusive(f"the tenant set none of {rs['checked']}: a reset could not be told from none")
    assert not rs["left_set"], f"{profile.dut_object} still had {rs['left_set']} after its tenant died"


@pytest.mark.vfio_id("deprecation.message")
def test_deprecation_message(ssh, profile, evidence):
    """Informational: whether the handler printed the DEPRECATION line when it ran (7.2 does, 6.1 does not;
    on fsl-mc: whether vfio-fsl-mc printed one, as it would while marked deprecated)."""
    lines = ssh.run_check("dmesg")
    if fslmc.is_fslmc(profile):
        ran = any(fslmc.DRIVER in m for m in lines)
        printed = [m for m in lines if "DEPRECATION:" in m and "fsl" in m.lower()]
    else:
        ran = any("VFIO: reset" in m for m in lines)
        printed = [m for m in lines if "DEPRECATION:" in m]
    evidence.update(handler_ran=ran, printed=bool(printed), lines=printed[:3],
                    release=ssh.run_check("uname -r")[0])
    if not ran:
        pytest.skip("the reset handler never ran in this boot")


@pytest.fixture(scope="module")
def handler_hidden(dut_bound, ssh, profile):
    """The real handler unloaded and its .ko moved away, so request_module() finds nothing; restored
    when this module's tests end (the VMM checks after it load the real handler again)."""
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
@pytest.mark.buses("platform")
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
@pytest.mark.buses("platform")
def test_required_override(handler_hidden, ssh, profile, evidence):
    """reset_required=0 lets the device bind without a handler (measured: 6.1.192 refuses, 7.2 honours it)."""
    try:
        platform.unbind(ssh, profile.dut_device)
        ssh.run_check("rmmod vfio_platform")
        ssh.run_check("modprobe vfio_platform reset_required=0")
        # The harness's own step, proven before the kernel is judged: the module took the value.
        value = ssh.run_check(f"cat {platform.RESET_REQUIRED_PARAM}")[0].strip()
        evidence["reset_required"] = value
        if value not in ("N", "0"):
            raise InfrastructureError(f"{platform.RESET_REQUIRED_PARAM} reads {value!r} after "
                                      f"`modprobe vfio_platform reset_required=0`: the override was not applied")
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
def null_reset_loaded(dut_bound, ssh, profile, twin):
    """The negative control: the null-reset module in the real handler's place (on fsl-mc, whose
    reset is vfio-fsl-mc's own: the MC twin's firmware ignoring every reset, its policy
    reset_honoured=false)."""
    if fslmc.is_fslmc(profile):
        if twin is None:
            pytest.skip("vfio-fsl-mc's reset has no module to swap: its control is the MC twin's null-reset policy")
        twin.set_policy(reset_honoured=False)
        yield True
        twin.set_policy(reset_honoured=True)
        return
    platform.use_null_reset(ssh, profile)
    yield True


@pytest.mark.vfio_id("control.null_reset.{variant}")
@pytest.mark.parametrize("variant", VARIANTS)
def test_control_null_reset(null_reset_loaded, ssh, profile, twin, teardown_runs, traffic, variant, evidence):
    """The same teardown with a handler that does nothing: each measurement the variant's checks
    rest on must see bleed, or they prove nothing (results.apply_controls makes them inconclusive).
    IRQ bleed is proven only by IRQs delivered to the next tenant's eventfd; register state is
    evidence, not proof."""
    if fslmc.is_fslmc(profile):
        fslmc.fresh_firmware_state(ssh, profile, twin)
    ev = _teardown(teardown_runs, ("null", variant), ssh, profile, variant, twin, evidence, traffic)
    if fslmc.is_fslmc(profile):
        evidence.update(ev)
        assert ev["reset_state"]["left_set"], \
            f"{profile.dut_object} read reset in the gap although the firmware ignored the reset: reset_state could not see a leftover"
        if "gap_check" in ev:       # the tenant ran copy jobs: dma_bleed rests on this control too
            fslmc.check_dma_wiring(ev)
            assert platform.dma_bled(ev) and ev["gap_dma_reads"] != 0, \
                (f"no DMA in the gap although the firmware ignored the reset ({ev['gap_check']['changed']} canary "
                 f"bytes, {ev['gap_dma_reads']} DMA reads): dma_bleed could not see one")
            if platform.type1(profile):
                assert platform.iova_bled(ev), (f"without the reset nothing landed in the next tenant's own memory "
                                                f"at the dead tenant's IOVAs ({ev['gap_check']}): iova_bleed could "
                                                f"not see it")
        if ev.get("irq_refused"):
            # The kernel refused the eventfd: the real IRQ checks fail with that themselves; this
            # control still proves what reset_state and dma_bleed rest on.
            return
        fslmc.check_msi_wiring(ev)
        assert ev["gap_msis"], "no MSI in the gap although the firmware ignored the reset: irq_bleed could not see one"
        nt = ev["next_tenant"]
        assert nt["irqs"], f"no MSI reached the next tenant although the firmware ignored the reset ({nt})"
        return
    evidence.update(ev, bleed=platform.bleed_profile(ev["timeline"]))
    platform.check_irq_wiring(profile, ev)
    assert platform.dma_bled(ev), "no DMA bleed without the reset: the environment could not provoke it"
    if platform.type1(profile):
        assert platform.iova_bled(ev), (f"without the reset nothing landed in the next tenant's own memory at the "
                                        f"dead tenant's IOVAs ({ev['gap_check']}): iova_bleed could not see it")
    if not profile.dut_no_tx:
        platform.check_tx_wiring(profile, ev)
        assert platform.tx_leaked(ev), \
            f"the device transmitted nothing in the gap without the reset ({ev['gap_tx']}): tx_leak could not see a leak"
    assert ev["reset_state"]["left_set"], \
        "every register read its reset value in the gap without the reset: reset_state could not see a leftover"
    if not profile.dut_no_wired_irq:     # else its MSIs are DMA writes, counted by the canary above
        assert platform.irq_bled_in_gap(ev), \
            "the gap's registers and line showed no IRQ without the reset: the gap check could not see one"
        nt = ev["next_tenant"]
        assert nt["opened"] and nt["irqs"] > 0, \
            f"no IRQ reached the next tenant's eventfd without the reset ({nt}): the environment could not provoke it"


@pytest.mark.vfio_id("control.null_reset.reset_ioctl")
def test_control_null_reset_ioctl(null_reset_loaded, ssh, profile, twin, evidence):
    """reset.ioctl's own negative control: VFIO_DEVICE_RESET with a handler that does nothing
    must leave DMA (and, with a wired IRQ, IRQs delivered to the eventfd) going, or reset.ioctl's
    pass proves nothing."""
    if fslmc.is_fslmc(profile):
        fslmc.fresh_firmware_state(ssh, profile, twin)
        ev = fslmc.reset_ioctl(ssh, profile)
        evidence.update(ev)
        assert ev["busy_after"], f"{profile.dut_object} read reset after a VFIO_DEVICE_RESET the firmware ignored"
        return
    evs = platform.reset_check(ssh, profile)
    after = platform.one(evs, "after_reset")
    evidence.update(reset=platform.one(evs, "reset"), watch=after)
    assert after["canary_changed"] > 0, "no DMA after a null VFIO_DEVICE_RESET: reset.ioctl could not see one"
    if not profile.dut_no_wired_irq:
        assert after["irqs"] > 0, "no IRQ after a null VFIO_DEVICE_RESET: reset.ioctl could not see one"
