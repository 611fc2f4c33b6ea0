"""Feed Ethernet frames into the device-under-test NIC's QEMU backend from the host.

QEMU's `-nic socket,udp=127.0.0.1:PEER,localaddr=127.0.0.1:LOCAL` receives
frames as UDP datagrams on LOCAL (one frame each) and sends the guest's frames
to PEER. The feeder owns PEER and sends to LOCAL at a fixed rate, on loopback
only, for at most ``max_seconds``. What arrives on PEER is what the device under
test transmitted (QEMU's NIC model, or a twin's TX path, which sends there too):
the feeder keeps each frame's arrival time and length, so a check can ask what
the device sent while nobody owned it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import attrs

FRAME_LEN = 600        # one frame per 2048-byte ring buffer, easy to see in the canary


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@attrs.define
class UdpPorts:
    """The two loopback ports of a DUT socket backend."""

    local: int = attrs.field(factory=free_udp_port)   # QEMU listens here
    peer: int = attrs.field(factory=free_udp_port)    # we listen here

    def nic_args(self, netdev_id: str = "dut") -> str:
        return f"-nic socket,id={netdev_id},udp=127.0.0.1:{self.peer},localaddr=127.0.0.1:{self.local}"


def frame(seq: int) -> bytes:
    """Broadcast Ethernet frame, local experimental EtherType, sequence number in the payload."""
    header = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5"
    payload = struct.pack(">Q", seq) + bytes((seq + i) & 0xFF for i in range(FRAME_LEN - 14 - 8))
    return header + payload


class FrameFeeder:
    """Sends frames at ``rate`` per second in a thread until stopped or ``max_seconds`` pass."""

    def __init__(self, ports: UdpPorts, rate: float = 200.0, max_seconds: float = 120.0):
        self.ports = ports
        self.rate = rate
        self.max_seconds = max_seconds
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", ports.peer))
        self._sock.setblocking(False)
        self._lock = threading.Lock()
        # (host monotonic s, length, first 64 bytes) of every frame the device transmitted
        self.transmitted: list[tuple[float, int, bytes]] = []

    def __enter__(self) -> "FrameFeeder":
        self._thread = threading.Thread(target=self._run, name="frame-feeder", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._sock.close()

    def _run(self) -> None:
        period = 1.0 / self.rate
        deadline = time.monotonic() + self.max_seconds
        next_send = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._sock.sendto(frame(self.sent), ("127.0.0.1", self.ports.local))
            self.sent += 1
            next_send += period
            self._drain()
            self._stop.wait(max(0.0, next_send - time.monotonic()))

    def _drain(self) -> None:
        """Take what the device transmitted (it arrives on our PEER socket) off the socket."""
        while True:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, OSError):
                return
            with self._lock:
                self.transmitted.append((time.monotonic(), len(data), data[:64]))

    def transmitted_between(self, start: float, end: float) -> dict:
        """The frames the device transmitted between host monotonic ``start`` and ``end``: how many,
        their bytes, and the first one's head (hex) as evidence of what went out."""
        self._drain()
        with self._lock:
            frames = [f for f in self.transmitted if start <= f[0] < end]
        return {"frames": len(frames), "bytes": sum(f[1] for f in frames),
                "first_head": frames[0][2].hex() if frames else None}
