"""The AMD XGBE twin on a real QEMU virt (no kernel: this test plays the guest through the same
qtest socket, under the engine's lock): RX DMA into a descriptor ring with a level IRQ on the
GIC, DMA_MR.SWR that stops everything and self-clears, PCS reset through the MMD window, the
event log, and a dead QEMU turning into an error."""

import json
import struct
import time

import pytest

from harness.errors import InfrastructureError
from harness.twins.xgbe import (CH_IER, CH_RCR, CH_RDLR_LO, CH_RDRLR, CH_SR, CH_TCR, CH_TDLR_LO, CH_TDRLR, SR_RI, SR_TI,
                                XgbeTwin)

from .twin_rig import guest, settle, virt_twin, wait_for

pytestmark = pytest.mark.integration
XGMAC, XPCS, RING, BUFS, SPI = 0x50000000, 0x50080000, 0x51000000, 0x51100000, 40
CH0 = XGMAC + 0x3100


SENT: list[bytes] = []


@pytest.fixture
def twin(tmp_path):
    log = tmp_path / "twin-events.jsonl"
    SENT.clear()
    with virt_twin(XgbeTwin(XGMAC, XPCS, [SPI, SPI + 1], SPI + 2, tx_sink=SENT.append), log=log) as (engine, proc):
        yield engine, proc, log


def arm_rx(q):
    for i in range(4):
        q.write(RING + 16 * i, struct.pack("<IIII", BUFS + 2048 * i, 0, 0, 1 << 31))
    q.write(BUFS, bytes(4 * 2048))
    q.writel(CH0 + CH_RDLR_LO, RING)
    q.writel(CH0 + CH_RDRLR, 3)
    q.writel(CH0 + CH_IER, SR_RI | (1 << 15))
    q.writel(CH0 + CH_RCR, 1)


def test_rx_dma_irq_then_software_reset_stops_everything(twin):
    engine, _, log = twin
    guest(engine, arm_rx)
    wait_for(engine, lambda q: not q.readl(RING + 12) & (1 << 31))
    rdes3 = guest(engine, lambda q: q.readl(RING + 12))
    assert rdes3 & 0xffff == 1514 and rdes3 & (3 << 28) == 3 << 28       # FD | LD | length
    assert guest(engine, lambda q: q.read(BUFS, 6)) == b"\xff" * 6
    wait_for(engine, lambda q: engine.lines.pending(SPI))                   # level IRQ: SR.RI & IER.RIE
    assert guest(engine, lambda q: q.readl(CH0 + CH_SR)) & SR_RI

    started = time.monotonic()
    guest(engine, lambda q: q.writel(XGMAC + 0x3000, 1))                   # DMA_MR.SWR
    cleared = wait_for(engine, lambda q: q.readl(XGMAC + 0x3000) & 1 == 0)
    assert cleared - started < 0.05
    regs = guest(engine, lambda q: [q.readl(CH0 + r) for r in (CH_RCR, CH_IER, CH_SR)])
    assert regs == [0, 0, 0]
    assert not guest(engine, lambda q: engine.lines.pending(SPI))
    # The ring handed back to the device stays untouched: DMA stopped.
    guest(engine, lambda q: [q.write(RING + 16 * i + 12, struct.pack("<I", 1 << 31)) for i in range(4)])
    time.sleep(0.1)
    assert all(guest(engine, lambda q: q.readl(RING + 16 * i + 12)) == 1 << 31 for i in range(4))
    kinds = [json.loads(line)["kind"] for line in log.read_text().splitlines()]
    assert {"dma", "irq", "reset", "reg"} <= set(kinds)


def test_pcs_reset_self_clears_through_the_mmd_window(twin):
    engine, _, _ = twin
    guest(engine, lambda q: (q.writel(XPCS + 0x3fc, 0x300), q.writel(XPCS, 0x8000)))
    wait_for(engine, lambda q: q.readl(XPCS) & 0x8000 == 0)
    guest(engine, lambda q: q.writel(XPCS + 0x3fc, 0x700))                  # MMD 7 (AN): AN enabled at reset
    wait_for(engine, lambda q: q.readl(XPCS) == 0x1000)


def test_tx_queue_flush_and_timestamp_commands_self_clear(twin):
    """amd-xgbe's open path sets MTL_Q_TQOMR.FTQ (xgbe_flush_tx_queues) and the MAC_TSCR timestamp
    commands, and polls each clear."""
    engine, _, _ = twin
    tqomr = XGMAC + 0x1100
    guest(engine, lambda q: q.writel(tqomr, 0x70001))            # FTQ with other fields set
    wait_for(engine, lambda q: not q.readl(tqomr) & 1)
    assert guest(engine, lambda q: q.readl(tqomr)) == 0x70000, "FTQ cleared, the other fields kept"
    tscr = XGMAC + 0xd00                                          # 7.2's open path: TSINIT, TSADDREG
    guest(engine, lambda q: q.writel(tscr, 0x1 | (1 << 2) | (1 << 5)))
    wait_for(engine, lambda q: q.readl(tscr) == 0x1)


def test_select_and_data_written_in_one_step_reach_the_selected_page(twin):
    """As xmdio_write() does after another driver left a different MMD selected: the select and
    the data write land in the same engine step; the data must go to the newly selected page."""
    engine, _, log = twin
    guest(engine, lambda q: q.writel(XPCS + 0x3fc, 0x100))                   # MMD 1 (PMA) left selected
    settle(engine)
    guest(engine, lambda q: (q.writel(XPCS + 0x3fc, 0x300), q.writel(XPCS, 0x8000)))   # one step
    wait_for(engine, lambda q: q.readl(XPCS) & 0x8000 == 0)
    settle(engine)
    assert '"what": "PCS"' in log.read_text(), "the PCS reset went to the page selected before"


def test_a_marked_select_is_cleared_only_once_its_page_is_shown(twin):
    """The agent's select handshake (agent_xgbe.c mmd_select): a select with bit 31 reads back with
    bit 31 until the twin shows that page, so a read after the mark clears sees the selected
    page however long the engine's step took: here the engine is held (its lock) across the
    select, as a loaded machine would delay it, and the data read right after the clear is AN_INTMASK."""
    engine, _, _ = twin
    guest(engine, lambda q: q.writel(XPCS + 0x3fc, 0x780))
    settle(engine)
    guest(engine, lambda q: q.writel(XPCS + 4, 0x5))                         # AN_INTMASK (0x8001)
    settle(engine)
    guest(engine, lambda q: q.writel(XPCS + 0x3fc, 0x300 | (1 << 31)))       # the PCS page, marked
    settle(engine)
    assert guest(engine, lambda q: q.readl(XPCS + 0x3fc)) == 0x300            # shown: the mark is gone
    with engine.lock:                                                        # the engine cannot step
        engine.q.writel(XPCS + 0x3fc, 0x780 | (1 << 31))
        time.sleep(0.05)
        assert engine.q.readl(XPCS + 0x3fc) & (1 << 31), "the mark cleared before the page was shown"
        assert engine.q.readl(XPCS + 4) == 0x2, "the window should still show the PCS page (PCS status)"
    wait_for(engine, lambda q: not q.readl(XPCS + 0x3fc) & (1 << 31))
    assert guest(engine, lambda q: q.readl(XPCS + 4)) == 0x5, "read after the mark cleared: not AN_INTMASK"


def test_tx_sends_owned_descriptors_buffers_and_hands_them_back(twin):
    """TX DMA reads each descriptor the device owns and its buffer, sends the frame on the twin's
    backend, clears OWN and raises SR.TI; a descriptor it does not own stops it."""
    engine, _, log = twin
    txring, buf = RING + 0x800, BUFS + 0x10000

    def arm(q):
        for i in range(2):
            q.write(buf + 2048 * i, bytes([0xa5 + i]) * 64)
            q.write(txring + 16 * i, struct.pack("<IIII", buf + 2048 * i, 0, 64, (1 << 31) | (3 << 28) | 64))
        q.write(txring + 32, bytes(16))                          # the third: the host's, not the device's
        q.writel(CH0 + CH_TDLR_LO, txring)
        q.writel(CH0 + CH_TDRLR, 3)
        q.writel(CH0 + CH_TCR, 1)
    guest(engine, arm)
    wait_for(engine, lambda q: not q.readl(txring + 16 + 12) & (1 << 31))
    settle(engine)
    assert SENT == [bytes([0xa5]) * 64, bytes([0xa6]) * 64], SENT
    assert guest(engine, lambda q: q.readl(CH0 + CH_SR)) & SR_TI
    reads = [json.loads(line) for line in log.read_text().splitlines() if '"dma_read"' in line]
    assert any("tx buffer" in r["what"] for r in reads) and any("tx descriptor" in r["what"] for r in reads)


def test_auto_negotiation_latches_its_interrupt_until_cleared_or_masked(twin):
    """An AN restart completes and latches AN_INT; the AN line is AN_INT & AN_INTMASK; writing 0
    clears a bit (the handler's AN_INTMASK = 0 and AN_INT = 0)."""
    engine, _, _ = twin
    an_spi = SPI + 2
    guest(engine, lambda q: q.writel(XPCS + 0x3fc, 0x780))
    settle(engine)
    guest(engine, lambda q: q.writel(XPCS + 4, 0x7))                         # AN_INTMASK (0x8001)
    settle(engine)                   # a data write and a new select in one step go to the new page (README, 4)
    guest(engine, lambda q: q.writel(XPCS + 0x3fc, 0x700))
    settle(engine)
    guest(engine, lambda q: q.writel(XPCS, 0x1200))                          # AN CTRL1: enable | restart
    wait_for(engine, lambda q: q.readl(XPCS) == 0x1000)                      # restart self-clears
    wait_for(engine, lambda q: engine.lines.pending(an_spi))
    guest(engine, lambda q: q.writel(XPCS + 0x3fc, 0x780))
    settle(engine)
    assert guest(engine, lambda q: q.readl(XPCS + 8)) & 1                    # AN_INT.CMPLT
    guest(engine, lambda q: q.writel(XPCS + 4, 0))                           # mask: the line drops...
    wait_for(engine, lambda q: not engine.lines.pending(an_spi))
    assert guest(engine, lambda q: q.readl(XPCS + 8)) & 1                    # ...the status stays latched
    guest(engine, lambda q: q.writel(XPCS + 8, 0))                           # clear
    settle(engine)
    assert guest(engine, lambda q: q.readl(XPCS + 8)) == 0


def test_a_dead_qemu_makes_the_twin_report_an_error(twin):
    engine, proc, _ = twin
    proc.kill()
    proc.wait(timeout=10)
    end = time.monotonic() + 7
    while engine.error is None and time.monotonic() < end:
        time.sleep(0.05)
    with pytest.raises(InfrastructureError, match="twin xgbe stopped"):
        engine.check_alive()
