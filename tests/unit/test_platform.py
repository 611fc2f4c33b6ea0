import pytest

from harness.errors import InfrastructureError
from harness.suite import platform
from harness.targets import get_target

T = get_target("qemu-highbank")
RUNNING = {"DMA_CONTROL": "0x2", "DMA_INTR_ENA": "0x10040", "XGMAC_CONTROL": "0x4", "DMA_STATUS": "0x10040"}
RESET = {"DMA_CONTROL": "0x0", "DMA_INTR_ENA": "0x0", "XGMAC_CONTROL": "0x0", "DMA_STATUS": "0x10040"}


def test_busy_bits_follow_the_profile_masks():
    assert platform.busy_bits(T, RUNNING) == {"DMA_CONTROL": "0x2", "DMA_INTR_ENA": "0x10040", "XGMAC_CONTROL": "0x4"}
    # DMA_STATUS is not in the profile: latched status bits are not a reset failure.
    assert platform.busy_bits(T, RESET) == {}


def test_next_tenant_irq_bleed_is_irqs_seen_or_interrupts_left_armed():
    quiet = {"next_tenant": {"irqs": 0, "quiescence": RESET}}
    assert not platform.next_tenant_irq_bled(T, quiet)
    assert platform.next_tenant_irq_bled(T, {"next_tenant": {"irqs": 3, "quiescence": RESET}})
    armed = {**RESET, "DMA_INTR_ENA": "0x10040"}
    assert platform.next_tenant_irq_bled(T, {"next_tenant": {"irqs": 0, "quiescence": armed}})
    dma_only = {**RESET, "DMA_CONTROL": "0x2"}          # DMA left running is a DMA matter, not IRQ bleed
    assert not platform.next_tenant_irq_bled(T, {"next_tenant": {"irqs": 0, "quiescence": dma_only}})


def _regs(pending: bool, armed: bool, ms: int = 0) -> dict:
    return {"event": "gap_regs", "mono_ms": ms, "irq_pending": pending, "irq_armed": armed, "dma_running": False}


def test_gap_irq_bleed_is_a_line_driven_or_a_source_left_enabled_while_nobody_owns_the_device():
    quiet = [_regs(False, False, t) for t in (100, 200, 300)]
    assert not platform.irq_bled_in_gap({"gap_irq": platform.gap_irq(quiet, None)})
    assert not platform.irq_bled_in_gap({"gap_irq": platform.gap_irq(quiet, {101: 0.0, 102: 0.0})})
    late = quiet + [_regs(True, True, 400)]             # the line rose in the last sample only
    g = platform.gap_irq(late, None)
    assert platform.irq_bled_in_gap({"gap_irq": g}) and g["first_pending_mono_ms"] == 400
    assert platform.irq_bled_in_gap({"gap_irq": platform.gap_irq([_regs(False, True)], None)})
    # the twin saw its line high between samples: bleed, whatever the registers said when read
    assert platform.irq_bled_in_gap({"gap_irq": platform.gap_irq(quiet, {101: 2.5})})


def test_a_kernel_refusal_is_told_from_a_lab_failure():
    refused_open = [{"event": "error", "op": "VFIO_GROUP_GET_DEVICE_FD", "what": "x", "errno": 16}]
    refused_reset = [{"event": "quiescence"}, {"event": "reset", "rc": -1, "errno": 16}]
    failed_ioctl = [{"event": "check_failed", "expr": "ioctl(s->dev.device_fd, VFIO_DEVICE_SET_IRQS)", "errno": 22}]
    lab = [{"event": "error", "op": "open", "what": "/dev/mem", "errno": 2}]
    for evs in (refused_open, refused_reset, failed_ioctl):
        assert platform.kernel_refusal(evs) is not None, evs
    assert platform.kernel_refusal(lab) is None
    assert platform.kernel_refusal([{"event": "reset", "rc": 0, "errno": 0}]) is None


class _Ssh:
    def __init__(self, out, rc):
        self.out, self.rc = out, rc

    def run(self, cmd, timeout=30):
        return self.out, [], self.rc


def test_an_agent_the_kernel_refused_fails_and_one_the_lab_broke_errors():
    import json

    refused = [json.dumps({"event": "error", "op": "VFIO_GROUP_GET_DEVICE_FD", "what": "d", "errno": 16})]
    with pytest.raises(platform.KernelRefused, match="VFIO_GROUP_GET_DEVICE_FD"):
        platform.agent(_Ssh(refused, 1), "vfio-hil-agent next-tenant --device d")
    assert issubclass(platform.KernelRefused, AssertionError)       # the plugin's `fail`
    with pytest.raises(InfrastructureError, match="exited 127"):
        platform.agent(_Ssh(["sh: vfio-hil-agent: not found"], 127), "vfio-hil-agent next-tenant")
    nt = platform.next_tenant(_Ssh(refused, 1), T)
    assert nt["opened"] is False and "VFIO_GROUP_GET_DEVICE_FD" in nt["refused"]


def test_a_stuck_tenant_is_named_with_what_proc_says():
    ev = {"stuck": {"pid": 42, "after_s": 10.0, "proc": ["Name:\tvfio-hil-agent", "State:\tD (disk sleep)"]}}
    assert "could not be reaped" in platform.stuck_reason(ev) and "D (disk sleep)" in platform.stuck_reason(ev)
    assert platform.stuck_reason({"stuck": None}) is None


def test_a_register_the_agent_did_not_report_is_an_infrastructure_error():
    with pytest.raises(InfrastructureError, match="XGMAC_CONTROL"):
        platform.busy_bits(T, {"DMA_CONTROL": "0x0", "DMA_INTR_ENA": "0x0"})


def test_dma_bleed_is_any_canary_byte_changed():
    assert platform.dma_bled({"gap_check": {"changed": 1}})
    assert not platform.dma_bled({"gap_check": {"changed": 0}})


def test_in_type1_dma_bleed_is_what_the_twin_saw_tried_and_the_evidence_says_so():
    twin = {"dma_judged_by": platform.DMA_JUDGED_BY_TWIN, "gap_check": {"changed": 0}}
    assert platform.dma_bled({**twin, "gap_dma_writes": 3, "gap_dma_reads": 0})     # refused writes count
    assert platform.dma_bled({**twin, "gap_dma_writes": 0, "gap_dma_reads": 5})
    assert not platform.dma_bled({**twin, "gap_dma_writes": 0, "gap_dma_reads": 0})
    # the same numbers without the switch (e.g. a board, no twin) are not read: the canary judges
    assert not platform.dma_bled({"gap_check": {"changed": 0}, "gap_dma_writes": 3, "gap_dma_reads": 1})


def test_native_probe_errors_are_the_lines_the_twins_really_provoked():
    """native.probe fails on these: what amd-xgbe logged against the twin before it modelled TX
    queue flush (6.1) and the timestamp commands (7.2); a clean probe and others' lines do not count."""
    log = ["virtio_net virtio0: something failed",                               # another device
           "amd-xgbe 7e000000.xgmac eth1: net device enabled",
           "amd-xgbe 7e000000.xgmac eth1: error flushing TX queues",
           "amd-xgbe 7e000000.xgmac eth1: timed out updating timestamp addend register"]
    mine, errors = platform.driver_lines(log, "7e000000.xgmac", "amd_xgbe")
    assert mine == log[1:]
    assert errors == log[2:]
    clean = ["brcm-flexrm-mbox 7e000000.mailbox: registered flexrm mailbox with 4 channels"]
    assert platform.driver_lines(clean, "7e000000.mailbox", "bcm_flexrm_mailbox") == (clean, [])


def test_the_agent_and_profile_must_agree_on_irq_wiring():
    iproc = get_target("qemu-iproc")
    platform.check_irq_wiring(iproc, {"armed": {"wired_irq": False}})
    platform.check_irq_wiring(T, {"armed": {"wired_irq": True}})
    with pytest.raises(InfrastructureError, match="wired_irq=True"):      # error, never a fail
        platform.check_irq_wiring(iproc, {"armed": {"wired_irq": True}})
    with pytest.raises(InfrastructureError, match="wired_irq=False"):
        platform.check_irq_wiring(T, {"armed": {"wired_irq": False}})


def test_the_controls_bleed_is_a_rate_and_the_moment_the_ring_ran_dry():
    tl = {"canary_laid_ms": 40, "canary": [[140, 3000], [240, 6000], [340, 9568], [440, 9568], [540, 9568]]}
    b = platform.bleed_profile(tl)
    assert b == {"bytes": 9568, "rate_bytes_per_s": 31893, "ran_dry_ms": 340}
    growing = {"canary_laid_ms": 40, "canary": [[140, 300], [240, 600]]}
    assert platform.bleed_profile(growing)["ran_dry_ms"] is None      # still running at the end
    assert platform.bleed_profile({"canary_laid_ms": 0, "canary": [[100, 0]]})["bytes"] == 0


class _Script:
    """An SSH stand-in answering each command from a list of (substring, reply) in order."""

    def __init__(self, replies):
        self.replies = replies

    def run(self, cmd, timeout=30):
        for key, reply in self.replies:
            if key in cmd:
                return reply, [], 0
        return [], [], 0


def test_a_tenant_held_in_the_kernel_before_it_armed_is_the_kernels_fail():
    """The tenant's open waits on a release that hangs: uninterruptible sleep is the kernel's doing."""
    held = _Script([("cat /tmp/tenant.log", []), ("/proc/7/status", ["Name:\tvfio-hil-agent", "State:\tD (disk sleep)",
                                                                     "wchan=__mutex_lock"])])
    with pytest.raises(platform.KernelRefused, match="held in the kernel"):
        platform.wait_armed(held, 7, deadline_s=0.2)
    slow = _Script([("cat /tmp/tenant.log", []), ("/proc/7/status", ["State:\tS (sleeping)"])])
    with pytest.raises(InfrastructureError, match="did not arm"):
        platform.wait_armed(slow, 7, deadline_s=0.2)
    armed = _Script([("cat /tmp/tenant.log", ['{"event": "armed", "pid": 7}'])])
    assert platform.wait_armed(armed, 7, deadline_s=0.2) is True
    gone = _Script([("cat /tmp/tenant.log", ['{"event": "error", "op": "VFIO_GROUP_GET_DEVICE_FD"}', "VFIO-HIL-GONE"])])
    assert platform.wait_armed(gone, 7, deadline_s=0.2) is False


def test_reset_state_names_what_the_tenant_set_and_what_the_gap_still_shows():
    rs = platform.reset_state(T, RUNNING, RESET)
    assert rs["tenant_set"] == {"DMA_CONTROL": "0x2", "DMA_INTR_ENA": "0x10040", "XGMAC_CONTROL": "0x4"}
    assert rs["left_set"] == {} and rs["checked"] == sorted(T.dut_quiescence)
    # The MAC's RX enable survives (a handler without its MAC disable): only that is left.
    assert platform.reset_state(T, RUNNING, {**RESET, "XGMAC_CONTROL": "0x4"})["left_set"] == {"XGMAC_CONTROL": "0x4"}


def test_seattles_expectations_cover_every_channel_and_the_tenants_non_default_settings():
    seattle = get_target("qemu-seattle")
    for reg in ("DMA_MR", "PCS_CTRL1", "AN_INTMASK", "AN_INT", *(f"CH{c}_{r}" for c in range(4) for r in ("RCR", "IER"))):
        assert reg in seattle.dut_quiescence, reg
    # DMA_MR.INTM is what shows a software reset ran: SWR itself reads 0 either way.
    assert int(seattle.dut_quiescence["DMA_MR"], 16) & 0x3000
    assert "AN_INTMASK" in seattle.dut_irq_enable_registers


def test_tx_wiring_and_leak():
    seattle = get_target("qemu-seattle")
    ev = {"armed": {"transmits": True}, "gap_tx": {"frames": 0, "bytes": 0, "first_head": None}}
    platform.check_tx_wiring(seattle, ev)
    assert not platform.tx_leaked(ev)
    assert platform.tx_leaked({**ev, "gap_tx": {"frames": 16, "bytes": 9600, "first_head": "a5a5"}})
    assert not platform.tx_leaked({"gap_tx": None})                   # nothing captured: no claim
    with pytest.raises(InfrastructureError, match="transmits=False.*dut_no_tx=None"):
        platform.check_tx_wiring(seattle, {"armed": {"transmits": False}})
    with pytest.raises(InfrastructureError, match="transmits=True"):
        platform.check_tx_wiring(T, {"armed": {"transmits": True}})  # Highbank's profile: no TX watched


class _AttachSsh:
    """The target as iommu_attach sees it: each iommu-attach answers the next of ``attaches``."""

    def __init__(self, *attaches):
        self.attaches, self.commands = list(attaches), []

    def run(self, cmd, timeout=30):
        self.commands.append(cmd)
        return (self.attaches.pop(0), [], 0) if "iommu-attach" in cmd else ([], [], 0)

    def run_check(self, cmd, timeout=30):
        self.commands.append(cmd)
        return ["N"]


def test_iommu_attach_separates_the_msi_rule_a_kernel_refusal_and_a_broken_lab():
    import json

    ok = [json.dumps({"event": "iommu_attach", "device": "d", "noiommu": False})]
    eperm = [json.dumps({"event": "check_failed", "expr": "ioctl(dev->container_fd, VFIO_SET_IOMMU)", "errno": 1})]
    ebusy = [json.dumps({"event": "check_failed", "expr": "ioctl(dev->container_fd, VFIO_SET_IOMMU)", "errno": 16})]
    t1 = get_target("qemu-seattle").for_iommu("type1")
    assert platform.iommu_attach(_AttachSsh(ok), t1)["finding"] is None
    ssh = _AttachSsh(eperm, ok)
    out = platform.iommu_attach(ssh, t1)
    assert "allow_unsafe_interrupts=1" in out["finding"] and any("echo 1 >" in c for c in ssh.commands)
    with pytest.raises(platform.KernelRefused, match="still refused"):
        platform.iommu_attach(_AttachSsh(eperm, eperm), t1)
    with pytest.raises(platform.KernelRefused, match="refused to attach"):
        platform.iommu_attach(_AttachSsh(ebusy), t1)
    with pytest.raises(InfrastructureError, match="iommu-attach"):
        platform.iommu_attach(_AttachSsh(["sh: vfio-hil-agent: not found"]), t1)
