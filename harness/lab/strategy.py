"""VfioHilStrategy: the target's state machine, off -> shell -> ssh.

shell: power on, wait (bounded) for the initramfs ready marker on the console,
then hand the console to labgrid's ShellDriver. ssh: additionally connect over
the management network; on QEMU the guest's port 22 is forwarded from a free
port on 127.0.0.1 only.

A board with a bootloader stage (a real board, or the virtual lab's): after power on, labgrid's
UBootDriver takes the console (it waits for the prompt and stops autoboot), the kernel, tree and
initramfs are staged on the exporter's TFTP server (TFTPProviderDriver) and ``tftp_boot``, with
their staged paths and the boot arguments filled in, is sent as U-Boot's boot command. In a
shared lab (VFIO_HIL_PLACE set by `vfio-hil run --place`) the place is checked to be still ours
before the power and the boot step: a place taken over mid-run stops the run as the lab's error.

A board that boots a stable system of its own (kexec): after power on (and after its bootloader
stage, if it has one), the stable system's shell on the console (StableShellDriver) runs the
environment's ``kexec`` commands: they fetch the staged images from the exporter's TFTP and load
them (kexec -l); the last one (kexec -e) starts the kernel under test, whose ready line and host
key are awaited as after any boot. A stable system whose prompt comes back instead is the lab's
error, named.
"""

from __future__ import annotations

import enum
import re
import socket
from pathlib import Path

import attr
from labgrid.driver import ShellDriver
from labgrid.factory import target_factory
from labgrid.protocol import CommandProtocol, FileTransferProtocol
from labgrid.strategy.common import Strategy, StrategyError, never_retry
from labgrid.step import step
from labgrid.util import re_vt100
from pexpect import TIMEOUT

from harness.errors import InfrastructureError

BOOT_FAILURES = ["Kernel panic - not syncing", "Unable to handle kernel", "Internal error: Oops"]
# GRUB's errors while running grub.cfg (then it waits at its menu: without these, a missing file
# would read as the boot deadline): a file TFTP does not have, a kernel without an EFI stub.
GRUB_FAILURES = [r"error: file [^\r\n]*", r"error: plain image kernel not supported[^\r\n]*",
                 r"error: you need to load the kernel first[^\r\n]*"]


@target_factory.reg_driver
@attr.s(eq=False)
class StableShellDriver(ShellDriver):
    """labgrid's ShellDriver on the board's stable system (the one that kexecs the kernel under
    test): the same login and command running, a class of its own so that the environment's
    other ShellDriver (the kernel under test's) stays the one every "ShellDriver" lookup finds."""

    priorities = {ShellDriver: -10, CommandProtocol: -10, FileTransferProtocol: -10}


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
        "bootloader": {"UBootDriver", None},
        "tftp": {"TFTPProviderDriver", None},
        "stable": {"StableShellDriver", None},
    }

    ready_marker = attr.ib(default="VFIO-HIL-READY", validator=attr.validators.instance_of(str))
    # int, or a string from a !template (LG_VFIO_HIL_BOOT_TIMEOUT): the deadline for the ready marker
    boot_timeout = attr.ib(default=180, converter=int, validator=attr.validators.instance_of(int))
    # QEMU only: the -nic id whose guest port 22 is forwarded to 127.0.0.1.
    forward_netdev = attr.ib(default="mgmt", validator=attr.validators.instance_of(str))
    # With a bootloader: U-Boot commands, {kernel} {dtb} {initrd} the staged TFTP paths, {bootargs}
    # the run's kernel command line (lab-configs/boards/ has them per board kind). Each but the
    # last must succeed (a TFTP file missing is the lab's error, named); the last boots.
    tftp_boot = attr.ib(default=attr.Factory(list), converter=list,
                        validator=attr.validators.deep_iterable(attr.validators.instance_of(str)))
    bootargs = attr.ib(default="", validator=attr.validators.instance_of(str))
    # A board whose firmware network-boots GRUB (UEFI: AMD Seattle): grub.cfg's lines, with the same
    # {kernel} {dtb} {initrd} {bootargs}; the images and this grub.cfg are staged on the exporter's
    # TFTP before power-on (the TFTP provider's directory is GRUB's prefix) and nothing is typed.
    grub_cfg = attr.ib(default=attr.Factory(list), converter=list,
                       validator=attr.validators.deep_iterable(attr.validators.instance_of(str)))
    # Where the run's own staged files (grub.cfg) are written before staging: the run's directory
    # (!template "$LG_VFIO_HIL_LOG_DIR"); labgrid links rather than copies when the exporter sees it.
    stage_dir = attr.ib(default="", validator=attr.validators.instance_of(str))
    # A board booting a stable system first: the commands its shell runs, with the same {kernel}
    # {dtb} {initrd} {bootargs}. Each but the last must succeed (a TFTP fetch or kexec -l failing is
    # the lab's error, named); the last (kexec -e) starts the kernel under test.
    kexec = attr.ib(default=attr.Factory(list), converter=list,
                    validator=attr.validators.deep_iterable(attr.validators.instance_of(str)))
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
            if self.stable is not None:
                self.target.deactivate(self.stable)
            self.target.activate(self.power)
            self.power.off()
        elif status == Status.shell:
            self.transition(Status.off)
            self.target.activate(self.console)
            check_place("power on")
            if self.grub_cfg:
                self._stage_for_grub()
            self.power.on()
            if self.bootloader is not None:
                self._boot_through_bootloader()
            if self.kexec:
                self._kexec_from_stable()
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
            self.ssh.host_key = host_key_of(self.ready_line)
            self.target.activate(self.ssh)
        else:
            raise StrategyError(f"no transition to {status}")
        self.status = status

    def _boot_through_bootloader(self) -> None:
        if not self.tftp_boot:
            raise InfrastructureError("a bootloader stage needs tftp_boot (the boot command)")
        staged = self._stage_images()
        self._reach(self.bootloader,                   # the prompt, autoboot stopped
                    f"U-Boot's prompt {self.bootloader.prompt!r} never came on the console within "
                    f"{self.bootloader.login_timeout} s of power-on (a silent console: a dead UART or a wrong "
                    f"baud rate; or firmware that does not stop at {self.bootloader.autoboot!r})")
        check_place("boot")
        self.bootloader.boot_command = self._prepare(self.bootloader, self.tftp_boot, staged, "U-Boot", 120)
        self.bootloader.boot()
        self.target.deactivate(self.bootloader)

    def _kexec_from_stable(self) -> None:
        if self.stable is None:
            raise InfrastructureError("a kexec stage needs the stable system's shell (StableShellDriver)")
        staged = self._stage_images()
        self._reach(self.stable,                       # its prompt (logged in if it asks)
                    f"the stable system's shell prompt {self.stable.prompt!r} never came on the console within "
                    f"{self.stable.login_timeout} s (the board did not boot its stable system)")
        check_place("kexec")
        boot = self._prepare(self.stable, self.kexec, staged, "the stable system", 300)
        self.console.sendline(boot)
        self.target.deactivate(self.stable)

    def _reach(self, driver, missing: str) -> None:
        """Activate ``driver`` (a bootloader's or a shell's prompt); its deadline passing is the
        lab's error, saying ``missing``."""
        try:
            self.target.activate(driver)
        except TIMEOUT as exc:
            raise InfrastructureError(f"{missing}: {exc}") from exc

    def _prepare(self, driver, templates: list[str], staged: dict[str, str], who: str, timeout: float) -> str:
        """Run every command of ``templates`` (filled in) but the last on ``driver``, each of which
        must succeed (the lab's error, naming ``who`` and the command, if not); returns the last,
        the one that boots."""
        *prepare, boot = boot_commands(templates, staged, self.bootargs)
        for cmd in prepare:
            out, _, rc = driver.run(cmd, timeout=timeout)
            if rc != 0:
                raise InfrastructureError(f"{who}: `{cmd}` failed (exit {rc}): " + " | ".join(out[-5:]))
        return boot

    def _stage_images(self) -> dict[str, str]:
        if self.tftp is None:
            raise InfrastructureError("a bootloader stage needs a TFTP provider (TFTPProviderDriver)")
        self.target.activate(self.tftp)
        staged = {image: self.tftp.stage(self.target.env.config.get_image_path(image))
                  for image in ("kernel", "dtb", "initrd")}
        # The exporter's host as its place publishes it: where a stable system fetches from.
        staged["tftp_host"] = getattr(self.tftp.provider, "host", "")
        return staged

    def _stage_for_grub(self) -> None:
        if not self.stage_dir:
            raise InfrastructureError("a GRUB stage needs stage_dir (where its grub.cfg is written to be staged)")
        staged = self._stage_images()
        cfg = Path(self.stage_dir) / "grub.cfg"
        cfg.write_text("\n".join(boot_commands(self.grub_cfg, staged, self.bootargs)) + "\n")
        self.tftp.stage(str(cfg))

    def _await_ready(self) -> None:
        # Up to the line's end: a console that delivers in small pieces (IPMI SOL does) would
        # otherwise match the marker alone, before the host key after it has arrived.
        pattern = re.escape(self.ready_marker) + r"[^\r\n]*[\r\n]"
        # (pattern, what it means: {seen} is the matched text); the ready line is first: after a
        # kexec the kernel under test's prompt follows its ready line, so only a stable system's
        # prompt coming back matches first.
        failures = [(re.escape(f), f"the kernel failed while booting ({f})") for f in BOOT_FAILURES]
        if self.grub_cfg:       # GRUB's own error: the lab's (a file it could not fetch)
            failures += [(f, "GRUB: {seen}") for f in GRUB_FAILURES]
        if self.kexec:
            failures.append((self.stable.prompt, "kexec -e came back to the stable system's prompt (nothing "
                                                 "was loaded, or the kernel refused the image)"))
        index, before, match, _ = self.console.expect([pattern, *(f for f, _ in failures), TIMEOUT],
                                                      timeout=self.boot_timeout)
        if index == 0:
            self.ready_line = match.group(0).decode(errors="replace").strip()
            return
        # The console's own terminal codes (a shell's cursor queries) are not part of what it said.
        tail = "\n".join(re_vt100.sub("", before.decode(errors="replace")).splitlines()[-20:])
        if index == len(failures) + 1:
            raise InfrastructureError(f"no {self.ready_marker!r} on the console within {self.boot_timeout} s; "
                                      f"last console lines:\n{tail}")
        what = failures[index - 1][1].replace("{seen}", match.group(0).decode(errors="replace").strip())
        raise InfrastructureError(f"{what}; last console lines:\n{tail}")


def boot_commands(templates: list[str], staged: dict[str, str], bootargs: str) -> list[str]:
    """U-Boot's (GRUB's, the stable system's) commands: ``templates`` with the staged TFTP paths,
    the TFTP server's host and the kernel command line filled in (U-Boot's own ${...} variables
    pass through)."""
    if "'" in bootargs:
        raise InfrastructureError(f"boot arguments with a quote cannot go into U-Boot's setenv: {bootargs!r}")
    fill = {"{bootargs}": bootargs, "{kernel}": staged["kernel"], "{dtb}": staged["dtb"], "{initrd}": staged["initrd"],
            "{tftp_host}": staged.get("tftp_host", "")}
    out = []
    for t in templates:
        for k, v in fill.items():
            t = t.replace(k, v)
        out.append(t)
    return out


def check_place(before: str) -> None:
    """In a shared lab (VFIO_HIL_PLACE, with LG_COORDINATOR and LG_USERNAME): the place must still
    be ours before ``before``; PlaceLost (an InfrastructureError) if not."""
    from harness.lab.placelock import place_of_this_job

    lock = place_of_this_job()
    if lock is not None:
        lock.check(before)


def host_key_of(ready_line: str) -> str:
    """The ed25519 host key (base64) the target printed in its ready line (init.sh makes it at boot)."""
    m = re.search(r"\bhostkey=([A-Za-z0-9+/=]+)", ready_line)
    if m is None or m.group(1) == "none":
        raise InfrastructureError(f"the target printed no SSH host key in its ready line ({ready_line!r}): "
                                  f"nothing to pin, and an unknown key is never accepted")
    return m.group(1)
