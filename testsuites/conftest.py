"""Fixtures of the HIL suite. The target comes from the labgrid environment
(--lg-env), so a real board's environment drops in unchanged; vfio-hil run
sets the LG_VFIO_HIL_* variables that environment reads."""

import os
import time
from pathlib import Path

import pytest
from labgrid.strategy.common import StrategyError

from harness.bootlog import TEST_MARKERS, scan, unexpected
from harness.errors import InfrastructureError
from harness.lab.placelock import PlaceWatch, place_of_this_job
from harness.lab.session import unwrap_strategy_error
from harness.suite import fslmc, platform
from harness.suite.plugin import vfio_id
from harness.targets import get_target
from harness.traffic import FrameFeeder, UdpPorts

DMESG_EXCERPT_LINES = 60
_RUNNING_TWINS: list = []   # the session's twin, once started (every test checks it is alive)
_PLACE = place_of_this_job()     # a board in a shared lab: every verdict needs the place still ours
_PLACE_WATCH = PlaceWatch(_PLACE) if _PLACE is not None else None


@pytest.fixture(scope="session")
def profile():
    """The target's profile in the run's IOMMU mode (vfio-hil run --iommu)."""
    return get_target(os.environ["VFIO_HIL_TARGET"]).for_iommu(os.environ.get("VFIO_HIL_IOMMU"))


@pytest.fixture(scope="session")
def booted(target):
    """Boot to SSH once for the session (labgrid's `target` fixture comes from --lg-env)."""
    strategy = target.get_driver("VfioHilStrategy")
    started = time.monotonic()
    try:
        strategy.transition("ssh")
    except StrategyError as exc:     # labgrid's wrapper hides the cause: a panic, a hang, a dead QEMU
        _switch_off(target, strategy)
        raise unwrap_strategy_error(exc, target.name) from exc
    yield {"strategy": strategy, "ssh": target.get_driver("ParamikoSSHDriver"),
           "boot_s": round(time.monotonic() - started, 2)}
    _switch_off(target, strategy)


def _switch_off(target, strategy) -> None:
    """A board in a shared lab is left to the next job switched off, its device quiet, also after
    a boot that failed (a local QEMU is stopped the same way). Through the power driver, not the
    strategy: labgrid keeps a strategy whose transition failed broken. A target already gone is no
    news here; a place found lost is not ours to switch: another job may hold the board now."""
    if _PLACE_WATCH is not None:
        try:
            _PLACE_WATCH.check("the suite", force=True)    # the last tests may be within the throttle
        except InfrastructureError:
            return
    try:
        target.deactivate(strategy.ssh)
        target.deactivate(strategy.shell)
        target.activate(strategy.power)
        strategy.power.off()
    except Exception:
        pass


@pytest.fixture(scope="session")
def ssh(booted):
    return booted["ssh"]


@pytest.fixture(scope="session")
def traffic():
    """Frames into the device under test for the whole session (QEMU: its UDP socket backend)."""
    local, peer = (int(p) for p in os.environ["VFIO_HIL_DUT_PORTS"].split(","))
    with FrameFeeder(UdpPorts(local, peer), rate=200, max_seconds=1800) as feeder:
        yield feeder


@pytest.fixture(scope="session")
def twin(booted, profile):
    """The device twin playing the device under test (twin targets only), fed by the same frame
    feeder as QEMU's own NIC models; its event log is kept with the run."""
    if not profile.twin:
        yield None
        return
    from harness.twins.runtime import RunningTwin

    local, peer = (int(p) for p in os.environ["VFIO_HIL_DUT_PORTS"].split(","))
    power = booted["strategy"].power
    running = RunningTwin(profile, os.environ["VFIO_HIL_TWIN_SOCKET"], local,
                          Path(os.environ["VFIO_HIL_RUN_DIR"]) / "twin-events.jsonl",
                          qemu_death=getattr(power, "death_report", None), dut_peer_port=peer,
                          dtb=Path(os.environ["VFIO_HIL_TWIN_DTB"]))
    _RUNNING_TWINS.append(running)
    yield running
    _RUNNING_TWINS.remove(running)
    running.stop()


@pytest.fixture(scope="session")
def bus(profile):
    """The module with the steps of the device's bus: harness.suite.platform or .fslmc."""
    return fslmc.bus_of(profile)


@pytest.fixture(scope="session")
def dut_bound(ssh, profile, traffic, twin, bus):
    """Bind the device under test to vfio-platform (or vfio-fsl-mc); record and restore the
    original binding."""
    if bus is fslmc:
        before = fslmc.bind_session(ssh, profile)
        yield before
        try:
            fslmc.restore_session(ssh, profile, before)
        except Exception:  # the target may be gone; the run's results are already on disk
            pass
        return
    ssh.run_check("modprobe vfio_platform")
    before = {"driver": platform.current_driver(ssh, profile.dut_device), "modules": platform.modules(ssh)}
    platform.bind_to_vfio(ssh, profile.dut_device)
    if platform.type1(profile) and platform.current_driver(ssh, profile.dut_device) == platform.DRIVER:
        # Before any tenant: whether type1 takes the group as the kernel booted (iommu.msi_isolation
        # reports it; a refusal the harness had to lift is that check's finding, never silent).
        try:
            before["iommu_attach"] = platform.iommu_attach(ssh, profile)
        except AssertionError as exc:    # KernelRefused: every tenant will be refused the same way
            before["iommu_attach"] = {"refused": str(exc)}
    yield before
    try:
        platform.unbind(ssh, profile.dut_device)
        ssh.run(f"echo > /sys/bus/platform/devices/{profile.dut_device}/driver_override")
        if before["driver"]:
            ssh.run(f"echo {profile.dut_device} > /sys/bus/platform/drivers/{before['driver']}/bind")
    except Exception:  # the target may be gone; the run's results are already on disk
        pass


@pytest.fixture(scope="session")
def teardown_runs():
    """Each variant's experiment runs once; its dma and irq verdicts read the same evidence."""
    return {}


@pytest.fixture
def evidence():
    return {}


def pytest_runtest_setup(item):
    """Once the place is found lost, no later test touches the board: each is the lab's error."""
    if _PLACE_WATCH is not None and _PLACE_WATCH.lost is not None:
        _PLACE_WATCH.check(vfio_id(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Keep what the kernel logged while each test ran (evidence["dmesg_excerpt"], for the report);
    a test during which the kernel warned, oopsed or reported a failed reset fails, whatever it
    concluded itself (the kernel's log is part of every verdict); and any test during which the
    device twin died is an error, whatever it concluded; so is any test after which the job's
    place (a board in a shared lab) is found no longer ours."""
    ssh, evidence = item.funcargs.get("ssh"), item.funcargs.get("evidence")
    profile = get_target(os.environ["VFIO_HIL_TARGET"])
    mark = None
    if ssh is not None and evidence is not None:
        try:
            mark = platform.dmesg_mark(ssh)
        except Exception:   # a dead target: the test itself will say so, as an error
            mark = None
    for running in _RUNNING_TWINS:
        running.mark_test(vfio_id(item))
    outcome: BaseException | None = None
    try:
        result = yield
    except BaseException as exc:   # noqa: BLE001 - re-raised below, or turned into a kernel fail
        outcome = exc
    for running in _RUNNING_TWINS:
        running.check_alive()      # raises InfrastructureError: the plugin makes it `error`
    if _PLACE_WATCH is not None:
        _PLACE_WATCH.check(vfio_id(item))     # PlaceLost (an InfrastructureError): `error` too
    faults = _kernel_faults(ssh, evidence, mark, profile) if mark is not None else []
    if faults and vfio_id(item) != "boot":    # boot judges its own log, with the boot quirks
        raise AssertionError(f"the kernel reported a fault during this test: {faults}"
                             + (f" (the test itself ended with {type(outcome).__name__}: {outcome})"
                                if outcome is not None else "")) from outcome
    if outcome is not None:
        raise outcome
    return result


def _kernel_faults(ssh, evidence: dict, mark: int, profile) -> list[str]:
    """The kernel log since ``mark`` into evidence["dmesg_excerpt"]; its faults (TEST_MARKERS not
    explained by the profile's known emulation quirks) into evidence["kernel_faults"]."""
    try:
        log = platform.dmesg_since(ssh, mark)
    except Exception:
        evidence["dmesg_excerpt"] = ["(the target did not answer after the test: no kernel log)"]
        return []
    evidence["dmesg_excerpt"] = log[-DMESG_EXCERPT_LINES:]
    faults = [i.text for i in unexpected(scan("\n".join(log), profile.known_boot_warnings, TEST_MARKERS))]
    if faults:
        evidence["kernel_faults"] = faults
    return faults
