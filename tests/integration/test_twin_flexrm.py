"""The Broadcom FlexRM twin on a real QEMU virt (no kernel; this test plays the guest, and the
reset handler's shutdown sequence, through the twin's qtest socket)."""

import struct
import time

import pytest

from harness.twins.flexrm import (RING_CMPL_START_ADDR, RING_CMPL_WRITE_PTR, RING_CONTROL, RING_FLUSH_DONE, RING_MSI_ADDR_LS,
                                  RING_MSI_CONTROL, RING_MSI_DATA_VALUE, RING_VER, FlexrmTwin)

from .twin_rig import guest, virt_twin, wait_for

pytestmark = pytest.mark.integration
BASE, CMPL, MSI = 0x50000000, 0x52000000, 0x52100000


@pytest.fixture
def flexrm():
    with virt_twin(FlexrmTwin(BASE, live_rings=2), gic=False) as (engine, _):
        yield engine


def poll(engine, cond, deadline_s=1.0) -> bool:
    try:
        wait_for(engine, cond, deadline_s)
        return True
    except AssertionError:
        return False


def test_active_ring_completes_and_sends_msis_until_the_handlers_flush(flexrm):
    engine = flexrm
    assert guest(engine, lambda q: [q.readl(BASE + i * 0x10000 + RING_VER) for i in range(3)]) == \
        [0x76303031, 0x76303031, 0]

    def start(q):
        q.write(MSI, bytes(4))
        q.writel(BASE + RING_CMPL_START_ADDR, CMPL >> 13)
        q.writel(BASE + RING_MSI_ADDR_LS, MSI)
        q.writel(BASE + RING_MSI_DATA_VALUE, 0xcafe)
        q.writel(BASE + RING_MSI_CONTROL, 1 << 15)
        q.writel(BASE + RING_CONTROL, 1 << 4)
    guest(engine, start)
    assert poll(engine, lambda q: q.readl(MSI) == 0xcafe), "no MSI write while active"
    desc = struct.unpack("<Q", guest(engine, lambda q: q.read(CMPL, 8)))[0]
    assert desc >> 16 == 0 and desc & 0x1000, f"completion descriptor {desc:#x}: opaque id, success status"
    assert 0 < guest(engine, lambda q: q.readl(BASE + RING_CMPL_WRITE_PTR)) < 1024, "write pointer in descriptors"

    # vfio_platform_bcmflexrm_shutdown(): inactive, FLUSH, wait FLUSH_DONE, clear, wait !FLUSH_DONE
    guest(engine, lambda q: (q.writel(BASE + RING_CONTROL, 0), q.writel(BASE + RING_CONTROL, 1 << 5)))
    assert poll(engine, lambda q: q.readl(BASE + RING_FLUSH_DONE) & 1)
    guest(engine, lambda q: q.writel(BASE + RING_CONTROL, 0))
    assert poll(engine, lambda q: not q.readl(BASE + RING_FLUSH_DONE) & 1)
    guest(engine, lambda q: q.write(MSI, bytes(4)))
    time.sleep(0.05)
    assert guest(engine, lambda q: q.readl(MSI)) == 0, "DMA after the flush"
