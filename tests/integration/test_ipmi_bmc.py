"""labgrid's IPMI layer (harness/lab/ipmi.py) against a real BMC: OpenIPMI's ipmi_sim on a
loopback port (harness/lab/bmcsim.py), whose chassis control switches a board process and whose
SOL reaches the board's serial port. The board here is a TCP server playing U-Boot's prompt."""

import os
import time
from pathlib import Path

import pytest
from labgrid import Target
from labgrid.driver.exception import ExecutionError
from pexpect import TIMEOUT

from harness.lab.bmcsim import BmcSim, free_udp_port
from harness.lab.ipmi import IPMIBMC, IPMIPowerDriver, IPMISOLConsoleDriver, run_ipmitool
from harness.proc import running

from .lab_rig import UBootSerial

pytestmark = [pytest.mark.integration, pytest.mark.lab]
PASSWORD_ENV = "VFIO_HIL_TEST_BMC_PASSWORD"


@pytest.fixture
def targets(monkeypatch):
    """Every labgrid Target a test makes, cleaned up (drivers deactivated) while the BMC still runs
    and its password is still in the environment (tests ask for ``bmc`` before ``targets``)."""
    made = []
    yield made
    for t in made:
        t.cleanup()


@pytest.fixture
def bmc(tmp_path, monkeypatch):
    serial = UBootSerial()
    board = [os.environ.get("PYTHON", "python3"), "-c", "import time; time.sleep(600)"]
    with BmcSim(tmp_path / "bmc", board, serial.port) as sim:
        monkeypatch.setenv(PASSWORD_ENV, sim.password)
        yield sim, serial
    serial.close()


def lab_target(made, sim: BmcSim, **bmc_overrides) -> Target:
    t = Target("board")
    made.append(t)
    IPMIBMC(t, "bmc", host="127.0.0.1", port=sim.port, username=sim.username, password_env=PASSWORD_ENV,
            **bmc_overrides)
    return t


def test_chassis_power_switches_the_board(bmc, targets):
    sim, _ = bmc
    t = lab_target(targets, sim)
    power = IPMIPowerDriver(t, "power", timeout=20.0)
    t.activate(power)
    assert power.get() is False
    power.on()
    assert power.get() is True and (sim.board_dir / "board.pid").exists()
    pid = int((sim.board_dir / "board.pid").read_text())
    power.cycle()                                   # off, then on about a second later (IPMI's cycle)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (sim.board_dir / "board.pid").exists():
        time.sleep(0.1)
    assert power.get() is True and int((sim.board_dir / "board.pid").read_text()) != pid, "the cycle did not restart it"
    new = int((sim.board_dir / "board.pid").read_text())
    power.off()
    assert power.get() is False
    assert not running(pid) and not running(new)


def console_at_prompt(t: Target) -> IPMISOLConsoleDriver:
    """The board's SOL console, opened, with U-Boot's prompt seen on it."""
    console = IPMISOLConsoleDriver(t, "console")
    t.activate(console)
    console.sendline("")
    console.expect("Highbank # ", timeout=15)
    return console


def test_sol_console_reaches_u_boot_and_the_password_is_never_in_argv(bmc, targets):
    sim, serial = bmc
    t = lab_target(targets, sim)
    console = console_at_prompt(t)
    argv = Path(f"/proc/{console._child.pid}/cmdline").read_bytes().split(b"\0")
    assert sim.password.encode() not in b" ".join(argv) and b"-E" in argv, argv
    console.sendline("version")
    console.expect("echo: version", timeout=10)
    t.deactivate(console)           # deactivates the payload: a second session is accepted
    t.activate(console)
    console.sendline("")
    console.expect("Highbank # ", timeout=15)
    t.deactivate(console)
    assert serial.connections >= 1


def test_a_bmc_that_does_not_answer_is_an_execution_error_within_the_deadline(targets, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "irrelevant")
    t = Target("board")
    targets.append(t)
    IPMIBMC(t, "bmc", host="127.0.0.1", port=free_udp_port(), username="x", password_env=PASSWORD_ENV)
    power = IPMIPowerDriver(t, "power", timeout=8.0)
    t.activate(power)
    start = time.monotonic()
    with pytest.raises(ExecutionError, match=r"BMC 127\.0\.0\.1:\d+"):
        power.get()
    assert time.monotonic() - start < 9


def test_a_wrong_password_is_refused_and_a_missing_one_named(bmc, targets, monkeypatch):
    sim, _ = bmc
    t = lab_target(targets, sim)
    power = IPMIPowerDriver(t, "power", timeout=20.0)
    t.activate(power)
    monkeypatch.setenv(PASSWORD_ENV, "not-" + sim.password)
    with pytest.raises(ExecutionError, match="refused"):
        power.get()
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(ExecutionError, match=PASSWORD_ENV):
        power.get()


@pytest.mark.long       # 35 s of waiting for ipmitool's keepalive: make lab-test, not make test
def test_a_console_another_session_took_is_an_execution_error_naming_it(bmc, targets):
    """Someone else takes the SOL payload (deactivates ours, activates theirs): within ipmitool's
    SOL keepalive (about 30 s) our session ends, activating it again is refused, and the console
    says it dropped, with the BMC's words; it never reads as a quiet board."""
    sim, _ = bmc
    t = lab_target(targets, sim)
    console = console_at_prompt(t)
    run_ipmitool(t.get_resource(IPMIBMC), "sol", "deactivate", timeout_s=20)
    other = lab_target(targets, sim)
    theirs = IPMISOLConsoleDriver(other, "console")
    other.activate(theirs)                                          # holds the payload from now on
    deadline = time.monotonic() + 60
    with pytest.raises(ExecutionError, match="the console dropped; activating it again failed: .*already active"):
        while time.monotonic() < deadline:
            # The other session is in use (ipmi_sim ends a session idle for about 35 s: see the driver)
            theirs.sendline("theirs")
            try:
                console.expect("never printed", timeout=3)    # the console's error, well before the deadline
            except TIMEOUT:
                pass
    assert console.drops == 1


@pytest.mark.long       # 35 s of waiting for ipmitool's keepalive: make lab-test, not make test
def test_a_session_that_ends_is_activated_again_and_the_console_goes_on(bmc, targets):
    """Our session ends (here: deactivated by an admin; with ipmi_sim also a board silent for about
    35 s, whose keepalives it never acknowledges) and nobody else holds the payload: it is
    activated again and the console goes on, the drop counted."""
    sim, _ = bmc
    t = lab_target(targets, sim)
    console = console_at_prompt(t)
    run_ipmitool(t.get_resource(IPMIBMC), "sol", "deactivate", timeout_s=20)
    deadline = time.monotonic() + 60
    while console._child.poll() is None and time.monotonic() < deadline:   # ipmitool notices (keepalive)
        time.sleep(0.5)
    # ipmi_sim keeps its SOL sequence numbers across sessions (lanserv/sol.c never resets
    # last_acked_packet), so the new session's first packet can read to it as a repeat of the old
    # one's last, and is dropped: a throw-away line first (a real BMC starts each session afresh).
    console.sendline("")
    console.sendline("after the drop")
    console.expect("echo: after the drop", timeout=15)
    assert console.drops == 1
