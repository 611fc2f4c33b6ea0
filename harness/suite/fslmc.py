"""Steps of the reset experiments on the fsl-mc bus (DPAA2, vfio-fsl-mc): what differs from
vfio-platform (harness/suite/platform.py), which keeps everything the two share.

- Binding: the device under test is a child container (dprc.N); it leaves the kernel's
  fsl_mc_dprc driver and binds to vfio-fsl-mc through driver_override, and vfio-fsl-mc then
  sets driver_override on every object the container holds (vfio_fsl_mc_bus_notifier()).
- The reset is vfio-fsl-mc's own: dprc_reset_container(..., DPRC_RESET_OPTION_NON_RECURSIVE)
  on the close of the last fd and on VFIO_DEVICE_RESET (vfio_fsl_mc_reset_device()); there is
  no handler module to autoload or hide.
- What the tenant leaves is the firmware's state of its objects, not registers: the harness
  asks the MC through a DPMCP of the root container bound to vfio-fsl-mc (the profile's
  probe_portal), never through the container under test, so asking cannot reset anything.
- On a twin, the MC's command log says which reset the kernel issued, when and with which
  options (the twin's ``resets``).

The tenant enables one object (the profile's dut_object) and its interrupt through the
container's DPMCP, with an eventfd on the object's VFIO device; when that object is a DPDMAI it
also keeps qDMA copy jobs flowing through the container's DPIO into the DMA window, with a
backlog queued, as a busy DPDK application does. The gap is watched by the canary over the
jobs' destinations and, on the twin, by its counts of DMA reads and MSIs.
"""

from __future__ import annotations

import re
import time

from harness.errors import InfrastructureError
from harness.suite import platform
from harness.suite.platform import KernelRefused, events, one
from harness.targets import TargetProfile

NAME = "fsl-mc"
DRIVER = "vfio-fsl-mc"
OBJECT = re.compile(r"^dp[a-z]+\.[0-9]+$")
PROBE_DEADLINE_S = 20.0
STATE_KEYS = ("enabled", "irq_enabled")
NO_DMA = ("the tenant ran no copy jobs: the object under test is no DPDMAI, or its container holds no DPIO "
          "or the profile no dma_window (see qdma_args)")
# The reason runs recorded before the tenant ran qDMA jobs carry on their DMA checks (the matrix
# still reads such runs).
NO_DMA_YET = ("the MC twin runs no qDMA jobs yet (issue 11, stage 2): the tenant enables its object and its "
              "interrupt through its container's DPMCP, and no DMA is measured on fsl-mc")
# The agent ops that say which part of the DMA window the qDMA jobs' destinations take (the canary)
QDMA_LAYOUT = "fsl-mc,dpdmai"
# The tenant's refusals that are the MC's or the kernel's answer to what it asked (an open the
# firmware refused, e.g. a handle the reset should have closed), not the lab's.
MC_REFUSALS = {"mc_refused"}


def explain(refusal: dict) -> str:
    """An MC refusal with what its status means here."""
    if refusal.get("event") == "mc_refused" and refusal.get("status") == 0xA:
        return (f"{refusal}: the MC answered BUSY to an open, i.e. a handle to the object that an earlier user "
                f"opened through this portal is still open: no container reset closed it")
    return str(refusal)


def is_fslmc(t: TargetProfile) -> bool:
    return bool(t.dut_device and OBJECT.match(t.dut_device))


def bus_of(t: TargetProfile):
    """The module with the steps of the device's bus: this one, or harness.suite.platform."""
    import sys

    return sys.modules[__name__] if is_fslmc(t) else platform


def devices(ssh) -> list[str]:
    out, _, rc = ssh.run("ls /sys/bus/fsl-mc/devices 2>/dev/null")
    return out if rc == 0 else []


def current_driver(ssh, device: str) -> str | None:
    out, _, rc = ssh.run(f"basename $(readlink /sys/bus/fsl-mc/devices/{device}/driver)")
    return out[0] if rc == 0 and out else None


def ensure_bus(ssh, t: TargetProfile) -> None:
    """The fsl-mc bus has probed and shows the container under test. A bus that deferred its
    probe at boot (the MC's BOOT_DONE not yet set: a twin starts after QEMU) is asked to probe
    again; the kernel's own probe runs, nothing is faked. A container the DPL did not make (the
    profile's dut_create) is made as restool makes it (make_container)."""
    if t.dut_device in devices(ssh):
        return
    mcs = ssh.run_check("ls /sys/bus/platform/devices | grep -E 'fsl-mc|mc@' || true")
    for mc in mcs:
        ssh.run(f"echo {mc} > /sys/bus/platform/drivers_probe")
    want = [*t.dut_create, ROOT] if t.dut_create else [t.dut_device]
    end = time.monotonic() + PROBE_DEADLINE_S
    while time.monotonic() < end:
        if set(want) <= set(devices(ssh)):
            break
        time.sleep(0.2)
    else:
        raise InfrastructureError(f"the fsl-mc bus shows no {want} {PROBE_DEADLINE_S} s after probing "
                                  f"{mcs or 'no fsl-mc platform device'}: {devices(ssh)}; kernel log: "
                                  f"{[m for m in ssh.run_check('dmesg') if 'fsl' in m.lower()][-5:]}")
    if t.dut_create:
        make_container(ssh, t)


# The root container: the one with the uapi device restool talks to (/dev/dprc.1)
ROOT = "dprc.1"
# On the target: the containers this suite made (one name per line), which restore_session destroys
MADE = "/run/vfio-hil-made-containers"


def make_container(ssh, t: TargetProfile) -> None:
    """The container under test, made as restool makes it: through the root's /dev/dprc.1
    (DPRC_CREATE_CONT, then DPRC_ASSIGN of each of the profile's dut_create objects), then a
    rescan of the root so that the kernel's DPRC driver finds it and probes it."""
    evs = agent(ssh, f"vfio-hil-agent fslmc-restool create --parent {ROOT} --assign {','.join(t.dut_create)}",
                timeout=30)
    made = f"dprc.{one(evs, 'created')['container_id']}"
    ssh.run_check(f"echo {made} >> {MADE}")
    if made != t.dut_device:
        raise InfrastructureError(f"the MC made {made}, the profile's dut_device is {t.dut_device}: give the "
                                  f"profile the name the firmware hands out (or destroy the container in the way)")
    rescan(ssh, lambda: set(t.dut_create) <= set(container_objects(ssh, t.dut_device)))


def rescan(ssh, done) -> None:
    """Ask the kernel to rescan the bus's root containers (/sys/bus/fsl-mc/rescan; the MC's own
    "container changed" interrupt is not relied on) and wait until ``done()``."""
    ssh.run_check("echo 1 > /sys/bus/fsl-mc/rescan")
    end = time.monotonic() + PROBE_DEADLINE_S
    while not done():
        if time.monotonic() > end:
            raise InfrastructureError(f"rescanning the fsl-mc bus did not show the change within "
                                      f"{PROBE_DEADLINE_S} s: {devices(ssh)}")
        time.sleep(0.2)


def unmake_containers(ssh) -> None:
    """Destroy the containers this suite made (their objects go back to the root) and rescan."""
    made = [m for m in ssh.run(f"cat {MADE} 2>/dev/null")[0] if OBJECT.match(m)]
    for m in made:
        agent(ssh, f"vfio-hil-agent fslmc-restool destroy --parent {ROOT} --container {m}", timeout=30)
    if made:
        ssh.run(f"rm -f {MADE}")
        rescan(ssh, lambda: not set(made) & set(devices(ssh)))


def container_objects(ssh, container: str) -> list[str]:
    """The objects the kernel found in ``container`` (its children on the bus)."""
    out, _, _ = ssh.run(f"ls /sys/bus/fsl-mc/devices/{container}/ 2>/dev/null")
    return [d for d in out if OBJECT.match(d)]


# The kernel driver each object type binds to natively (drivers/soc/fsl/dpio/dpio-driver.c,
# drivers/dma/fsl-dpaa2-qdma/dpaa2-qdma.c, drivers/bus/fsl-mc/fsl-mc-allocator.c)
NATIVE_DRIVERS = {"dpio": "fsl_mc_dpio", "dpdmai": "dpaa2-qdma", "dpmcp": "fsl_mc_allocator"}


def native_probe(ssh, t: TargetProfile, twin=None) -> dict:
    """Load the kernel's own drivers of the container's objects (the profile's module and what it
    depends on: fsl-dpaa2-qdma pulls in fsl-mc-dpio), and see each object bound to its driver with
    no error in the kernel log; then unbind and remove them, so the rest of the suite starts from
    objects no driver holds. The container must be on its native fsl_mc_dprc driver (it is at
    boot), which scanned the objects and gave them its MSI pool. On a twin, the MC commands the
    drivers sent are the evidence of how far they got."""
    ensure_bus(ssh, t)
    mark = platform.dmesg_mark(ssh)
    first = _mc(twin).commands_total if twin is not None else 0
    objects = container_objects(ssh, t.dut_device)
    out, _, rc = ssh.run(f"modprobe {t.dut_native_module}")
    if rc != 0:
        raise InfrastructureError(f"modprobe {t.dut_native_module} failed ({out}): the kernel under test was "
                                  f"built without it; add it to the target's kconfig fragments")
    result: dict = {"module": t.dut_native_module, "container_driver": current_driver(ssh, t.dut_device),
                    "made_by_harness": [m for m in ssh.run(f"cat {MADE} 2>/dev/null")[0] if OBJECT.match(m)]}
    try:
        result["drivers"] = {o: current_driver(ssh, o) for o in objects}
        result["expected"] = {o: NATIVE_DRIVERS[o.split(".")[0]] for o in objects if o.split(".")[0] in NATIVE_DRIVERS}
        result["dma_channels"] = ssh.run("ls /sys/class/dma 2>/dev/null")[0]
    finally:
        for o in objects:
            if o.split(".")[0] != "dpmcp" and current_driver(ssh, o):
                ssh.run(f"echo {o} > /sys/bus/fsl-mc/devices/{o}/driver/unbind")
        ssh.run(f"modprobe -r {t.dut_native_module}")
    result["unbound"] = {o: current_driver(ssh, o) for o in objects if o.split(".")[0] != "dpmcp"}
    log = platform.dmesg_since(ssh, mark)
    mine = [line for line in log if any(o in line for o in objects) or "qdma" in line.lower()
            or "dpio" in line.lower() or "qbman" in line.lower()][-30:]
    result["dmesg"] = mine
    result["errors"] = [line for line in mine if platform.DRIVER_ERROR.search(line)]
    if twin is not None:
        mc = _mc(twin)
        result["mc_commands"] = list(mc.commands)[-(mc.commands_total - first):] if mc.commands_total > first else []
    return result


def tenant_portal(ssh, t: TargetProfile) -> str:
    """The container's own DPMCP, through which a tenant sends its MC commands, as DPDK's fslmc bus
    does (mmapped, never shared with the kernel)."""
    found = sorted(d for d in container_objects(ssh, t.dut_device) if d.startswith("dpmcp."))
    if not found:
        raise InfrastructureError(f"{t.dut_device} holds no DPMCP for the tenant's MC commands: "
                                  f"{container_objects(ssh, t.dut_device)}; the board's DPL must give it one")
    return found[0]


def device_info(ssh, t: TargetProfile) -> list[dict]:
    """The container's VFIO_DEVICE_GET_INFO, as a tenant opening it sees it (a "device" line)."""
    return agent(ssh, f"vfio-hil-agent fslmc-tenant --container {t.dut_device} --object {t.dut_object} "
                      f"--info-only", timeout=30)


def bind(ssh, device: str, from_driver: str | None) -> None:
    if from_driver:
        ssh.run(f"echo {device} > /sys/bus/fsl-mc/drivers/{from_driver}/unbind")
    ssh.run_check(f"echo {DRIVER} > /sys/bus/fsl-mc/devices/{device}/driver_override")
    ssh.run(f"echo {device} > /sys/bus/fsl-mc/drivers/{DRIVER}/bind")   # may fail: the tests judge the result


def restore(ssh, device: str, driver: str | None) -> None:
    if current_driver(ssh, device):
        ssh.run(f"echo {device} > /sys/bus/fsl-mc/devices/{device}/driver/unbind")
    ssh.run(f"echo > /sys/bus/fsl-mc/devices/{device}/driver_override")
    if driver:
        ssh.run(f"echo {device} > /sys/bus/fsl-mc/drivers/{driver}/bind")


def probe_portal(t: TargetProfile) -> str:
    """The agent's --portal for the harness's own questions: the DPMCP through VFIO, or in type1
    its MC portal by address (phys:ADDR; the profile's probe_portal_phys says why)."""
    return f"phys:{t.probe_portal_phys}" if platform.type1(t) else t.probe_portal


def bind_session(ssh, t: TargetProfile) -> dict:
    """The container and the harness's probe portal to vfio-fsl-mc (in type1 the probe portal is
    only taken from the kernel: probe_portal()); returns their original drivers. In type1, whether
    the container's group attaches to a type1 container is tried first (iommu.msi_isolation)."""
    ensure_bus(ssh, t)
    ssh.run_check("modprobe vfio_fsl_mc")
    before = {"driver": current_driver(ssh, t.dut_device), "probe_driver": current_driver(ssh, t.probe_portal),
              "modules": platform.modules(ssh)}
    if platform.type1(t):
        if before["probe_driver"]:        # the kernel must never send its own commands through it
            ssh.run(f"echo {t.probe_portal} > /sys/bus/fsl-mc/drivers/{before['probe_driver']}/unbind")
        if current_driver(ssh, t.probe_portal):
            raise InfrastructureError(f"the harness's probe portal {t.probe_portal} stayed bound to "
                                      f"{current_driver(ssh, t.probe_portal)}")
    else:
        bind(ssh, t.probe_portal, before["probe_driver"])
        if current_driver(ssh, t.probe_portal) != DRIVER:
            raise InfrastructureError(f"the harness's probe portal {t.probe_portal} did not bind to {DRIVER}: "
                                      f"{platform.dmesg_since(ssh, 0)[-5:]}")
    bind(ssh, t.dut_device, before["driver"])
    if platform.type1(t) and current_driver(ssh, t.dut_device) == DRIVER:
        try:
            before["iommu_attach"] = platform.iommu_attach(ssh, t)
        except AssertionError as exc:    # KernelRefused: every tenant will be refused the same way
            before["iommu_attach"] = {"refused": str(exc)}
    return before


def restore_session(ssh, t: TargetProfile, before: dict) -> None:
    restore(ssh, t.dut_device, before["driver"])
    if platform.type1(t):
        if before["probe_driver"]:
            ssh.run(f"echo {t.probe_portal} > /sys/bus/fsl-mc/drivers/{before['probe_driver']}/bind")
    else:
        restore(ssh, t.probe_portal, before["probe_driver"])
    unmake_containers(ssh)


def refusal(evs: list[dict]) -> dict | None:
    """The agent's line saying the MC or the kernel refused what it asked, if it printed one."""
    return next((e for e in evs if e.get("event") in MC_REFUSALS), None) or platform.kernel_refusal(evs)


def _refused(evs: list[dict]) -> str | None:
    r = refusal(evs)
    return None if r is None else f"refused: {explain(r)}"


def agent(ssh, cmd: str, timeout: float = 60) -> list[dict]:
    """platform.agent, plus the MC's refusals: what the firmware answered the tenant is the
    device's (the kernel's reset left it so), a fail, never the lab's."""
    return platform.agent(ssh, cmd, timeout, refused=_refused)


def reset_container(ssh, t: TargetProfile) -> None:
    """VFIO_DEVICE_RESET on the container, nothing armed: where each fsl-mc experiment starts."""
    agent(ssh, f"vfio-hil-agent fslmc-reset --container {t.dut_device} --object {t.dut_object} "
               f"--portal {probe_portal(t)} --no-arm", timeout=60)


def query(ssh, t: TargetProfile, event: str = "state") -> dict:
    """The object's enable and IRQ-enable state, asked of the firmware through the probe portal."""
    return one(agent(ssh, f"vfio-hil-agent fslmc-query --portal {probe_portal(t)} --object {t.dut_object} "
                          f"--event {event}", timeout=30), event)


def set_of(state: dict) -> list[str]:
    return [k for k in STATE_KEYS if state.get(k)]


def run_variant(ssh, t: TargetProfile, variant: str, twin=None, capture=None, via_container: bool = False) -> dict:
    """One abnormal teardown of a tenant that enabled its object and the object's interrupt;
    returns the evidence of the gap (from the death until the next open) and the next open. The
    tenant sends its MC commands through the container's DPMCP, as DPDK does; ``via_container``:
    through the container's own portal (the DPRC region's write()), which the kernel shares."""
    # vfio-fsl-mc does not reset on open (vfio-platform does): each experiment starts from a
    # container the kernel reset with VFIO_DEVICE_RESET, so that what one teardown left is not
    # charged to the next (the next open still sees it: next_open).
    reset_container(ssh, t)
    via = "" if via_container else f"--portal {tenant_portal(ssh, t)}"
    pid = platform.start_tenant(ssh, f"vfio-hil-agent fslmc-tenant --container {t.dut_device} "
                                     f"--object {t.dut_object} {via} {qdma_args(ssh, t)} "
                                     f"--report-ms {platform.TENANT_REPORT_MS}", variant)
    try:
        return _experiment(ssh, t, variant, twin, pid)
    except BaseException:
        platform.stop_tenants(ssh, pid)
        raise


def qdma_args(ssh, t: TargetProfile) -> str:
    """The tenant's copy jobs: through the container's DPIO into the DMA window, when the object
    under test is a DPDMAI (its engine) and the container holds a DPIO (its portal)."""
    dpios = sorted(d for d in container_objects(ssh, t.dut_device) if d.startswith("dpio."))
    if not (t.dut_object.startswith("dpdmai.") and dpios and t.dma_window):
        return ""
    # type1: the window is IOVAs over the tenant's own memory (platform.window), mapped with MAP_DMA
    return f"--qdma-dpio {dpios[0]} --window {platform.window(t)} {platform.dma_file(t, platform.TENANT_DMA_FILE)}".strip()


def _mc(twin):
    """The MC twin behind a running twin."""
    return twin.engine.twin


def _resets(twin) -> list[dict]:
    return list(getattr(twin.engine.twin, "resets", [])) if twin is not None else []


def _experiment(ssh, t: TargetProfile, variant: str, twin, pid: int) -> dict:
    if not platform.wait_armed(ssh, pid):
        tenant = events(ssh.run("cat /tmp/tenant.log")[0])
        refused = refusal(tenant)
        if refused:
            raise KernelRefused(f"the tenant could not open and arm {t.dut_device}: {explain(refused)}")
        raise InfrastructureError(f"the tenant exited without arming {t.dut_device}: {tenant}")
    mark = len(_resets(twin))      # before the death, which segv and exit bring about on their own
    armed_at = time.monotonic()
    time.sleep(platform.HOLD_S)
    evidence: dict = {"variant": variant, "stuck": None}
    death_ms = None
    if variant in ("sigkill", "child_holds_fd", "kill_during_ioctl"):
        death_ms = platform.kill_now(ssh, pid)
    evidence["stuck"] = platform.wait_gone(ssh, pid)
    tenant = events(ssh.run("cat /tmp/tenant.log")[0])
    evidence["armed"], evidence["live"] = one(tenant, "armed"), one(tenant, "live")
    evidence["tenant_last"] = tenant[-1] if tenant else None
    progress = [e for e in tenant if e.get("event") == "progress"]
    # MSIs that reached the tenant's eventfd while it lived: the wiring the IRQ checks rest on.
    evidence["tenant_irqs"] = progress[-1]["irqs"] if progress else 0
    evidence["tenant_jobs"] = progress[-1].get("jobs", 0) if progress else 0
    refused = [e for e in tenant if e.get("event") == "irq_refused"]
    evidence["irq_refused"] = refused[0] if refused else None
    if not evidence["live"]["enabled"]:
        raise KernelRefused(f"{t.dut_object} read disabled while its tenant held it ({evidence['live']}): "
                            f"it was reset under its live owner")
    if evidence["stuck"]:
        return evidence
    if death_ms is None:
        death_ms = one(tenant, "dying")["mono_ms"]
    if variant == "child_holds_fd":
        holder = one(tenant, "holder")["pid"]
        # The child still holds the container's fd: the kernel must not reset it yet.
        evidence["while_holder_lives"] = query(ssh, t, "holder_lives")
        evidence["resets_while_holder_lives"] = _resets(twin)[mark:]
        death_ms = platform.kill_now(ssh, holder)
        evidence["stuck"] = wait = platform.wait_gone(ssh, holder)
        if wait:
            return evidence
    if twin is not None:    # the engine ran the tenant's jobs while it lived: else a quiet gap proves nothing
        evidence["tenant_dma_writes"] = twin.dma_writes_between(armed_at, time.monotonic())
    gap_from = time.monotonic()
    if progress and "jobs" in progress[-1] and progress[-1]["jobs"]:
        evidence["gap_fill"], evidence["gap_check"], samples, _ = platform.canary_watch(ssh, t, QDMA_LAYOUT)
        evidence["canary_samples"] = [[ms - death_ms, n] for ms, n in samples]
    else:
        time.sleep(platform.GAP_S)
    gap_to = time.monotonic()
    evidence["gap_dma_reads"] = twin.dma_reads_between(gap_from, gap_to) if twin is not None else None
    if platform.type1(t) and twin is not None and "gap_check" in evidence:
        # As on vfio-platform (platform.run_variant): every DMA the engine tried in the gap,
        # translated or refused by the MMU-500, and whose memory the canary was.
        evidence["gap_dma_writes"] = twin.dma_writes_between(gap_from, gap_to)
        evidence["gap_iommu_faults"] = twin.iommu_faults_between(gap_from, gap_to)
        evidence["dma_judged_by"] = platform.DMA_JUDGED_BY_TWIN
        evidence["canary"] = "the next tenant's own memory, mapped at the dead tenant's IOVAs before it opened the device"
    gap = query(ssh, t, "gap_end")
    # The MSIs the device sent while nobody had it open: only the twin sees them (the ITS drops an
    # MSI nobody maps; a board shows nothing).
    evidence["gap_msis"] = twin.msis_between(gap_from, time.monotonic()) if twin is not None else None
    evidence["gap_state"] = gap
    evidence["gap_resets"] = [r for r in _resets(twin)[mark:] if r not in evidence.get("resets_while_holder_lives", [])]
    evidence["reset_state"] = {"checked": list(STATE_KEYS), "tenant_set": set_of(evidence["live"]),
                               "left_set": set_of(gap)}
    evidence["next_tenant"] = next_tenant(ssh, t)
    evidence["timeline"] = {"death_ms": death_ms, "gap_state_ms": gap["mono_ms"] - death_ms}
    return evidence


def next_tenant(ssh, t: TargetProfile) -> dict:
    """The next user opens the container and its object, registers its eventfd before anything
    else and counts the MSIs that arrive for NEXT_TENANT_MS (what the last user left running),
    then opens the object through the container's DPMCP and enables it, as a user would.
    {"opened": False, "refused": ...} when the kernel or the MC refused it; the MSIs it counted
    before that are kept."""
    cmd = (f"vfio-hil-agent fslmc-next-tenant --container {t.dut_device} --object {t.dut_object} "
           f"--portal {tenant_portal(ssh, t)} --watch-ms {platform.NEXT_TENANT_MS}")
    out, err, rc = ssh.run(cmd, timeout=30)
    evs = events(out)
    watched = [e for e in evs if e.get("event") == "next_tenant"]
    result = {k: v for k, v in watched[0].items() if k != "event"} if watched else {"irqs": None}
    refused_irq = [e for e in evs if e.get("event") == "irq_refused"]
    if refused_irq:
        result["irq_refused"] = refused_irq[0]
    if rc == 0 and any(e.get("event") == "armed" for e in evs):
        return {"opened": True, **result}
    refused = refusal(evs)
    if not refused:
        raise InfrastructureError(f"`{cmd}` exited {rc}: {(out + err)[-12:]}")
    return {"opened": False, "refused": explain(refused), **result}


def check_dma_wiring(ev: dict) -> None:
    """The DMA checks prove something only if the tenant's copy jobs ran while it lived (and the
    gap was watched): else skip (no jobs possible) or Inconclusive (jobs that never ran)."""
    from harness.suite.plugin import Inconclusive
    import pytest

    if "gap_check" not in ev:
        pytest.skip(NO_DMA)
    if ev.get("tenant_dma_writes") == 0:
        raise Inconclusive(f"the engine ran none of the tenant's {ev['tenant_jobs']} jobs while it lived: "
                           f"a job after its death could not have been seen either")


def check_msi_wiring(ev: dict, need_twin: bool = True) -> None:
    """The IRQ checks prove something only if the tenant's MSIs reached its eventfd while it lived
    (and, for the gap, a twin counted what the device sent): else Inconclusive or skip."""
    from harness.suite.plugin import Inconclusive
    import pytest

    if ev.get("irq_refused"):            # the kernel's doing: the IRQ checks fail with it
        raise AssertionError(f"the kernel refused the tenant's eventfd: {ev['irq_refused']} (see the kernel log)")
    if need_twin and ev.get("gap_msis") is None:
        pytest.skip("only the MC twin sees the MSIs a device sends while nobody has it open")
    if not ev.get("tenant_irqs"):
        raise Inconclusive("no MSI reached the tenant's eventfd while it lived: an MSI after its death "
                           "could not have been seen either")


def container_resets(t: TargetProfile, resets: list[dict]) -> list[dict]:
    return [r for r in resets if r["what"] == f"container {t.dut_device} reset"]


def fresh_firmware_state(ssh, t: TargetProfile, twin) -> None:
    """Between the null-reset control's experiments: what the previous one left in the firmware
    (objects enabled, the dead tenant's handles still open, which would refuse the next tenant's
    open) is cleared by one real reset (the twin honouring it for that one VFIO_DEVICE_RESET),
    so that each control starts where the real checks started."""
    twin.set_policy(reset_honoured=True)
    try:
        reset_container(ssh, t)
    finally:
        twin.set_policy(reset_honoured=False)


def reset_ioctl(ssh, t: TargetProfile) -> dict:
    """The tenant's object enabled, VFIO_DEVICE_RESET on the container, the state before and after
    (an error from the ioctl is KernelRefused). It starts, as every experiment here, from a
    container reset by VFIO_DEVICE_RESET, so that what an earlier close left is not charged to it."""
    reset_container(ssh, t)
    evs = agent(ssh, f"vfio-hil-agent fslmc-reset --container {t.dut_device} --object {t.dut_object} "
                     f"--portal {probe_portal(t)}", timeout=60)
    before, after, reset = one(evs, "before"), one(evs, "after"), one(evs, "reset")
    if reset["rc"] != 0:
        raise KernelRefused(f"VFIO_DEVICE_RESET failed: {reset}")
    return {"before": before, "after": after, "reset": reset, "busy_before": set_of(before),
            "busy_after": set_of(after)}
