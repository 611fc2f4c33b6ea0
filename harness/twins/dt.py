"""Device trees for twins: QEMU virt's own tree, dumped by QEMU, plus the twin's nodes.

QEMU writes the tree its machine would pass to Linux (-machine dumpdtb=FILE);
we add, with pylibfdt, the twin device with its real compatible and the real
SoC's shape (reg windows, interrupts), and a reserved-memory node with no-map
over the guest RAM that holds the twin's register file and DMA window, so Linux
never touches it and vfio-platform maps it as the device's region.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

import libfdt

from harness.errors import InfrastructureError

GIC_SPI = 0
IRQ_TYPE_LEVEL_HIGH = 4


def dump_machine_dtb(qemu: str, machine_args: list[str], timeout_s: float = 30) -> bytes:
    """The tree QEMU would give the guest for ``machine_args`` (e.g. ["-M", "virt", "-cpu", ...])."""
    with tempfile.TemporaryDirectory(prefix="vfio-hil-dtb-") as tmp:
        out = Path(tmp) / "machine.dtb"
        args = list(machine_args)
        m = args.index("-M") + 1
        args[m] = f"{args[m]},dumpdtb={out}"
        # No NIC: the tree does not depend on one, and virt's default virtio-net-pci would need
        # an option ROM (Debian's ipxe-qemu) only to be thrown away.
        argv = [qemu, *args, "-display", "none", "-nic", "none"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
        if not out.exists():
            raise InfrastructureError(f"QEMU wrote no device tree: {' '.join(argv)} exited {proc.returncode}: "
                                      f"{proc.stderr.strip()[-500:]}")
        return out.read_bytes()


def u32s(values: list[int]) -> bytes:
    """A property of 32-bit cells, e.g. <1 1 0>."""
    return b"".join(struct.pack(">I", v) for v in values)


def _cells(values: list[int], ncells: int) -> bytes:
    out = b""
    for v in values:
        out += b"".join(struct.pack(">I", (v >> (32 * i)) & 0xffffffff) for i in reversed(range(ncells)))
    return out


class DtBuilder:
    """Adds nodes to a flattened tree, growing it as needed."""

    def __init__(self, blob: bytes):
        self.fdt = libfdt.Fdt(blob)
        root = self.fdt.path_offset("/")
        self.addr_cells = self.fdt.getprop(root, "#address-cells").as_uint32()
        self.size_cells = self.fdt.getprop(root, "#size-cells").as_uint32()

    def _grow(self, fn):
        for _ in range(8):
            try:
                return fn()
            except libfdt.FdtException as exc:
                if exc.err != -libfdt.NOSPACE:
                    raise
                self.fdt.resize(self.fdt.totalsize() + 4096)
        raise InfrastructureError("device tree could not grow")

    def _node(self, path: str) -> int:
        parent_path, name = path.rsplit("/", 1)
        parent = self.fdt.path_offset(parent_path or "/")
        try:
            return self.fdt.subnode_offset(parent, name)
        except libfdt.FdtException:
            return self._grow(lambda: self.fdt.add_subnode(parent, name))

    def set(self, path: str, prop: str, value) -> None:
        """value: bytes, str, list[str] (a string list), int (u32) or bool (empty property)."""
        if isinstance(value, bool):
            data = b""
        elif isinstance(value, int):
            data = struct.pack(">I", value)
        elif isinstance(value, str):
            data = value.encode() + b"\0"
        elif isinstance(value, list):
            data = b"".join(v.encode() + b"\0" for v in value)
        else:
            data = bytes(value)
        self._grow(lambda: self.fdt.setprop(self._node(path), prop, data))

    def reg(self, ranges: list[tuple[int, int]]) -> bytes:
        return b"".join(_cells([a], self.addr_cells) + _cells([s], self.size_cells) for a, s in ranges)

    def reserve(self, name: str, base: int, size: int) -> str:
        """A no-map reserved-memory region: Linux neither uses nor maps it."""
        self.set("/reserved-memory", "#address-cells", self.addr_cells)
        self.set("/reserved-memory", "#size-cells", self.size_cells)
        self.set("/reserved-memory", "ranges", True)
        path = f"/reserved-memory/{name}@{base:x}"
        self.set(path, "reg", self.reg([(base, size)]))
        self.set(path, "no-map", True)
        return path

    def device(self, name: str, compatible: list[str], regs: list[tuple[int, int]],
               spis: list[int] = (), props: dict | None = None) -> str:
        """A device node at the root; ``spis`` are GIC SPI numbers, level-high."""
        path = f"/{name}@{regs[0][0]:x}"
        self.set(path, "compatible", list(compatible))
        self.set(path, "reg", self.reg(regs))
        if spis:
            self.set(path, "interrupts", _cells([x for n in spis for x in (GIC_SPI, n, IRQ_TYPE_LEVEL_HIGH)], 1))
        for k, v in (props or {}).items():
            self.set(path, k, v)
        self.set(path, "status", "okay")
        return path

    def _nodes(self):
        """Offsets of every node, in tree order."""
        off, depth = 0, 0
        while off >= 0 and depth >= 0:
            yield off
            try:
                off, depth = self.fdt.next_node(off, depth)
            except libfdt.FdtException:       # past the last node
                return

    def _max_phandle(self) -> int:
        return max(self.fdt.get_phandle(off) for off in self._nodes())

    def phandle(self, path: str) -> int:
        """The node's phandle, given one (the next free number) if it has none."""
        off = self.fdt.path_offset(path)
        ph = self.fdt.get_phandle(off)
        if not ph:
            ph = self._max_phandle() + 1
            self.set(path, "phandle", ph)
        return ph

    def find_compatible(self, compatible: str) -> str | None:
        """Path of the first node with ``compatible``, or None."""
        for off in self._nodes():
            prop = self.fdt.getprop(off, "compatible", quiet=(libfdt.NOTFOUND,))
            if not isinstance(prop, int) and compatible.encode() in bytes(prop).split(b"\0"):
                return self.fdt.get_path(off)
        return None

    def fixed_clock(self, name: str, hz: int) -> int:
        """A fixed-rate clock at the root (as the SoC trees describe their fixed PLL outputs); its phandle."""
        path = f"/{name}"
        self.set(path, "compatible", "fixed-clock")
        self.set(path, "#clock-cells", 0)
        self.set(path, "clock-frequency", hz)
        self.set(path, "clock-output-names", name)
        return self.phandle(path)

    def blob(self) -> bytes:
        self.fdt.pack()
        return bytes(self.fdt.as_bytearray())
