"""The Calxeda XGMAC twin on a real QEMU virt (no kernel; this test plays the guest through the
twin's qtest socket, under the engine's lock): what QEMU's own model does, the twin must do."""

import struct

import pytest

from harness.twins.xgmac import (DMA_CONTROL, DMA_INTR_ENA, DMA_RCV_BASE_ADDR, DMA_STATUS, STATUS_RI, STATUS_RU,
                                 XGMAC_VERSION, XgmacTwin)

from .twin_rig import guest, settle, virt_twin

pytestmark = pytest.mark.integration
BASE, RING, BUFS, SPI = 0x50000000, 0x51000000, 0x51100000, 80


@pytest.fixture
def xgmac():
    frames: list[bytes] = []
    with virt_twin(XgmacTwin(BASE, SPI, lambda: [frames.pop(0)] if frames else [])) as (engine, _):
        yield engine, frames


def test_rx_ring_wraps_irq_is_level_and_ack_clears(xgmac):
    engine, frames = xgmac
    assert guest(engine, lambda q: q.readl(BASE + XGMAC_VERSION)) == 0x1012

    def arm(q):
        for i in range(2):
            q.write(RING + 32 * i, struct.pack("<IHHI", 1 << 31, 2048 | (0x8000 if i == 1 else 0), 0, BUFS + 2048 * i))
        q.writel(BASE + DMA_RCV_BASE_ADDR, RING)
        q.writel(BASE + DMA_INTR_ENA, 0x10040)
        q.writel(BASE + DMA_CONTROL, 0x2)
    guest(engine, arm)
    settle(engine)
    frames += [b"\xff" * 6 + bytes(594), b"\xff" * 6 + bytes(94), b"\xff" * 60]
    settle(engine, 6)
    d0, d1 = guest(engine, lambda q: (q.readl(RING), q.readl(RING + 32)))
    assert (d0 >> 16, d0 & 0x300, d1 >> 16) == (604, 0x300, 104)        # length + 4 (CRC), first|last
    # The third frame found the ring (wrapped after END_RING) owned by the CPU: RU, dropped.
    status = guest(engine, lambda q: q.readl(BASE + DMA_STATUS))
    assert status & STATUS_RI and status & STATUS_RU
    assert guest(engine, lambda q: engine.lines.pending(SPI))
    guest(engine, lambda q: q.writel(BASE + DMA_INTR_ENA, 0))             # level follows the enable
    settle(engine)
    assert not guest(engine, lambda q: engine.lines.pending(SPI))
    guest(engine, lambda q: q.writel(BASE + DMA_STATUS, status & 0x0fffffff))   # ack the defined bits
    settle(engine)
    assert guest(engine, lambda q: q.readl(BASE + DMA_STATUS)) == 0


def test_no_dma_while_receive_is_stopped(xgmac):
    engine, frames = xgmac

    def arm(q):
        q.write(RING, struct.pack("<IHHI", 1 << 31, 2048 | 0x8000, 0, BUFS))
        q.writel(BASE + DMA_RCV_BASE_ADDR, RING)
    guest(engine, arm)
    frames.append(b"\xff" * 64)
    settle(engine, 5)
    assert guest(engine, lambda q: q.readl(RING)) == 1 << 31 and engine.twin.dropped == 1
