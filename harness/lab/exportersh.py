"""The virtual lab's exporter host as a client's SSH reaches it: what labgrid needs to stage files
on the exporter's TFTP root. labgrid's TFTPProviderDriver hands each image to ManagedFile, which
opens an SSH connection to the exporter's host (the system `ssh`, StrictHostKeyChecking=yes,
no passwords), checks there whether the file is already visible at the same path (its "NFS" case)
or copies it with rsync into /var/cache/labgrid/<user>, and links it into the TFTP root. A real lab
has this in the CI user's ~/.ssh/config; the virtual lab touches no file of the host's, so:

- the server is dropbear (Debian's dropbear-bin: binaries only, no service) inside the lab's
  network namespace on 127.0.0.1:PORT, with a host key of its own and password logins off;
- dropbear finds authorized_keys in the login user's home from /etc/passwd, so it runs in a mount
  namespace of its own in which /etc/passwd is a copy with that home pointed at the lab's
  directory; nothing else differs from the host's view (the exporter shares this filesystem,
  which is why ManagedFile finds the images in place and only links them);
- the client side is an ``ssh`` on PATH that adds ``-F`` with the lab's config (the alias
  ``vlab-exporter``, the lab's client key, its known_hosts holding exactly the server's key).

The exporter publishes the alias as its hostname (labgrid-exporter --hostname), so every SSH use
labgrid makes for this exporter lands here, and a host key other than the lab's is refused.
"""

from __future__ import annotations

import getpass
import os
import pwd
import subprocess
from pathlib import Path

import attrs

from harness.errors import InfrastructureError
from harness.lab import netns
from harness.lab.daemon import Daemon

ALIAS = "vlab-exporter"
READY_DEADLINE_S = 10.0
DROPBEAR = "/usr/sbin/dropbear"
SSH = "/usr/bin/ssh"


@attrs.define
class ExporterSSH(Daemon):
    workdir: Path
    port: int
    netns: str | None = None
    proc: subprocess.Popen | None = None
    log_name = "dropbear.log"

    @property
    def bin_dir(self) -> Path:
        """Put first on a client's PATH: its ``ssh`` carries the lab's config."""
        return self.workdir / "bin"

    def start(self) -> "ExporterSSH":
        for tool in (DROPBEAR, SSH):
            if not Path(tool).is_file():
                raise InfrastructureError(f"{tool} is missing (Debian: dropbear-bin, openssh-client; or: make setup)")
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        home = self.workdir / "home"
        (home / ".ssh").mkdir(mode=0o700, parents=True, exist_ok=True)
        host_key, client_key = self.workdir / "host_ed25519", self.workdir / "client_ed25519"
        _run(["dropbearkey", "-t", "ed25519", "-f", str(host_key)], unless=host_key)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vfio-hil-vlab", "-f", str(client_key)],
             unless=client_key)
        host_pub = next(line for line in _run(["dropbearkey", "-y", "-f", str(host_key)]).splitlines()
                        if line.startswith("ssh-ed25519 "))
        _write(home / ".ssh" / "authorized_keys", client_key.with_suffix(".pub").read_text())
        _write(self.workdir / "known_hosts", f"{ALIAS} {' '.join(host_pub.split()[:2])}\n")
        user = getpass.getuser()
        _write(self.workdir / "passwd", passwd_with_home(Path("/etc/passwd").read_text(), user, home))
        _write(self.workdir / "ssh_config", "\n".join([
            f"Host {ALIAS}", "  HostName 127.0.0.1", f"  Port {self.port}", f"  User {user}",
            f"  IdentityFile {client_key}", "  IdentitiesOnly yes", f"  HostKeyAlias {ALIAS}",
            f"  UserKnownHostsFile {self.workdir / 'known_hosts'}", "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes", "  BatchMode yes", ""]))
        self.bin_dir.mkdir(mode=0o700, exist_ok=True)
        wrapper = self.bin_dir / "ssh"
        _write(wrapper, f'#!/bin/sh\nexec {SSH} -F {self.workdir / "ssh_config"} "$@"\n', mode=0o700)
        # unshare --mount makes the copy of /etc/passwd this dropbear's alone; sh binds it and
        # execs dropbear (no fork: the PID recorded is dropbear's, its sessions in its group).
        argv = [*netns.prefix(self.netns), "unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", 'mount --bind "$0" /etc/passwd && exec "$@"', str(self.workdir / "passwd"),
                DROPBEAR, "-F", "-E", "-s", "-j", "-k", "-p", f"127.0.0.1:{self.port}", "-r", str(host_key),
                "-P", str(self.workdir / "dropbear.pid")]
        self.spawn(argv)
        self.await_ready(lambda: netns.listening(self.proc.pid, "tcp", self.port), argv,
                         f"dropbear did not listen on 127.0.0.1:{self.port}", READY_DEADLINE_S)
        return self


def passwd_with_home(passwd: str, user: str, home: Path) -> str:
    """/etc/passwd's text with ``user``'s home directory (field 6) replaced by ``home``."""
    out, found = [], False
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) == 7 and fields[0] == user:
            fields[5], found = str(home), True
        out.append(":".join(fields))
    if not found:
        raise InfrastructureError(f"user {user} (uid {os.getuid()}) is not in /etc/passwd "
                                  f"({pwd.getpwuid(os.getuid()).pw_name}): dropbear could not log it in")
    return "\n".join(out) + "\n"


def _run(argv: list[str], unless: Path | None = None) -> str:
    if unless is not None and unless.exists():
        return ""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise InfrastructureError(f"`{' '.join(argv)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return proc.stdout


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)
