"""Broadcom FlexRM ring manager twin ("brcm,iproc-flexrm-mbox", Stingray FS4): register
semantics from drivers/mailbox/bcm-flexrm-mailbox.c; the reset sequence from
drivers/vfio/platform/reset/vfio_platform_bcmflexrm.c.

The device is one 0x200000 window of 64 KiB rings. Per ring:
- RING_VER (0x000) reads 0x76303031 ("v001") on a live ring; the reset handler shuts
  down exactly the rings that read it.
- RING_CONTROL (0x034): bit 4 ACTIVE, bit 5 FLUSH. Writing FLUSH stops the ring, resets
  its pointers and, after the flush, sets RING_FLUSH_DONE (0x038) bit 0; clearing
  RING_CONTROL afterwards clears FLUSH_DONE.
- While ACTIVE: a completion descriptor (8 bytes: opaque request id in bits 0-15, all
  status fields zero, i.e. success) into the completion ring at RING_CMPL_START_ADDR << 13
  every period, RING_CMPL_WRITE_PTR (in descriptors, as flexrm_process_completions()
  reads it) advanced modulo the ring's 1024 entries, and, with
  RING_MSI_CONTROL bit 15 set, the MSI: RING_MSI_DATA_VALUE written to
  RING_MSI_ADDR_MS:LS. An MSI is a DMA write, so the DMA canary sees it; there is no
  wired interrupt.
Approximations: only the first ``live_rings`` rings are live (Stingray has 32); the rest
read as absent (RING_VER 0), which the reset handler skips. BD processing is not
modelled: an active ring completes by itself. Every completion sends its MSI: the real
ring coalesces them (RING_MSI_CONTROL count/timer) and holds the next MSI until the
write pointer is read, a read the twin cannot see.
"""

from __future__ import annotations

import struct
import time

from harness.twins.engine import Twin

RING_SIZE = 0x10000
RING_VER, RING_CMPL_START_ADDR, RING_CMPL_WRITE_PTR = 0x000, 0x018, 0x01c
RING_CONTROL, RING_FLUSH_DONE = 0x034, 0x038
RING_MSI_ADDR_LS, RING_MSI_ADDR_MS, RING_MSI_CONTROL, RING_MSI_DATA_VALUE = 0x03c, 0x040, 0x048, 0x064
VER_MAGIC = 0x76303031
CONTROL_ACTIVE, CONTROL_FLUSH = 1 << 4, 1 << 5
MSI_ENABLE = 1 << 15
CMPL_ALIGN_ORDER, CMPL_COUNT, CMPL_DESC = 13, 1024, 8


class FlexrmTwin(Twin):
    name = "flexrm"

    def __init__(self, base: int, live_rings: int = 4, *, period_s: float = 0.005, flush_latency_s: float = 0.001):
        self.rings = live_rings
        self.windows = {f"ring{i}": (base + i * RING_SIZE, 0x80) for i in range(live_rings)}
        self.period_s, self.flush_latency_s = period_s, flush_latency_s
        self.flush_at: dict[int, float] = {}
        self.unflush_at: dict[int, float] = {}
        self.next_cmpl = [0.0] * live_rings
        self.completions = 0

    def attach(self, engine) -> None:
        super().attach(engine)
        for i in range(self.rings):
            engine.set_reg(f"ring{i}", RING_VER, VER_MAGIC)

    def _r(self, ring: int, reg: int) -> int:
        return self.engine.reg(f"ring{ring}", reg)

    def _w(self, ring: int, reg: int, value: int) -> None:
        self.engine.set_reg(f"ring{ring}", reg, value)

    def on_write(self, window: str, offset: int, old: int, new: int) -> None:
        ring = int(window[4:])
        if offset == RING_VER:
            self._w(ring, RING_VER, VER_MAGIC)                  # read-only
        elif offset == RING_FLUSH_DONE:
            self._w(ring, RING_FLUSH_DONE, old)                 # read-only
        elif offset == RING_CONTROL:
            now = time.monotonic()
            if new & CONTROL_FLUSH:
                self.flush_at.setdefault(ring, now + self.flush_latency_s)
            elif old & CONTROL_FLUSH or self._r(ring, RING_FLUSH_DONE):
                self.unflush_at.setdefault(ring, now + self.flush_latency_s)
            if new & CONTROL_ACTIVE and not old & CONTROL_ACTIVE:
                self.next_cmpl[ring] = now

    def tick(self, now: float) -> None:
        for ring, at in list(self.flush_at.items()):
            if now >= at:
                del self.flush_at[ring]
                self._w(ring, RING_CMPL_WRITE_PTR, 0)
                self._w(ring, RING_FLUSH_DONE, 1)
                self.engine.log.add("reset", what=f"ring{ring} flush")
        for ring, at in list(self.unflush_at.items()):
            if now >= at:
                del self.unflush_at[ring]
                self._w(ring, RING_FLUSH_DONE, 0)
        for ring in range(self.rings):
            control = self._r(ring, RING_CONTROL)
            if control & CONTROL_ACTIVE and not control & CONTROL_FLUSH and ring not in self.flush_at \
                    and now >= self.next_cmpl[ring]:
                self.next_cmpl[ring] = now + self.period_s
                self._complete(ring)

    def _complete(self, ring: int) -> None:
        cmpl_base = self._r(ring, RING_CMPL_START_ADDR) << CMPL_ALIGN_ORDER
        if cmpl_base:
            slot = self._r(ring, RING_CMPL_WRITE_PTR) % CMPL_COUNT
            self.engine.dma_write(cmpl_base + slot * CMPL_DESC, struct.pack("<Q", 0x1000 | self.completions & 0xfff),
                                  f"ring{ring} completion")
            self._w(ring, RING_CMPL_WRITE_PTR, (slot + 1) % CMPL_COUNT)
            self.completions += 1
        if self._r(ring, RING_MSI_CONTROL) & MSI_ENABLE:
            addr = (self._r(ring, RING_MSI_ADDR_MS) << 32) | self._r(ring, RING_MSI_ADDR_LS)
            if addr:
                self.engine.dma_write(addr, struct.pack("<I", self._r(ring, RING_MSI_DATA_VALUE)),
                                      f"ring{ring} MSI")
