"""A labgrid-exporter of our own: one exporter config (Jinja2 YAML), registered with a coordinator
under a name, in a session of its own, stopped by its PID's process group. The lab tests' and the
virtual lab's exporter; a real lab runs the stock one with the same config (README, "Running on
boards")."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import attrs

from harness.errors import InfrastructureError
from harness.lab import netns
from harness.lab.daemon import Daemon
from harness.lab.placelock import labgrid_bin

READY_DEADLINE_S = 20.0


@attrs.define
class Exporter(Daemon):
    workdir: Path
    name: str                      # the exporter's name at the coordinator (labgrid-exporter -n)
    config: str                    # the exporter config's text
    coordinator: str               # host:port
    host: str = "127.0.0.1"        # the address clients reach its resources at (--hostname)
    netns: str | None = None       # inside this network namespace (the virtual lab's)
    proc: subprocess.Popen | None = None
    log_name = "exporter.log"

    def start(self) -> "Exporter":
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        conf = self.workdir / "exporter.yaml"
        conf.write_text(self.config)
        argv = [*netns.prefix(self.netns), labgrid_bin("labgrid-exporter"), "--hostname", self.host, "-n", self.name, str(conf)]
        log = self.workdir / self.log_name
        self.spawn(argv, env={**os.environ, "LG_COORDINATOR": self.coordinator})
        end = time.monotonic() + READY_DEADLINE_S
        try:
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    raise InfrastructureError(f"labgrid-exporter exited ({self.proc.returncode}): "
                                              f"{' '.join(argv)}\n{self.log_tail()}")
                if "connected to coordinator" in log.read_text(errors="replace"):
                    return self
                time.sleep(0.2)
        except BaseException:          # Ctrl-C while waiting: never leave it running
            self.stop()
            raise
        self.stop()
        raise InfrastructureError(f"labgrid-exporter did not reach the coordinator {self.coordinator} within "
                                  f"{READY_DEADLINE_S:.0f} s: {' '.join(argv)}\n{self.log_tail()}")
