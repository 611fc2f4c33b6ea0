"""A labgrid-coordinator of our own: listening on a loopback port, its state (places.yaml) in a
0700 directory, in a session of its own, stopped by its PID's process group (SIGTERM, then
SIGKILL after a deadline): the lab tests' and the virtual lab's coordinator."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import attrs

from harness.errors import InfrastructureError
from harness.lab import netns
from harness.lab.daemon import Daemon
from harness.lab.placelock import CLIENT, labgrid_bin, wait_for_coordinator
from harness.lab.strategy import free_loopback_port


@attrs.define
class Coordinator(Daemon):
    workdir: Path
    host: str = "127.0.0.1"
    port: int = attrs.field(factory=free_loopback_port)
    netns: str | None = None           # inside this network namespace (the virtual lab's)
    proc: subprocess.Popen | None = None
    log_name = "coordinator.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "Coordinator":
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        argv = [*netns.prefix(self.netns), labgrid_bin("labgrid-coordinator"), "-l", self.address]
        self.spawn(argv)
        try:
            wait_for_coordinator(self.address, netns=self.netns)
        except InfrastructureError as exc:
            self.stop()
            raise InfrastructureError(f"{exc}\n{' '.join(argv)}\n{self.log_tail()}") from None
        except BaseException:          # anything else (Ctrl-C, a missing labgrid-client): never leave it running
            self.stop()
            raise
        return self

    def client(self, *args: str, username: str = "vfio-hil-admin") -> subprocess.CompletedProcess:
        """labgrid-client against this coordinator, as ``username`` (an admin's commands)."""
        env = {**os.environ, "LG_COORDINATOR": self.address, "LG_USERNAME": username}
        return subprocess.run([*netns.prefix(self.netns), labgrid_bin(CLIENT), *args], env=env, capture_output=True, text=True, timeout=30)
