"""What the lab's own daemons (coordinator, exporter, BMC) share: a work directory with the
daemon's log, a process in a session of its own, its log's tail for error messages, and a stop
that ends its whole process group (SIGTERM, then SIGKILL after the grace) and reaps it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from harness.errors import InfrastructureError
from harness.proc import stop_process_group

STOP_GRACE_S = 5.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def own_tree_env() -> dict:
    """os.environ with this tree first on PYTHONPATH: a `python -m harness...` we start (directly, or
    through ipmi_sim's chassis control) imports the code that started it, whoever runs it."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT),
                                                         *filter(None, [os.environ.get("PYTHONPATH")])])}


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

    def await_ready(self, ready, argv: list[str], what: str, deadline_s: float, poll_s: float = 0.05) -> None:
        """Until ``ready()`` holds; the daemon exiting first, or ``deadline_s`` passing, is the lab's
        error with its command line and log tail; on any failure (Ctrl-C too) it is stopped."""
        end = time.monotonic() + deadline_s
        try:
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    raise InfrastructureError(f"`{' '.join(argv)}` exited ({self.proc.returncode}) at start:\n"
                                              f"{self.log_tail()}")
                if ready():
                    return
                time.sleep(poll_s)
            raise InfrastructureError(f"{what} within {deadline_s:.0f} s: {' '.join(argv)}\n{self.log_tail()}")
        except BaseException:          # never leave it running
            self.stop()
            raise

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
