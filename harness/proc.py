"""Run host commands with a deadline, a log file and errors that carry the evidence."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from pathlib import Path

from harness.errors import CommandError

TAIL_LINES = 25
STOP_GRACE_S = 5.0     # a stopped command's group gets this long after SIGTERM before SIGKILL


def run(argv: list[str], *, what: str, log: Path | None = None, cwd: Path | None = None,
        env: dict[str, str] | None = None, timeout: float = 600,
        check: bool = True, stdout_to: Path | None = None,
        stop_grace_s: float = STOP_GRACE_S) -> subprocess.CompletedProcess:
    """Run ``argv``; stdout+stderr go to ``log`` (appended) or are captured.

    ``stdout_to`` sends stdout (binary) to that file instead; stderr still goes to ``log``.
    ``stop_grace_s``: how long a stopped command (deadline, interrupt) gets after SIGTERM; a
    `vfio-hil run` needs longer than make, to stop its own suite and QEMU first.

    Raises CommandError with the command line, exit code and output tail when the
    command fails or overruns ``timeout`` seconds (every wait has a deadline).
    """
    full_env = None if env is None else {**os.environ, **env}
    if log is None:
        try:
            proc = subprocess.run(argv, cwd=cwd, env=full_env, timeout=timeout,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, errors="replace")
        except subprocess.TimeoutExpired as exc:
            out = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else (exc.output or "")
            raise CommandError(what, argv, None, _tail_text(out), cwd=cwd) from exc
        if check and proc.returncode != 0:
            raise CommandError(what, argv, proc.returncode, _tail_text(proc.stdout), cwd=cwd)
        return proc

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh, open(stdout_to or os.devnull, "wb") as out:
        fh.write(f"$ {' '.join(argv)}\n".encode())
        fh.flush()
        # Its own process group, so a deadline or an interrupt stops all of it (make's compilers,
        # rsync's helpers), not just the process we started.
        proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=out if stdout_to else fh,
                                stderr=subprocess.STDOUT if not stdout_to else fh, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            stop_process_group(proc.pid, stop_grace_s, leader=proc)
            raise CommandError(what, argv, None, tail_of_file(log), log, cwd) from exc
        except BaseException:        # KeyboardInterrupt, SIGTERM turned into one: leave nothing behind
            stop_process_group(proc.pid, stop_grace_s, leader=proc)
            raise
    if check and rc != 0:
        raise CommandError(what, argv, rc, tail_of_file(log), log, cwd)
    return subprocess.CompletedProcess(argv, rc)


def sigterm_as_interrupt(signum, frame):
    """A SIGTERM handler that unwinds like Ctrl-C, so every cleanup (finally, context managers)
    runs: `vfio-hil` and the suite's pytest child both install it."""
    raise KeyboardInterrupt(f"signal {signum}")


def running(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (exited, not yet reaped by its parent) does not."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def group_running(pgid: int) -> list[int]:
    """The running (not zombie) processes of process group ``pgid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def stop_process_group(pgid: int, grace_s: float, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM every process of group ``pgid`` (one we started with start_new_session), give them
    ``grace_s`` to go, then SIGKILL what is left. The group is gone once none of it runs: zombies
    whose parent is not us (a group another process started, reaped by init later) do not count.
    ``leader``, if given, is reaped on the way."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return                               # nothing left: the usual case
    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        if leader is not None:
            leader.poll()
        if not group_running(pgid):
            if leader is not None:
                leader.poll()
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if leader is not None:
        leader.wait(timeout=5)


def _tail_text(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def tail_of_file(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            tail = deque(fh.read().decode(errors="replace").splitlines(), maxlen=lines)
    except OSError:
        return ""
    return "\n".join(tail)
