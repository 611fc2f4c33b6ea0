"""Steps of the platform-device reset experiments, over SSH to the agent.

Each step is plain: run a command on the target, parse the agent's JSON lines,
return evidence. Verdicts are decided by the tests in testsuites/.
"""

from __future__ import annotations

import json
import re
import time

from harness.errors import InfrastructureError
from harness.targets import TargetProfile

NAME = "platform"
DRIVER = "vfio-platform"
VARIANTS = ["sigkill", "segv", "child_holds_fd", "exit_without_cleanup", "kill_during_ioctl"]
HOLD_S = 1.0          # tenant runs with DMA+IRQ armed and frames flowing before it dies
GAP_S = 1.0           # how long the canary is watched between death and the next open
NEXT_TENANT_MS = 1000
TENANT_REPORT_MS = 100  # the tenant's progress lines: the timeline's resolution before death
CANARY_EVERY_MS = 100   # the canary's samples: its resolution after death
DEATH_DEADLINE_S = 10.0
LIVE_READ_MS = 500      # the tenant reads its device's registers once, this long after arming
RESET_REQUIRED_PARAM = "/sys/module/vfio_platform/parameters/reset_required"
UNSAFE_INTERRUPTS_PARAM = "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
# Type1: the IOVA every tenant gives the device for its window (the size is the profile's
# dma_window's). Outside virt's RAM (so an untranslated write lands nowhere) and outside the
# SMMUv3's software MSI window (0x8000000 + 1 MiB, arm-smmu-v3.c MSI_IOVA_BASE).
IOVA_BASE = 0xc0000000
# Type1: the tmpfs files whose pages are the tenants' DMA memory (the agent's --dma-file).
TENANT_DMA_FILE = "/tmp/vfio-hil-dma-tenant"
NEXT_DMA_FILE = "/tmp/vfio-hil-dma-next"
RESET_DMA_FILE = "/tmp/vfio-hil-dma-reset"


def type1(t: TargetProfile) -> bool:
    return t.iommu_mode == "type1"


def window(t: TargetProfile) -> str:
    """The window as the device is given it: the physical dma_window, or in type1 mode the same
    size at IOVA_BASE."""
    if not type1(t):
        return t.dma_window
    return f"{IOVA_BASE:#x}:{t.dma_window.split(':')[1]}"


def dma_file(t: TargetProfile, path: str) -> str:
    """The agent's --dma-file argument in type1 mode (empty in no-IOMMU mode)."""
    return f"--dma-file {path}" if type1(t) else ""


def iommu_attach(ssh, t: TargetProfile) -> dict:
    """Type1: can the device's group be attached to a type1 container? On 6.3+ vfio_iommu_type1
    refuses (EPERM) a group whose devices lack isolated MSIs (a wired-IRQ platform device has no
    MSI domain at all) unless allow_unsafe_interrupts is set. Tried first as the kernel boots; if
    refused, the parameter is set (for this boot) and the refusal is returned as a finding."""
    ssh.run("modprobe vfio_iommu_type1")
    before = ssh.run_check(f"cat {UNSAFE_INTERRUPTS_PARAM}")[0].strip()
    first = events(ssh.run(f"vfio-hil-agent iommu-attach --device {t.dut_device}")[0])
    out = {"allow_unsafe_interrupts": before, "first": first, "finding": None}
    if any(e.get("event") == "iommu_attach" for e in first):
        return out
    refused = kernel_refusal(first)
    if refused is None:                  # the agent failed for a reason of the lab's, not the kernel's
        raise InfrastructureError(f"`vfio-hil-agent iommu-attach --device {t.dut_device}` failed: {first}")
    if refused.get("errno") != 1:        # EPERM is the isolated-MSI rule; anything else is a refusal of its own
        raise KernelRefused(f"the kernel refused to attach {t.dut_device}'s group to a type1 container: {first}")
    ssh.run_check(f"echo 1 > {UNSAFE_INTERRUPTS_PARAM}")
    again = events(ssh.run(f"vfio-hil-agent iommu-attach --device {t.dut_device}")[0])
    out.update(again=again, finding=(
        f"this kernel refuses type1 for {t.dut_device} (EPERM at VFIO_SET_IOMMU: its group has no isolated "
        f"MSIs, drivers/vfio/vfio_iommu_type1.c); the harness set vfio_iommu_type1.allow_unsafe_interrupts=1 "
        f"for the rest of the run"))
    if not any(e.get("event") == "iommu_attach" for e in again):
        raise KernelRefused(f"type1 still refused {t.dut_device}'s group with allow_unsafe_interrupts=1: {again}")
    return out


def events(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def one(lines_or_events, event: str) -> dict:
    evs = lines_or_events if lines_or_events and isinstance(lines_or_events[0], dict) else events(lines_or_events)
    found = [e for e in evs if e.get("event") == event]
    if len(found) != 1:
        raise InfrastructureError(f"agent printed {len(found)} '{event}' lines, expected one: {evs}")
    return found[0]


class KernelRefused(AssertionError):
    """The kernel refused what a tenant asked of it (an open, a VFIO ioctl): the kernel's doing,
    so a `fail` (an AssertionError to the plugin), never an infrastructure error."""


# The agent's error lines ("op") and failed checks ("expr") that are the kernel answering a VFIO
# request with an error. Anything else the agent fails at (/dev/mem, its arguments, a missing
# ops table) is the lab's problem.
KERNEL_OPS = {"find_group", "open_group", "open_container", "VFIO_GROUP_GET_DEVICE_FD", "open_cdev",
              "mmap region 0", "mmap region 1", "VFIO_DEVICE_RESET"}


def kernel_refusal(evs: list[dict]) -> dict | None:
    """The agent's line saying the kernel refused a VFIO request, if it printed one."""
    for e in evs:
        if e.get("event") == "error" and e.get("op") in KERNEL_OPS:
            return e
        if e.get("event") == "check_failed" and "ioctl(" in e.get("expr", ""):
            return e
        if e.get("event") == "reset" and e.get("rc", 0) != 0:
            return e
    return None


def _kernel_refused(evs: list[dict]) -> str | None:
    refusal = kernel_refusal(evs)
    return None if refusal is None else f"the kernel refused: {refusal}"


def agent(ssh, cmd: str, timeout: float = 60, refused=_kernel_refused) -> list[dict]:
    """Run an agent command and return its JSON lines. A non-zero exit is a KernelRefused when
    ``refused(events)`` says what the device side refused (by default: the kernel refused a VFIO
    request), else an InfrastructureError with its output."""
    out, err, rc = ssh.run(cmd, timeout=timeout)
    evs = events(out)
    if rc == 0:
        return evs
    why = refused(evs)
    if why is not None:
        raise KernelRefused(f"{why} (`{cmd.split()[1]}` exited {rc})")
    raise InfrastructureError(f"`{cmd}` exited {rc}: {(out + err)[-12:]}")


def dmesg_mark(ssh) -> int:
    """A position in the kernel log; dmesg_since(mark) returns what came after (never clears the log)."""
    return len(ssh.run_check("dmesg"))


def dmesg_since(ssh, mark: int) -> list[str]:
    return ssh.run_check("dmesg")[mark:]


def modules(ssh) -> list[str]:
    return [line.split()[0] for line in ssh.run_check("cat /proc/modules")]


def current_driver(ssh, device: str) -> str | None:
    out, _, rc = ssh.run(f"basename $(readlink /sys/bus/platform/devices/{device}/driver)")
    return out[0] if rc == 0 and out else None


def device_info(ssh, t: TargetProfile) -> list[dict]:
    """The agent's info lines, among them a "device" line per bound device (VFIO_DEVICE_GET_INFO)."""
    return events(ssh.run_check("vfio-hil-agent info"))


def bind_to_vfio(ssh, device: str) -> None:
    unbind(ssh, device)
    ssh.run_check(f"echo vfio-platform > /sys/bus/platform/devices/{device}/driver_override")
    ssh.run(f"echo {device} > /sys/bus/platform/drivers_probe")   # may fail: the tests judge the result


def unbind(ssh, device: str) -> None:
    ssh.run_check(f"[ ! -e /sys/bus/platform/devices/{device}/driver ] || "
                  f"echo {device} > /sys/bus/platform/devices/{device}/driver/unbind")


NULL_RESET_MODULE = "vfio_null_reset"


def use_null_reset(ssh, t: TargetProfile) -> None:
    """The negative control's handler: the null-reset module (registered for the device's
    compatible, doing nothing) in the real handler's place, the device bound again. Once in place
    it stays (a second call leaves it)."""
    if NULL_RESET_MODULE in modules(ssh) and current_driver(ssh, t.dut_device) == DRIVER:
        return
    unbind(ssh, t.dut_device)
    ssh.run(f"rmmod {t.dut_reset_module}")
    ssh.run_check(f"insmod /lib/vfio-hil/null-reset/{t.dut_compatible.replace(',', '_')}/{NULL_RESET_MODULE}.ko")
    bind_to_vfio(ssh, t.dut_device)
    assert current_driver(ssh, t.dut_device) == DRIVER, f"{t.dut_device} did not bind to {DRIVER} with the null reset"


def use_real_reset(ssh, t: TargetProfile) -> None:
    """The real handler again, if the null-reset module took its place: unbound, the null module
    removed, bound (vfio-platform loads the handler registered for the compatible)."""
    if NULL_RESET_MODULE not in modules(ssh):
        return
    unbind(ssh, t.dut_device)
    ssh.run_check(f"rmmod {NULL_RESET_MODULE}")
    bind_to_vfio(ssh, t.dut_device)
    assert current_driver(ssh, t.dut_device) == DRIVER, f"{t.dut_device} did not bind to {DRIVER} again"
    assert t.dut_reset_module in modules(ssh), f"binding {t.dut_device} did not load {t.dut_reset_module} again"


# What a driver prints when something it needs from the device is missing or wrong.
DRIVER_ERROR = re.compile(r"error|fail|timeout|timed out|invalid|unable|not supported|can't|cannot", re.I)
NATIVE_OPEN_S = 2.0


def native_probe(ssh, t: TargetProfile) -> dict:
    """Load the device's own driver, let it probe the device, open and close its network interface
    if it made one, then unbind and remove it again; returns what happened, with the kernel log."""
    mark = dmesg_mark(ssh)
    out, _, rc = ssh.run(f"modprobe {t.dut_native_module}")
    if rc != 0:
        raise InfrastructureError(f"modprobe {t.dut_native_module} failed ({out}): the kernel under test was "
                                  f"built without it; add it to the target's kconfig fragments")
    result: dict = {"module": t.dut_native_module, "driver": current_driver(ssh, t.dut_device)}
    try:
        ifaces, _, rc = ssh.run(f"ls /sys/bus/platform/devices/{t.dut_device}/net")
        if rc == 0 and ifaces:
            iface = ifaces[0]
            result["netdev"] = iface
            result["up_rc"] = ssh.run(f"ip link set {iface} up")[2]
            time.sleep(NATIVE_OPEN_S)           # the driver's open path: PHY start, DMA and IRQ setup
            result["link"] = ssh.run(f"ip link show {iface}")[0]
            result["down_rc"] = ssh.run(f"ip link set {iface} down")[2]
    finally:
        unbind(ssh, t.dut_device)
        ssh.run(f"rmmod {t.dut_native_module}")
    result["dmesg"], result["errors"] = driver_lines(dmesg_since(ssh, mark), t.dut_device, t.dut_native_module)
    return result


def driver_lines(log: list[str], device: str, module: str) -> tuple[list[str], list[str]]:
    """The kernel log lines about ``device`` or from ``module`` (its last 30), and those of them
    that report an error."""
    mine = [line for line in log if device in line or module.replace("_", "-") in line][-30:]
    return mine, [line for line in mine if DRIVER_ERROR.search(line)]


def wait_gone(ssh, pid: int, deadline_s: float = DEATH_DEADLINE_S) -> dict | None:
    """None once ``pid`` is gone; if it is still there after ``deadline_s`` (SIGKILLed, so only the
    kernel can hold it: a release path or reset handler that hangs), what /proc says of it."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if ssh.run(f"kill -0 {pid} 2>/dev/null")[2] != 0:
            return None
        time.sleep(0.1)
    ssh.run(f"kill -9 {pid}")
    return {"pid": pid, "after_s": deadline_s, "proc": proc_state(ssh, pid)}


def proc_state(ssh, pid: int) -> list[str]:
    """What the target's /proc says a process is doing: its name, state and kernel wait channel."""
    return ssh.run(f"grep -E '^(State|Name):' /proc/{pid}/status; echo wchan=$(cat /proc/{pid}/wchan)")[0]


ARM_DEADLINE_S = 10.0


def wait_armed(ssh, pid: int, deadline_s: float = ARM_DEADLINE_S) -> bool:
    """True once the tenant says it armed the device; False if it exited first (the caller reads
    why from its log). A tenant still not armed at the deadline is either held in the kernel
    (uninterruptible sleep, e.g. its open waits on a release that hangs: KernelRefused, a fail)
    or slow for a reason of the lab's (InfrastructureError)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        out, _, _ = ssh.run(f"cat /tmp/tenant.log; kill -0 {pid} 2>/dev/null || echo VFIO-HIL-GONE")
        if any(e.get("event") == "armed" for e in events(out)):
            return True
        if "VFIO-HIL-GONE" in out:
            return False
        time.sleep(0.1)
    state = proc_state(ssh, pid)
    if any(line.startswith("State:") and "D" in line.split()[1] for line in state):
        raise KernelRefused(f"the tenant (pid {pid}) was held in the kernel for {deadline_s} s before it could "
                            f"open and arm the device: {state}")
    raise InfrastructureError(f"the tenant (pid {pid}) did not arm the device within {deadline_s} s: {state}")


def stuck_reason(ev: dict) -> str | None:
    """Why the experiment could not go on because a tenant could not be reaped, if it could not."""
    stuck = ev.get("stuck")
    if not stuck:
        return None
    return (f"tenant pid {stuck['pid']} could not be reaped {stuck['after_s']} s after it died "
            f"(SIGKILL sent again): the kernel is stuck releasing the device: {stuck['proc']}")


def canary(ssh, t: TargetProfile, mode: str) -> dict:
    """The canary over the live tenant's window: physical memory, or in type1 its own DMA file."""
    return one(ssh.run_check(f"vfio-hil-agent canary {mode} --compat {t.dut_compatible} --window {window(t)} "
                             f"{dma_file(t, TENANT_DMA_FILE)}"), "canary")


def canary_watch(ssh, t: TargetProfile, layout: str | None = None) -> tuple[dict, dict, list[list[int]], list[dict]]:
    """Lay the canary, then every CANARY_EVERY_MS for GAP_S sample how many of its bytes changed
    and read the device's interrupt and DMA registers, all through /dev/mem (nobody opens the
    device). Returns the fill line, the final check line, [[mono_ms, changed], ...] and the
    register samples. ``layout``: the agent ops that say which part of the window is the canary,
    for a device with no registers to read (fsl-mc objects: the firmware holds their state)."""
    regs_of = "" if layout else f"--regs-of {t.dut_device}"
    # Type1: the canary is the next tenant's own memory, mapped at the dead tenant's IOVAs before
    # it opens the device (an open would reset it and hide what the close-time reset left).
    next_memory = f"--dma-file {NEXT_DMA_FILE} --iova-of {t.dut_device}" if type1(t) else ""
    evs = agent(ssh, f"vfio-hil-agent canary watch --compat {layout or t.dut_compatible} --window {window(t)} "
                     f"--ms {int(GAP_S * 1000)} --every {CANARY_EVERY_MS} {regs_of} {next_memory}", timeout=30)
    lines = [e for e in evs if e.get("event") == "canary"]
    if [e["mode"] for e in lines] != ["fill", "check"]:
        raise InfrastructureError(f"canary watch printed {lines}, expected a fill then a check line")
    samples = [[e["mono_ms"], e["changed"]] for e in evs if e.get("event") == "canary_sample"]
    regs = [e for e in evs if e.get("event") == "gap_regs"]
    if not regs and not layout:
        raise InfrastructureError(f"canary watch read no registers in the gap: {evs[-5:]}")
    return lines[0], lines[1], samples, regs


def gap_irq(regs: list[dict], line_high_ms: dict | None) -> dict:
    """The gap's interrupt evidence: register samples in which the device drove its line
    (status & enable) or had a source enabled, and, on a twin, how long each of its lines was
    high between the death and the next open (from the twin itself)."""
    pending = [r["mono_ms"] for r in regs if r["irq_pending"]]
    armed = [r["mono_ms"] for r in regs if r["irq_armed"]]
    return {"samples": len(regs), "pending_samples": len(pending), "armed_samples": len(armed),
            "first_pending_mono_ms": pending[0] if pending else None, "first": regs[0], "last": regs[-1],
            "line_high_ms": line_high_ms}


def irq_bled_in_gap(ev: dict) -> bool:
    """While nobody owned the device, it drove its interrupt line or kept a source enabled."""
    g = ev["gap_irq"]
    return bool(g["pending_samples"] or g["armed_samples"] or any((g["line_high_ms"] or {}).values()))


def kill_now(ssh, pid: int) -> int:
    """SIGKILL ``pid`` and return the target's CLOCK_MONOTONIC ms right after (the moment of death)."""
    return one(ssh.run_check(f"kill -9 {pid} && vfio-hil-agent clock"), "clock")["mono_ms"]


def next_tenant(ssh, t: TargetProfile) -> dict:
    """The next user opens the device (which runs the reset handler again), registers its eventfd
    first and counts IRQs. {"opened": False, "refused": ...} when the kernel refused the open."""
    try:
        evs = agent(ssh, f"vfio-hil-agent next-tenant --device {t.dut_device} --compat {t.dut_compatible} "
                         f"--watch-ms {NEXT_TENANT_MS}", timeout=30)
    except KernelRefused as exc:
        return {"opened": False, "refused": str(exc), "irq_samples": []}
    samples = [[e["mono_ms"], e["irqs"]] for e in evs if e.get("event") == "irq_sample"]
    return {"opened": True, **one(evs, "next_tenant"), "quiescence": one(evs, "quiescence"), "irq_samples": samples}


def timeline(death_ms: int, tenant: list[dict], canary_samples: list, canary_fill: dict, nt: dict) -> dict:
    """The experiment on one axis, in ms relative to the moment of death (t = 0): the tenant's
    cumulative IRQs and frames while it lived, the canary's changed bytes while nobody owned the
    device, and the next tenant's cumulative IRQs from the moment it opened the device."""
    rel = lambda ms: ms - death_ms  # noqa: E731
    return {
        "tenant": [[rel(e["mono_ms"]), e["irqs"], e["frames"]] for e in tenant
                   if e.get("event") == "progress" and "mono_ms" in e],
        "canary_laid_ms": rel(canary_fill["mono_ms"]),
        "canary": [[rel(ms), changed] for ms, changed in canary_samples],
        "next_open_ms": rel(nt["irq_samples"][0][0]) if nt["irq_samples"] else None,
        "next_irqs": [[rel(ms), n] for ms, n in nt["irq_samples"]],
    }


def bleed_profile(tl: dict) -> dict:
    """How the canary was overwritten in the gap (timeline ms after death): the bytes, the rate
    while it grew and when it stopped growing, i.e. when the device's ring ran dry (every buffer
    the dead tenant had handed it was used; None if it was still growing at the last sample).
    A bleed is a rate into freed memory, not a ring-size constant."""
    samples = tl["canary"]
    total = samples[-1][1] if samples else 0
    if not total:
        return {"bytes": 0, "rate_bytes_per_s": 0, "ran_dry_ms": None}
    full_at = next(ms for ms, changed in samples if changed == total)
    ran_dry = full_at if full_at < samples[-1][0] else None
    span_s = max(full_at - tl["canary_laid_ms"], 1) / 1000
    return {"bytes": total, "rate_bytes_per_s": round(total / span_s), "ran_dry_ms": ran_dry}


def start_tenant(ssh, cmd: str, variant: str) -> int:
    """Start tenant command ``cmd`` in the background with the flags that make it die as
    ``variant`` says (the harness itself SIGKILLs the others); its JSON lines go to
    /tmp/tenant.log. Returns its pid."""
    extra = {"segv": f"--die-after-ms {int(HOLD_S * 1000)} --die-how segv",
             "exit_without_cleanup": f"--die-after-ms {int(HOLD_S * 1000)} --die-how exit",
             "child_holds_fd": "--fork-holder",
             "kill_during_ioctl": "--ioctl-loop"}.get(variant, "")
    return int(ssh.run_check(f"{cmd} {extra} > /tmp/tenant.log 2>&1 & echo $!")[0])


def run_variant(ssh, t: TargetProfile, variant: str, twin=None, capture=None) -> dict:
    """One abnormal teardown of a tenant with DMA+IRQ armed; returns the evidence of the gap and the next open.

    The moment of death (t = 0 of the timeline) is when the device lost its last owner: the
    tenant's own death, or for child_holds_fd the holder's. The gap, from then until the next
    open, is watched through /dev/mem only (canary and registers), on the device's backend
    (``capture``: what it transmitted) and, on a twin, by the twin:
    the next open runs the reset handler again, so only the gap shows what the death left."""
    pid = start_tenant(ssh, f"vfio-hil-agent tenant --device {t.dut_device} --compat {t.dut_compatible} "
                            f"--window {window(t)} {dma_file(t, TENANT_DMA_FILE)} --report-ms {TENANT_REPORT_MS}",
                       variant)
    try:
        return _experiment(ssh, t, variant, twin, capture, pid)
    except BaseException:
        stop_tenants(ssh, pid)
        raise


def stop_tenants(ssh, pid: int) -> None:
    """After an experiment broke off: kill the tenant and any holder it forked (the pids this
    suite started), so that no process keeps the device open into the next test (the next
    open would be refused with EBUSY, and an unbind would wait forever)."""
    try:
        holders = [e["pid"] for e in events(ssh.run("cat /tmp/tenant.log")[0]) if e.get("event") == "holder"]
        for p in [pid, *holders]:
            ssh.run(f"kill -9 {p} 2>/dev/null")
        for p in [pid, *holders]:
            wait_gone(ssh, p)
    except Exception:      # the target may be gone; the broken experiment's own error is the one to report
        pass


def _experiment(ssh, t: TargetProfile, variant: str, twin, capture, pid: int) -> dict:
    if not wait_armed(ssh, pid):                # it exited without arming: say why, kill nothing
        tenant = events(ssh.run("cat /tmp/tenant.log")[0])
        refusal = kernel_refusal(tenant)
        if refusal is not None:
            raise KernelRefused(f"the kernel refused the tenant opening and arming the device: {refusal}")
        raise InfrastructureError(f"the tenant exited without arming the device: {tenant}")
    time.sleep(HOLD_S)
    evidence: dict = {"variant": variant, "stuck": None}
    death_ms = None
    if variant in ("sigkill", "child_holds_fd", "kill_during_ioctl"):
        death_ms = kill_now(ssh, pid)
    evidence["stuck"] = wait_gone(ssh, pid)
    tenant = events(ssh.run("cat /tmp/tenant.log")[0])
    evidence["tenant_last"] = tenant[-1] if tenant else None
    evidence["armed"] = one(tenant, "armed")      # wait_armed saw it: the log only grows
    evidence["armed_regs"] = one(tenant, "quiescence")
    progress = [e for e in tenant if e.get("event") == "progress"]
    evidence["before_death"] = {k: progress[-1][k] for k in ("irqs", "frames")} if progress else None
    # The tenant armed DMA (its ops guarantee it) and never stops it: a device that reads idle while
    # its owner still holds it was reset under that owner (e.g. by a reset that finished after the
    # handler returned). Every check of this teardown would measure that, not the death: the kernel's fail.
    live = [e for e in tenant if e.get("event") == "live"]
    if live and not live[0].get("dma_running"):
        raise KernelRefused(f"the device stopped under its live owner: {LIVE_READ_MS} ms after arming it read "
                            f"{live[0]} (armed it read {evidence['armed_regs']}): it was reset while still open")
    if not progress or not (progress[-1]["frames"] or progress[-1]["irqs"]):
        raise InfrastructureError(f"no traffic reached the device while the tenant lived ({evidence['before_death']}): "
                                  f"the experiment would prove nothing; is the frame feeder running?")
    if evidence["stuck"]:
        return evidence
    if death_ms is None:
        death_ms = one(tenant, "dying")["mono_ms"]
    if variant == "child_holds_fd":
        holder = one(tenant, "holder")["pid"]
        # While the child holds the fd the device still has an owner: the kernel
        # must not reset it, so DMA goes on into the window.
        canary(ssh, t, "fill")
        time.sleep(GAP_S)
        evidence["while_holder_lives"] = canary(ssh, t, "check")
        evidence["tenant_killed_ms"] = death_ms
        death_ms = kill_now(ssh, holder)
        evidence["tenant_killed_ms"] -= death_ms
        evidence["stuck"] = wait_gone(ssh, holder)
        if evidence["stuck"]:
            return evidence
    gap_from = time.monotonic()
    evidence["gap_fill"], evidence["gap_check"], samples, regs = canary_watch(ssh, t)
    gap_to = time.monotonic()
    evidence["gap_irq"] = gap_irq(regs, twin.line_high_ms(gap_from, gap_to) if twin is not None else None)
    # Descriptor fetches are DMA reads of memory that is no longer the tenant's: only a twin sees them.
    evidence["gap_dma_reads"] = twin.dma_reads_between(gap_from, gap_to) if twin is not None else None
    evidence["canary"] = ("the next tenant's own memory, mapped at the dead tenant's IOVAs before it opened the device"
                          if type1(t) else "the physical DMA window")
    if type1(t) and twin is not None:
        # Every DMA the device tried in the gap, translated or refused by the IOMMU (faults are what
        # an unmapped IOVA looks like: harmless, but the device was not stopped).
        evidence["gap_dma_writes"] = twin.dma_writes_between(gap_from, gap_to)
        evidence["gap_iommu_faults"] = twin.iommu_faults_between(gap_from, gap_to)
        evidence["dma_judged_by"] = DMA_JUDGED_BY_TWIN
    # What the device sent out on its backend while nobody owned it: memory read and leaked.
    evidence["gap_tx"] = capture.transmitted_between(gap_from, gap_to) if capture is not None else None
    evidence["reset_state"] = reset_state(t, one(tenant, "quiescence"), regs[-1])
    nt = next_tenant(ssh, t)
    evidence["timeline"] = timeline(death_ms, tenant, samples, evidence["gap_fill"], nt)
    evidence["next_tenant"] = {k: v for k, v in nt.items() if k != "irq_samples"}
    return evidence


def reset_check(ssh, t: TargetProfile) -> list[dict]:
    """The agent arms DMA and IRQ, issues VFIO_DEVICE_RESET and watches for 1 s (an error from the
    ioctl or a refused open is KernelRefused)."""
    return agent(ssh, f"vfio-hil-agent reset-check --device {t.dut_device} --compat {t.dut_compatible} "
                      f"--window {window(t)} {dma_file(t, RESET_DMA_FILE)} --watch-ms 1000", timeout=60)


def busy_bits(t: TargetProfile, quiescence: dict) -> dict:
    """Registers (from the agent's quiescence line) with bits set that the profile says must be zero."""
    out = {}
    for reg, mask in t.dut_quiescence.items():
        if reg not in quiescence:
            raise InfrastructureError(f"the agent reported no {reg}; it reported {sorted(quiescence)}")
        bits = int(quiescence[reg], 16) & int(mask, 16)
        if bits:
            out[reg] = hex(bits)
    return out


def reset_state(t: TargetProfile, armed: dict, gap_last: dict) -> dict:
    """The profile's registers (dut_quiescence: bits whose documented reset value is 0) the
    tenant had set while it lived, and those still set at the end of the gap, when the device
    has had every chance to be reset and nobody has opened it."""
    return {"tenant_set": busy_bits(t, armed), "left_set": busy_bits(t, gap_last),
            "checked": sorted(t.dut_quiescence)}


def irq_armed(t: TargetProfile, quiescence: dict) -> bool:
    return any(r in busy_bits(t, quiescence) for r in t.dut_irq_enable_registers)


# evidence["dma_judged_by"]: what dma_bleed judges. "canary": bytes that changed in the window
# (no-IOMMU: the physical window the device still points at). "twin": in type1 the window's IOVAs
# are unmapped until the next tenant maps its own memory (iova_bleed's canary), so what the device
# tried in the gap is only seen by the twin: DMA writes (translated or refused) and reads.
DMA_JUDGED_BY_TWIN = "twin: the DMA the device tried in the gap"


def dma_bled(evidence: dict) -> bool:
    """Whether dma_bleed saw DMA after the death, by what evidence["dma_judged_by"] names."""
    if evidence.get("dma_judged_by") == DMA_JUDGED_BY_TWIN:
        return bool(evidence["gap_dma_writes"] or evidence["gap_dma_reads"])
    return evidence["gap_check"]["changed"] > 0


def iova_bled(evidence: dict) -> bool:
    """Type1: stale DMA landed in the next tenant's own memory at the dead tenant's IOVAs."""
    return evidence["gap_check"]["changed"] > 0


def next_tenant_irq_bled(t: TargetProfile, evidence: dict) -> bool:
    """The next tenant (after the open-time reset) got interrupts, or got the device with its
    interrupt sources still armed (then any event raises one)."""
    nt = evidence["next_tenant"]
    return nt["irqs"] > 0 or irq_armed(t, nt["quiescence"])


def check_tx_wiring(t: TargetProfile, evidence: dict) -> None:
    """The agent and the profile must agree whether the tenant runs a transmit path; else the
    capture measures nothing (an idle TX sends nothing, with or without a reset)."""
    transmits = evidence["armed"].get("transmits", False)
    if transmits == bool(t.dut_no_tx):
        raise InfrastructureError(f"the agent's ops for {t.dut_compatible} say transmits={transmits}, but the profile "
                                  f"{t.source_file} says dut_no_tx={t.dut_no_tx!r}")


def tx_leaked(evidence: dict) -> bool:
    return bool((evidence.get("gap_tx") or {}).get("frames"))


def check_irq_wiring(t: TargetProfile, evidence: dict) -> None:
    """The agent and the profile must agree whether the device has a wired IRQ; a mismatch means
    the IRQ evidence measures nothing (an agent listening on no eventfd sees no IRQs)."""
    wired = evidence["armed"].get("wired_irq", True)
    if wired == bool(t.dut_no_wired_irq):
        raise InfrastructureError(f"the agent's ops for {t.dut_compatible} say wired_irq={wired}, but the profile "
                                  f"{t.source_file} says dut_no_wired_irq={t.dut_no_wired_irq!r}")
