"""NXP Management Complex (MC) twin: the firmware the kernel's fsl-mc bus talks to on an
LX2160A, answering the MC command portals (drivers/bus/fsl-mc/mc-sys.c), with the objects a
DPL would create: a root container, a child container for the tenant, and the objects in it.

The MC is firmware, not registers: every object lives in the MC's memory and is reached only
through 64-byte command portals (one per DPRC and DPMCP). A command is 8 little-endian 64-bit
words: a header (src_id, flags_hw, status, flags_sw, token, cmd_id = id << 4 | version) and
seven parameters; the kernel writes the parameters, then the header with status READY (1),
and polls the status (mc_send_command()). The twin answers with the parameters, then the
header with the status (0 = OK). It dispatches on the id and accepts every version a kernel
under test sends (the version is logged: it says which API the kernel spoke).

What the firmware does is documented only in the kernel's comments (the MC reference manual
is NXP's): the assumptions are named policies here and listed in harness/twins/README.md.
Every command is logged ("mc_cmd"), and resets as "reset" with what they did: the reports'
evidence of which reset the kernel issued, when, and with which options.

Policies:
- ``reset_honoured`` (default true): a container or object reset returns the objects to their
  initial state (disabled, interrupts disabled and cleared). False is the null-reset control:
  the firmware answers OK and changes nothing.
- ``msi_period_s`` (default 0.01): a DPDMAI that is enabled, with its IRQ 0 enabled and an MSI
  address programmed, sends an MSI this often, as if copy jobs kept completing (the jobs
  themselves, QBMan and qDMA, are not modelled yet).
- ``reset_closes_handles`` (default true): resetting a container closes every handle opened
  through the container's portals (its DPRC portal and its DPMCPs: the tenant's), as
  dprc_reset_container()'s kernel-doc says ("all objects handles that were owned by the child
  container shall be closed"), except the handle the reset was issued through (vfio-fsl-mc
  issues it through the container's own token, which dprc_cleanup() closes later).
"""

from __future__ import annotations

import struct
from collections import deque

import attrs

from harness.twins.engine import Twin
from harness.twins.qdma import EQCR_CI, EQCR_ENTRIES, EQCR_ENTRY, EQCR_PI, Eqcr, QdmaQueue

# Where things sit from the twin's base (the profile's twin_base): MC portals, then the control
# registers, then the QBMan software portals (the DPIO's).
PORTALS_SIZE, CTRL_OFFSET, QBMAN_OFFSET, QBMAN_SIZE = 0x100000, 0x100000, 0x200000, 0x200000
PORTAL_SIZE = 0x10000            # MC API >= 6.6: portals are 64 KiB apart (dprc_get_obj_region())
PORTAL_CMD = 0x40                # the 64 bytes of one command
CTRL_GCR1, CTRL_GSR, CTRL_FAPR = 0x0, 0x8, 0x28
GCR1_STOP = (1 << 31) | (1 << 30)
GSR_BOOT_DONE = 1 << 0
STATUS_OK, STATUS_READY, STATUS_CONFIG_ERR, STATUS_BUSY, STATUS_UNSUPPORTED, STATUS_INVALID_STATE = 0, 1, 6, 0xA, 0xB, 0xC
STATUS_NO_PRIVILEGE = 4
VENDOR_FREESCALE = 0x1957
STATE_PLUGGED = 0x2
REGION_CACHEABLE, REGION_SHAREABLE = 0x1, 0x2          # FSL_MC_REGION_* (include/linux/fsl/mc.h)
RESET_NON_RECURSIVE = 0x1
# ICIDs: the tenant container's maps to ITS DeviceID 0 (fslmc_dt.py says why)
ROOT_ICID, TENANT_ICID = 0x10, 0x20
MC_VERSION = (10, 37, 0)          # (major, minor, revision): an LX2160A firmware with DPRC API 6.6
# The DPIO's QBMan portal as dpio_get_attributes() reports it: QMan 4.1 (the ring-mode portal of
# LS2088A; LX2160A's QMan 5.0 uses memory-backed mode, not modelled: README approximation 13), a
# local channel with 8 priorities (so it receives notifications) and the QMan clock, which the
# driver divides by (dpio-service.c: qman_256_cycles_per_ns), so never 0.
QBMAN_VERSION, QBMAN_CLK_HZ, DPIO_PRIORITIES, DPIO_LOCAL_CHANNEL = 0x04010000, 700_000_000, 8, 1
DPDMAI_PRIORITIES = 2              # as in NXP's LX2160A DPLs (dpdmai: priorities = <2 5>)

# id (cmd_id >> 4) of each open command, by object type (drivers/bus/fsl-mc/fsl-mc-private.h)
OPEN_IDS = {0x801: "dpni", 0x802: "dpsw", 0x803: "dpio", 0x804: "dpbp", 0x805: "dprc", 0x806: "dpdmux",
            0x807: "dpci", 0x808: "dpcon", 0x809: "dpseci", 0x80a: "dpaiop", 0x80b: "dpmcp", 0x80c: "dpmac",
            0x80d: "dpdcei", 0x80e: "dpdmai", 0x80f: "dpdbg", 0x810: "dprtc"}
# GET_API_VERSION is 0xa00 + the same index; no token (it asks the firmware, not an object)
API_IDS = {0xa00 + (k - 0x800): v for k, v in OPEN_IDS.items()}
API_VERSIONS = {"dprc": (6, 6), "dpmcp": (3, 0), "dpio": (4, 2), "dpbp": (3, 4), "dpcon": (3, 3),
                "dpdmai": (3, 3)}
CMD_NAMES = {0x800: "close", 0x002: "enable", 0x003: "disable", 0x004: "get_attributes", 0x005: "reset",
             0x006: "is_enabled", 0x010: "set_irq", 0x011: "get_irq", 0x012: "set_irq_enable",
             0x013: "get_irq_enable", 0x014: "set_irq_mask", 0x015: "get_irq_mask", 0x016: "get_irq_status",
             0x017: "clear_irq_status", 0x159: "get_obj_count", 0x15a: "get_obj", 0x15e: "get_obj_region",
             0x15f: "set_obj_irq", 0x16c: "get_connection", 0x830: "get_container_id", 0x831: "get_mc_version",
             0x120: "set_stashing_destination", 0x1a0: "set_rx_queue", 0x1a1: "get_rx_queue", 0x1a2: "get_tx_queue",
             0x151: "create_container", 0x152: "destroy_container", 0x157: "assign", 0x158: "unassign"}


@attrs.define
class Irq:
    addr: int = 0
    val: int = 0
    num: int = 0
    enable: int = 0
    mask: int = 0
    status: int = 0


@attrs.define
class McObject:
    type: str
    id: int
    container: int | None          # the id of the container it is assigned to (None: the root)
    irq_count: int = 0
    region_count: int = 0
    portal: int | None = None      # the MC portal index of a DPRC or DPMCP
    icid: int = 0                  # a DPRC's isolation context (its objects' DMA and MSIs carry it)
    enabled: bool = False
    irqs: dict = attrs.field(factory=dict)     # index -> Irq
    rx_queues: dict = attrs.field(factory=dict)   # DPDMAI: priority -> rx queue destination (set_rx_queue)

    @property
    def name(self) -> str:
        return f"{self.type}.{self.id}"

    def reset(self) -> None:
        """Back to the initial state ("returns the object to initial state", dpmcp_reset() and
        fsl_mc_obj_reset() kernel-doc): disabled, interrupts off, nothing pending."""
        self.enabled = False
        self.irqs = {i: Irq() for i in self.irqs}
        self.rx_queues = {}


def default_dpl(tenant_icid: int, root_icid: int, child: bool = True) -> list[McObject]:
    """What the board's DPL makes: the root container dprc.1 with the DPMCPs the kernel's
    allocator pools, one more (dpmcp.4) that the harness binds to vfio-fsl-mc to ask the firmware
    about the tenant's objects without going through the container under test, and the objects
    for the tenant: two DPMCPs, a DPIO and a DPDMAI, as a DPDK qDMA application's container holds
    them (two portals because the kernel's own DPIO and qDMA drivers each keep one while bound:
    native.probe). With ``child`` the DPL also puts them in a child container dprc.2; without,
    they stay in dprc.1 and a tool makes the container the way restool does (DPRC_CREATE_CONT,
    DPRC_ASSIGN: _dprc_cmd). Portals: 0 root, 1 the child container, 2.. the DPMCPs."""
    mine = 2 if child else 1
    objects = [
        McObject("dprc", 1, None, irq_count=1, region_count=0, portal=0, icid=root_icid),
        McObject("dpmcp", 1, 1, irq_count=1, region_count=1, portal=2),
        McObject("dpmcp", 2, 1, irq_count=1, region_count=1, portal=3),
        McObject("dpmcp", 4, 1, irq_count=1, region_count=1, portal=5),     # the harness's own portal
        McObject("dpmcp", 3, mine, irq_count=1, region_count=1, portal=4),
        McObject("dpmcp", 5, mine, irq_count=1, region_count=1, portal=6),
        McObject("dpio", 1, mine, irq_count=1, region_count=2),
        McObject("dpdmai", 1, mine, irq_count=1, region_count=0),
    ]
    if child:
        objects.insert(4, McObject("dprc", 2, 1, irq_count=1, region_count=1, portal=1, icid=tenant_icid))
    return objects


CHILD_PORTAL = 1       # the MC portal a created container gets (the DPL's dprc.2 has it)


def _split(name: str) -> tuple[str, int]:
    type_, id_ = name.split(".")
    return type_, int(id_)


class FslMcTwin(Twin):
    name = "fslmc"

    def __init__(self, portal_base: int, ctrl_base: int, *, tenant_icid: int = TENANT_ICID, root_icid: int = ROOT_ICID,
                 reset_honoured: bool = True, reset_closes_handles: bool = True, msi_period_s: float = 0.01,
                 dpdmai_version: str = "2.2", dma_window: tuple[int, int] | None = None, job_period_s: float = 0.01,
                 dpl_child: bool = True):
        self.portal_base = portal_base
        self.objects = default_dpl(tenant_icid, root_icid, child=dpl_child)
        self.tenant_icid = tenant_icid
        self.portals = sorted({CHILD_PORTAL} | {o.portal for o in self.objects if o.portal is not None})
        self.windows = {"ctrl": (ctrl_base, 0x40)}
        self.windows.update({f"portal{p}": (portal_base + p * PORTAL_SIZE, PORTAL_CMD) for p in self.portals})
        # The data path (harness/twins/qdma.py): each DPIO's enqueue ring and consumer index, each
        # DPDMAI's request queue and engine, which DMAs only inside ``dma_window`` (phys, size).
        self.eqcrs: dict[str, Eqcr] = {}
        for o in self.objects:
            if o.type == "dpio":
                cena = portal_base + QBMAN_OFFSET + (o.id - 1) * PORTAL_SIZE
                self.windows[f"{o.name}.eqcr"] = (cena, EQCR_ENTRIES * EQCR_ENTRY)
                self.windows[f"{o.name}.eqcr_ci"] = (cena + QBMAN_SIZE // 2 + EQCR_CI, 4)
                self.windows[f"{o.name}.eqcr_pi"] = (cena + QBMAN_SIZE // 2 + EQCR_PI, 4)
                self.eqcrs[o.name] = Eqcr(f"{o.name}.eqcr", f"{o.name}.eqcr_ci", f"{o.name}.eqcr_pi")
        self.queues = {o.name: QdmaQueue(o.name, dma_window, job_period_s)
                       for o in self.objects if o.type == "dpdmai" and dma_window}
        self.reset_honoured, self.reset_closes_handles = reset_honoured, reset_closes_handles
        try:
            major, minor = (int(x) for x in str(dpdmai_version).split("."))
        except ValueError:
            raise ValueError(f"dpdmai_version must be MAJOR.MINOR, not {dpdmai_version!r}") from None
        self.dpdmai_version = (major, minor)
        self.tokens: dict[int, dict[int, McObject]] = {p: {} for p in self.portals}   # portal -> token -> object
        self._next_token = 1
        self._pending: set[int] = set()
        self.resets: list[dict] = []     # every reset command, as logged (the suite's evidence)
        self.commands: deque[str] = deque(maxlen=10_000)   # "what object vN -> status", newest last
        self.commands_total = 0                            # ... and how many there were, ever
        # A DPDMAI that is enabled with its IRQ 0 enabled and an MSI address programmed sends an MSI
        # every msi_period_s, as if its queues were kept full of copy jobs (they are not modelled yet).
        self.msi_period_s = msi_period_s
        self._next_msi: dict[str, float] = {}
        for o in self.objects:
            o.irqs = {i: Irq() for i in range(o.irq_count)}

    def attach(self, engine) -> None:
        super().attach(engine)
        engine.set_reg("ctrl", CTRL_GSR, GSR_BOOT_DONE)     # the DPL is applied: the bus may probe
        for ring in self.eqcrs.values():
            ring.publish(engine)

    # -- the object model
    def find(self, type_: str, id_: int) -> McObject | None:
        return next((o for o in self.objects if o.type == type_ and o.id == id_), None)

    def container_of_portal(self, portal: int) -> McObject | None:
        owner = next((o for o in self.objects if o.portal == portal), None)
        if owner is None:
            return None                    # a portal no container holds (yet): nothing answers there
        return owner if owner.type == "dprc" else self.find("dprc", owner.container)

    def icid_of(self, obj: McObject) -> int:
        """The isolation context an object's DMA and MSIs carry: its container's ICID (a DPRC's
        own). Behind an SMMU it is the stream ID (iommu-map), as the kernel's fsl-mc bus assumes:
        fsl_mc_device_add() gives every object its parent container's icid."""
        dprc = obj if obj.type == "dprc" else self.find("dprc", obj.container)
        return dprc.icid

    def children(self, dprc: McObject) -> list[McObject]:
        return [o for o in self.objects if o.container == dprc.id and o is not dprc]

    def _descends(self, obj: McObject, dprc: McObject) -> bool:
        """Whether ``obj`` is ``dprc`` or sits in it or in a container below it."""
        while obj is not None:
            if obj is dprc:
                return True
            obj = self.find("dprc", obj.container) if obj.container is not None else None
        return False

    # -- the portals
    def on_write(self, window: str, offset: int, old: int, new: int) -> None:
        if window.startswith("portal") and offset in (0, 4):
            self._pending.add(int(window[6:]))
        elif window == "ctrl" and offset == CTRL_GSR:
            self.engine.set_reg("ctrl", CTRL_GSR, old)          # read-only

    def tick(self, now: float) -> None:
        self._send_msis(now)
        self._data_path(now)
        if self.engine.reg("ctrl", CTRL_GCR1) & GCR1_STOP:
            return                                                # the MC is paused: commands wait
        for portal in sorted(self._pending):
            window = f"portal{portal}"
            raw = bytes(self.engine.shadow[window][:PORTAL_CMD])
            if raw[2] != STATUS_READY:
                continue
            self._pending.discard(portal)
            header = bytearray(raw[:8])
            params = list(struct.unpack_from("<7Q", raw, 8))
            token, cmd_id = struct.unpack_from("<HH", raw, 4)
            status, out, new_token = self._execute(portal, token, cmd_id, params)
            header[2] = status
            if new_token is not None:
                struct.pack_into("<H", header, 4, new_token)
            body = struct.pack("<7Q", *(out + [0] * (7 - len(out)))) if status == STATUS_OK else raw[8:]
            self.engine.set_bytes(window, 8, body)
            self.engine.set_bytes(window, 0, bytes(header))

    def _data_path(self, now: float) -> None:
        """Frames enqueued through an enabled DPIO go to the DPDMAI whose request queue they name
        (if it is enabled: else they are dropped, as QMan rejects an enqueue to a disabled
        object's queue); every enabled DPDMAI runs its backlog."""
        for name, ring in self.eqcrs.items():
            dpio = self.find(*_split(name))
            if not dpio.enabled:
                continue
            for fqid, fd in ring.take(self.engine):
                target = next((o for o in self.objects if o.type == "dpdmai" and o.name in self.queues and
                               fqid in (self.fqid(o, p, rx=False) for p in range(DPDMAI_PRIORITIES))), None)
                if target is None or not target.enabled:
                    self.engine.log.add("eqcr", via=name, fqid=hex(fqid), dropped="no enabled DPDMAI has this queue")
                    continue
                self.queues[target.name].enqueue(self.engine, fd)
        for name, queue in self.queues.items():
            dpdmai = self.find(*_split(name))
            if dpdmai.enabled:
                queue.run(self.engine, now, self.icid_of(dpdmai))

    def _reset_object(self, o: McObject) -> list[str]:
        """An object back to its initial state; a DPDMAI's queued jobs are dropped with it (the
        firmware's reset of a DPDMAI is assumed to empty its queues: README approximation 13)."""
        o.reset()
        queue = self.queues.get(o.name)
        dropped = queue.drop_all() if queue else 0
        return [f"{o.name}: {dropped} queued jobs dropped"] if dropped else []

    def _send_msis(self, now: float) -> None:
        """The MSIs of every running DPDMAI: a write of the programmed data to the programmed
        address (the GIC ITS's GITS_TRANSLATER; a qtest write carries DeviceID 0, the tenant
        container's ICID through msi-map)."""
        for o in self.objects:
            irq = o.irqs.get(0)
            if o.type != "dpdmai" or not (o.enabled and irq and irq.enable and irq.addr):
                self._next_msi.pop(o.name, None)
                continue
            due = self._next_msi.setdefault(o.name, now + self.msi_period_s)
            if now >= due:
                self._next_msi[o.name] = now + self.msi_period_s
                irq.status |= 1
                self.engine.msi_write(irq.addr, irq.val, f"{o.name} IRQ 0", self.icid_of(o))

    def _execute(self, portal: int, token: int, cmd_id: int, p: list[int]):
        """(status, response params, new token or None) for one command; logged."""
        cid, ver = cmd_id >> 4, cmd_id & 0xf
        obj = self.tokens[portal].get(token)
        what = OPEN_IDS.get(cid) and f"open {OPEN_IDS[cid]}" or CMD_NAMES.get(cid) or \
            (cid in API_IDS and f"get_api_version {API_IDS[cid]}") or f"unknown 0x{cid:03x}"
        status, out, new_token, note = self._dispatch(portal, token, obj, cid, ver, p)
        self.engine.log.add("mc_cmd", portal=portal, cmd=what, id=hex(cid), ver=ver, token=token,
                            obj=obj.name if obj else None, status=status, **note)
        self.commands.append(f"{what}{' ' + obj.name if obj else ''} v{ver} -> {status}")
        self.commands_total += 1
        return status, out, new_token

    def _dispatch(self, portal, token, obj, cid, ver, p):
        me = self.container_of_portal(portal)
        if me is None:
            return STATUS_NO_PRIVILEGE, [], None, {"why": "no container holds this portal"}
        if cid == 0x831:                                                  # DPMNG get_version
            major, minor, rev = MC_VERSION
            return STATUS_OK, [rev | major << 32, minor], None, {}
        if cid == 0x830:                                                  # DPRC get_container_id
            return STATUS_OK, [me.id], None, {}
        if cid in API_IDS:
            major, minor = API_VERSIONS.get(API_IDS[cid], (1, 0))
            return STATUS_OK, [major | minor << 16], None, {}
        if cid in OPEN_IDS:
            target = self.find(OPEN_IDS[cid], p[0] & 0xffffffff)
            if target is None or not self._descends(target, me):
                return STATUS_CONFIG_ERR, [], None, {"open": f"{OPEN_IDS[cid]}.{p[0] & 0xffffffff}"}
            if target in self.tokens[portal].values():   # "no more than one active open ... using the same MC portal"
                return STATUS_BUSY, [], None, {"open": target.name}
            new = self._next_token
            self._next_token = self._next_token % 0xfffe + 1
            self.tokens[portal][new] = target
            return STATUS_OK, [], new, {"open": target.name, "new_token": new}
        if obj is None:
            return STATUS_INVALID_STATE, [], None, {"why": "no such token on this portal"}
        if cid == 0x800:
            del self.tokens[portal][token]
            return STATUS_OK, [], None, {}
        if cid == 0x002 or cid == 0x003:
            obj.enabled = cid == 0x002
            return STATUS_OK, [], None, {}
        if cid == 0x006:
            return STATUS_OK, [int(obj.enabled)], None, {}
        if cid == 0x005:
            return self._reset(portal, token, obj, ver, p)
        if cid in (0x010, 0x012, 0x014, 0x016, 0x017, 0x011, 0x013, 0x015):
            return self._irq_cmd(obj, cid, p)
        if obj.type == "dprc":
            return self._dprc_cmd(obj, cid, ver, p)
        if obj.type == "dpio":
            return self._dpio_cmd(obj, cid, p)
        if obj.type == "dpdmai":
            return self._dpdmai_cmd(obj, cid, ver, p)
        return STATUS_UNSUPPORTED, [], None, {}

    def _dpio_cmd(self, dpio, cid, p):
        if cid == 0x004:           # get_attributes (struct dpio_rsp_get_attr, drivers/soc/fsl/dpio/dpio-cmd.h)
            portal = dpio.id - 1
            word0 = dpio.id | portal << 32 | DPIO_PRIORITIES << 48 | DPIO_LOCAL_CHANNEL << 56
            return STATUS_OK, [word0, portal * PORTAL_SIZE, QBMAN_SIZE // 2 + portal * PORTAL_SIZE,
                               QBMAN_VERSION, QBMAN_CLK_HZ], None, {}
        if cid == 0x120:           # set_stashing_destination: a cache hint, nothing to model
            return STATUS_OK, [], None, {"sdest": p[0] & 0xff}
        return STATUS_UNSUPPORTED, [], None, {}

    def _dpdmai_cmd(self, dpdmai, cid, ver, p):
        """The DPDMAI's attributes and queues (drivers/dma/fsl-dpaa2-qdma/dpdmai.c): each priority
        has a TX (request) and an RX (completion) frame queue; set_rx_queue says where completions
        are notified (a DPIO) with which context. Queue commands v1 (6.1) and v2 (6.10+, with a
        queue index in byte 7) share one layout; only queue 0 exists here."""
        if cid == 0x004:           # get_attributes: id, priorities, queues; the object version
            major, minor = self.dpdmai_version
            return STATUS_OK, [dpdmai.id | DPDMAI_PRIORITIES << 32 | 1 << 40 | major << 48, minor], None, {}
        prio = (p[0] >> 40) & 0xff
        if cid in (0x1a0, 0x1a1, 0x1a2) and prio >= DPDMAI_PRIORITIES:
            return STATUS_CONFIG_ERR, [], None, {"priority": prio}
        if cid == 0x1a0:           # set_rx_queue
            options = p[2] & 0xffffffff
            q = dpdmai.rx_queues.setdefault(prio, {"dest_type": 0, "dest_id": 0, "dest_priority": 0, "user_ctx": 0})
            if options & 0x2:      # DPDMAI_QUEUE_OPT_DEST
                q.update(dest_id=p[0] & 0xffffffff, dest_priority=(p[0] >> 32) & 0xff, dest_type=(p[0] >> 48) & 0xf)
            if options & 0x1:      # DPDMAI_QUEUE_OPT_USER_CTX
                q["user_ctx"] = p[1]
            return STATUS_OK, [], None, {"priority": prio, **{k: hex(v) for k, v in q.items()}}
        if cid == 0x1a1:           # get_rx_queue
            q = dpdmai.rx_queues.get(prio, {"dest_type": 0, "dest_id": 0, "dest_priority": 0, "user_ctx": 0})
            word0 = q["dest_id"] | q["dest_priority"] << 32 | prio << 40 | q["dest_type"] << 48
            return STATUS_OK, [word0, q["user_ctx"], self.fqid(dpdmai, prio, rx=True)], None, {"priority": prio}
        if cid == 0x1a2:           # get_tx_queue
            return STATUS_OK, [0, self.fqid(dpdmai, prio, rx=False)], None, {"priority": prio}
        return STATUS_UNSUPPORTED, [], None, {}

    @staticmethod
    def fqid(obj: McObject, prio: int, rx: bool) -> int:
        """The frame queue ids the firmware gave the object's queues (any unique numbers do)."""
        return 0x100 + obj.id * 0x10 + prio * 2 + int(rx)

    def _irq_cmd(self, obj, cid, p):
        index = (p[0] >> 32) & 0xff            # every IRQ command has irq_index in byte 4 of word 0
        irq = obj.irqs.get(index)
        if irq is None:
            return STATUS_CONFIG_ERR, [], None, {"irq": index}
        if cid == 0x010:
            irq.val, irq.addr, irq.num = p[0] & 0xffffffff, p[1], p[2] & 0xffffffff
            return STATUS_OK, [], None, {"irq": index, "addr": hex(irq.addr), "val": irq.val}
        if cid == 0x012:
            irq.enable = p[0] & 0x1
            return STATUS_OK, [], None, {"irq": index, "enable": irq.enable}
        if cid == 0x014:
            irq.mask = p[0] & 0xffffffff
            return STATUS_OK, [], None, {"irq": index, "mask": hex(irq.mask)}
        if cid == 0x016:
            return STATUS_OK, [irq.status], None, {"irq": index}
        if cid == 0x017:
            irq.status &= ~(p[0] & 0xffffffff)
            return STATUS_OK, [], None, {"irq": index}
        if cid == 0x011:
            return STATUS_OK, [irq.val, irq.addr, irq.num], None, {"irq": index}
        if cid == 0x013:
            return STATUS_OK, [irq.enable], None, {"irq": index}
        return STATUS_OK, [irq.mask], None, {"irq": index}

    def _dprc_cmd(self, dprc, cid, ver, p):
        kids = self.children(dprc)
        if cid == 0x004:                                                  # get_attributes
            return STATUS_OK, [dprc.id | dprc.icid << 32, dprc.portal << 32], None, {}
        if cid == 0x159:                                                  # get_obj_count
            return STATUS_OK, [len(kids) << 32], None, {}
        if cid == 0x15a:                                                  # get_obj
            i = p[0] & 0xffffffff
            if i >= len(kids):
                return STATUS_CONFIG_ERR, [], None, {"index": i}
            o = kids[i]
            major, minor = API_VERSIONS.get(o.type, (1, 0))
            t = o.type.encode().ljust(16, b"\0")
            return STATUS_OK, [o.id << 32, VENDOR_FREESCALE | o.irq_count << 16 | o.region_count << 24
                               | STATE_PLUGGED << 32, major | minor << 16,
                               *struct.unpack("<2Q", t), 0, 0], None, {"object": o.name}
        if cid == 0x15e:                                                  # get_obj_region (v1-v3)
            type_ = struct.pack("<2Q", p[3], p[4]).split(b"\0")[0].decode(errors="replace")
            o = self.find(type_, p[0] & 0xffffffff)
            index = (p[0] >> 48) & 0xff
            if o is None or o not in kids or index >= o.region_count:
                return STATUS_CONFIG_ERR, [], None, {"region": f"{type_}.{p[0] & 0xffffffff}[{index}]"}
            if o.type == "dpio":
                # QBMan software portal: region 0 cache-enabled (CENA), region 1 cache-inhibited
                # (CINH), each 64 KiB on API >= 6.6; portal n's halves at n * 64 KiB of each half
                # of the QBMan range.
                offset = index * (QBMAN_SIZE // 2) + (o.id - 1) * PORTAL_SIZE
                size = PORTAL_SIZE if ver >= 3 else 0x1000
                base_addr = self.portal_base + QBMAN_OFFSET if ver >= 2 else 0
                flags = REGION_CACHEABLE | REGION_SHAREABLE if index == 0 else 0
                return STATUS_OK, [0, offset, size | 1 << 32, flags, base_addr], None, {"region": f"{o.name}[{index}]"}
            if o.portal is None:
                return STATUS_CONFIG_ERR, [], None, {"region": f"{o.name}[{index}]", "why": "no region"}
            size = PORTAL_SIZE if ver >= 3 else PORTAL_CMD
            base_addr = self.portal_base if ver >= 2 else 0
            return STATUS_OK, [0, o.portal * PORTAL_SIZE, size, 0, base_addr], None, {"region": o.name}
        if cid == 0x15f:                                                  # set_obj_irq
            type_ = struct.pack("<2Q", p[3], p[4]).split(b"\0")[0].decode(errors="replace")
            o = self.find(type_, p[2] >> 32)
            index = (p[0] >> 32) & 0xff
            if o is None or o not in kids or index not in o.irqs:
                return STATUS_CONFIG_ERR, [], None, {"object": f"{type_}.{p[2] >> 32}"}
            irq = o.irqs[index]
            irq.val, irq.addr, irq.num = p[0] & 0xffffffff, p[1], p[2] & 0xffffffff
            return STATUS_OK, [], None, {"object": o.name, "irq": index, "addr": hex(irq.addr)}
        if cid in (0x151, 0x152, 0x157, 0x158):
            return self._restool_cmd(dprc, cid, p)
        if cid == 0x16c:                                                  # get_connection: nothing connected
            return STATUS_CONFIG_ERR, [], None, {}
        return STATUS_UNSUPPORTED, [], None, {}

    def _restool_cmd(self, dprc, cid, p):
        """What restool sends through the root container's uapi (/dev/dprc.1; the kernel's whitelist
        in drivers/bus/fsl-mc/fsl-mc-uapi.c): create and destroy a child container, assign objects to
        it and take them back. Layouts as NXP's fsl_dprc_cmd.h (U-Boot, restool): create_container
        (options, icid, pad, portal_id, label) answers (pad, child id, child portal address);
        assign/unassign (container id, options, num, id_base_align, type[16]) with the explicit-id
        option. The ICID and portal come from the pool: the tenant's (msi-map maps it) and
        CHILD_PORTAL; one child container at a time here."""
        if cid == 0x151:                                                  # create_container
            if any(o.portal == CHILD_PORTAL for o in self.objects):
                return STATUS_CONFIG_ERR, [], None, {"why": "no free portal or ICID in the pool"}
            new = McObject("dprc", max(o.id for o in self.objects if o.type == "dprc") + 1, dprc.id,
                           irq_count=1, region_count=1, portal=CHILD_PORTAL, icid=self.tenant_icid)
            new.irqs = {0: Irq()}
            self.objects.append(new)
            self.tokens.setdefault(CHILD_PORTAL, {})
            return STATUS_OK, [0, new.id, CHILD_PORTAL * PORTAL_SIZE], None, {
                "created": new.name, "options": hex(p[0] & 0xffffffff), "icid": hex(new.icid)}
        child = self.find("dprc", p[0] & 0xffffffff)
        if child is None or child.container != dprc.id:
            return STATUS_CONFIG_ERR, [], None, {"container": f"dprc.{p[0] & 0xffffffff}", "why": "not a child"}
        if cid == 0x152:                                                  # destroy_container: objects go back
            for o in self.children(child):
                o.container = dprc.id
            self.objects.remove(child)
            self.tokens[CHILD_PORTAL] = {}
            return STATUS_OK, [], None, {"destroyed": child.name}
        num, base = p[1] & 0xffffffff, p[1] >> 32
        type_ = struct.pack("<2Q", p[2], p[3]).split(b"\0")[0].decode(errors="replace")
        src, dst = (dprc, child) if cid == 0x157 else (child, dprc)
        moving = [self.find(type_, i) for i in range(base, base + num)]
        if not num or any(o is None or o.container != src.id or o.type == "dprc" for o in moving):
            return STATUS_CONFIG_ERR, [], None, {"objects": f"{type_}.{base}+{num}", "from": src.name}
        for o in moving:
            o.container = dst.id
        return STATUS_OK, [], None, {"moved": [o.name for o in moving], "to": dst.name}

    def _reset(self, portal, token, obj, ver, p):
        if obj.type != "dprc":
            notes = self._reset_object(obj) if self.reset_honoured else []
            self._log_reset(what=f"{obj.name} reset", honoured=self.reset_honoured, touched=notes)
            return STATUS_OK, [], None, {"reset": obj.name}
        child = self.find("dprc", p[0] & 0xffffffff)
        options = (p[0] >> 32) if ver >= 2 else 0
        if child is None or not self._descends(child, obj):
            return STATUS_CONFIG_ERR, [], None, {"reset": f"dprc.{p[0] & 0xffffffff}"}
        recursive = not options & RESET_NON_RECURSIVE
        touched = []
        if self.reset_honoured:
            targets = [o for o in self.objects if o is not child and
                       (o.container == child.id or recursive and self._descends(o, child))]
            for o in targets:
                touched += [o.name, *self._reset_object(o)]
            if self.reset_closes_handles:
                owned = {o.portal for o in self.objects if o.portal is not None and self._descends(o, child)}
                for q in owned:
                    for t, o in list(self.tokens[q].items()):
                        if (q, t) == (portal, token):
                            continue              # the handle the reset came through
                        del self.tokens[q][t]
                        touched.append(f"closed {o.name} (portal {q} token {t})")
        self._log_reset(what=f"container {child.name} reset", via=obj.name, cmd_version=ver, options=options,
                        non_recursive=not recursive, honoured=self.reset_honoured, touched=touched)
        return STATUS_OK, [], None, {"reset": child.name, "options": options}

    def _log_reset(self, **fields) -> None:
        self.resets.append(fields)
        self.engine.log.add("reset", **fields)

    # -- for the suite: the state the tenant's objects are left in
    def state(self) -> dict:
        return {o.name: {"enabled": o.enabled, "container": o.container,
                         "irqs": {i: attrs.asdict(q) for i, q in o.irqs.items()},
                         "open_handles": sum(1 for t in self.tokens.values() for x in t.values() if x is o)}
                for o in self.objects}
