"""VfioHilStrategy: the target's state machine, off -> shell -> ssh.

shell: power on, wait (bounded) for the initramfs ready marker on the console,
then hand the console to labgrid's ShellDriver. ssh: additionally connect over
the management network; on QEMU the guest's port 22 is forwarded from a free
port on 127.0.0.1 only.
"""

from __future__ import annotations

import enum
import re
import socket

import attr
from labgrid.factory import target_factory
from labgrid.strategy.common import Strategy, StrategyError, never_retry
from labgrid.step import step
from pexpect import TIMEOUT

from harness.errors import InfrastructureError

BOOT_FAILURES = ["Kernel panic - not syncing", "Unable to handle kernel", "Internal error: Oops"]


class Status(enum.Enum):
    unknown = 0
    off = 1
    shell = 2
    ssh = 3


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@target_factory.reg_driver
@attr.s(eq=False)
class VfioHilStrategy(Strategy):
    bindings = {
        "power": "PowerProtocol",
        "console": "ConsoleProtocol",
        "shell": "ShellDriver",
        "ssh": "ParamikoSSHDriver",
    }

    ready_marker = attr.ib(default="VFIO-HIL-READY", validator=attr.validators.instance_of(str))
    # int, or a string from a !template (LG_VFIO_HIL_BOOT_TIMEOUT): the deadline for the ready marker
    boot_timeout = attr.ib(default=180, converter=int, validator=attr.validators.instance_of(int))
    # QEMU only: the -nic id whose guest port 22 is forwarded to 127.0.0.1.
    forward_netdev = attr.ib(default="mgmt", validator=attr.validators.instance_of(str))
    status = attr.ib(default=Status.unknown)

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.ready_line = ""

    @never_retry
    @step(args=["status"])
    def transition(self, status, *, step):  # noqa: ARG002 (labgrid passes step)
        if not isinstance(status, Status):
            status = Status[status]
        if status == self.status:
            return
        if status == Status.off:
            self.target.deactivate(self.ssh)
            self.target.deactivate(self.shell)
            self.target.activate(self.power)
            self.power.off()
        elif status == Status.shell:
            self.transition(Status.off)
            self.target.activate(self.console)
            self.power.on()
            self._await_ready()
            self.target.activate(self.shell)
        elif status == Status.ssh:
            if self.status != Status.shell:
                self.transition(Status.shell)
            if "ssh=down" in self.ready_line or "mgmt=none" in self.ready_line:
                raise InfrastructureError(f"the target came up without SSH ({self.ready_line}); "
                                          f"see the console log for the VFIO-HIL-WARN lines")
            if hasattr(self.power, "add_port_forward"):
                port = free_loopback_port()
                self.power.add_port_forward("tcp", "127.0.0.1", port, "", 22, self.forward_netdev)
                self.ssh.networkservice.port = port
            self.target.activate(self.ssh)
        else:
            raise StrategyError(f"no transition to {status}")
        self.status = status

    def _await_ready(self) -> None:
        pattern = re.escape(self.ready_marker) + r"[^\r\n]*"
        index, before, match, _ = self.console.expect([pattern, *map(re.escape, BOOT_FAILURES), TIMEOUT],
                                                      timeout=self.boot_timeout)
        if index == 0:
            self.ready_line = match.group(0).decode(errors="replace").strip()
            return
        tail = "\n".join(before.decode(errors="replace").splitlines()[-20:])
        if index == len(BOOT_FAILURES) + 1:
            raise InfrastructureError(f"no {self.ready_marker!r} on the console within {self.boot_timeout} s; "
                                      f"last console lines:\n{tail}")
        raise InfrastructureError(f"the kernel failed while booting ({BOOT_FAILURES[index - 1]}); "
                                  f"last console lines:\n{tail}")
