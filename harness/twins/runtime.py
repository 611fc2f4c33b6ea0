"""Running a twin beside a target: its device tree and qtest socket before QEMU starts, the
engine once QEMU runs, and its death turned into infrastructure errors.

A twin target's profile names the twin (``twin: xgmac``) and the device under test by its
sysfs name, whose unit address is where the twin's registers sit (7f000000.ethernet: regs at
0x7f000000). Registers and DMA window are reserved (no-map) in the tree, so Linux never uses
that RAM; vfio-platform maps the registers as the device's region.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import attrs

from harness.errors import InfrastructureError, TargetProfileError
from harness.targets import TargetProfile
from harness.twins.dt import DtBuilder, dump_machine_dtb, u32s
from harness.twins.engine import EventLog, TwinEngine
from harness.twins.gic import GicLines
from harness.twins.qtest import BoardQtestSocket, QtestClient, QtestSocketDir
from harness.twins.smmuv2 import Smmuv2Walker
from harness.twins.smmuv3 import Smmuv3Walker
from harness.twins import mmu500
from harness.twins.flexrm import FlexrmTwin
from harness.twins import fslmc
from harness.twins.fslmc_dt import add_fslmc_node, add_soc_bus
from harness.twins.xgbe import XgbeTwin
from harness.twins.xgmac import XgmacTwin, udp_frame_source


@attrs.frozen
class TwinShape:
    """What the device tree says about a twin: compatible, register windows (offsets from the
    unit address, sizes), SPIs, extra properties. The real SoCs' shape."""
    compatible: list
    regs: list          # [(offset, size)]
    spis: list
    props: dict = attrs.field(factory=dict)
    clocks: list = attrs.field(factory=list)     # [(clock-names entry, Hz)]: fixed clocks, as in the SoC's tree
    msi: tuple | None = None                     # (msi-parent compatible, device ID), when the tree has one


SHAPES = {
    # arch/arm/boot/dts/ecx-common.dtsi: one 4 KiB window, three interrupts.
    "xgmac": TwinShape(["calxeda,hb-xgmac"], [(0, 0x1000)], [80, 81, 82], {"dma-coherent": True}),
    # arch/arm64/boot/dts/amd/amd-seattle-xgbe-b.dtsi: XGMAC, XPCS, SERDES RX/TX, SERDES IR 1/2
    # and 2/2; six interrupts (device, four channels, AN). Seattle's SPIs (323-349) do not exist
    # on virt's GIC, so the twin uses 100-105; the real channel SPIs are edge, the twin's level.
    "xgbe": TwinShape(["amd,xgbe-seattle-v1a"],
                      [(0, 0x80000), (0x80000, 0x80000), (0x100000, 0x400), (0x101000, 0x60), (0x1010f8, 0x4)],
                      [100, 101, 102, 103, 104, 105],
                      {"amd,per-channel-interrupt": True, "amd,speed-set": 0, "dma-coherent": True,
                       # the rest is for the native amd-xgbe driver (the suite's native.probe check)
                       "amd,serdes-blwc": u32s([1, 1, 0]), "amd,serdes-cdr-rate": u32s([2, 2, 7]),
                       "amd,serdes-pq-skew": u32s([10, 10, 18]), "amd,serdes-tx-amp": u32s([0, 0, 0]),
                       "amd,serdes-dfe-tap-config": u32s([3, 3, 3]), "amd,serdes-dfe-tap-enable": u32s([0, 0, 7]),
                       "mac-address": bytes([0x02, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5]), "phy-mode": "xgmii"},
                      # amd-seattle-clks.dtsi: xgmacclk0_dma_250mhz, xgmacclk0_ptp_250mhz
                      clocks=[("dma_clk", 250_000_000), ("ptp_clk", 250_000_000)]),
    # arch/arm64/boot/dts/broadcom/stingray/stingray-fs4.dtsi: one 0x200000 window of 64 KiB
    # rings, MSIs only, through the GICv3 ITS (msi-parent = <&gic_its 0x7fe0>); described when
    # the machine has an ITS (virt,gic-version=3), left out on a GICv2 machine.
    "flexrm": TwinShape(["brcm,iproc-flexrm-mbox"], [(0, 0x200000)], [], {"#mbox-cells": 3, "dma-coherent": True},
                        msi=("arm,gic-v3-its", 0x7fe0)),
}


def add_twin_node(b: DtBuilder, shape: TwinShape, name: str, base: int) -> str:
    path = b.device(name, shape.compatible, [(base + o, s) for o, s in shape.regs], spis=shape.spis,
                    props=shape.props)
    if shape.clocks:
        b.set(path, "clocks", u32s([b.fixed_clock(f"{name}-{clk.replace('_', '-')}", hz) for clk, hz in shape.clocks]))
        b.set(path, "clock-names", [clk for clk, _ in shape.clocks])
    if shape.msi:
        parent = b.find_compatible(shape.msi[0])
        if parent:
            b.set(path, "msi-parent", u32s([b.phandle(parent), shape.msi[1]]))
    return path


def layout(target: TargetProfile) -> tuple[int, int, int]:
    """(register base, window base, window end) from the profile."""
    base = int(target.twin_base or target.dut_device.split(".", 1)[0], 16)
    wbase, wsize = (int(x, 16) for x in target.dma_window.split(":"))
    if not base < wbase:
        raise TargetProfileError(f"{target.source_file}: the twin's registers ({target.dut_device}) must sit below "
                                 f"its dma_window ({target.dma_window}), in the one reserved region")
    return base, wbase, wbase + wsize


SMMU_COMPATIBLE = "arm,smmu-v3"


def iommu_model(target: TargetProfile) -> str | None:
    """Which IOMMU the twin sits behind in this run: None (no-IOMMU), "smmuv3" (QEMU virt's own),
    or "mmu500" (the MC twin's: arm-smmu-v3 cannot group a container's objects, mmu500.py)."""
    if target.iommu_mode != "type1":
        return None
    return "mmu500" if target.twin == "fslmc" else "smmuv3"


def machine_options(target: TargetProfile) -> list[str]:
    """QEMU -machine options the run's IOMMU mode adds to the environment's machine (QEMU merges
    repeated -machine options): virt's SMMUv3 in front of the twin."""
    return ["iommu=smmuv3"] if iommu_model(target) == "smmuv3" else []


def build_dtb(target: TargetProfile, out: Path, firmware: Path | None = None) -> Path:
    """virt's own tree for the profile's QEMU settings, plus the twin's node and its reserved RAM;
    in type1 mode the twin's node sits behind the SMMUv3 (``iommus = <&smmu SID>``). ``firmware``:
    the board boots through it (a lab board's U-Boot), and virt's tree differs then (QEMU 7.2
    makes no PL061 GPIO with firmware loaded: a tree dumped without it panics the kernel). A
    firmware-booted tree is a file the lab stages, as a kernel build's .dtb is: without QEMU's
    boot-time randomness (dtb-randomness=off), whose kaslr-seed, frozen in a file, made
    kexec-tools refuse the tree (a seed the kernel did not wipe: setup_2nd_dtb, measured)."""
    if target.twin == "fslmc":
        if firmware is not None:
            raise TargetProfileError(f"{target.source_file}: a firmware-booted tree for the MC twin is not built yet")
        return _build_fslmc_dtb(target, out)
    if target.twin not in SHAPES:
        raise TargetProfileError(f"{target.source_file}: twin {target.twin!r} has no device tree shape; "
                                 f"known: {', '.join(SHAPES)}")
    shape = SHAPES[target.twin]
    q = target.qemu_settings()
    machine = ",".join([q["machine"], *machine_options(target), *(["dtb-randomness=off"] if firmware else [])])
    blob = dump_machine_dtb(q["binary"], ["-M", machine, "-cpu", q["cpu"], "-m", str(q["memory"]),
                                          *(["-bios", str(firmware)] if firmware else [])])
    base, _, end = layout(target)
    b = DtBuilder(blob)
    b.reserve("vfio-hil-twin", base, end - base)
    path = add_twin_node(b, shape, target.dut_device.split(".", 1)[1], base)
    if iommu_model(target) == "smmuv3":
        # QEMU 7.2 always makes the SMMUv3 node for iommu=smmuv3 and gives it a phandle of its own.
        smmu = b.find_compatible(SMMU_COMPATIBLE)
        if smmu is None:
            raise TargetProfileError(f"{target.source_file}: QEMU's tree for -M {machine} has no {SMMU_COMPATIBLE} "
                                     f"node: this QEMU cannot put an SMMUv3 in front of the twin")
        b.set(path, "iommus", u32s([b.phandle(smmu), int(target.iommu_sid, 16)]))
    out.write_bytes(b.blob())
    return out


def smmu_base(dtb: Path) -> int:
    """Where the tree says the SMMUv3's registers are (virt: 0x9050000)."""
    b = DtBuilder(dtb.read_bytes())
    path = b.find_compatible(SMMU_COMPATIBLE)
    if path is None:
        raise TargetProfileError(f"{dtb}: no {SMMU_COMPATIBLE} node, yet the run is in type1 mode")
    reg = bytes(b.fdt.getprop(b.fdt.path_offset(path), "reg"))
    return int.from_bytes(reg[:4 * b.addr_cells], "big")


def _build_fslmc_dtb(target: TargetProfile, out: Path) -> Path:
    """virt's tree plus an fsl-mc bus node whose portals and control registers the MC twin plays;
    in type1 mode, LX2160A's MMU-500 in front of it (mmu500.py), each container's ICID a stream."""
    if not target.twin_base:
        raise TargetProfileError(f"{target.source_file}: twin fslmc needs twin_base (where its MC portals sit)")
    q = target.qemu_settings()
    blob = dump_machine_dtb(q["binary"], ["-M", q["machine"], "-cpu", q["cpu"], "-m", str(q["memory"])])
    base, _, end = layout(target)
    b = DtBuilder(blob)
    b.reserve("vfio-hil-twin", base, end - base)
    behind_mmu500 = iommu_model(target) == "mmu500"
    mc = add_fslmc_node(b, base, fslmc.PORTALS_SIZE, base + fslmc.CTRL_OFFSET, base + fslmc.QBMAN_OFFSET,
                        fslmc.QBMAN_SIZE, fslmc.ROOT_ICID, fslmc.TENANT_ICID,
                        parent=add_soc_bus(b) if behind_mmu500 else "")
    if behind_mmu500:
        mmu500.add_node(b, base + mmu500.OFFSET, mc)
    out.write_bytes(b.blob())
    return out


POLICY_ENV = "VFIO_HIL_TWIN_POLICY"


def twin_policy(text: str) -> dict:
    """``name=value,...`` from VFIO_HIL_TWIN_POLICY: a twin's named modelling policies (e.g.
    ``swr_completes=false``, a device whose software reset never finishes), for the harness's
    own fault rows in ``make mutants``. Values are booleans or numbers."""
    out = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise TargetProfileError(f"{POLICY_ENV}: {item!r} is not name=value")
        low = value.lower()
        try:
            out[key] = {"true": True, "false": False}[low] if low in ("true", "false") else float(value)
        except ValueError:
            raise TargetProfileError(f"{POLICY_ENV}: {key}={value!r} is neither true/false nor a number") from None
    return out


def make_twin(kind: str, base: int, frames, policy: dict | None = None, tx_sink=None,
              dma_window: tuple[int, int] | None = None, dpl_child: bool = True):
    """The twin of ``kind`` at ``base``, laid out as its SHAPES entry says, fed ``frames``,
    transmitting into ``tx_sink`` (a NIC twin), with ``policy`` overriding its named modelling
    policies; a DMA engine without descriptors of its own (fslmc's qDMA) DMAs only inside
    ``dma_window`` (phys, size); ``dpl_child``: the MC twin's DPL makes the tenant's container
    (else the harness makes it, as restool does: the profile's dut_create)."""
    shape, policy = SHAPES.get(kind), policy or {}
    try:
        if kind == "xgmac":
            return XgmacTwin(base, shape.spis[0], frames, **policy)
        if kind == "xgbe":   # windows 0 and 1 are XGMAC and XPCS; SPIs 1-4 the DMA channels, 5 the AN
            return XgbeTwin(base + shape.regs[0][0], base + shape.regs[1][0], shape.spis[1:5], shape.spis[5],
                            frame_source=frames, tx_sink=tx_sink, **policy)
        if kind == "flexrm":
            return FlexrmTwin(base, **policy)
        if kind == "fslmc":
            return fslmc.FslMcTwin(base, base + fslmc.CTRL_OFFSET, dma_window=dma_window, dpl_child=dpl_child,
                                   **policy)
    except TypeError as exc:
        raise TargetProfileError(f"{POLICY_ENV}: the {kind} twin has no such policy ({exc})") from None
    except ValueError as exc:
        raise TargetProfileError(f"{POLICY_ENV}: {exc}") from None
    raise TargetProfileError(f"no twin of kind {kind!r}; known: {', '.join([*SHAPES, 'fslmc'])}")


@attrs.define
class TwinPlan:
    """Made before QEMU starts: the tree and the private qtest socket."""
    dtb: Path
    sockdir: QtestSocketDir

    machine: list = attrs.field(factory=list)     # -machine options of the run's IOMMU mode
    # (file, guest physical address): register files that must hold their reset values from
    # power-on, before any twin runs (the MMU-500's ID registers, read by the kernel at boot),
    # loaded by QEMU's generic loader device.
    preload: list = attrs.field(factory=list)

    def qemu_args(self) -> str:
        return " ".join([*self.sockdir.qemu_args(), *(f"-machine {m}" for m in self.machine),
                         *(f"-device loader,file={f},addr={a:#x},force-raw=on" for f, a in self.preload)])

    def close(self) -> None:
        self.sockdir.close()


def plan(target: TargetProfile, run_dir: Path, *, firmware: Path | None = None,
         board_socket: Path | None = None) -> TwinPlan:
    """The tree (dumped as the board boots: through ``firmware`` if it has one) and the qtest
    socket: a private new one, or ``board_socket``, a board's that outlives the run (the virtual
    lab's, whose QEMU command line was fixed when the lab came up: lab_board_args)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    preload = []
    if iommu_model(target) == "mmu500":
        regs = run_dir / "mmu500-regs.bin"
        regs.write_bytes(mmu500.reset_image_bytes())
        preload.append((regs, layout(target)[0] + mmu500.OFFSET))
    sock = BoardQtestSocket(board_socket) if board_socket else QtestSocketDir()
    return TwinPlan(build_dtb(target, run_dir / "twin.dtb", firmware=firmware), sock, machine_options(target), preload)


class RunningTwin:
    """The engine of a target's twin, fed by the same UDP frame feeder QEMU's own NIC models get."""

    def __init__(self, target: TargetProfile, socket_path: Path, dut_local_port: int, log_path: Path,
                 qemu_death=None, dut_peer_port: int | None = None, dtb: Path | None = None):
        """``qemu_death``: QtestClient's probe of the QEMU that serves the socket (its driver's
        death_report), so that a twin that cannot reach QEMU says why QEMU is gone. ``dtb``: the
        tree the plan gave QEMU (type1 behind the SMMUv3 reads the SMMU's address from it)."""
        self.q = QtestClient(socket_path, qemu_death=qemu_death)
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind(("127.0.0.1", dut_local_port))          # where the feeder sends: loopback only
        self.rx.setblocking(False)
        base, wbase, wend = layout(target)
        # What the twin transmits goes where QEMU's own NIC models send theirs: the feeder's port.
        tx = (lambda frame: self.rx.sendto(frame, ("127.0.0.1", dut_peer_port))) if dut_peer_port else None
        twin = make_twin(target.twin, base, udp_frame_source(self.rx), twin_policy(os.environ.get(POLICY_ENV, "")),
                         tx_sink=tx, dma_window=(wbase, wend - wbase), dpl_child=not target.dut_create)
        walker = None
        model = iommu_model(target)           # every address the device is given is an IOVA of its stream
        if model == "mmu500":                 # the MC twin's MMU-500: one stream per ICID
            walker = Smmuv2Walker(self.q.readl, self.q.read, base + mmu500.OFFSET)
        elif model == "smmuv3":
            if dtb is None:
                raise InfrastructureError(f"{target.name} in type1: the twin was not handed the run's device tree, "
                                          f"where the SMMUv3's address is")
            walker = Smmuv3Walker(self.q.readl, self.q.read, smmu_base(dtb), int(target.iommu_sid, 16))
        self.engine = TwinEngine(self.q, twin, GicLines.locate(self.q), EventLog(log_path), iommu=walker).start()
        # Fault injection for the harness's own tests: VFIO_HIL_TWIN_FAULT=die-after-s:N kills the
        # twin N seconds in, so that a test can show its death turns into errors, never passes.
        fault = os.environ.get("VFIO_HIL_TWIN_FAULT", "")
        self._fault = None
        if fault.startswith("die-after-s:"):
            delay = float(fault.split(":", 1)[1])
            self._fault = threading.Timer(delay, self.engine.fail, [f"fault injected: twin killed after {delay} s"])
            self._fault.daemon = True
            self._fault.start()

    def check_alive(self) -> None:
        self.engine.check_alive()

    def mark_test(self, test_id: str) -> None:
        """A {"kind": "test"} line in the twin's event log: what follows happened during ``test_id``
        (so a check can tell the reset handler's resets from, say, the native driver's)."""
        self.engine.log.add("test", id=test_id)

    def line_high_ms(self, start: float, end: float) -> dict[int, float]:
        """How long (ms) each of the twin's interrupt lines was high between host monotonic times."""
        self.check_alive()
        return self.engine.line_high_ms(start, end)

    def dma_reads_between(self, start: float, end: float) -> int:
        """How many DMA reads (descriptor fetches) the twin made between host monotonic times."""
        self.check_alive()
        return self.engine.dma_reads_between(start, end)

    def dma_writes_between(self, start: float, end: float) -> int:
        """How many DMA writes the twin made between host monotonic times."""
        self.check_alive()
        return self.engine.dma_writes_between(start, end)

    def iommu_faults_between(self, start: float, end: float) -> int:
        """How many of the twin's DMA accesses the IOMMU refused between host monotonic times."""
        self.check_alive()
        return self.engine.iommu_faults_between(start, end)

    def resets_between(self, start: float, end: float) -> list[tuple[float, dict]]:
        """(host monotonic s, what) of each reset the device performed between host monotonic times."""
        self.check_alive()
        return self.engine.resets_between(start, end)

    def writes_between(self, start: float, end: float) -> list[tuple[float, str, int, int]]:
        """(host monotonic s, window, offset, value) of each register write the twin saw between times."""
        self.check_alive()
        return self.engine.writes_between(start, end)

    def msis_between(self, start: float, end: float) -> int:
        """How many MSIs the twin's device sent (engine.msi_write) between host monotonic times."""
        self.check_alive()
        return self.engine.msis_between(start, end)

    def set_policy(self, **policy) -> None:
        """Change the twin's named modelling policies while it runs (the fsl-mc control's null
        reset: reset_honoured=False); logged, so the event log says which policy held when."""
        twin = self.engine.twin
        for key in policy:
            if not hasattr(twin, key):
                raise TargetProfileError(f"the {twin.name} twin has no policy {key!r}")
        with self.engine.lock:
            for key, value in policy.items():
                setattr(twin, key, value)
            self.engine.log.add("policy", **policy)

    def stop(self) -> None:
        if self._fault is not None:
            self._fault.cancel()
        self.engine.stop()
        self.q.close()
        self.rx.close()


def start_when_planned(target: TargetProfile, log_path: Path, holder: dict):
    """An ``on_twin_plan`` for harness.lab.session.booted, for checks that boot a twin target
    outside the suite (harness/fidelity, harness/vmm): once the plan is made, the twin starts in a
    thread of its own (it waits for QEMU's qtest socket) and lands in ``holder["twin"]``."""
    from harness.traffic import free_udp_port

    def attach(plan: TwinPlan) -> None:
        def run():
            holder["twin"] = RunningTwin(target, plan.sockdir.path, free_udp_port(), log_path, dtb=plan.dtb)
        threading.Thread(target=run, daemon=True).start()
    return attach
