"""AMD XGBE (Seattle, "amd,xgbe-seattle-v1a") twin: what the VFIO reset handler touches and
what a tenant can leave running. Register semantics from drivers/net/ethernet/amd/xgbe/
xgbe-common.h; the reset sequence from drivers/vfio/platform/reset/vfio_platform_amdxgbe.c.

- DMA_MR.SWR (0x3000 bit 0): resets every DMA channel and interrupt register, stops DMA,
  then self-clears.
- Per channel (DMA_CH_BASE 0x3100, stride 0x80): RCR.SR starts/stops RX DMA into the
  ring at RDLR_HI:LO of RDRLR+1 16-byte descriptors; TCR.ST starts/stops TX DMA from the ring
  at TDLR_HI:LO of TDRLR+1 descriptors: every ``frame_period_s`` the device reads the next
  descriptor and, if it owns it (TDES3.OWN), reads its buffer (TDES2 length), transmits it on
  the twin's backend (``tx_sink``: the UDP peer QEMU's own NIC models send to), clears OWN and
  raises SR.TI; IER enables, SR is write-one-to-clear status; the channel's SPI is level:
  SR & IER.
- MTL TX queues (MTL_Q_BASE 0x1100, stride 0x80): TQOMR.FTQ (bit 0), the TX queue flush
  amd-xgbe's open path waits for, self-clears.
- MAC_TSCR (0x0d00): the timestamp commands TSINIT, TSUPDT and TSADDREG (bits 2, 3, 5),
  which amd-xgbe's open path (7.2) issues and polls, self-clear.
- XPCS: MMD registers through the indirect window (select at 0xff << 2, data at
  (reg & 0xff) << 2); PCS CTRL1.RESET (MMD 3, reg 0, bit 15) self-clears after
  ``pcs_reset_latency_s`` and returns every PCS register (the tenant's loopback, bit 14,
  included) to its default. PCS and AN pages carry their clause-45 status and identifier
  registers (reg 1, 2, 3), which read non-zero.
- Auto-negotiation (MMD 7): AN CTRL1 bit 9 (restart) self-clears and, ``an_latency_s``
  later, AN completes against the link partner the twin plays: AN_INT (0x8002) bit 0
  latches. AN_INT is cleared by writing 0 to a bit (amd-xgbe writes ~bits); the AN
  interrupt line (the node's last SPI) is AN_INT & AN_INTMASK (0x8001), level.
- DMA_MR.SWR takes ``swr_latency_s``: the device goes on until the reset completes, then
  every DMA register (DMA_MR with the tenant's INTM, the channels) reads its reset value 0.
  Policy ``swr_completes=False`` (a device whose reset never finishes, e.g. its clocks
  stopped) leaves SWR set and the device running.
"""

from __future__ import annotations

import struct
import time

from harness.twins.engine import Twin

MAC_VR, MAC_VR_VALUE = 0x110, 0x1051           # within the "mac" window: DEVID 0x10, SNPSVER 0x51
DMA_MR, DMA_ISR = 0x000, 0x008                  # within the "dma" window (XGMAC + 0x3000)
CH_STRIDE = 0x80
MTL_Q_STRIDE, MTL_Q_TQOMR, TQOMR_FTQ = 0x80, 0x00, 1 << 0   # within the "mtlq" window (XGMAC + 0x1100)
MAC_TSCR, TSCR_COMMANDS = 0x00, (1 << 2) | (1 << 3) | (1 << 5)  # within "tscr" (XGMAC + 0xd00)
CH_RCR, CH_RDLR_HI, CH_RDLR_LO, CH_RDTR_LO, CH_RDRLR, CH_IER, CH_SR = 0x08, 0x18, 0x1c, 0x2c, 0x34, 0x38, 0x60
CH_TCR, CH_TDLR_HI, CH_TDLR_LO, CH_TDRLR = 0x04, 0x10, 0x14, 0x30
SR_TI, SR_RI, SR_RBU, SR_NIS = 1 << 0, 1 << 6, 1 << 7, 1 << 15
SR_MARKER = 1 << 31          # reserved bit: makes a guest's ack (architectural bits only) a visible change
PCS_SELECT = 0xff << 2
# Not a select bit: the vfio-hil agent sets it in its selects and waits for it to clear, which the
# twin does once it shows the page (a device that does not implement it reads it back 0 at once).
SELECT_SHOWN_MARK = 1 << 31
MMD_PCS, MMD_AN = 3, 7
CTRL1_RESET = 1 << 15
AN_CTRL1_ENABLE, AN_CTRL1_RESTART = 1 << 12, 1 << 9
AN_INTMASK, AN_INT, AN_INT_CMPLT = 0x8001, 0x8002, 1 << 0
# Clause 45 status and identifier registers (MMD reg 1-3): STATUS1 "low-power ability" (PCS) and
# "AN ability" (AN); the identifier is Synopsys' XPCS (drivers/net/pcs/pcs-xpcs.h, 0x7996ced0).
# They read non-zero, as on the device: the AMD handler's AN writes follow a select in the same
# microsecond and land on the offsets of whichever page the twin shows, so a write of 0 there
# is a visible change (README, approximation 4).
PAGE_DEFAULTS = {MMD_PCS: {0: 0x2040, 1: 0x0002, 2: 0x7996, 3: 0xced0},
                 MMD_AN: {0: AN_CTRL1_ENABLE, 1: 0x0008, 2: 0x7996, 3: 0xced0}}
DESC_SIZE, RDES3_OWN, RDES3_FD, RDES3_LD = 16, 1 << 31, 1 << 29, 1 << 28


class XgbeTwin(Twin):
    name = "xgbe"

    def __init__(self, xgmac_base: int, xpcs_base: int, channel_spis: list[int], an_spi: int | None = None, *,
                 frame_period_s: float = 0.005, frame_len: int = 1514, swr_latency_s: float = 0.02,
                 pcs_reset_latency_s: float = 0.005, an_latency_s: float = 0.01, swr_completes: bool = True,
                 frame_source=None, tx_sink=None):
        self.channels = len(channel_spis)
        self.channel_spis, self.an_spi = channel_spis, an_spi
        # Frames from ``frame_source`` (the UDP feeder) go to channel 0; without one, every started
        # channel receives a synthesised frame every frame_period_s.
        self.frame_source, self.tx_sink = frame_source, tx_sink
        self.windows = {"mac": (xgmac_base, 0x200), "dma": (xgmac_base + 0x3000, 0x100),
                        "ch": (xgmac_base + 0x3100, CH_STRIDE * self.channels),
                        "mtlq": (xgmac_base + 0x1100, MTL_Q_STRIDE * self.channels),
                        "tscr": (xgmac_base + 0xd00, 0x10),
                        "xpcs": (xpcs_base, 0x400)}
        self.frame_period_s, self.frame_len = frame_period_s, frame_len
        self.swr_latency_s, self.pcs_reset_latency_s = swr_latency_s, pcs_reset_latency_s
        self.an_latency_s, self.swr_completes = an_latency_s, swr_completes
        self.mmd: dict[int, dict[int, int]] = {m: dict(d) for m, d in PAGE_DEFAULTS.items()}
        self.an_done_at: float | None = None
        self.rr = 0                     # the next channel a fed frame goes to (round robin)
        self.select = MMD_PCS << 8
        self.swr_done_at: float | None = None
        self.pcs_done_at: float | None = None
        self.tx_flushing: set[int] = set()
        self.tscr_pending = False
        self.rx_cur = [0] * self.channels
        self.next_frame = [0.0] * self.channels
        self.tx_cur = [0] * self.channels
        self.next_tx = [0.0] * self.channels
        self.transmitted = 0
        self.frames = 0

    def attach(self, engine) -> None:
        super().attach(engine)
        self.engine.set_reg("mac", MAC_VR, MAC_VR_VALUE)
        self.engine.set_reg("xpcs", PCS_SELECT, self.select)
        self._show_page()

    # -- helpers
    def _ch(self, ch: int, reg: int) -> int:
        return self.engine.reg("ch", ch * CH_STRIDE + reg)

    def _set_ch(self, ch: int, reg: int, value: int) -> None:
        self.engine.set_reg("ch", ch * CH_STRIDE + reg, value)

    def _raise(self, ch: int, bits: int) -> None:
        self._set_ch(ch, CH_SR, self._ch(ch, CH_SR) | bits | SR_NIS | SR_MARKER)

    def _show_page(self) -> None:
        """The data window shows the selected MMD page (reads right after a select see the old page: README)."""
        mmd, high = self.select >> 8, (self.select & 0xff) << 8
        page = self.mmd.setdefault(mmd, {})
        for k in range(0, PCS_SELECT, 4):
            self.engine.set_reg("xpcs", k, page.get(high | (k >> 2), 0))

    # -- guest writes
    def on_write(self, window: str, offset: int, old: int, new: int) -> None:
        if window == "mac" and offset == MAC_VR:
            self.engine.set_reg("mac", MAC_VR, MAC_VR_VALUE)          # read-only
        elif window == "dma" and offset == DMA_MR and new & 1:
            if self.swr_completes:
                self.swr_done_at = self.swr_done_at or (time.monotonic() + self.swr_latency_s)
        elif window == "ch":
            ch, reg = divmod(offset, CH_STRIDE)
            if reg == CH_SR:               # write one to clear (the marker keeps status visible: README)
                left = old & ~new & ~SR_MARKER
                self._set_ch(ch, CH_SR, left | (SR_MARKER if left else 0))
            elif reg == CH_RCR and new & 1 and not old & 1:
                self.rx_cur[ch] = 0
                self.next_frame[ch] = time.monotonic()
            elif reg == CH_TCR and new & 1 and not old & 1:
                self.tx_cur[ch] = 0
                self.next_tx[ch] = time.monotonic()
        elif window == "mtlq" and offset % MTL_Q_STRIDE == MTL_Q_TQOMR and new & TQOMR_FTQ:
            self.tx_flushing.add(offset // MTL_Q_STRIDE)      # nothing queued: done on the next step
        elif window == "tscr" and offset == MAC_TSCR and new & TSCR_COMMANDS:
            self.tscr_pending = True                            # latched on the next step
        elif window == "xpcs":
            if offset == PCS_SELECT:
                self.select = new & ~SELECT_SHOWN_MARK
                self._show_page()
                if new & SELECT_SHOWN_MARK:                 # shown: the agent may access the page
                    self.engine.set_reg("xpcs", PCS_SELECT, self.select)
            else:
                # The select as the guest left it in this step's snapshot, not as last seen: a
                # select-then-data pair (xmdio_write) can land in one step, and the data
                # callback runs first (lower offset).
                self.select = self.engine.reg("xpcs", PCS_SELECT) & ~SELECT_SHOWN_MARK
                mmd, reg = self.select >> 8, ((self.select & 0xff) << 8) | (offset >> 2)
                page = self.mmd.setdefault(mmd, {})
                if mmd == MMD_AN and reg == AN_INT:          # a 0 clears a bit; a 1 leaves it
                    new = page.get(AN_INT, 0) & new
                page[reg] = new
                if mmd == MMD_AN and reg == AN_INT:
                    self._show_page()
                if mmd == MMD_PCS and reg == 0 and new & CTRL1_RESET:
                    self.pcs_done_at = self.pcs_done_at or (time.monotonic() + self.pcs_reset_latency_s)
                if mmd == MMD_AN and reg == 0 and new & AN_CTRL1_RESTART:
                    page[0] = new & ~AN_CTRL1_RESTART            # self-clearing
                    self.an_done_at = time.monotonic() + self.an_latency_s
                    self._show_page()

    # -- what the device does by itself
    def tick(self, now: float) -> None:
        if self.swr_done_at is not None and now >= self.swr_done_at:
            self._software_reset()
            self.swr_done_at = None
        for q in sorted(self.tx_flushing):
            off = q * MTL_Q_STRIDE + MTL_Q_TQOMR
            self.engine.set_reg("mtlq", off, self.engine.reg("mtlq", off) & ~TQOMR_FTQ)
            self.engine.log.add("reset", what=f"MTL TX queue {q} flush")
        self.tx_flushing.clear()
        if self.tscr_pending:
            self.engine.set_reg("tscr", MAC_TSCR, self.engine.reg("tscr", MAC_TSCR) & ~TSCR_COMMANDS)
            self.tscr_pending = False
        if self.an_done_at is not None and now >= self.an_done_at:
            self.an_done_at = None
            an = self.mmd[MMD_AN]
            if an.get(0, 0) & AN_CTRL1_ENABLE:
                an[AN_INT] = an.get(AN_INT, 0) | AN_INT_CMPLT
                self.engine.log.add("an", what="AN complete: AN_INT.CMPLT latched")
                self._show_page()
        if self.pcs_done_at is not None and now >= self.pcs_done_at:
            self.mmd[MMD_PCS] = dict(PAGE_DEFAULTS[MMD_PCS])      # PCS registers back to their defaults
            self.pcs_done_at = None
            self.engine.log.add("reset", what="PCS")
            if self.select >> 8 == MMD_PCS:
                self._show_page()
        # Until a software reset completes the device runs on (the reset takes effect when it is done).
        for ch in range(self.channels):
            if self._ch(ch, CH_TCR) & 1 and now >= self.next_tx[ch]:
                self.next_tx[ch] = now + self.frame_period_s
                self._transmit(ch)
        if self.frame_source is not None:
            for frame in self.frame_source():
                started = [ch for ch in range(self.channels) if self._ch(ch, CH_RCR) & 1]
                if started:         # receive-side scaling, as round robin over the started channels
                    self.rr = (self.rr + 1) % len(started)
                    self._receive(started[self.rr], frame)
            return
        for ch in range(self.channels):
            if self._ch(ch, CH_RCR) & 1 and now >= self.next_frame[ch]:
                self.next_frame[ch] = now + self.frame_period_s
                self._receive(ch)

    def _software_reset(self) -> None:
        for ch in range(self.channels):
            for reg in range(0, CH_STRIDE, 4):
                self._set_ch(ch, reg, 0)
            self.rx_cur[ch] = self.tx_cur[ch] = 0
        self.engine.set_reg("dma", DMA_ISR, 0)
        self.engine.set_reg("dma", DMA_MR, 0)          # SWR self-clears; INTM and the rest to reset values
        self.engine.log.add("reset", what="DMA_MR.SWR")

    def _transmit(self, ch: int) -> None:
        """The next TX descriptor: if the device owns it, read its buffer and send it out."""
        base = (self._ch(ch, CH_TDLR_HI) << 32) | self._ch(ch, CH_TDLR_LO)
        count = (self._ch(ch, CH_TDRLR) & 0x3ff) + 1
        if not base:
            return
        desc_addr = base + DESC_SIZE * self.tx_cur[ch]
        lo, hi, tdes2, tdes3 = struct.unpack("<IIII", self.engine.dma_read_logged(desc_addr, DESC_SIZE,
                                                                                 f"tx descriptor fetch ch{ch}"))
        if not tdes3 & RDES3_OWN:
            return                                 # nothing queued: suspended until one is handed over
        length = tdes2 & 0x3fff
        frame = self.engine.dma_read_logged((hi << 32) | lo, length, f"tx buffer ch{ch}") if length else b""
        if self.tx_sink is not None and frame:
            self.tx_sink(frame)
        self.engine.log.add("tx", ch=ch, bytes=len(frame))
        self.engine.dma_write(desc_addr + 12, struct.pack("<I", tdes3 & ~RDES3_OWN), f"tx descriptor ch{ch}")
        self.transmitted += 1
        self.tx_cur[ch] = (self.tx_cur[ch] + 1) % count
        self._raise(ch, SR_TI)

    def _receive(self, ch: int, frame: bytes | None = None) -> None:
        base = (self._ch(ch, CH_RDLR_HI) << 32) | self._ch(ch, CH_RDLR_LO)
        count = (self._ch(ch, CH_RDRLR) & 0x3ff) + 1
        if not base:
            return
        desc_addr = base + DESC_SIZE * self.rx_cur[ch]
        lo, hi, _, rdes3 = struct.unpack("<IIII", self.engine.dma_read_logged(desc_addr, DESC_SIZE,
                                                                            f"rx descriptor fetch ch{ch}"))
        if not rdes3 & RDES3_OWN:
            self._raise(ch, SR_RBU)                # the ring is full: nothing written
            return
        if frame is None:
            frame = bytes([0xff] * 6) + bytes([0x02, 0, 0, 0, 0, ch]) + b"\x08\x00" + \
                bytes((self.frames + i) & 0xff for i in range(self.frame_len - 14))
        self.engine.dma_write((hi << 32) | lo, frame, f"rx frame ch{ch}")
        self.engine.dma_write(desc_addr + 12, struct.pack("<I", RDES3_FD | RDES3_LD | len(frame)),
                              f"rx descriptor ch{ch}")
        self.frames += 1
        self.rx_cur[ch] = (self.rx_cur[ch] + 1) % count
        self._raise(ch, SR_RI)

    def irq_levels(self) -> dict[int, int]:
        levels = {spi: int(bool(self._ch(ch, CH_SR) & self._ch(ch, CH_IER) & ~SR_MARKER))
                  for ch, spi in enumerate(self.channel_spis)}
        if self.an_spi is not None:
            an = self.mmd[MMD_AN]
            levels[self.an_spi] = int(bool(an.get(AN_INT, 0) & an.get(AN_INTMASK, 0) & 0x7))
        return levels
