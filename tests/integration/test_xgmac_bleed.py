"""The bleed measurement itself, on QEMU's own XGMAC model: with the real Calxeda
handler a SIGKILLed tenant leaves no trace; with the null-reset control the
device keeps DMAing into the window and the next tenant gets an IRQ at once.
This is the evidence that the measurement can tell the two apart."""

import pytest

from harness.lab.session import booted
from harness.suite import platform
from harness.traffic import FrameFeeder

pytestmark = pytest.mark.integration

NULL_RESET_KO = "/lib/vfio-hil/null-reset/calxeda_hb-xgmac/vfio_null_reset.ko"


def test_real_handler_stops_bleed_and_null_control_shows_it(board, board_artifacts, tmp_path):
    t = board
    d = t.dut_device
    with booted(t, board_artifacts, tmp_path / "boot", extra_bootargs="vfio.enable_unsafe_noiommu_mode=1") as s:
        s.ssh.run_check("modprobe vfio_platform")
        platform.bind_to_vfio(s.ssh, d)
        with FrameFeeder(s.dut_ports, rate=200, max_seconds=60):
            ev = platform.run_variant(s.ssh, t, "sigkill")
            tenant_last, canary, nt = ev["tenant_last"], ev["gap_check"], ev["next_tenant"]
            assert tenant_last["event"] == "progress" and tenant_last["frames"] > 0, "tenant saw no DMA at all"
            assert canary["changed"] == 0, canary
            assert nt["irqs"] == 0
            assert nt["quiescence"]["nonzero"] == 0

            s.ssh.run_check(f"echo {d} > /sys/bus/platform/drivers/vfio-platform/unbind; "
                            f"rmmod vfio_platform_calxedaxgmac; insmod {NULL_RESET_KO}; "
                            f"echo {d} > /sys/bus/platform/drivers_probe")
            ev = platform.run_variant(s.ssh, t, "sigkill")
            canary, nt = ev["gap_check"], ev["next_tenant"]
            assert canary["changed"] > 0, f"null-reset control did not bleed: {canary}"
            assert nt["irqs"] > 0 and 0 <= nt["first_irq_ms"] < 100, nt
            q = nt["quiescence"]
            assert q["DMA_CONTROL"] == "0x2" and q["DMA_INTR_ENA"] == "0x10040", q
