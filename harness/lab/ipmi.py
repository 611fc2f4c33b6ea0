"""IPMI for labgrid (which has none in 26.0): a BMC resource, a power driver (chassis power) and a
serial-over-LAN console driver, both through ipmitool, the tool lab admins already use against
Calxeda's ECME and server BMCs.

- ``IPMIBMC`` (resource: where): host, port, user, interface (lanplus: IPMI 2.0/RMCP+), cipher
  suite (3: HMAC-SHA1 / HMAC-SHA1-96 / AES-CBC-128, what ipmitool's -C 3 asks) and the *name* of
  the environment variable that holds the password on the machine running the driver. The
  password itself is never a resource attribute, so it never reaches an exporter's config, the
  coordinator or a log; ipmitool gets it with -E (it reads IPMI_PASSWORD), never in argv.
- ``IPMIPowerDriver`` (PowerProtocol: on, off, cycle, get): ``ipmitool chassis power ...``, each
  with a deadline; a BMC that does not answer (timeout, refused session, unknown reply) raises
  ExecutionError naming the BMC and ipmitool's own words: the lab's failure, an `error`.
- ``IPMISOLConsoleDriver`` (ConsoleProtocol): ``ipmitool sol activate`` as a child process on a
  pseudo-terminal (it wants one); on close the SOL payload is deactivated too, else the BMC
  keeps it active and the next activate is refused ("SOL payload already active").

Import this module (a labgrid environment's ``imports:``) to register the three with labgrid's
target factory. The driver's machine must reach the BMC's address (in a lab: the client's
network, or run the client where the BMCs are).
"""

from __future__ import annotations

import os
import select
import subprocess
import termios
import time

import attr
from labgrid.driver.common import Driver
from labgrid.driver.exception import ExecutionError
from labgrid.driver.consoleexpectmixin import ConsoleExpectMixin
from labgrid.driver.powerdriver import PowerResetMixin
from labgrid.factory import target_factory
from labgrid.protocol import ConsoleProtocol, PowerProtocol
from labgrid.resource.common import Resource
from labgrid.step import step

from harness.proc import stop_process_group

IPMITOOL = "ipmitool"


@target_factory.reg_resource
@attr.s(eq=False)
class IPMIBMC(Resource):
    """A board's BMC, reached over IPMI-over-LAN."""
    host = attr.ib(validator=attr.validators.instance_of(str))
    port = attr.ib(default=623, validator=attr.validators.instance_of(int))
    username = attr.ib(default="", validator=attr.validators.instance_of(str))
    interface = attr.ib(default="lanplus", validator=attr.validators.in_(["lan", "lanplus"]))
    cipher = attr.ib(default=3, validator=attr.validators.instance_of(int))
    password_env = attr.ib(default="IPMI_PASSWORD", validator=attr.validators.matches_re(r"^[A-Z_][A-Z0-9_]*$"))


# SOL's escape character: ipmitool's default "~" ends the session on "~." at a line start, which a
# shell line could hold; a control character nobody types cannot.
SOL_ESCAPE = "\x1c"
BANNER = b"SOL Session operational"      # ipmitool's word that a session is up


def ipmitool_argv(bmc: IPMIBMC, *command: str) -> list[str]:
    """ipmitool's command line for ``command`` on ``bmc``: -E (the password from IPMI_PASSWORD in
    the environment), never -P; one retry (-R) with a short per-try timeout (-N), the caller
    bounding the whole."""
    argv = [IPMITOOL, "-I", bmc.interface, "-H", bmc.host, "-p", str(bmc.port), "-E", "-N", "2", "-R", "1",
            "-e", SOL_ESCAPE]
    if bmc.username:
        argv += ["-U", bmc.username]
    if bmc.interface == "lanplus":
        argv += ["-C", str(bmc.cipher)]
    return argv + list(command)


def ipmitool_env(bmc: IPMIBMC) -> dict:
    """The environment ipmitool runs with: IPMI_PASSWORD from the variable the resource names."""
    password = os.environ.get(bmc.password_env)
    if password is None:
        raise ExecutionError(f"BMC {bmc.host}:{bmc.port}: no password: set the environment variable "
                             f"{bmc.password_env} (the resource's password_env) where the driver runs")
    return {**os.environ, "IPMI_PASSWORD": password}


def run_ipmitool(bmc: IPMIBMC, *command: str, timeout_s: float) -> str:
    """``ipmitool <command>`` against ``bmc``, its stdout; a BMC that does not answer within
    ``timeout_s``, refuses, or a missing ipmitool is an ExecutionError naming the BMC."""
    where = f"BMC {bmc.host}:{bmc.port}"
    try:
        proc = subprocess.run(ipmitool_argv(bmc, *command), env=ipmitool_env(bmc), capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ExecutionError(f"{where} did not answer `{' '.join(command)}` within {timeout_s} s") from None
    except FileNotFoundError:
        raise ExecutionError(f"{IPMITOOL} is not installed (Debian: ipmitool; or: make setup)") from None
    if proc.returncode != 0:
        raise ExecutionError(f"{where} refused `{' '.join(command)}` (ipmitool exit {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc.stdout


def parse_power_status(text: str) -> bool:
    """``Chassis Power is on|off`` -> True|False; anything else is not an answer."""
    words = text.strip().lower().split()
    if words[:3] == ["chassis", "power", "is"] and len(words) == 4 and words[3] in ("on", "off"):
        return words[3] == "on"
    raise ValueError(f"not a chassis power status: {text.strip()!r}")


@target_factory.reg_driver
@attr.s(eq=False)
class IPMIPowerDriver(Driver, PowerResetMixin, PowerProtocol):
    """Chassis power through the BMC; every call bounded by ``timeout`` seconds."""
    bindings = {"bmc": "IPMIBMC"}
    timeout = attr.ib(default=15.0, validator=attr.validators.instance_of(float))

    def _ipmitool(self, *command: str) -> str:
        return run_ipmitool(self.bmc, *command, timeout_s=self.timeout)

    @Driver.check_active
    @step()
    def on(self):
        self._ipmitool("chassis", "power", "on")

    @Driver.check_active
    @step()
    def off(self):
        self._ipmitool("chassis", "power", "off")

    @Driver.check_active
    @step()
    def cycle(self):
        # A BMC refuses "power cycle" while the chassis is off (IPMI 2.0, 28.3): power it on instead.
        self._ipmitool("chassis", "power", "cycle" if self.get() else "on")

    @Driver.check_active
    def get(self) -> bool:
        out = self._ipmitool("chassis", "power", "status")
        try:
            return parse_power_status(out)
        except ValueError as exc:
            raise ExecutionError(f"BMC {self.bmc.host}:{self.bmc.port}: {exc}") from None


def _raw(master: int) -> bool:
    """Whether the pseudo-terminal's program has taken it out of line mode (ipmitool does, once its
    session is up); a pty's master and slave share one termios."""
    return not termios.tcgetattr(master)[3] & termios.ICANON


@target_factory.reg_driver
@attr.s(eq=False)
class IPMISOLConsoleDriver(ConsoleExpectMixin, Driver, ConsoleProtocol):
    """The board's serial console over IPMI SOL: ``ipmitool sol activate`` on a pseudo-terminal
    (it puts its terminal in raw mode and refuses to run without one), its environment, not
    its argv, carrying the password. On close the payload is deactivated as well: a BMC keeps it
    active until told, and would refuse the next activate.

    A session that ends under us is activated again once, at once (within ``activate_timeout``),
    and the console goes on, with what the board printed in between lost (counted in ``drops``,
    logged): OpenIPMI's ipmi_sim never acknowledges the empty SOL packet ipmitool sends as its
    keepalive (lanserv/sol.c acknowledges only packets with data), so there a board silent for
    about 35 s ends the session. A session that cannot be activated again (another session holds
    the payload, the BMC is gone) is the console dropped: ExecutionError naming ipmitool's words."""
    bindings = {"bmc": "IPMIBMC"}
    txdelay = attr.ib(default=0.0, validator=attr.validators.instance_of(float))
    deactivate_timeout = attr.ib(default=10.0, validator=attr.validators.instance_of(float))
    activate_timeout = attr.ib(default=15.0, validator=attr.validators.instance_of(float))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.status = 0
        self._child = None
        self._master = None
        self._pending = b""
        self.drops = 0

    def open(self):
        if self.status:
            return
        self._activate()
        self.status = 1

    def _activate(self) -> None:
        """Start ``ipmitool sol activate`` and return once the session is up and ipmitool's terminal
        is raw (what is written before would go through the terminal's line discipline, not to the
        board byte for byte); ExecutionError with ipmitool's words if it exits first or the
        deadline passes. What the board printed after the banner is kept for the next read."""
        master, slave = os.openpty()
        try:
            # usesolkeepalive: SOL keepalives notice a payload the BMC dropped (or another session
            # took) about 30 s later; without them ipmitool sat quiet for 60 s and more (measured
            # against ipmi_sim), and a dropped console would read as a quiet board.
            self._child = subprocess.Popen(ipmitool_argv(self.bmc, "sol", "activate", "usesolkeepalive"),
                                           env=ipmitool_env(self.bmc),
                                           stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        except FileNotFoundError:
            os.close(master)
            raise ExecutionError(f"{IPMITOOL} is not installed (Debian: ipmitool; or: make setup)") from None
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self._poll = select.poll()
        self._poll.register(master, select.POLLIN)
        end, out = time.monotonic() + self.activate_timeout, b""
        while time.monotonic() < end:
            out += self._drain(0.1)
            if BANNER in out and b"\n" in out[out.index(BANNER):] and _raw(master):
                self._pending = out[out.index(BANNER):].split(b"\n", 1)[1]     # the board's, after the banner
                return
            if self._child.poll() is not None:
                out += self._drain()
                raise ExecutionError(f"BMC {self.bmc.host}:{self.bmc.port} gave no SOL session (ipmitool exit "
                                     f"{self._child.returncode}): {out.decode(errors='replace').strip()[-300:]}")
        stop_process_group(self._child.pid, 2.0, leader=self._child)
        raise ExecutionError(f"BMC {self.bmc.host}:{self.bmc.port} gave no SOL session within "
                             f"{self.activate_timeout:.0f} s: {out.decode(errors='replace').strip()[-300:]}")

    def _reactivate(self) -> None:
        """The session ended: activate it again, or raise the console's drop with ipmitool's words."""
        said = self._drain()
        ended = self._child.poll()
        os.close(self._master)
        self._master = None
        self.drops += 1
        self.logger.warning("SOL session to BMC %s:%s ended (ipmitool exit %s: %s); activating it again",
                            self.bmc.host, self.bmc.port, ended, said.decode(errors="replace").strip()[-200:])
        try:
            self._activate()
        except ExecutionError as exc:
            raise ExecutionError(f"the SOL session to BMC {self.bmc.host}:{self.bmc.port} ended (ipmitool exit "
                                 f"{ended}): the console dropped; activating it again failed: {exc}") from None

    def _drain(self, timeout_s: float = 0.0) -> bytes:
        out = b""
        while self._poll.poll(int(timeout_s * 1000)):
            try:
                data = os.read(self._master, 4096)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            out += data
            timeout_s = 0.0
        return out

    def _read(self, size: int = 1024, timeout: int = 0, max_size: int = None):
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        if self._child.poll() is not None:
            self._reactivate()
        if self._poll.poll(timeout):
            try:
                return os.read(self._master, min(size, max_size) if max_size else size)
            except BlockingIOError:
                return b""
            except OSError:            # EIO: the terminal's other side is gone; the next read says why
                return b""
        return b""

    def _write(self, data: bytes):
        if self._child.poll() is not None:
            self._reactivate()
        return os.write(self._master, data)

    def close(self):
        if not self.status:
            return
        try:
            if self._child.poll() is None:          # its own session: the group is ipmitool alone
                stop_process_group(self._child.pid, 2.0, leader=self._child)
        finally:
            if self._master is not None:
                os.close(self._master)
            self._master = self._child = None
            self._pending = b""
            self.status = 0
            try:        # the BMC keeps a payload active until told: the next activate would be refused
                run_ipmitool(self.bmc, "sol", "deactivate", timeout_s=self.deactivate_timeout)
            except ExecutionError as exc:
                self.logger.warning("SOL deactivate on BMC %s:%s failed: %s", self.bmc.host, self.bmc.port, exc)

    def on_activate(self):
        self.open()

    def on_deactivate(self):
        self.close()
