"""Network namespaces the virtual lab makes (`ip netns`): everything of the lab listens inside one,
on its loopback, so nothing of it is reachable from the host's network and fixed ports cannot
collide with the host's. Processes enter it with nsenter, which execs (no fork): the PID we
record is the process itself, and stopping its process group stops only what we started."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.errors import InfrastructureError


def create(name: str) -> None:
    for argv in (["ip", "netns", "add", name], ["ip", "-n", name, "link", "set", "lo", "up"]):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        if proc.returncode != 0:
            raise InfrastructureError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()} (the virtual lab needs "
                                      f"root or CAP_SYS_ADMIN for its network namespace)")


def delete(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def exists(name: str) -> bool:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return any(line.split()[0] == name for line in out.splitlines() if line.strip())


def prefix(name: str | None) -> list[str]:
    """The argv prefix that runs a command inside namespace ``name`` (nothing for None)."""
    return ["nsenter", f"--net=/run/netns/{name}", "--"] if name else []


def listening(pid: int, proto: str, port: int) -> bool:
    """Whether a ``proto`` ("tcp" or "udp") socket is bound to 127.0.0.1:``port`` (TCP: listening)
    in process ``pid``'s network namespace (/proc/PID/net/PROTO); False once the process is gone."""
    want = f"0100007F:{port:04X}"
    try:
        lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(f[1] == want and (proto == "udp" or f[3] == "0A") for f in (line.split() for line in lines))
