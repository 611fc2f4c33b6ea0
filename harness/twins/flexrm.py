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
Requests (BD processing in outline): while ACTIVE and not flushing, the ring fetches one
descriptor every ``period_s`` (an 8-byte DMA read of the BD ring at RING_BD_START_ADDR << 12,
logged as "dma_read") and the request is in flight for ``request_latency_s``, then completes as
above. Inactivating a ring stops the fetches; requests already in flight still complete (and
send their MSIs) unless the ring is flushed: a FLUSH that completes drops them, resets the ring's
pointers and raises FLUSH_DONE after ``flush_latency_s``; a FLUSH cleared before it completes is
abandoned and drops nothing. These are assumptions from the order of flexrm_shutdown() in
drivers/mailbox/bcm-flexrm-mailbox.c (inactivate, flush, wait FLUSH_DONE, clear, wait) and its
comments; Broadcom's FlexRM manual is not public. Only the first ``live_rings`` rings are live
(Stingray has 32); the rest read as absent (RING_VER 0), which the reset handler skips. Every
completion sends its MSI: the real ring coalesces them (RING_MSI_CONTROL count/timer) and holds
the next MSI until the write pointer is read, a read the twin cannot see.
"""

from __future__ import annotations

import struct
import time

from harness.twins.engine import Twin

RING_SIZE = 0x10000
RING_VER, RING_BD_START_ADDR, RING_CMPL_START_ADDR, RING_CMPL_WRITE_PTR = 0x000, 0x004, 0x018, 0x01c
RING_CONTROL, RING_FLUSH_DONE = 0x034, 0x038
RING_MSI_ADDR_LS, RING_MSI_ADDR_MS, RING_MSI_CONTROL, RING_MSI_DATA_VALUE = 0x03c, 0x040, 0x048, 0x064
VER_MAGIC = 0x76303031
CONTROL_ACTIVE, CONTROL_FLUSH = 1 << 4, 1 << 5
MSI_ENABLE = 1 << 15
CMPL_ALIGN_ORDER, CMPL_COUNT, CMPL_DESC = 13, 1024, 8
BD_ALIGN_ORDER, BD_COUNT, BD_DESC = 12, 512, 8


class FlexrmTwin(Twin):
    name = "flexrm"

    def __init__(self, base: int, live_rings: int = 4, *, period_s: float = 0.005, flush_latency_s: float = 0.005,
                 request_latency_s: float = 0.5):
        self.rings = live_rings
        self.windows = {f"ring{i}": (base + i * RING_SIZE, 0x80) for i in range(live_rings)}
        self.period_s, self.flush_latency_s, self.request_latency_s = period_s, flush_latency_s, request_latency_s
        self.flush_at: dict[int, float] = {}
        self.unflush_at: dict[int, float] = {}
        self.next_fetch = [0.0] * live_rings
        self.bd_index = [0] * live_rings
        self.inflight: list[list[float]] = [[] for _ in range(live_rings)]   # due times, oldest first
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
                if self.flush_at.pop(ring, None) is not None:
                    self.engine.log.add("reset", what=f"ring{ring} flush abandoned before FLUSH_DONE")
                self.unflush_at.setdefault(ring, now + self.flush_latency_s)
            if new & CONTROL_ACTIVE and not old & CONTROL_ACTIVE:
                self.next_fetch[ring] = now

    def tick(self, now: float) -> None:
        for ring, at in list(self.flush_at.items()):
            if now >= at:
                del self.flush_at[ring]
                dropped = len(self.inflight[ring])
                self.inflight[ring].clear()
                self.bd_index[ring] = 0
                self._w(ring, RING_CMPL_WRITE_PTR, 0)
                self._w(ring, RING_FLUSH_DONE, 1)
                self.engine.log.add("reset", what=f"ring{ring} flush", dropped=dropped)
        for ring, at in list(self.unflush_at.items()):
            if now >= at:
                del self.unflush_at[ring]
                self._w(ring, RING_FLUSH_DONE, 0)
        for ring in range(self.rings):
            while self.inflight[ring] and now >= self.inflight[ring][0]:
                self.inflight[ring].pop(0)
                self._complete(ring)
            control = self._r(ring, RING_CONTROL)
            if control & CONTROL_ACTIVE and not control & CONTROL_FLUSH and ring not in self.flush_at \
                    and now >= self.next_fetch[ring]:
                self.next_fetch[ring] = now + self.period_s
                self._fetch(ring, now)

    def _fetch(self, ring: int, now: float) -> None:
        """One descriptor read from the BD ring (a DMA read of the owner's memory); its request is in flight."""
        bd_base = self._r(ring, RING_BD_START_ADDR) << BD_ALIGN_ORDER
        if not bd_base:
            return
        self.engine.dma_read_logged(bd_base + self.bd_index[ring] * BD_DESC, BD_DESC, f"ring{ring} descriptor fetch")
        self.bd_index[ring] = (self.bd_index[ring] + 1) % BD_COUNT
        self.inflight[ring].append(now + self.request_latency_s)

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
