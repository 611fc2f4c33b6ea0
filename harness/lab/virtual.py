"""The virtual lab (`vfio-hil lab up|down|check`): what a shared lab has, on one host, inside a
network namespace of its own, with only the board a stand-in:

- a labgrid-coordinator and a labgrid-exporter (the stock ones), the exporter offering the
  board's BMC (IPMIBMC), its TFTP directory (TFTPProvider) and its SSH (NetworkService);
- a BMC: OpenIPMI's ipmi_sim, whose chassis power starts and stops the board (harness.lab.chassis)
  and whose SOL reaches the board's serial through the UART cable (harness.lab.uartcable);
- the board: QEMU's arm64 virt as the target profile describes it, Debian's u-boot-qemu as its
  firmware, TFTP from QEMU's own server (its user network's tftp= directory, which the exporter
  offers as the board's TFTP root), SSH forwarded to 127.0.0.1 inside the namespace;
- one place, ``vlab-<target>``, matching the exporter's group, tagged ``board=<target>``.

Everything listens on the namespace's loopback only, so fixed ports are safe. ``lab.json`` in the
lab's directory records the namespace and every process group started; ``down`` stops exactly
those (board first) and deletes the namespace. The BMC's password is in ``bmc-password`` (0600).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from harness.errors import InfrastructureError, UsageError
from harness.lab import chassis, netns
from harness.lab.bmcsim import BmcSim
from harness.lab.coordinator import Coordinator
from harness.lab.exporter import Exporter
from harness.lab.uartcable import UartCable
from harness.proc import group_running, stop_process_group
from harness.targets import TargetProfile

UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
PORTS = {"coordinator": 20408, "bmc": 9623, "uart_bmc": 5001, "uart_board": 5002, "ssh": 2222}
EXPORTER = "vlab-host"
STOP_DEADLINE_S = 5.0


def place_name(target: TargetProfile) -> str:
    return f"vlab-{target.name}"


def board_argv(target: TargetProfile, tftp_dir: Path, extra: list[str] = ()) -> list[str]:
    """The board: the profile's machine, U-Boot as firmware, serial to the UART cable, QEMU's TFTP
    server on its user network (restrict=on: it reaches nothing else), SSH forwarded on loopback."""
    q = target.qemu_settings()
    if q is None or target.arch != "arm64":
        raise UsageError(f"the virtual lab plays arm64 virt boards; {target.name} is not one")
    if not UBOOT.is_file():
        raise InfrastructureError(f"{UBOOT} is missing (Debian: u-boot-qemu; or: make setup)")
    return [q["binary"], "-M", q["machine"], "-cpu", q["cpu"], "-m", str(q["memory"]), "-bios", str(UBOOT),
            "-display", "none", "-monitor", "none", "-serial", f"tcp:127.0.0.1:{PORTS['uart_board']}",
            "-netdev", f"user,id=mgmt,restrict=on,tftp={tftp_dir},hostfwd=tcp:127.0.0.1:{PORTS['ssh']}-:22",
            "-device", "virtio-net-device,netdev=mgmt", *extra]


def exporter_config(username: str, tftp_dir: Path, group: str) -> str:
    # Jinja2: comments need "##".
    return (f"{group}:\n"
            f"  IPMIBMC:          ## the board's BMC (ipmi_sim)\n"
            f"    host: 127.0.0.1\n    port: {PORTS['bmc']}\n    username: {username}\n"
            f"    password_env: VFIO_HIL_VLAB_BMC_PASSWORD\n"
            f"  TFTPProvider:     ## QEMU's own TFTP server serves this directory\n"
            f"    internal: {tftp_dir}/\n    external: ''\n"
            f"  NetworkService:\n    address: 127.0.0.1\n    port: {PORTS['ssh']}\n    username: root\n")


def up(workdir: Path, target: TargetProfile) -> dict:
    """Bring the lab up; on any failure what was started is stopped again. Returns lab.json's content."""
    workdir = workdir.resolve()
    if (workdir / "lab.json").exists():
        raise UsageError(f"{workdir} holds a virtual lab already (lab.json): `vfio-hil lab down --dir {workdir}` first")
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    ns = f"vfiohil-{os.getpid()}"
    state = {"netns": ns, "target": target.name, "place": place_name(target), "ports": PORTS, "groups": {},
             "board_dir": str(workdir / "bmc" / "board"), "coordinator": f"127.0.0.1:{PORTS['coordinator']}"}
    netns.create(ns)
    state["netns_created"] = True
    _save(workdir, state)
    try:
        tftp = workdir / "tftp"
        tftp.mkdir(mode=0o700, exist_ok=True)
        cable = UartCable(workdir, PORTS["uart_bmc"], PORTS["uart_board"], netns=ns)
        cable.start()
        state["groups"]["uartcable"] = cable.proc.pid
        _save(workdir, state)
        coord = Coordinator(workdir / "coordinator", port=PORTS["coordinator"], netns=ns)
        coord.start()
        state["groups"]["coordinator"] = coord.proc.pid
        _save(workdir, state)
        bmc = BmcSim(workdir / "bmc", board_argv(target, tftp), PORTS["uart_bmc"], port=PORTS["bmc"], netns=ns)
        bmc.start()
        state["groups"]["ipmi_sim"] = bmc.proc.pid
        pw = workdir / "bmc-password"
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(bmc.password)
        state["bmc_user"] = bmc.username
        _save(workdir, state)
        exporter = Exporter(workdir / "exporter", EXPORTER, exporter_config(bmc.username, tftp, state["place"]),
                            state["coordinator"], netns=ns)
        exporter.start()
        state["groups"]["exporter"] = exporter.proc.pid
        _save(workdir, state)
        place = state["place"]
        for args in (["-p", place, "create"], ["-p", place, "add-match", f"{EXPORTER}/{place}/*"],
                     ["-p", place, "set-tags", f"board={target.name}"]):
            r = coord.client(*args)
            if r.returncode != 0:
                raise InfrastructureError(f"labgrid-client {' '.join(args)} failed: {r.stderr.strip()}")
    except BaseException:
        down(workdir)
        raise
    return state


def down(workdir: Path) -> list[str]:
    """Stop the board, then every process group lab.json records (SIGTERM, then SIGKILL), then
    delete the namespace; returns what it stopped. A lab half up is taken down the same way."""
    workdir = workdir.resolve()
    try:
        state = json.loads((workdir / "lab.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"no virtual lab in {workdir} (no lab.json)") from None
    stopped = []
    board = Path(state["board_dir"])
    if board.is_dir():
        chassis.power_off(board)
        stopped.append("board")
    for name, pgid in reversed(list(state["groups"].items())):
        if group_running(pgid):
            stop_process_group(pgid, STOP_DEADLINE_S)
            stopped.append(name)
    if state.get("netns_created"):
        netns.delete(state["netns"])
    (workdir / "lab.json").unlink()
    return stopped


def load(workdir: Path) -> dict:
    try:
        return json.loads((workdir.resolve() / "lab.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"no virtual lab in {workdir} (no lab.json): `vfio-hil lab up` first") from None


def client_env(workdir: Path, state: dict, username: str) -> dict:
    """The environment of a client of this lab: its coordinator, an identity, the BMC's password."""
    return {**os.environ, "LG_COORDINATOR": state["coordinator"], "LG_USERNAME": username,
            "VFIO_HIL_VLAB_BMC_PASSWORD": (workdir.resolve() / "bmc-password").read_text()}


def _save(workdir: Path, state: dict) -> None:
    tmp = workdir / "lab.json.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(workdir / "lab.json")


CHECK_ENV = """\
targets:
  main:
    resources:
      RemotePlace:
        name: {place}
    drivers:
      IPMIPowerDriver:
        timeout: 20.0
      IPMISOLConsoleDriver: {{}}
      UBootDriver:
        prompt: '=> '
        autoboot: 'Hit any key to stop autoboot'
        login_timeout: 60
imports:
  - harness.lab
"""


def check(workdir: Path, username: str = "vfio-hil-lab-check") -> dict:
    """Run inside the lab's namespace (`vfio-hil lab check` enters it): lock the place as a job
    would, power the board on through its BMC, reach U-Boot's prompt over SOL and stop autoboot
    there, run one command, power off, release. Returns what it saw."""
    from labgrid import Environment

    from harness.lab.placelock import PlaceLock

    state = load(workdir)
    os.environ.update(client_env(workdir, state, username))
    env_file = workdir.resolve() / "check-env.yaml"
    env_file.write_text(CHECK_ENV.format(place=state["place"]))
    seen: dict = {"place": state["place"]}
    with PlaceLock(state["place"], state["coordinator"], username, wait_s=60) as lock:
        seen["holder"] = lock.holder()
        target = Environment(str(env_file)).get_target("main")
        try:
            power = target.get_driver("IPMIPowerDriver")
            target.activate(target.get_driver("IPMISOLConsoleDriver", activate=False))   # console first
            start = time.monotonic()
            power.on()
            seen["power_after_on"] = power.get()
            uboot = target.get_driver("UBootDriver")         # waits for autoboot, stops it, sees the prompt
            seen["uboot_prompt_s"] = round(time.monotonic() - start, 1)
            seen["version"] = uboot.run_check("version")[0]
            power.off()
            seen["power_after_off"] = power.get()
        finally:
            target.cleanup()
    return seen


if __name__ == "__main__":
    print(json.dumps(check(Path(sys.argv[1]))))
