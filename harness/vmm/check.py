"""The next guest (issue 14): a VMM on the target runs a guest with the device assigned; the VMM
dies (or exits, or its guest is reset) while the guest's driver has DMA and interrupts running;
the next guest watches its own RAM, where the previous guest's buffers were, and counts the
device's interrupts from its first instructions (harness/vmm/guest/guest.c).

Variants (VARIANTS), each a way the device loses its guest:
- sigkill: the VMM SIGKILLed; the next VMM starts the next guest.
- crash: the VMM dies of SIGABRT, as QEMU does on a failed assertion or hw_error(); the next VMM.
- system_reset: QMP system_reset; the same VMM reboots the same image, which finds its own marker
  in RAM and watches (the next guest is the rebooted one, the device never closed). Whether the
  VMM asks the kernel for VFIO_DEVICE_RESET on the way is read from the twin's log: the resets
  the device performed and every register write it saw between the reset and the next guest's report.
- clean_exit: QMP quit (the VMM's orderly exit); the next VMM.

Times are host monotonic (the twin's) from the moment of death; the guests' own times are in
their lines."""

from __future__ import annotations

import time

from harness.suite import platform
from harness.targets import TargetProfile
from harness.vmm import bundle, target_vmm
from harness.vmm.target_vmm import TargetVmm

VARIANTS = ["sigkill", "crash", "system_reset", "clean_exit"]
MEASURES = ["guest_dma_bleed", "guest_irq_bleed"]
HOLD_S = 1.0                 # the guest runs with DMA and interrupts going before it loses the device
ARM_DEADLINE_S = 60.0        # VMM start to the guest's "armed": 2-3 s measured under nested TCG
TRAFFIC_DEADLINE_S = 30.0
EXIT_DEADLINE_S = 10.0       # as the platform suite's DEATH_DEADLINE_S: longer is the kernel holding it
WATCH_DEADLINE_S = 60.0      # the next guest's start, canary and 1 s watch
KILL = {"sigkill": "KILL", "crash": "ABRT"}


class VmmStuck(AssertionError):
    """The VMM did not go away after its death: only the kernel can hold a killed process (the
    release path, the reset handler). The kernel's doing, so a `fail`."""


def stage(ssh, tarball, guest) -> dict:
    """Put the VMM bundle and the guest on the target (once a session); load type1's module
    (QEMU's vfio needs a container: "No available IOMMU models" without it)."""
    started = time.monotonic()
    target_vmm.prepare(ssh)
    ssh.put(str(tarball), f"{target_vmm.DIR}/vmm.tar.gz")
    ssh.run_check(f"mkdir -p {bundle.ON_TARGET} && tar -xzf {target_vmm.DIR}/vmm.tar.gz -C {bundle.ON_TARGET} "
                  f"&& rm {target_vmm.DIR}/vmm.tar.gz")
    ssh.put(str(guest), target_vmm.GUEST)
    ssh.run_check("modprobe vfio_iommu_type1")
    version = ssh.run_check(bundle.command("--version"))[0]
    return {"stage_s": round(time.monotonic() - started, 1), "vmm_version": version,
            "bundle": tarball.name, "bundle_bytes": tarball.stat().st_size}


def run_variant(ssh, t: TargetProfile, variant: str, twin=None) -> dict:
    """One guest loses the device by ``variant``; the evidence of the next guest (see the module)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown VMM variant {variant!r}, available: {', '.join(VARIANTS)}")
    began = time.monotonic()
    vmms = [TargetVmm(ssh, f"{variant}-first", t.dut_device, t.vmm_device, "drive").start()]
    try:
        return _experiment(ssh, t, variant, twin, vmms, began)
    finally:
        for vmm in vmms:
            vmm.stop()


def _experiment(ssh, t, variant, twin, vmms, began) -> dict:
    first = vmms[0]
    ev: dict = {"variant": variant, "accel": first.accel}
    ev["armed"] = first.wait_for("armed", ARM_DEADLINE_S)
    ev["armed_after_s"] = round(time.monotonic() - first.started_at, 1)
    first.wait_for("progress", TRAFFIC_DEADLINE_S, pred=lambda e: e["frames"] > 0 and e["irqs"] > 0)
    time.sleep(HOLD_S)
    lived = first.guest_events()
    progress = [e for e in lived if e.get("event") == "progress"]
    ev["before"] = {k: progress[-1][k] for k in ("frames", "irqs", "t_ms")}
    seen_before = len(lived)
    death = time.monotonic()
    if variant in KILL:
        first.signal(KILL[variant])
    else:
        ev["qmp"] = first.qmp("system_reset" if variant == "system_reset" else "quit")
        ev["qmp_returned_ms"] = round((time.monotonic() - death) * 1000)
    if variant == "system_reset":
        watcher, since = first, seen_before
    else:
        rc = first.wait_exit(EXIT_DEADLINE_S)
        if rc is None:
            raise VmmStuck(f"the VMM was still there {EXIT_DEADLINE_S} s after its {variant}: "
                           f"{platform.proc_state(ssh, first.pid)}")
        ev["first_exit_status"] = rc
        ev["first_gone_ms"] = round((time.monotonic() - death) * 1000)
        watcher = TargetVmm(ssh, f"{variant}-next", t.dut_device, t.vmm_device, "watch").start()
        vmms.append(watcher)
        since = 0
    ev["next_up"] = watcher.wait_for("up", WATCH_DEADLINE_S, since, pred=lambda e: e["role"] == "watch")
    ev["next_guest"] = watcher.wait_for("watched", WATCH_DEADLINE_S, since)
    reported = time.monotonic()
    ev["next_guest_ms"] = round((reported - death) * 1000)
    ev["samples"] = [[e["t_ms"], e["changed"], e["irqs"]] for e in watcher.guest_events()[since:]
                     if e.get("event") == "sample"]
    if twin is not None:        # before the watcher's VMM ends: its release runs the reset handler
        ev["twin"] = twin_record(twin, death, reported)
    watcher.qmp("quit")
    ev["watcher_exit_status"] = watcher.wait_exit(EXIT_DEADLINE_S)
    ev["check_s"] = round(time.monotonic() - began, 1)
    return ev


def twin_record(twin, death: float, reported: float) -> dict:
    """What the device did from the death to the next guest's report, by the twin's log: its
    resets (the reset handler's doing: DMA_MR.SWR, the PCS reset), the register writes it saw
    (ms from ``death``, the moment the harness sent the kill or the QMP command: the first guest
    runs on until it lands, tens of ms for a signal, ~300 ms for QMP over SSH; after that only
    the reset handler writes, since the next guest never touches the device), its DMA writes, and
    the IOMMU's refusals (DMA to IOVAs nobody had mapped)."""
    rel = lambda s: round((s - death) * 1000)   # noqa: E731
    writes = twin.writes_between(death, reported)
    return {"resets": [{"ms": rel(s), **f} for s, f in twin.resets_between(death, reported)],
            "register_writes": len(writes),
            "first_writes": [{"ms": rel(s), "window": w, "offset": hex(o), "value": hex(v)} for s, w, o, v in writes[:12]],
            "dma_writes": twin.dma_writes_between(death, reported),
            "iommu_faults": twin.iommu_faults_between(death, reported)}


def dma_bled(ev: dict) -> bool:
    return ev["next_guest"]["changed"] > 0


def irq_bled(ev: dict) -> bool:
    return ev["next_guest"]["irqs"] > 0


def reset_issued(ev: dict) -> bool | None:
    """Whether the device was reset between the death and the next guest's report (None: no twin to say)."""
    return bool(ev["twin"]["resets"]) if ev.get("twin") else None


def why_bled(ev: dict, what: str) -> str:
    """A fail's reason: what reached the next guest, and whether the reset handler ran at all."""
    ng, variant = ev["next_guest"], ev["variant"]
    issued = reset_issued(ev)
    handler = ("" if issued is None else
               f"; the device was reset in between ("
               f"{', '.join(str(r.get('what', '?')) + ' at ' + str(r['ms']) + ' ms' for r in ev['twin']['resets'])})"
               if issued else
               f"; the twin logged no reset of the device between the {variant} and the report: the reset "
               f"handler never ran (no VFIO_DEVICE_RESET, no release or open of the device)")
    if what == "dma":
        return (f"{ng['changed']} of the next guest's {ng['canary_bytes']} canary bytes, where the previous guest's "
                f"RX buffers were, were written in its {ng['watch_ms']} ms watch{handler}")
    return (f"{ng['irqs']} interrupt(s) of the device reached the next guest (first at {ng['first_irq_ms']} ms of "
            f"its life; lines {ng['device_intids']}){handler}")
