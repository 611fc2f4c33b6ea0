"""Calxeda XGMAC twin ("calxeda,hb-xgmac"): the fidelity check of the twin mechanism.

QEMU emulates this device itself (hw/net/xgmac.c on -M highbank), so a twin of it
on virt must reach the same verdicts; where they disagree, the twin is wrong until
shown otherwise. Behaviour, as the device and QEMU's model define it:

- XGMAC_VERSION (0x20) reads 0x1012.
- DMA_RCV_BASE_ADDR (0xf0c) also sets the current RX descriptor.
- DMA_STATUS (0xf14) is write-one-to-clear; DMA_INTR_ENA (0xf1c); the IRQ line (the
  node's first interrupt) is level: STATUS & INTR_ENA.
- While DMA_CONTROL.SR (0xf18 bit 1) is set, each received frame goes into the
  current descriptor if the device owns it (ctl_stat bit 31): buffer written,
  ctl_stat = (length + 4) << 16 | first | last, next descriptor (or back to the
  base after END_RING, buffer1_size bit 15); STATUS |= RI | NIS. With no
  descriptor owned: STATUS |= RU | AIS and the frame is dropped. With SR clear
  the frame is dropped.

Frames come from ``frame_source`` (the same UDP feeder that feeds QEMU's model).
"""

from __future__ import annotations

import struct
from typing import Callable

from harness.twins.engine import Twin

XGMAC_CONTROL, XGMAC_VERSION = 0x000, 0x020
DMA_RCV_BASE_ADDR, DMA_STATUS, DMA_CONTROL, DMA_INTR_ENA = 0xf0c, 0xf14, 0xf18, 0xf1c
VERSION = 0x1012
STATUS_RI, STATUS_RU, STATUS_AIS, STATUS_NIS = 0x40, 0x80, 0x8000, 0x10000
STATUS_MARKER = 1 << 31    # reserved bit: a guest ack of the defined bits is a visible change (README)
CONTROL_SR = 0x2
DESC_SIZE, DESC_OWN, END_RING = 32, 1 << 31, 0x8000


class XgmacTwin(Twin):
    name = "xgmac"

    def __init__(self, base: int, spi: int, frame_source: Callable[[], list[bytes]] = lambda: []):
        self.windows = {"regs": (base, 0x1000)}
        self.spi = spi
        self.frame_source = frame_source
        self.cur_rx = 0
        self.received = self.dropped = 0

    def attach(self, engine) -> None:
        super().attach(engine)
        engine.set_reg("regs", XGMAC_VERSION, VERSION)

    def on_write(self, window: str, offset: int, old: int, new: int) -> None:
        if offset == XGMAC_VERSION:
            self.engine.set_reg("regs", offset, VERSION)          # read-only
        elif offset == DMA_STATUS:
            left = old & ~new & ~STATUS_MARKER
            self.engine.set_reg("regs", offset, left | (STATUS_MARKER if left else 0))
        elif offset == DMA_RCV_BASE_ADDR:
            self.cur_rx = new

    def _status(self, bits: int) -> None:
        self.engine.set_reg("regs", DMA_STATUS, self.engine.reg("regs", DMA_STATUS) | bits | STATUS_MARKER)

    def tick(self, now: float) -> None:
        for frame in self.frame_source():
            self._receive(frame)

    def _receive(self, frame: bytes) -> None:
        # Live, not the step's snapshot: QEMU's model stops receiving the moment SR is cleared,
        # and a step that drains several queued frames would otherwise DMA them after a reset.
        if not self.engine.live_reg("regs", DMA_CONTROL) & CONTROL_SR:
            self.dropped += 1
            return
        desc = self.engine.dma_read(self.cur_rx, DESC_SIZE)
        ctl, size1, _size2, buf1 = struct.unpack_from("<IHHI", desc)
        if not ctl & DESC_OWN:
            self._status(STATUS_RU | STATUS_AIS)
            self.dropped += 1
            return
        self.engine.dma_write(buf1, frame, "rx frame")
        self.engine.dma_write(self.cur_rx, struct.pack("<I", ((len(frame) + 4) << 16) | 0x300), "rx descriptor")
        self.cur_rx = self.engine.reg("regs", DMA_RCV_BASE_ADDR) if size1 & END_RING else self.cur_rx + DESC_SIZE
        self.received += 1
        self._status(STATUS_RI | STATUS_NIS)

    def irq_levels(self) -> dict[int, int]:
        regs = self.engine
        return {self.spi: int(bool(regs.reg("regs", DMA_STATUS) & regs.reg("regs", DMA_INTR_ENA) & ~STATUS_MARKER))}


def udp_frame_source(sock) -> Callable[[], list[bytes]]:
    """Frames waiting on a bound, non-blocking UDP socket (the feeder sends one frame per datagram)."""
    def drain() -> list[bytes]:
        out = []
        while len(out) < 64:
            try:
                out.append(sock.recv(65536))
            except BlockingIOError:
                break
        return out
    return drain


__all__ = ["XgmacTwin", "udp_frame_source"]
