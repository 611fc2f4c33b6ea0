"""The virtual lab (`vfio-hil lab up|down|check`): what a shared lab has, on one host, inside a
network namespace of its own, with only the board a stand-in:

- a labgrid-coordinator and a labgrid-exporter (the stock ones), the exporter offering the
  board's BMC (IPMIBMC), its TFTP directory (TFTPProvider) and its SSH (NetworkService), and the
  exporter's host reachable over SSH (harness.lab.exportersh), which labgrid's TFTP staging uses;
- a BMC: OpenIPMI's ipmi_sim, whose chassis power starts and stops the board (harness.lab.chassis)
  and whose SOL reaches the board's serial through the UART cable (harness.lab.uartcable);
- the board: QEMU's arm64 virt as the target profile describes it, Debian's u-boot-qemu as its
  firmware, TFTP from QEMU's own server (its user network's tftp= directory, which the exporter
  offers as the board's TFTP root), SSH forwarded to 127.0.0.1 inside the namespace;
- one place, ``vlab-<target>``, matching the exporter's group, tagged ``board=<target>``;
- the target's twin: the board's QEMU listens on a qtest socket fixed when the lab comes up (in a
  short 0700 directory of its own), in the IOMMU mode the lab was brought up in; the suite's twin
  connects to it once the board runs, as it does to a local QEMU's.

`vfio-hil run --target T --lab DIR` (VirtualLabRun) runs the suite through it: the job's place
lock and the suite's process inside the namespace, the lab's environment
(lab-configs/boards/virtual-lab.yaml: RemotePlace, IPMI, U-Boot, TFTP), the tree dumped as U-Boot
boots the board.

Everything listens on the namespace's loopback only, so fixed ports are safe. ``lab.json`` in the
lab's directory records the namespace and every process group started; ``down`` stops exactly
those (board first) and deletes the namespace. The BMC's password is in ``bmc-password`` (0600).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import attrs

from harness.errors import InfrastructureError, UsageError
from harness.lab import chassis, netns
from harness.lab.bmcsim import BmcSim
from harness.lab.coordinator import Coordinator
from harness.lab.exporter import Exporter
from harness.lab.exportersh import ALIAS, ExporterSSH
from harness.lab.firmware import GRUB_IMAGE, GRUB_PREFIX, BoardFirmware, board_firmware
from harness.lab.uartcable import UartCable
from harness.proc import group_running, stop_process_group
from harness.paths import LAB_CONFIGS_DIR, write_private
from harness.targets import TargetProfile

PORTS = {"coordinator": 20408, "bmc": 9623, "uart_bmc": 5001, "uart_board": 5002, "ssh": 2222, "exporter_ssh": 22}
UEFI_MEMORY = "2048M"
LAB_CONFIGS = {"uboot": "boards/virtual-lab.yaml", "uefi": "boards/virtual-lab-uefi.yaml"}
# The U-Boot board booting a stable system that kexecs the kernel under test (`lab up --kexec`).
KEXEC_LAB_CONFIG = "boards/virtual-lab-kexec.yaml"
EXPORTER = "vlab-host"
STOP_DEADLINE_S = 5.0


def place_name(target: TargetProfile) -> str:
    return f"vlab-{target.name}"


def board_argv(target: TargetProfile, tftp_dir: Path, firmware: BoardFirmware, extra: list[str] = ()) -> list[str]:
    """The board: the profile's machine, its firmware (U-Boot; or UEFI, which fetches GRUB by TFTP
    at power-on), serial to the UART cable, QEMU's TFTP server on its user network (restrict=on:
    it reaches nothing else), SSH forwarded on loopback."""
    q = target.qemu_settings()
    if q is None or target.arch != "arm64":
        raise UsageError(f"the virtual lab plays arm64 virt boards; {target.name} is not one")
    netboot = f",bootfile={GRUB_IMAGE}" if firmware.netboot else ""
    # The twins' register windows are RAM the tree reserves near the top of the profile's 1 GiB;
    # EDK2 keeps its own data at the top of RAM, where the kernel then cannot reserve them (measured:
    # "failed to reserve memory for node vfio-hil-twin", the windows mapped as RAM). A UEFI board
    # gets twice the RAM, so that EDK2's top lies above them (harness/twins/README.md).
    memory = UEFI_MEMORY if firmware.kind == "uefi" else str(q["memory"])
    return [q["binary"], "-M", q["machine"], "-cpu", q["cpu"], "-m", memory, "-bios", str(firmware.bios),
            "-display", "none", "-monitor", "none", "-serial", f"tcp:127.0.0.1:{PORTS['uart_board']}",
            "-netdev", f"user,id=mgmt,restrict=on,tftp={tftp_dir}{netboot},"
                       f"hostfwd=tcp:127.0.0.1:{PORTS['ssh']}-:22",
            "-device", "virtio-net-device,netdev=mgmt", *extra]


def lab_twin_args(target: TargetProfile, workdir: Path, sockdir: Path, firmware: BoardFirmware) -> list[str]:
    """What the board's QEMU needs for the target's twin, fixed for the lab's life: its qtest
    socket and the IOMMU mode's machine options (the run's own plan dumps the tree)."""
    from harness.twins.runtime import plan

    board_plan = plan(target, workdir / "twin", firmware=firmware.bios, board_socket=sockdir / "qtest.sock")
    return shlex.split(board_plan.qemu_args())


def exporter_config(username: str, tftp_dir: Path, group: str, prefix: str = "") -> str:
    """``prefix``: the TFTP provider's part of the server's tree (UEFI's GRUB: its prefix ``grub/``)."""
    # Jinja2: comments need "##".
    return (f"{group}:\n"
            f"  IPMIBMC:          ## the board's BMC (ipmi_sim)\n"
            f"    host: 127.0.0.1\n    port: {PORTS['bmc']}\n    username: {username}\n"
            f"    password_env: VFIO_HIL_VLAB_BMC_PASSWORD\n"
            f"  TFTPProvider:     ## QEMU's own TFTP server serves this directory\n"
            f"    internal: {tftp_dir / prefix if prefix else tftp_dir}/\n    external: '{prefix + '/' if prefix else ''}'\n"
            f"  NetworkService:\n    address: 127.0.0.1\n    port: {PORTS['ssh']}\n    username: root\n")


def up(workdir: Path, target: TargetProfile, firmware: str = "uboot", kexec: bool = False) -> dict:
    """Bring the lab up, its board booting through ``firmware`` (harness.lab.firmware: uboot, uefi),
    and with ``kexec`` U-Boot booting a stable system that kexecs the kernel under test; on any
    failure what was started is stopped again. Returns lab.json's content."""
    workdir = workdir.resolve()
    if (workdir / "lab.json").exists():
        raise UsageError(f"{workdir} holds a virtual lab already (lab.json): `vfio-hil lab down --dir {workdir}` first")
    if target.twin is None or target.twin == "fslmc":
        raise UsageError(f"the virtual lab plays boards with a twin on arm64 virt booted by U-Boot; {target.name} "
                         f"is not one (the MC twin's firmware-booted tree is not built yet)")
    if kexec and firmware != "uboot":
        raise UsageError(f"--kexec is the U-Boot board's boot path (U-Boot boots the stable system); "
                         f"the {firmware} board network-boots GRUB: drop --kexec or use --firmware uboot")
    if kexec and "kexec-tools" not in target.userspace_packages:
        raise UsageError(f"--kexec: {target.name}'s initramfs plays the stable system, which needs kexec-tools: "
                         f"add it to userspace_packages in {target.source_file}, or use qemu-seattle")
    fw = board_firmware(firmware)
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    ns = f"vfiohil-{os.getpid()}"
    # A unix socket's path has at most 107 bytes: the qtest socket gets a short directory of its own.
    sockdir = Path(tempfile.mkdtemp(prefix="vfio-hil-vlab-"))
    state = {"netns": ns, "target": target.name, "iommu": target.iommu_mode, "firmware": fw.kind,
             "kexec": kexec, "place": place_name(target),
             "ports": PORTS, "groups": {}, "board_dir": str(workdir / "bmc" / "board"),
             "coordinator": f"127.0.0.1:{PORTS['coordinator']}", "qtest_socket": str(sockdir / "qtest.sock"),
             "exporter_ssh": str(workdir / "exporter-ssh")}
    netns.create(ns)
    state["netns_created"] = True
    _save(workdir, state)
    try:
        tftp = workdir / "tftp"
        tftp.mkdir(mode=0o700, exist_ok=True)
        prefix = ""
        if fw.netboot:                     # UEFI fetches GRUB from the TFTP root; GRUB reads grub/grub.cfg
            shutil.copyfile(fw.netboot, tftp / GRUB_IMAGE)
            prefix = GRUB_PREFIX
            (tftp / prefix).mkdir(mode=0o700, exist_ok=True)
        essh = ExporterSSH(Path(state["exporter_ssh"]), PORTS["exporter_ssh"], netns=ns)
        essh.start()
        state["groups"]["exporter_ssh"] = essh.proc.pid
        _save(workdir, state)
        cable = UartCable(workdir, PORTS["uart_bmc"], PORTS["uart_board"], netns=ns)
        cable.start()
        state["groups"]["uartcable"] = cable.proc.pid
        _save(workdir, state)
        coord = Coordinator(workdir / "coordinator", port=PORTS["coordinator"], netns=ns)
        coord.start()
        state["groups"]["coordinator"] = coord.proc.pid
        _save(workdir, state)
        bmc = BmcSim(workdir / "bmc", board_argv(target, tftp, fw, lab_twin_args(target, workdir, sockdir, fw)),
                     PORTS["uart_bmc"], port=PORTS["bmc"], netns=ns)
        bmc.start()
        state["groups"]["ipmi_sim"] = bmc.proc.pid
        write_private(workdir / "bmc-password", bmc.password)
        state["bmc_user"] = bmc.username
        _save(workdir, state)
        exporter = Exporter(workdir / "exporter", EXPORTER, exporter_config(bmc.username, tftp, state["place"], prefix),
                            state["coordinator"], host=ALIAS, netns=ns)
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
    if state.get("qtest_socket"):
        shutil.rmtree(Path(state["qtest_socket"]).parent, ignore_errors=True)
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
            **bmc_password_env(workdir)}


def bmc_password_env(workdir: Path) -> dict:
    """What the lab's IPMIBMC names (password_env), from the lab's 0600 file."""
    return {"VFIO_HIL_VLAB_BMC_PASSWORD": (workdir.resolve() / "bmc-password").read_text()}


@attrs.define
class VirtualLabRun:
    """A suite run through the virtual lab in ``workdir``, as a CI job in a real lab runs: the
    place lock and the suite's process inside the lab's namespace (where its coordinator, BMC,
    exporter and board are), the lab's environment file, the BMC's password and the exporter's
    SSH (an ``ssh`` on PATH with the lab's config) in the suite's environment."""
    workdir: Path
    state: dict

    @classmethod
    def of(cls, workdir: Path, target: TargetProfile) -> "VirtualLabRun":
        """The lab in ``workdir``, refused (exit 2) unless it was brought up for ``target`` in its mode."""
        state = load(workdir)
        if (state["target"], state.get("iommu")) != (target.name, target.iommu_mode):
            raise UsageError(f"the virtual lab in {workdir} plays {state['target']} ({state.get('iommu')}), not "
                             f"{target.name} ({target.iommu_mode}): run that target, or bring a lab up for this one "
                             f"(`vfio-hil lab down --dir {workdir}`, then `lab up --target {target.name}`)")
        return cls(workdir.resolve(), state)

    @property
    def place(self) -> str:
        return self.state["place"]

    @property
    def netns(self) -> str:
        return self.state["netns"]

    def place_lock(self, username: str, wait_s: float):
        from harness.lab.placelock import PlaceLock

        return PlaceLock(self.place, self.state["coordinator"], username, wait_s=wait_s, netns=self.netns)

    def lab_config(self) -> Path:
        if self.state.get("kexec"):
            return LAB_CONFIGS_DIR / KEXEC_LAB_CONFIG
        return LAB_CONFIGS_DIR / LAB_CONFIGS[self.state.get("firmware", "uboot")]

    def twin_plan(self, target: TargetProfile, out: Path):
        from harness.twins.runtime import plan

        bios = board_firmware(self.state.get("firmware", "uboot")).bios
        return plan(target, out, firmware=bios, board_socket=Path(self.state["qtest_socket"]))

    def child_env(self) -> dict:
        return {**bmc_password_env(self.workdir),
                "PATH": os.pathsep.join([str(Path(self.state["exporter_ssh"]) / "bin"), os.environ.get("PATH", "")])}

    def argv_prefix(self) -> list[str]:
        return netns.prefix(self.netns)


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


UEFI_PXE = "Start PXE over IPv4"     # EDK2's line as its network boot begins


def check(workdir: Path, username: str = "vfio-hil-lab-check") -> dict:
    """Run inside the lab's namespace (`vfio-hil lab check` enters it): lock the place as a job
    would, power the board on through its BMC, reach U-Boot's prompt over SOL and stop autoboot
    there and run one command (a UEFI board: see its network boot start), power off, release.
    Returns what it saw."""
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
            if state.get("firmware", "uboot") == "uboot":
                uboot = target.get_driver("UBootDriver")     # waits for autoboot, stops it, sees the prompt
                seen["uboot_prompt_s"] = round(time.monotonic() - start, 1)
                seen["version"] = uboot.run_check("version")[0]
            else:                                            # UEFI: its network boot starts
                console = target.get_driver("IPMISOLConsoleDriver")
                console.expect(UEFI_PXE, timeout=120)
                seen["uefi_pxe_s"] = round(time.monotonic() - start, 1)
            power.off()
            seen["power_after_off"] = power.get()
        finally:
            target.cleanup()
    return seen


if __name__ == "__main__":
    print(json.dumps(check(Path(sys.argv[1]))))
