"""The bleed measurement itself, on QEMU's own XGMAC model: with the real Calxeda
handler a SIGKILLed tenant leaves no trace; with the null-reset control the
device keeps DMAing into the window and the next tenant gets an IRQ at once.
This is the evidence that the measurement can tell the two apart."""

import json
import time

import pytest

from harness.lab.session import booted
from harness.traffic import FrameFeeder

pytestmark = pytest.mark.integration

NULL_RESET_KO = "/lib/vfio-hil/null-reset/calxeda_hb-xgmac/vfio_null_reset.ko"


def events(lines):
    return [json.loads(line) for line in lines if line.startswith("{")]


def one(lines, event):
    (e,) = [x for x in events(lines) if x["event"] == event]
    return e


def sigkill_and_measure(ssh, t):
    """Arm a tenant, SIGKILL it while frames flow, then measure the gap and the next tenant."""
    d, c, w = t.dut_device, t.dut_compatible, t.dma_window
    ssh.run_check(f"vfio-hil-agent tenant --device {d} --compat {c} --window {w} > /tmp/tenant.log 2>&1 & "
                  f"echo $! > /tmp/tenant.pid; sleep 1")
    ssh.run_check("kill -9 $(cat /tmp/tenant.pid)")
    tenant = events(ssh.run_check("cat /tmp/tenant.log"))
    ssh.run_check(f"vfio-hil-agent canary fill --compat {c} --window {w}")
    time.sleep(1.0)
    canary = one(ssh.run_check(f"vfio-hil-agent canary check --compat {c} --window {w}"), "canary")
    nxt = events(ssh.run_check(f"vfio-hil-agent next-tenant --device {d} --compat {c} --watch-ms 1000"))
    return tenant, canary, nxt


def test_real_handler_stops_bleed_and_null_control_shows_it(board, board_artifacts, tmp_path):
    t = board
    d = t.dut_device
    with booted(t, board_artifacts, tmp_path / "boot", extra_bootargs="vfio.enable_unsafe_noiommu_mode=1") as s:
        s.ssh.run_check("modprobe vfio_platform")
        s.ssh.run_check(f"echo {d} > /sys/bus/platform/devices/{d}/driver/unbind; "
                        f"echo vfio-platform > /sys/bus/platform/devices/{d}/driver_override; "
                        f"echo {d} > /sys/bus/platform/drivers_probe")
        with FrameFeeder(s.dut_ports, rate=200, max_seconds=60):
            tenant, canary, nxt = sigkill_and_measure(s.ssh, t)
            assert tenant[-1]["event"] == "progress" and tenant[-1]["frames"] > 0, "tenant saw no DMA at all"
            assert canary["changed"] == 0, canary
            assert [e["irqs"] for e in nxt if e["event"] == "next_tenant"] == [0]
            assert [e["nonzero"] for e in nxt if e["event"] == "quiescence"] == [0]

            s.ssh.run_check(f"echo {d} > /sys/bus/platform/drivers/vfio-platform/unbind; "
                            f"rmmod vfio_platform_calxedaxgmac; insmod {NULL_RESET_KO}; "
                            f"echo {d} > /sys/bus/platform/drivers_probe")
            tenant, canary, nxt = sigkill_and_measure(s.ssh, t)
            assert canary["changed"] > 0, f"null-reset control did not bleed: {canary}"
            (nt,) = [e for e in nxt if e["event"] == "next_tenant"]
            assert nt["irqs"] > 0 and 0 <= nt["first_irq_ms"] < 100, nt
            (q,) = [e for e in nxt if e["event"] == "quiescence"]
            assert q["DMA_CONTROL"] == "0x2" and q["DMA_INTR_ENA"] == "0x10040", q
