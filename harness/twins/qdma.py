"""The DPAA2 data path the MC twin's DPIO and DPDMAI objects need for copy jobs: the enqueue
ring (EQCR) of a DPIO's QBMan software portal, and the qDMA engine behind a DPDMAI's request
frame queue. A subset, written from the kernel's own users of it (drivers/soc/fsl/dpio/
qbman-portal.c for the ring, drivers/dma/fsl-dpaa2-qdma/dpaa2-qdma.c for the frames); what it
leaves out is listed in harness/twins/README.md (approximation 13).

- EQCR, QMan 4.1 ring mode (qbman_swp_enqueue_direct()): 8 entries of 64 bytes at the start
  of the portal's cache-enabled region; software writes bytes 1..63, then the verb with the
  ring's valid bit (0x80 on even laps, 0 on odd ones); the portal consumes entries in order and
  publishes its consumer index (mod 16) in the cache-inhibited EQCR_CI register (0x840), which
  software reads to find free entries, and in EQCR_PI (0x800) where software must produce next
  with the lap's valid bit (bit 7), which software reads once, when it sets the portal up
  (qbman_swp_init(): pi = EQCR_PI & 15, pi_vb = EQCR_PI & 0x80; DPDK's fslmc the same). Only
  an enabled DPIO consumes. Entry: verb (command in
  bits 0-1, target type in bit 4: 0 = a frame queue), FQID at byte 8, the frame descriptor at 32.
- Frame descriptor (struct dpaa2_fd): address, length, format in bits 12-13 of format_offset
  (1 = a frame list). A qDMA job is a frame list of three 32-byte entries (struct
  dpaa2_fl_entry: address, length, ...; dpaa2_qdma_populate_frames()): the source/destination
  descriptor, the source, the destination (with the final bit, 15 of format_offset).
- qDMA: an enabled DPDMAI takes the frames enqueued to its TX (request) queue and runs them one
  every ``job_period_s`` (a backlog, as a busy engine has; a job reaching an idle engine starts
  at once): it fetches the frame list and the
  source (DMA reads of the owner's memory) and writes the destination (a DMA write). Jobs whose
  addresses fall outside the target's DMA window are not run (a real engine would write there;
  the twin never writes guest memory the harness did not set aside) and are logged as errors.
  Behind an IOMMU (type1) the addresses are IOVAs of the DPDMAI's container's stream (its ICID):
  the window rule gives way to the IOMMU's own, which lets through only what the kernel mapped
  for that stream.
"""

from __future__ import annotations

import struct
from collections import deque

EQCR_ENTRIES, EQCR_ENTRY = 8, 64
EQCR_CI = 0x840                     # QBMAN_CINH_SWP_EQCR_CI
EQCR_PI = 0x800                     # QBMAN_CINH_SWP_EQCR_PI
VALID = 0x80
FD_OFFSET, FQID_OFFSET = 32, 8
FD_FORMAT_LIST = 1
FLE_SIZE, FLE_FINAL = 32, 1 << 15
MAX_JOB_BYTES = 64 * 1024
MAX_BACKLOG = 4096                  # frames one request queue holds here (QMan's are far deeper)


class Eqcr:
    """One DPIO portal's enqueue ring, as the twin's engine sees it (window ``ring`` holds the
    entries, window ``ci`` the consumer index register)."""

    def __init__(self, ring: str, ci: str, pi: str):
        self.ring, self.ci_window, self.pi_window, self.ci = ring, ci, pi, 0

    def publish(self, engine) -> None:
        """EQCR_CI and EQCR_PI as the portal stands: after a reset, index 0 and the first lap's
        valid bit (a portal that reads 0 there would make software produce with the wrong bit)."""
        engine.set_reg(self.ci_window, 0, self.ci)
        engine.set_reg(self.pi_window, 0, self.ci | (0 if self.ci & EQCR_ENTRIES else VALID))

    def take(self, engine) -> list[tuple[int, bytes]]:
        """The entries software has handed over since the last call, in order: (FQID, FD bytes).
        Entries that are not enqueues to a frame queue are consumed and logged, never run."""
        out = []
        shadow = engine.shadow[self.ring]
        while True:
            slot = self.ci % EQCR_ENTRIES
            entry = bytes(shadow[slot * EQCR_ENTRY:(slot + 1) * EQCR_ENTRY])
            vb = 0 if self.ci & EQCR_ENTRIES else VALID
            if entry[0] & VALID != vb or not entry[0] & 0x3:
                break
            self.ci = (self.ci + 1) % (2 * EQCR_ENTRIES)
            if entry[0] & 0x10:
                engine.log.add("eqcr", slot=slot, dropped="target is not a frame queue", verb=hex(entry[0]))
                continue
            out.append((struct.unpack_from("<I", entry, FQID_OFFSET)[0], entry[FD_OFFSET:FD_OFFSET + 32]))
        if out or engine.reg(self.ci_window, 0) != self.ci:
            self.publish(engine)
        return out


class QdmaQueue:
    """The request queue of one DPDMAI and the engine behind it."""

    def __init__(self, name: str, window: tuple[int, int], job_period_s: float):
        self.name, self.window, self.job_period_s = name, window, job_period_s
        self.frames: deque[bytes] = deque()
        self.next_job = 0.0
        self.done = 0

    def enqueue(self, engine, fd: bytes) -> None:
        if len(self.frames) >= MAX_BACKLOG:
            engine.log.add("qdma", object=self.name, rejected="request queue full")
            return
        self.frames.append(fd)

    def drop_all(self) -> int:
        n = len(self.frames)
        self.frames.clear()
        return n

    def run(self, engine, now: float, sid: int | None = None) -> None:
        """Runs the next job when it is due (one per job_period_s); ``sid``: the stream its DMA
        carries behind an IOMMU (the DPDMAI's container's ICID)."""
        if not self.frames:        # idle: a job that arrives now starts at once, the next one a period later
            return
        if now < self.next_job:
            return
        self.next_job = now + self.job_period_s
        self._job(engine, self.frames.popleft(), sid)

    def _inside(self, engine, addr: int, size: int) -> bool:
        if engine.iommu is not None:        # IOVAs: the IOMMU decides, access by access
            return True
        base, length = self.window
        return base <= addr and addr + size <= base + length

    def _job(self, engine, fd: bytes, sid: int | None = None) -> None:
        addr, length, _bpid, fmt_off = struct.unpack_from("<QIHH", fd, 0)
        if (fmt_off >> 12) & 0x3 != FD_FORMAT_LIST or not self._inside(engine, addr, 3 * FLE_SIZE):
            engine.log.add("qdma", object=self.name, error="not a frame list in the DMA window", fd_addr=hex(addr))
            return
        fl = engine.dma_read_logged(addr, 3 * FLE_SIZE, f"{self.name} frame list", sid)
        src, src_len = struct.unpack_from("<QI", fl, FLE_SIZE)
        dst, dst_len, _, dst_fmt = struct.unpack_from("<QIHH", fl, 2 * FLE_SIZE)
        size = min(src_len, dst_len)
        if not dst_fmt & FLE_FINAL or not 0 < size <= MAX_JOB_BYTES or not (self._inside(engine, src, size)
                                                                            and self._inside(engine, dst, size)):
            engine.log.add("qdma", object=self.name, error="bad frame list", src=hex(src), dst=hex(dst), bytes=size)
            return
        data = engine.dma_read_logged(src, size, f"{self.name} source", sid)
        engine.dma_write(dst, data, f"{self.name} copy", sid)
        self.done += 1
