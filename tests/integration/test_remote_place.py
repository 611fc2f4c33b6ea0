"""A board reached the way a shared lab reaches it: a stock labgrid-exporter exports the board's
BMC (our IPMIBMC, which it does not know: it exports its parameters as they are), a
labgrid-coordinator holds the place, the job locks it as its own LG_USERNAME, and labgrid's
RemotePlace hands the client the BMC, on which our IPMI drivers switch the board (a process
behind OpenIPMI's ipmi_sim) and open its console over SOL. Everything on 127.0.0.1."""

import pytest
from labgrid import Environment

from harness.lab.bmcsim import BmcSim
from harness.lab.coordinator import Coordinator
from harness.lab.exporter import Exporter
from harness.lab.placelock import PlaceLock

from .lab_rig import UBootSerial

# make lab-test only: the suite through the virtual lab (make test) goes the same way, and further.
pytestmark = [pytest.mark.integration, pytest.mark.lab, pytest.mark.long]

ENV = """
targets:
  main:
    resources:
      RemotePlace:
        name: hb-node-3
    drivers:
      IPMIPowerDriver:
        timeout: 20.0
      IPMISOLConsoleDriver: {}
imports:
  - harness.lab
"""


def test_the_bmc_exported_through_a_place_powers_the_board_and_opens_its_console(tmp_path, monkeypatch):
    serial = UBootSerial()
    board = ["sleep", "600"]
    with BmcSim(tmp_path / "bmc", board, serial.port) as sim, Coordinator(tmp_path / "coordinator") as coord:
        exporter_config = (f"hb-node-3:\n  IPMIBMC:      ## the node's ECME\n    host: 127.0.0.1\n"
                           f"    port: {sim.port}\n    username: {sim.username}\n    password_env: HB_ECME_PASSWORD\n")
        with Exporter(tmp_path / "exporter", "lab-host-1", exporter_config, coord.address):
            for args in (["-p", "hb-node-3", "create"], ["-p", "hb-node-3", "add-match", "lab-host-1/hb-node-3/*"]):
                r = coord.client(*args)
                assert r.returncode == 0, r.stderr
            monkeypatch.setenv("LG_COORDINATOR", coord.address)
            monkeypatch.setenv("LG_USERNAME", "ci-job-1")
            monkeypatch.setenv("HB_ECME_PASSWORD", sim.password)      # on the client only
            assert sim.password not in (tmp_path / "exporter" / "exporter.yaml").read_text()
            (tmp_path / "env.yaml").write_text(ENV)
            with PlaceLock("hb-node-3", coord.address, "ci-job-1"):
                target = Environment(str(tmp_path / "env.yaml")).get_target("main")
                try:
                    power = target.get_driver("IPMIPowerDriver")
                    assert power.get() is False
                    power.on()
                    assert power.get() is True and (sim.board_dir / "board.pid").exists()
                    console = target.get_driver("IPMISOLConsoleDriver")
                    console.sendline("")
                    console.expect("Highbank # ", timeout=15)
                    power.off()
                    assert power.get() is False
                finally:
                    target.cleanup()
    serial.close()
