"""ParamikoSSHDriver: commands and file transfer over SSH with paramiko.

labgrid's own SSHDriver shells out to OpenSSH; this one speaks SSH from Python,
so the harness needs no ssh binary and gets exit codes and deadlines directly.
It implements labgrid's CommandProtocol and FileTransferProtocol on top of a
NetworkService resource (address, port, username).
"""

from __future__ import annotations

import base64
import shlex
import socket
import time
from contextlib import contextmanager

import attr
import paramiko
from labgrid.driver.commandmixin import CommandMixin
from labgrid.driver.common import Driver
from labgrid.driver.exception import ExecutionError
from labgrid.factory import target_factory
from labgrid.protocol import CommandProtocol, FileTransferProtocol
from labgrid.step import step

from harness.errors import InfrastructureError

TRANSFER_TIMEOUT_S = 300.0


@target_factory.reg_driver
@attr.s(eq=False)
class ParamikoSSHDriver(CommandMixin, Driver, CommandProtocol, FileTransferProtocol):
    bindings = {"networkservice": "NetworkService"}

    keyfile = attr.ib(validator=attr.validators.instance_of(str))
    connect_timeout = attr.ib(default=60.0, validator=attr.validators.instance_of((int, float)))
    # The target's ed25519 host key (base64), which the strategy read off the console as the target
    # printed it at boot; a server showing any other key is refused, never added.
    host_key = attr.ib(default="", validator=attr.validators.instance_of(str))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self._client: paramiko.SSHClient | None = None

    def on_activate(self):
        """Connect, retrying until ``connect_timeout``: dropbear may still be making host keys."""
        ns = self.networkservice
        key = paramiko.Ed25519Key.from_private_key_file(self.keyfile)
        if not self.host_key:
            raise InfrastructureError(f"no host key for {ns.address}:{ns.port}: the target printed none on its "
                                      f"console, and an unknown key is never accepted")
        pinned = paramiko.Ed25519Key(data=base64.b64decode(self.host_key + "=" * (-len(self.host_key) % 4)))
        deadline = time.monotonic() + self.connect_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            client.get_host_keys().add(ns.address if ns.port == 22 else f"[{ns.address}]:{ns.port}",
                                       "ssh-ed25519", pinned)
            try:
                client.connect(ns.address, port=ns.port, username=ns.username, pkey=key, timeout=10,
                               banner_timeout=30, auth_timeout=30, allow_agent=False, look_for_keys=False)
                self._client = client
                return
            except paramiko.BadHostKeyException as exc:
                client.close()
                raise InfrastructureError(f"SSH to {ns.address}:{ns.port}: the host key changed: the server shows "
                                          f"{exc.key.get_base64()}, the target printed {self.host_key} on its "
                                          f"console; refusing (another machine answers, or a stale boot)") from None
            except (OSError, paramiko.SSHException, socket.timeout) as exc:
                last = exc
                client.close()
                time.sleep(1)
        raise InfrastructureError(f"SSH to {ns.username}@{ns.address}:{ns.port} failed for "
                                  f"{self.connect_timeout:.0f} s: {last}")

    def on_deactivate(self):
        if self._client:
            self._client.close()
            self._client = None

    @Driver.check_active
    @step(args=["cmd"], result=True)
    def run(self, cmd, timeout=30.0, codec="utf-8", decodeerrors="strict"):
        """Run ``cmd``; returns (stdout lines, stderr lines, exit code) like labgrid's drivers."""
        return self._run(cmd, timeout=timeout, codec=codec, decodeerrors=decodeerrors)

    def _run(self, cmd, *, timeout=30.0, codec="utf-8", decodeerrors="strict"):
        chan = self._client.get_transport().open_session()
        chan.settimeout(timeout)
        chan.exec_command(cmd)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        while True:
            if chan.recv_ready():
                out += chan.recv(65536)
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            if time.monotonic() > deadline:
                chan.close()
                raise ExecutionError(f"command timed out after {timeout} s over SSH: {cmd}")
            time.sleep(0.01)
        rc = chan.recv_exit_status()
        chan.close()
        return (out.decode(codec, decodeerrors).splitlines(), err.decode(codec, decodeerrors).splitlines(), rc)

    def get_status(self):
        return 1 if self._client else 0

    # dropbear ships no SFTP server, so files travel through `cat` on an exec channel.
    @Driver.check_active
    @step(args=["filename", "remotepath"])
    def put(self, filename, remotepath):
        with self._cat_channel(f"cat > {shlex.quote(remotepath)}", f"put {filename} -> {remotepath}") as chan, \
                open(filename, "rb") as fh:
            while chunk := fh.read(32768):
                chan.sendall(chunk)
            chan.shutdown_write()

    @Driver.check_active
    @step(args=["filename", "destination"])
    def get(self, filename, destination):
        with self._cat_channel(f"cat {shlex.quote(filename)}", f"get {filename}") as chan, \
                open(destination, "wb") as fh:
            while data := chan.recv(65536):
                fh.write(data)

    @contextmanager
    def _cat_channel(self, command: str, what: str):
        """An exec channel for ``command``; raises if it exits non-zero once the caller is done."""
        chan = self._client.get_transport().open_session()
        chan.settimeout(TRANSFER_TIMEOUT_S)
        chan.exec_command(command)
        try:
            yield chan
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        if rc != 0:
            raise ExecutionError(f"{what}: exit code {rc}")
