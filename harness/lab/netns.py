"""Network namespaces the virtual lab makes (`ip netns`): everything of the lab listens inside one,
on its loopback, so nothing of it is reachable from the host's network and fixed ports cannot
collide with the host's. Processes enter it with nsenter, which execs (no fork): the PID we
record is the process itself, and stopping its process group stops only what we started."""

from __future__ import annotations

import subprocess

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
