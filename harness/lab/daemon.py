"""What the lab's own daemons (coordinator, exporter, BMC) share: a work directory with the
daemon's log, a process in a session of its own, its log's tail for error messages, and a stop
that ends its whole process group (SIGTERM, then SIGKILL after the grace) and reaps it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.proc import stop_process_group

STOP_GRACE_S = 5.0


class Daemon:
    workdir: Path
    proc: subprocess.Popen | None
    log_name = "daemon.log"

    def spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """``argv`` in its own session, stdout and stderr to the log, cwd the work directory."""
        self.proc = subprocess.Popen(argv, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=open(self.workdir / self.log_name, "wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True, **kwargs)
        return self.proc

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.workdir / self.log_name).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc.pid, STOP_GRACE_S, leader=self.proc)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
