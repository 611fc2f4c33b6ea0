"""A board's BMC on this host: OpenIPMI's ipmi_sim answering IPMI 2.0 (RMCP+) on a loopback UDP
port, its chassis control switching the board's process (harness.lab.chassis) and its
serial-over-LAN reaching the board's serial port (a TCP port on 127.0.0.1). What labgrid's
IPMIPowerDriver and IPMISOLConsoleDriver talk to in the virtual lab and in their own tests.

Everything lives in one 0700 directory (lan.conf, the emulator commands, ipmi_sim's state, the
board's directory); ipmi_sim runs in a session of its own and is stopped by its PID's process
group, after the board is switched off. The password goes into lan.conf (0600) only: it is the
simulated BMC's own secret, as it would be in a BMC's flash.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import attrs

from harness.errors import InfrastructureError
from harness.lab import chassis, netns
from harness.lab.daemon import Daemon, own_tree_env
from harness.paths import write_private
from harness.traffic import free_udp_port

IPMI_SIM = "ipmi_sim"
START_DEADLINE_S = 10.0


@attrs.define
class BmcSim(Daemon):
    """One simulated BMC. ``board_argv`` is the board (its process is the chassis' power);
    ``serial`` the board's serial port, host:port on 127.0.0.1, that SOL connects to."""
    workdir: Path
    board_argv: list[str]
    serial_port: int
    username: str = "vfio-hil"
    password: str = attrs.field(factory=lambda: secrets.token_urlsafe(12))
    port: int = attrs.field(factory=free_udp_port)
    netns: str | None = None            # inside this network namespace (the virtual lab's)
    proc: subprocess.Popen | None = None
    log_name = "ipmi_sim.log"

    @property
    def board_dir(self) -> Path:
        return self.workdir / "board"

    def lan_conf(self) -> str:
        switch = f"{sys.executable} -m harness.lab.chassis {self.board_dir}"
        return "\n".join([
            'name "vfio-hil-bmc"',
            "set_working_mc 0x20",
            "  startlan 1",
            f"    addr 127.0.0.1 {self.port}",
            "    priv_limit admin",
            "    allowed_auths_callback none",
            "    allowed_auths_user md5",
            "    allowed_auths_operator md5",
            "    allowed_auths_admin md5",
            f"    guid {secrets.token_hex(16)}",
            "  endlan",
            f'  chassis_control "{switch} 0x20"',
            f'  sol "tcp:127.0.0.1:{self.serial_port}" 115200',
            f'user 2 true "{self.username}" "{self.password}" admin 10 md5',
            "",
        ])

    @staticmethod
    def emu_commands() -> str:
        # One BMC at 0x20 with the chassis device (device support 0x9f), no SDRs of its own.
        return "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"

    def start(self) -> "BmcSim":
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        self.board_dir.mkdir(mode=0o700, exist_ok=True)
        (self.board_dir / "board.json").write_text(json.dumps({"argv": self.board_argv}))
        conf = self.workdir / "lan.conf"
        write_private(conf, self.lan_conf())
        (self.workdir / "cmds.emu").write_text(self.emu_commands())
        (self.workdir / "state").mkdir(mode=0o700, exist_ok=True)
        argv = [*netns.prefix(self.netns), IPMI_SIM, "-c", str(conf), "-f", str(self.workdir / "cmds.emu"),
                "-s", str(self.workdir / "state"), "-n", "-p"]
        try:
            self.spawn(argv, env=own_tree_env())      # its chassis switch is `python -m harness.lab.chassis`
        except FileNotFoundError:
            raise InfrastructureError(f"{IPMI_SIM} is not installed (Debian: openipmi; or: make setup)") from None
        self.await_ready(lambda: netns.listening(self.proc.pid, "udp", self.port), argv,
                         f"{IPMI_SIM} did not listen on 127.0.0.1:{self.port}", START_DEADLINE_S)
        return self

    def stop(self) -> None:
        """Board off, then ipmi_sim's process group."""
        chassis.power_off(self.board_dir)
        super().stop()
