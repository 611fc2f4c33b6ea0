"""The NXP Management Complex twin on a real QEMU virt (no kernel; this test plays the kernel's
mc_send_command() through the twin's qtest socket): commands and their versions, the paused MC,
opens through a container's portal, and what a container reset does under each policy."""

import struct
import time

import pytest

from harness.twins import fslmc
from harness.twins.fslmc import FslMcTwin

from .twin_rig import guest, virt_twin, wait_for

pytestmark = pytest.mark.integration
BASE = 0x50000000
ROOT, CHILD, TENANT_DPMCP = 0, 1, 4          # portals: the root DPRC, dprc.2, dprc.2's dpmcp.3


def send(engine, portal: int, cmd: int, ver: int = 1, token: int = 0, params=(), deadline_s: float = 2.0):
    """One MC command as mc_send_command() sends it: parameters, then the header with status
    READY; polls the status. Returns (status, token, params)."""
    addr = BASE + portal * fslmc.PORTAL_SIZE
    words = list(params) + [0] * (7 - len(params))
    header = struct.pack("<BBBBHH", 0, 0, fslmc.STATUS_READY, 0, token, cmd << 4 | ver)
    guest(engine, lambda q: (q.write(addr + 8, struct.pack("<7Q", *words)), q.write(addr, header)))
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        raw = guest(engine, lambda q: q.read(addr, 64))
        if raw[2] != fslmc.STATUS_READY:
            return raw[2], struct.unpack_from("<H", raw, 4)[0], list(struct.unpack_from("<7Q", raw, 8))
        time.sleep(0.0005)
    raise AssertionError(f"MC command 0x{cmd:03x} on portal {portal} not answered within {deadline_s} s")


def open_obj(engine, portal, type_, id_):
    open_id = next(k for k, v in fslmc.OPEN_IDS.items() if v == type_)
    status, token, _ = send(engine, portal, open_id, params=[id_])
    assert status == fslmc.STATUS_OK, f"open {type_}.{id_} on portal {portal}: status {status}"
    return token


@pytest.fixture
def mc(request):
    policy = getattr(request, "param", {})
    twin = FslMcTwin(BASE, BASE + fslmc.CTRL_OFFSET, **policy)
    with virt_twin(twin, gic=False) as (engine, _):
        yield engine


def test_boot_done_versions_and_the_container_of_each_portal(mc):
    assert guest(mc, lambda q: q.readl(BASE + fslmc.CTRL_OFFSET + fslmc.CTRL_GSR)) & fslmc.GSR_BOOT_DONE
    status, _, p = send(mc, ROOT, 0x831)
    assert status == 0 and (p[0] >> 32, p[1] & 0xffffffff) == fslmc.MC_VERSION[:2]
    assert send(mc, ROOT, 0x830)[2][0] & 0xffffffff == 1
    assert send(mc, CHILD, 0x830)[2][0] & 0xffffffff == 2
    assert send(mc, ROOT, 0xa05)[2][0] & 0xffffffff == 6 | 6 << 16          # DPRC API 6.6


def test_a_paused_mc_answers_nothing_until_resumed(mc):
    """GCR1's stop bits pause the firmware (fsl_mc_bus_probe() clears them, its notifier sets them)."""
    ctrl = BASE + fslmc.CTRL_OFFSET
    guest(mc, lambda q: q.writel(ctrl + fslmc.CTRL_GCR1, fslmc.GCR1_STOP))
    with pytest.raises(AssertionError, match="not answered"):
        send(mc, ROOT, 0x831, deadline_s=0.3)
    guest(mc, lambda q: q.writel(ctrl + fslmc.CTRL_GCR1, 0))
    end = time.monotonic() + 2
    while guest(mc, lambda q: q.read(BASE, 64))[2] == fslmc.STATUS_READY and time.monotonic() < end:
        time.sleep(0.001)
    assert guest(mc, lambda q: q.read(BASE, 64))[2] == fslmc.STATUS_OK


def test_a_portal_opens_only_its_own_containers_objects_once(mc):
    assert send(mc, CHILD, 0x805, params=[1])[0] == fslmc.STATUS_CONFIG_ERR      # dprc.2 cannot open its parent
    token = open_obj(mc, ROOT, "dpdmai", 1)                                      # the root reaches below itself
    assert send(mc, ROOT, 0x80e, params=[1])[0] == fslmc.STATUS_BUSY           # one open per object per portal
    assert send(mc, ROOT, 0x800, token=token)[0] == 0
    assert send(mc, ROOT, 0x800, token=token)[0] == fslmc.STATUS_INVALID_STATE  # a closed token is gone


def _tenant_enables_dpdmai(mc, portal=TENANT_DPMCP) -> int:
    """What the tenant does through its own DPMCP (or the container's portal): open the DPDMAI,
    enable it and its IRQ."""
    token = open_obj(mc, portal, "dpdmai", 1)
    assert send(mc, portal, 0x002, token=token)[0] == 0
    assert send(mc, portal, 0x012, token=token, params=[1])[0] == 0
    assert send(mc, portal, 0x006, token=token)[2][0] == 1
    return token


def test_a_handle_the_tenant_opened_through_the_containers_own_portal_is_closed_too(mc):
    token = _tenant_enables_dpdmai(mc, CHILD)
    child = open_obj(mc, CHILD, "dprc", 2)
    assert send(mc, CHILD, 0x005, ver=2, token=child, params=[2 | 1 << 32])[0] == 0
    assert send(mc, CHILD, 0x006, token=token)[0] == fslmc.STATUS_INVALID_STATE
    assert not mc.twin.state()["dpdmai.1"]["enabled"]


@pytest.mark.parametrize("ver,options,dpmcp_reset", [(2, fslmc.RESET_NON_RECURSIVE, True), (1, 0, True)])
def test_container_reset_returns_objects_to_their_initial_state_and_closes_the_tenants_handles(
        mc, ver, options, dpmcp_reset):
    token = _tenant_enables_dpdmai(mc)
    child = open_obj(mc, CHILD, "dprc", 2)                 # as vfio-fsl-mc: the container's own token
    assert send(mc, CHILD, 0x005, ver=ver, token=child, params=[2 | options << 32])[0] == 0
    state = mc.twin.state()["dpdmai.1"]
    assert not state["enabled"] and state["irqs"][0]["enable"] == 0
    assert send(mc, TENANT_DPMCP, 0x006, token=token)[0] == fslmc.STATUS_INVALID_STATE   # the handle was closed
    assert send(mc, CHILD, 0x800, token=child)[0] == 0    # the issuer's own handle stays open
    resets = mc.twin.resets
    assert resets[-1]["non_recursive"] == bool(options) and resets[-1]["cmd_version"] == ver


@pytest.mark.parametrize("mc", [{"reset_honoured": False}], indirect=True)
def test_the_null_reset_policy_changes_nothing(mc):
    token = _tenant_enables_dpdmai(mc)
    child = open_obj(mc, CHILD, "dprc", 2)
    assert send(mc, CHILD, 0x005, ver=2, token=child, params=[2 | 1 << 32])[0] == 0
    assert mc.twin.state()["dpdmai.1"]["enabled"]
    assert send(mc, TENANT_DPMCP, 0x006, token=token)[2][0] == 1


def test_an_unknown_command_is_unsupported_not_ok(mc):
    token = open_obj(mc, ROOT, "dprc", 1)
    assert send(mc, ROOT, 0x3ff, token=token)[0] == fslmc.STATUS_UNSUPPORTED



MSI_AT = BASE + 0x300000          # an MSI "address" in RAM, so the test can see the writes


def _program_msi(mc, portal=ROOT):
    """What vfio-fsl-mc does when the tenant sets an eventfd: DPRC_SET_OBJ_IRQ through the container."""
    root = open_obj(mc, portal, "dprc", 2 if portal == CHILD else 1)
    obj_type = struct.unpack("<2Q", b"dpdmai".ljust(16, b"\0"))
    assert send(mc, portal, 0x15f, token=root, params=[0xbeef, MSI_AT, 1 << 32 | 7, *obj_type])[0] == 0
    return root


def _msis_in(mc, seconds):
    start = time.monotonic()
    time.sleep(seconds)
    return mc.msis_between(start, time.monotonic())


def test_a_running_dpdmai_sends_its_msis_until_the_container_is_reset(mc):
    child = _program_msi(mc, CHILD)
    assert _msis_in(mc, 0.1) == 0                       # programmed, not enabled: silent
    _tenant_enables_dpdmai(mc)
    assert _msis_in(mc, 0.2) > 5
    assert guest(mc, lambda q: q.readl(MSI_AT)) == 0xbeef
    assert send(mc, CHILD, 0x005, ver=2, token=child, params=[2 | 1 << 32])[0] == 0
    time.sleep(0.05)
    assert _msis_in(mc, 0.2) == 0


@pytest.mark.parametrize("mc", [{"reset_honoured": False}], indirect=True)
def test_under_the_null_reset_the_msis_go_on(mc):
    child = _program_msi(mc, CHILD)
    _tenant_enables_dpdmai(mc)
    assert send(mc, CHILD, 0x005, ver=2, token=child, params=[2 | 1 << 32])[0] == 0
    assert _msis_in(mc, 0.2) > 5


# -- the data path: qDMA copy jobs enqueued through the DPIO's QBMan portal (harness/twins/qdma.py)
WINDOW = (BASE + 0x400000, 0x100000)
CENA = BASE + fslmc.QBMAN_OFFSET                       # dpio.1: QBMan portal 0
EQCR_CI = CENA + fslmc.QBMAN_SIZE // 2 + 0x840


@pytest.fixture
def dma(request):
    policy = getattr(request, "param", {})
    twin = FslMcTwin(BASE, BASE + fslmc.CTRL_OFFSET, dma_window=WINDOW, job_period_s=0.005, **policy)
    with virt_twin(twin, gic=False) as (engine, _):
        yield engine


def _fd(fl_addr: int) -> bytes:
    return struct.pack("<QIHHIIQ", fl_addr, 1024, 0, 1 << 12, 0, 0, 0)      # format 1: a frame list


def _job(mc, n: int, pi: int, fqid: int, src: int, dst: int, size: int = 256) -> None:
    """Job n as a tenant writes it: the frame list in the window, then the EQCR entry at pi
    (bytes 1..63 first, the verb with the lap's valid bit last)."""
    fl = WINDOW[0] + 0x80000 + n * 128
    entries = struct.pack("<QIHHIIQ", fl + 96, 32, 0, 0, 0, 0, 0) + struct.pack("<QIHHIIQ", src, size, 0, 0, 0, 0, 0) \
        + struct.pack("<QIHHIIQ", dst, size, 0, 1 << 15, 0, 0, 0)
    slot, vb = pi % 8, 0 if pi & 8 else 0x80
    body = bytes(8) + struct.pack("<I", fqid) + bytes(20) + _fd(fl)
    guest(mc, lambda q: (q.write(fl, entries), q.write(CENA + slot * 64 + 1, body[1:]),
                         q.write(CENA + slot * 64, bytes([0x01 | vb]))))


def _arm_qdma(mc) -> tuple[int, int]:
    """The tenant's MC side: DPIO and DPDMAI enabled through its DPMCP; returns (dpdmai token, TX FQID)."""
    dpio = open_obj(mc, TENANT_DPMCP, "dpio", 1)
    assert send(mc, TENANT_DPMCP, 0x002, token=dpio)[0] == 0
    token = _tenant_enables_dpdmai(mc)
    status, _, p = send(mc, TENANT_DPMCP, 0x1a2, ver=2, token=token, params=[0])
    assert status == 0
    return token, p[1] & 0xffffffff


def test_copy_jobs_enqueued_through_the_dpio_run_in_order_and_the_ring_advances(dma):
    _, fqid = _arm_qdma(dma)
    src, dst = WINDOW[0] + 0x90000, WINDOW[0]
    guest(dma, lambda q: q.write(src, bytes(range(256))))
    for n in range(10):                     # more than the ring holds: wraps, and the valid bit flips
        wait_for(dma, lambda q, n=n: (n - q.readl(EQCR_CI)) % 16 < 8)
        _job(dma, n, n % 16, fqid, src, dst + n * 256)
    wait_for(dma, lambda q: q.read(dst + 9 * 256, 256) == bytes(range(256)))
    assert guest(dma, lambda q: q.readl(EQCR_CI)) == 10
    assert dma.twin.queues["dpdmai.1"].done == 10


def test_a_container_reset_drops_the_backlog_and_the_null_reset_does_not(dma):
    _, fqid = _arm_qdma(dma)
    dma.twin.queues["dpdmai.1"].job_period_s = 0.05
    src, dst = WINDOW[0] + 0x90000, WINDOW[0]
    for n in range(6):
        _job(dma, n, n, fqid, src, dst + n * 256)
    wait_for(dma, lambda q: q.readl(EQCR_CI) == 6)
    child = open_obj(dma, CHILD, "dprc", 2)
    assert send(dma, CHILD, 0x005, ver=2, token=child, params=[2 | 1 << 32])[0] == 0
    assert not dma.twin.queues["dpdmai.1"].frames
    assert any("queued jobs dropped" in t for r in dma.twin.resets for t in r["touched"]), dma.twin.resets
    start = time.monotonic()
    time.sleep(0.2)
    assert dma.dma_reads_between(start, time.monotonic()) == 0


@pytest.mark.parametrize("dma", [{"reset_honoured": False}], indirect=True)
def test_under_the_null_reset_queued_jobs_keep_copying(dma):
    _, fqid = _arm_qdma(dma)
    dma.twin.queues["dpdmai.1"].job_period_s = 0.05
    for n in range(6):
        _job(dma, n, n, fqid, WINDOW[0] + 0x90000, WINDOW[0] + n * 256)
    wait_for(dma, lambda q: q.readl(EQCR_CI) == 6)
    child = open_obj(dma, CHILD, "dprc", 2)
    assert send(dma, CHILD, 0x005, ver=2, token=child, params=[2 | 1 << 32])[0] == 0
    start = time.monotonic()
    time.sleep(0.2)
    assert dma.dma_reads_between(start, time.monotonic()) >= 2


def test_a_job_outside_the_dma_window_is_never_run(dma):
    _, fqid = _arm_qdma(dma)
    _job(dma, 0, 0, fqid, WINDOW[0] + 0x90000, WINDOW[0] - 0x1000)
    wait_for(dma, lambda q: q.readl(EQCR_CI) == 1)
    time.sleep(0.05)
    assert dma.twin.queues["dpdmai.1"].done == 0


# -- the restool path: no child container in the DPL; a tool creates it through the root's portal
def _type(name: str) -> tuple[int, int]:
    return struct.unpack("<2Q", name.encode().ljust(16, b"\0"))


@pytest.mark.parametrize("mc", [{"dpl_child": False}], indirect=True)
def test_a_container_made_as_restool_makes_it_holds_what_was_assigned_and_gives_it_back(mc):
    assert mc.twin.find("dprc", 2) is None and mc.twin.find("dpdmai", 1).container == 1
    assert send(mc, CHILD, 0x830)[0] == fslmc.STATUS_NO_PRIVILEGE          # nobody holds portal 1 yet
    root = open_obj(mc, ROOT, "dprc", 1)
    status, _, p = send(mc, ROOT, 0x151, token=root, params=[0x7 | 0xffff << 32, 0xffffffff << 32])
    assert status == 0 and p[1] & 0xffffffff == 2 and p[2] == fslmc.CHILD_PORTAL * fslmc.PORTAL_SIZE
    assert send(mc, ROOT, 0x151, token=root, params=[0x7])[0] == fslmc.STATUS_CONFIG_ERR   # one child here
    for name in ("dpmcp.3", "dpio.1", "dpdmai.1"):
        type_, id_ = name.split(".")
        assert send(mc, ROOT, 0x157, token=root, params=[2 | 1 << 32, 1 | int(id_) << 32, *_type(type_)])[0] == 0
    assert send(mc, ROOT, 0x157, token=root, params=[2 | 1 << 32, 1 | 1 << 32, *_type("dpio")])[0] \
        == fslmc.STATUS_CONFIG_ERR                                            # already assigned
    assert send(mc, CHILD, 0x830)[2][0] & 0xffffffff == 2                    # the child answers on its portal
    assert mc.twin.find("dprc", 2).icid == fslmc.TENANT_ICID
    assert {o.name for o in mc.twin.children(mc.twin.find("dprc", 2))} == {"dpmcp.3", "dpio.1", "dpdmai.1"}
    assert send(mc, ROOT, 0x152, token=root, params=[2])[0] == 0
    assert mc.twin.find("dprc", 2) is None and mc.twin.find("dpdmai", 1).container == 1
