"""The Broadcom FlexRM twin on a real QEMU virt (no kernel; this test plays the guest, and the
reset handler's shutdown sequence, through the twin's qtest socket): descriptor fetches (DMA
reads), requests in flight that complete after the ring is inactivated unless it is flushed,
the FLUSH_DONE handshake, and a flush abandoned before it completes."""

import struct
import time

import pytest

from harness.twins.flexrm import (RING_BD_START_ADDR, RING_CMPL_START_ADDR, RING_CMPL_WRITE_PTR, RING_CONTROL,
                                  RING_FLUSH_DONE, RING_MSI_ADDR_LS, RING_MSI_CONTROL, RING_MSI_DATA_VALUE, RING_VER,
                                  FlexrmTwin)

from .twin_rig import guest, virt_twin, wait_for

pytestmark = pytest.mark.integration
BASE, BD, CMPL, MSI = 0x50000000, 0x51000000, 0x52000000, 0x52100000
LATENCY_S = 0.2
ACTIVE, FLUSH = 1 << 4, 1 << 5


@pytest.fixture
def flexrm():
    with virt_twin(FlexrmTwin(BASE, live_rings=2, request_latency_s=LATENCY_S), gic=False) as (engine, _):
        yield engine


def poll(engine, cond, deadline_s=1.0) -> bool:
    try:
        wait_for(engine, cond, deadline_s)
        return True
    except AssertionError:
        return False


def start(engine):
    def go(q):
        q.write(MSI, bytes(4))
        q.writel(BASE + RING_BD_START_ADDR, BD >> 12)
        q.writel(BASE + RING_CMPL_START_ADDR, CMPL >> 13)
        q.writel(BASE + RING_MSI_ADDR_LS, MSI)
        q.writel(BASE + RING_MSI_DATA_VALUE, 0xcafe)
        q.writel(BASE + RING_MSI_CONTROL, 1 << 15)
        q.writel(BASE + RING_CONTROL, ACTIVE)
    guest(engine, go)
    assert poll(engine, lambda q: q.readl(MSI) == 0xcafe), "no MSI write while active"


def dma_after(engine, seconds: float) -> int:
    """Completion-ring and MSI bytes written during ``seconds`` from now (both zeroed first)."""
    guest(engine, lambda q: (q.write(MSI, bytes(4)), q.write(CMPL, bytes(8192))))
    time.sleep(seconds)
    data = guest(engine, lambda q: q.read(CMPL, 8192) + q.read(MSI, 4))
    return sum(1 for b in data if b)


def test_active_ring_fetches_descriptors_and_completes_them_later(flexrm):
    engine = flexrm
    assert guest(engine, lambda q: [q.readl(BASE + i * 0x10000 + RING_VER) for i in range(3)]) == \
        [0x76303031, 0x76303031, 0]
    t0 = time.monotonic()
    start(engine)
    assert time.monotonic() - t0 >= LATENCY_S * 0.9, "a request completed before its latency"
    assert engine.dma_reads_between(t0, time.monotonic()) > 10, "no descriptor fetches (DMA reads) while active"
    desc = struct.unpack("<Q", guest(engine, lambda q: q.read(CMPL, 8)))[0]
    assert desc >> 16 == 0 and desc & 0x1000, f"completion descriptor {desc:#x}: opaque id, success status"
    assert 0 < guest(engine, lambda q: q.readl(BASE + RING_CMPL_WRITE_PTR)) < 1024, "write pointer in descriptors"


def test_the_handlers_flush_drops_requests_in_flight(flexrm):
    engine = flexrm
    start(engine)
    # vfio_platform_bcmflexrm_shutdown(): inactive, FLUSH, wait FLUSH_DONE, clear, wait !FLUSH_DONE
    guest(engine, lambda q: (q.writel(BASE + RING_CONTROL, 0), q.writel(BASE + RING_CONTROL, FLUSH)))
    assert poll(engine, lambda q: q.readl(BASE + RING_FLUSH_DONE) & 1)
    guest(engine, lambda q: q.writel(BASE + RING_CONTROL, 0))
    assert poll(engine, lambda q: not q.readl(BASE + RING_FLUSH_DONE) & 1)
    t = time.monotonic()
    assert dma_after(engine, LATENCY_S * 1.5) == 0, "DMA after the flush"
    assert engine.dma_reads_between(t, time.monotonic()) == 0, "descriptor fetches after the flush"


def test_inactivated_without_flush_requests_in_flight_still_complete(flexrm):
    engine = flexrm
    start(engine)
    guest(engine, lambda q: q.writel(BASE + RING_CONTROL, 0))
    t = time.monotonic()
    assert dma_after(engine, LATENCY_S * 1.5) > 0, "no completion after inactivation: nothing was in flight"
    assert engine.dma_reads_between(t + 0.01, time.monotonic()) == 0, "descriptor fetches after inactivation"


def test_flush_cleared_before_flush_done_is_abandoned(flexrm):
    engine = flexrm
    start(engine)
    # FLUSH and its clear in one guest burst: the twin never sees the flush complete
    guest(engine, lambda q: (q.writel(BASE + RING_CONTROL, FLUSH), q.writel(BASE + RING_CONTROL, 0)))
    assert dma_after(engine, LATENCY_S * 1.5) > 0, "an abandoned flush dropped the requests in flight"
