"""Boot a built target through its labgrid environment and hand back its drivers."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import attrs
from labgrid import Environment
from labgrid.consoleloggingreporter import ConsoleLoggingReporter
from labgrid.strategy.common import StrategyError

from harness.artifacts import Artifacts
from harness.errors import InfrastructureError, VfioHilError
from harness.lab import boardtree
from harness.sshkey import ensure_key
from harness.paths import cache_root
from harness.targets import TargetProfile
from harness.traffic import UdpPorts


@attrs.define
class Session:
    target: TargetProfile
    artifacts: Artifacts
    lg_target: object
    strategy: object
    log_dir: Path
    dut_ports: UdpPorts
    boot_seconds: float = 0.0

    @property
    def shell(self):
        return self.strategy.shell

    @property
    def ssh(self):
        return self.lg_target.get_driver("ParamikoSSHDriver")

    @property
    def console_log(self) -> Path:
        return self.log_dir / "console_main"


def bootargs(target: TargetProfile, extra: str = "") -> str:
    return " ".join(f"console={target.console} rdinit=/init {target.extra_bootargs} {extra}".split())


DEFAULT_BOOT_TIMEOUT_S = 180


def lab_variables(target: TargetProfile, artifacts: Artifacts, log_dir: Path, dut_ports: UdpPorts,
                  extra_bootargs: str = "", boot_timeout_s: int = DEFAULT_BOOT_TIMEOUT_S,
                  twin_plan=None) -> dict[str, str]:
    """The LG_VFIO_HIL_* variables the labgrid environments read (!template). A twin target's
    tree and qtest socket come from its ``twin_plan`` (harness.twins.runtime.plan)."""
    key, _ = ensure_key(cache_root())
    if target.dtb == "qemu" and twin_plan is None:
        raise InfrastructureError(f"{target.name}: its device tree is made with its twin; no twin plan was given")
    return {
        "LG_VFIO_HIL_DUT_NIC": dut_ports.nic_args(),
        "LG_VFIO_HIL_KERNEL": str(artifacts.path("kernel")),
        "LG_VFIO_HIL_DTB": str(twin_plan.dtb if twin_plan else boardtree.for_run(target, artifacts.path("dtb"), log_dir)),
        "LG_VFIO_HIL_TWIN_ARGS": twin_plan.qemu_args() if twin_plan else "",
        "LG_VFIO_HIL_INITRD": str(artifacts.path("initramfs")),
        "LG_VFIO_HIL_BOOTARGS": bootargs(target, extra_bootargs),
        "LG_VFIO_HIL_SSH_KEY": str(key),
        "LG_VFIO_HIL_LOG_DIR": str(log_dir),
        "LG_VFIO_HIL_BOOT_TIMEOUT": str(boot_timeout_s),
    }


def lab_environment(config: Path, variables: dict[str, str]) -> Environment:
    """The labgrid environment ``config`` with ``variables`` (LG_VFIO_HIL_*) in force while its
    !template fields are read; os.environ is as before afterwards."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        return Environment(str(config))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def unwrap_strategy_error(exc: StrategyError, target_name: str) -> VfioHilError:
    """labgrid wraps every failure in "strategy is in broken state"; surface the real cause."""
    cause = exc.__cause__
    while isinstance(cause, StrategyError) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, VfioHilError):
        return cause
    return InfrastructureError(f"labgrid could not bring {target_name} up: {type(cause).__name__}: {cause}")


@contextmanager
def booted(target: TargetProfile, artifacts: Artifacts, log_dir: Path, *, extra_bootargs: str = "",
           want: str = "ssh", on_twin_plan=None):
    """Boot to ``want`` ('shell' or 'ssh'); always powers off, and keeps the console log in ``log_dir``.
    ``on_twin_plan(plan)`` is called before QEMU starts, for twin targets (the twin benchmark uses it)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    dut_ports = UdpPorts()
    twin_plan = None
    if target.twin:
        from harness.twins.runtime import plan

        twin_plan = plan(target, log_dir)        # the tree QEMU needs; the twin itself is not started here
        if on_twin_plan:
            on_twin_plan(twin_plan)
    variables = lab_variables(target, artifacts, log_dir, dut_ports, extra_bootargs, twin_plan=twin_plan)
    ConsoleLoggingReporter.start(str(log_dir))
    env = None
    try:
        env = lab_environment(target.lab_config_path(), variables)
        lg_target = env.get_target("main")
        strategy = lg_target.get_driver("VfioHilStrategy")
        session = Session(target, artifacts, lg_target, strategy, log_dir, dut_ports)
        started = time.monotonic()
        try:
            strategy.transition(want)
        except StrategyError as exc:
            raise unwrap_strategy_error(exc, target.name) from exc
        session.boot_seconds = time.monotonic() - started
        yield session
    finally:
        try:
            if env is not None:
                env.cleanup()
        finally:
            ConsoleLoggingReporter.stop()
            if twin_plan is not None:
                twin_plan.close()
