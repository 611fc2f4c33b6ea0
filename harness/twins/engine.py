"""The polling engine: a twin's registers live in guest RAM; the engine notices guest writes
and applies the device's side effects, drives its interrupt lines, and logs everything.

Each step reads the twin's register windows in one qtest b64read per window, compares
them word by word with what the twin last left there, and hands every changed word to
the twin's ``on_write`` (which may change registers: self-clearing bits, resets). Then
the twin's ``tick`` does what the device does by itself (DMA while started), and its
IRQ lines are set to ``irq_levels()``: level-triggered, status & enable.

Approximations (see harness/twins/README.md): a guest write of the value already there
is invisible; a read right after a write may see the old value for up to one step; two
writes to one register within one step are seen as the last.
"""

from __future__ import annotations

import json
import struct
import threading
import time
from collections import deque
from pathlib import Path

from harness.errors import InfrastructureError
from harness.twins.gic import GicLines
from harness.twins.qtest import QtestClient, QtestError
from harness.twins.smmuv3 import IommuFault


HISTORY = 200_000


class EventLog:
    """Every register change, DMA and IRQ edge the twin performs, with a monotonic timestamp (JSON lines)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._fh = open(path, "a", buffering=1) if path else None   # line-buffered: kept if we die
        self.t0 = time.monotonic()
        self.counts: dict[str, int] = {}
        # The resets the device performed, with host monotonic times, so that a check can ask what
        # the reset handler made the device do in a window (the VMM check: across a guest reset).
        self.resets: deque[tuple[float, dict]] = deque(maxlen=HISTORY)

    def add(self, kind: str, **fields) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "reset":
            self.resets.append((time.monotonic(), fields))
        if self._fh:
            self._fh.write(json.dumps({"t": round(time.monotonic() - self.t0, 6), "kind": kind, **fields}) + "\n")

    def close(self) -> None:
        if self._fh:
            self._fh.close()


class Twin:
    """A device model. Subclasses set ``windows`` ({name: (guest_phys, size)}) and override the hooks."""

    name = "twin"
    windows: dict[str, tuple[int, int]] = {}

    def attach(self, engine: "TwinEngine") -> None:
        self.engine = engine

    def on_write(self, window: str, offset: int, old: int, new: int) -> None:
        """The guest changed the 32-bit register at ``offset`` of ``window`` from ``old`` to ``new``."""

    def tick(self, now: float) -> None:
        """Autonomous behaviour, once per step."""

    def irq_levels(self) -> dict[int, int]:
        """{GIC SPI number: level} as the device drives its lines now."""
        return {}


class TwinEngine:
    def __init__(self, q: QtestClient, twin: Twin, lines: GicLines | None, log: EventLog, iommu=None):
        """``iommu``: the twin sits behind an IOMMU (an smmuv3.Smmuv3Walker for its stream): every
        address the device is given is then an IOVA, translated here before it touches memory."""
        self.q, self.twin, self.lines, self.log, self.iommu = q, twin, lines, log, iommu
        self.lock = threading.Lock()     # one qtest conversation at a time
        self.shadow: dict[str, bytearray] = {}
        self.steps = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (host monotonic s, SPI, level) of every edge the twin drove: what its lines did while
        # nobody watched from the guest (the suite's gap between a death and the next open).
        # Both bounded (an interrupt storm or a run of hours must not grow the harness without end):
        # the newest HISTORY entries, minutes of a storm, far more than any check's window.
        self.irq_edges: deque[tuple[float, int, int]] = deque(maxlen=HISTORY)
        self.dma_reads: deque[float] = deque(maxlen=HISTORY)   # host monotonic s of every logged DMA read
        self.msis: deque[float] = deque(maxlen=HISTORY)        # ... and of every MSI written by msi_write
        self.dma_writes: deque[float] = deque(maxlen=HISTORY)  # ... and of every dma_write (tried)
        self.iommu_faults: deque[float] = deque(maxlen=HISTORY)  # ... and of every access the IOMMU refused
        # (host monotonic s, window, offset, value) of every register write the twin saw from the
        # CPU side: a reset handler's writes, a guest driver's, a tenant's.
        self.reg_writes: deque[tuple[float, str, int, int]] = deque(maxlen=HISTORY)
        for name, (base, size) in twin.windows.items():
            self.shadow[name] = bytearray(size)
            with self.lock:
                self.q.write(base, bytes(size))       # the device's reset state: all zero unless the twin says
        with self.lock:
            twin.attach(self)

    def line_high_ms(self, start: float, end: float) -> dict[int, float]:
        """For each SPI the twin drives: how long (ms) it was high between host monotonic
        ``start`` and ``end``. Lines start low."""
        with self.lock:
            edges = list(self.irq_edges)
        out = {}
        for spi in sorted({e[1] for e in edges} | set(self.twin.irq_levels())):
            level, since, high = 0, start, 0.0
            for t, s, lv in edges:
                if s != spi:
                    continue
                if t <= start:
                    level = lv
                    continue
                if t >= end:
                    break
                high += (t - since) if level else 0.0
                level, since = lv, t
            high += (end - since) if level else 0.0
            out[spi] = round(high * 1000, 1)
        return out

    # -- register access for twins (keeps the shadow in step, so the twin's own writes are not "guest writes")
    def reg(self, window: str, offset: int) -> int:
        return struct.unpack_from("<I", self.shadow[window], offset)[0]

    def live_reg(self, window: str, offset: int) -> int:
        """The register as the guest left it this instant (one qtest read), not as the last step's
        snapshot saw it: a twin about to start a DMA checks its enable here, so a stop the guest
        wrote after the snapshot is honoured before the next transfer, not one step later."""
        return self.q.readl(self.twin.windows[window][0] + offset)

    def set_reg(self, window: str, offset: int, value: int) -> None:
        value &= 0xffffffff
        if self.reg(window, offset) == value:
            return
        struct.pack_into("<I", self.shadow[window], offset, value)
        base = self.twin.windows[window][0]
        self.q.writel(base + offset, value)
        self.log.add("reg", window=window, offset=hex(offset), value=hex(value), by="twin")

    def set_bytes(self, window: str, offset: int, data: bytes) -> None:
        """Write ``data`` into a window in one qtest write (a firmware's reply in a command portal),
        keeping the shadow in step."""
        self.shadow[window][offset:offset + len(data)] = data
        self.q.write(self.twin.windows[window][0] + offset, data)

    # ``sid``: the stream the access carries, for a twin whose objects sit on several streams of
    # one IOMMU (the MC twin: each container's ICID); None is the twin's one stream.
    def _translated(self, addr: int, size: int, write: bool, what: str,
                    sid: int | None = None) -> list[tuple[int, int, int]] | None:
        """[(pa, offset, length)] of an access at ``addr`` (an IOVA behind an IOMMU, else physical);
        None if the IOMMU refused it: logged as an "iommu_fault" and dropped, as the SMMU aborts
        the transaction (what an unmapped IOVA looks like: harmless, but the device tried)."""
        if self.iommu is None:
            return [(addr, 0, size)]
        try:
            return self.iommu.translate(addr, size, write, sid=sid)
        except IommuFault as exc:
            self.iommu_faults.append(time.monotonic())
            self.log.add("iommu_fault", iova=hex(exc.iova), access="write" if write else "read", bytes=size,
                         what=what, reason=exc.reason, **({} if sid is None else {"sid": hex(sid)}))
            return None

    def _write(self, addr: int, data: bytes, what: str, sid: int | None = None) -> bool:
        segments = self._translated(addr, len(data), True, what, sid)
        for pa, off, n in segments or ():
            self.q.write(pa, data[off:off + n])
        return segments is not None

    def _read(self, addr: int, size: int, what: str, sid: int | None = None) -> bytes:
        """A faulted read returns zeros (the twin sees an empty descriptor and polls on)."""
        segments = self._translated(addr, size, False, what, sid)
        if segments is None:
            return bytes(size)
        return b"".join(self.q.read(pa, n) for pa, _, n in segments)

    def _where(self, addr: int) -> dict:
        return {"addr": hex(addr)} if self.iommu is None else {"iova": hex(addr)}

    def dma_write(self, addr: int, data: bytes, what: str, sid: int | None = None) -> None:
        self.dma_writes.append(time.monotonic())
        if self._write(addr, data, what, sid):
            self.log.add("dma", **self._where(addr), bytes=len(data), what=what)

    def dma_read(self, addr: int, size: int, sid: int | None = None) -> bytes:
        return self._read(addr, size, "dma read", sid)

    def dma_read_logged(self, addr: int, size: int, what: str, sid: int | None = None) -> bytes:
        """A DMA read the device makes of its owner's memory (a descriptor fetch): logged and
        timed, because after the owner's death it reads memory that is no longer the owner's."""
        self.dma_reads.append(time.monotonic())
        self.log.add("dma_read", **self._where(addr), bytes=size, what=what)
        return self._read(addr, size, what, sid)

    def msi_write(self, addr: int, data: int, what: str, sid: int | None = None) -> None:
        """An MSI: a 32-bit DMA write of ``data`` to ``addr`` (the GIC ITS's doorbell, an IOVA behind
        an IOMMU), timed, so that the suite can count what the device signalled while nobody owned it."""
        self.msis.append(time.monotonic())
        segments = self._translated(addr, 4, True, what, sid)
        if segments is not None:
            self.q.writel(segments[0][0], data)     # one 32-bit store: the doorbell is a register
            self.log.add("msi", **self._where(addr), data=data, what=what)

    def iommu_faults_between(self, start: float, end: float) -> int:
        """How many of the device's accesses the IOMMU refused between host monotonic ``start`` and ``end``."""
        return self._count_between(self.iommu_faults, start, end)

    def dma_reads_between(self, start: float, end: float) -> int:
        """How many logged DMA reads the device made between host monotonic ``start`` and ``end``."""
        return self._count_between(self.dma_reads, start, end)

    def dma_writes_between(self, start: float, end: float) -> int:
        """How many DMA writes the device made between host monotonic ``start`` and ``end``."""
        return self._count_between(self.dma_writes, start, end)

    def msis_between(self, start: float, end: float) -> int:
        """How many MSIs (msi_write) the device sent between host monotonic ``start`` and ``end``."""
        return self._count_between(self.msis, start, end)

    def resets_between(self, start: float, end: float) -> list[tuple[float, dict]]:
        """The resets the device performed (its "reset" log lines) between host monotonic times."""
        with self.lock:
            return [(t, f) for t, f in self.log.resets if start <= t < end]

    def writes_between(self, start: float, end: float) -> list[tuple[float, str, int, int]]:
        """The register writes the twin saw (a changed word each) between host monotonic times."""
        with self.lock:
            return [w for w in self.reg_writes if start <= w[0] < end]

    def _count_between(self, times: deque, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t in times if start <= t < end)

    # -- the loop
    def step(self) -> None:
        with self.lock:
            changes = []
            for name, (base, size) in self.twin.windows.items():
                now = self.q.read(base, size)
                old = self.shadow[name]
                if now != old:
                    changes += [(name, off, struct.unpack_from("<I", old, off)[0], struct.unpack_from("<I", now, off)[0])
                                for off in range(0, size, 4) if now[off:off + 4] != old[off:off + 4]]
                    self.shadow[name][:] = now
            # The whole snapshot first, then the side effects: an indirect window's data write
            # must be judged with the select register written in the same step.
            seen = time.monotonic()
            for name, off, o, n in changes:
                self.log.add("reg", window=name, offset=hex(off), value=hex(n), by="guest")
                self.reg_writes.append((seen, name, off, n))
                self.twin.on_write(name, off, o, n)
            self.twin.tick(time.monotonic())
            if self.lines:
                for spi, level in self.twin.irq_levels().items():
                    if self.lines.levels.get(spi, 0) != level:
                        self.lines.set(spi, level)
                        self.log.add("irq", spi=spi, level=level)
                        self.irq_edges.append((time.monotonic(), spi, level))
            self.steps += 1

    def start(self, interval_s: float = 0.0005) -> "TwinEngine":
        def loop():
            try:
                while not self._stop.is_set():
                    self.step()
                    self._stop.wait(interval_s)
            except QtestError as exc:      # QEMU died or stopped answering: the tests must say error
                self.error = exc
                self.log.add("died", error=str(exc))
            except BaseException as exc:   # a bug in a twin is the harness's fault, and must not pass silently
                self.error = InfrastructureError(f"twin {self.twin.name} crashed: {exc!r}")
                self.log.add("died", error=repr(exc))
        self._thread = threading.Thread(target=loop, name=f"twin-{self.twin.name}", daemon=True)
        self._thread.start()
        return self

    def fail(self, why: str) -> None:
        """Stop the twin as if it had died (fault injection, and the runtime's own deadlines)."""
        self.error = InfrastructureError(why)
        self.log.add("died", error=why)
        self._stop.set()

    def check_alive(self) -> None:
        """Raise the twin's death as an infrastructure error (its tests must be `error`, never `pass`)."""
        if self.error is not None:
            raise InfrastructureError(f"twin {self.twin.name} stopped: {self.error}")
        if self._thread is not None and not self._thread.is_alive():
            raise InfrastructureError(f"twin {self.twin.name} stopped without an error")

    def stop(self, deadline_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=deadline_s)
        self.log.close()
