"""A labgrid-exporter of our own: one exporter config (Jinja2 YAML), registered with a coordinator
under a name, in a session of its own, stopped by its PID's process group. The lab tests' and the
virtual lab's exporter; a real lab runs the stock one with the same config (README, "Running on
boards")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import attrs

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
        argv = [*netns.prefix(self.netns), labgrid_bin("labgrid-exporter"), "--hostname", self.host,
                "-n", self.name, str(conf)]
        log = self.workdir / self.log_name
        self.spawn(argv, env={**os.environ, "LG_COORDINATOR": self.coordinator})
        self.await_ready(lambda: "connected to coordinator" in log.read_text(errors="replace"), argv,
                         f"labgrid-exporter did not reach the coordinator {self.coordinator}", READY_DEADLINE_S,
                         poll_s=0.2)
        return self
