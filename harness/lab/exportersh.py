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
import subprocess
from pathlib import Path

import attrs

from harness.proc import run
from harness.errors import InfrastructureError
from harness.lab import netns
from harness.lab.daemon import Daemon
from harness.paths import write_private
from harness.sshkey import ensure_key

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
        host_key = self.workdir / "host_ed25519"
        if not host_key.exists():
            run(["dropbearkey", "-t", "ed25519", "-f", str(host_key)], what="dropbear's host key", timeout=30)
        host_pub = next(line for line in run(["dropbearkey", "-y", "-f", str(host_key)],
                                             what="dropbear's public host key", timeout=30).stdout.splitlines()
                        if line.startswith("ssh-ed25519 "))
        client_key, client_pub = ensure_key(self.workdir)       # the lab's own, not the targets'
        write_private(home / ".ssh" / "authorized_keys", client_pub + "\n")
        write_private(self.workdir / "known_hosts", f"{ALIAS} {' '.join(host_pub.split()[:2])}\n")
        user = getpass.getuser()
        write_private(self.workdir / "passwd", passwd_with_home(Path("/etc/passwd").read_text(), user, home))
        write_private(self.workdir / "ssh_config", "\n".join([
            f"Host {ALIAS}", "  HostName 127.0.0.1", f"  Port {self.port}", f"  User {user}",
            f"  IdentityFile {client_key}", "  IdentitiesOnly yes", f"  HostKeyAlias {ALIAS}",
            f"  UserKnownHostsFile {self.workdir / 'known_hosts'}", "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes", "  BatchMode yes", ""]))
        self.bin_dir.mkdir(mode=0o700, exist_ok=True)
        wrapper = self.bin_dir / "ssh"
        write_private(wrapper, f'#!/bin/sh\nexec {SSH} -F {self.workdir / "ssh_config"} "$@"\n', mode=0o700)
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
        raise InfrastructureError(f"user {user} (uid {os.getuid()}) has no line in /etc/passwd: dropbear, "
                                  f"which looks its home up there, could not log it in")
    return "\n".join(out) + "\n"

