"""The twins' plumbing against a real QEMU (arm64 virt, no kernel needed): qtest beside TCG in a
private socket directory, guest memory read and written, a dead QEMU reported as an error in
bounded time; and virt's own device tree extended with pylibfdt, checked by dtc."""

import os
import stat
import subprocess
import time

import libfdt
import pytest

from harness.twins.bare import bare_qtest, bare_virt
from harness.twins.dt import DtBuilder, dump_machine_dtb
from harness.twins.qtest import QtestClient, QtestError

pytestmark = pytest.mark.integration
VIRT = ["-M", "virt", "-cpu", "cortex-a57", "-m", "512"]


@pytest.fixture
def qemu_with_qtest():
    with bare_virt() as (sock, proc):
        yield sock, proc


def test_qtest_reads_and_writes_guest_memory_beside_tcg(qemu_with_qtest):
    sock, _ = qemu_with_qtest
    assert stat.S_IMODE(os.stat(sock.dir).st_mode) == 0o700
    with QtestClient(sock.path) as q:
        q.write(0x40001000, bytes(range(64)))
        assert q.read(0x40001000, 64) == bytes(range(64))
        q.writel(0x40002000, 0xdeadbeef)
        assert q.readl(0x40002000) == 0xdeadbeef


def test_a_dead_qemu_is_an_error_within_the_deadline(qemu_with_qtest):
    sock, proc = qemu_with_qtest
    with QtestClient(sock.path, deadline_s=2) as q:
        q.readl(0x40000000)
        proc.kill()
        proc.wait(timeout=10)
        started = time.monotonic()
        with pytest.raises(QtestError, match="closed the qtest socket|socket broke"):
            q.readl(0x40000000)
        assert time.monotonic() - started < 2.5


# A ROM QEMU cannot find, as on a fresh Debian 12 without ipxe-qemu (efi-virtio.rom): QEMU exits
# at start-up, and the only useful message is QEMU's own.
MISSING_ROM = "virtio-net-pci.romfile=vfio-hil-missing.rom"


def test_a_qemu_that_died_at_start_is_reported_with_its_own_message():
    with bare_virt(("-device", "virtio-net-pci,romfile=vfio-hil-missing.rom")) as (sock, proc):
        started = time.monotonic()
        with pytest.raises(QtestError, match=r'exit status 1; stderr: .*failed to find romfile "vfio-hil-missing.rom"'):
            bare_qtest(sock, proc)
        assert time.monotonic() - started < 5


def test_a_killed_qemu_is_reported_with_its_exit_status(qemu_with_qtest):
    sock, proc = qemu_with_qtest
    with bare_qtest(sock, proc) as q:
        q.readl(0x40000000)
        proc.kill()
        with pytest.raises(QtestError, match="QEMU died during qtest command .*exit status -9"):
            q.readl(0x40000000)


def test_tree_dump_and_bare_virt_need_no_option_rom():
    """Neither needs a NIC: virt's default one would need efi-virtio.rom for nothing."""
    dump_machine_dtb("qemu-system-aarch64", [*VIRT, "-global", MISSING_ROM])
    with bare_virt(("-global", MISSING_ROM)) as (sock, proc):
        with bare_qtest(sock, proc) as q:
            assert q.readl(0x40000000) is not None


def test_no_socket_is_an_error_naming_the_fix(tmp_path):
    with pytest.raises(QtestError, match="-qtest unix:"):
        QtestClient(tmp_path / "none.sock", connect_deadline_s=0.3)


def test_virt_tree_gains_a_twin_node_and_reserved_window(tmp_path):
    b = DtBuilder(dump_machine_dtb("qemu-system-aarch64", VIRT))
    b.reserve("twin", 0x5f000000, 0x1000000)
    b.device("ethernet", ["amd,xgbe-seattle-v1a"], [(0x5f000000 + i * 0x10000, 0x10000) for i in range(5)],
             spis=[100, 101, 102, 103, 104, 105], props={"amd,per-channel-interrupt": True})
    dtb = tmp_path / "t.dtb"
    dtb.write_bytes(b.blob())
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True, text=True,
                         check=True).stdout
    assert "ethernet@5f000000" in dts and 'compatible = "amd,xgbe-seattle-v1a";' in dts
    assert "amd,per-channel-interrupt;" in dts and "no-map;" in dts
    assert "interrupts = <0x00 0x64 0x04 0x00 0x65 0x04" in dts


@pytest.mark.parametrize("kind", ["xgmac", "xgbe", "flexrm"])
def test_each_twin_has_its_socs_shape_in_the_tree(kind, tmp_path):
    from harness.twins.runtime import SHAPES, add_twin_node

    shape = SHAPES[kind]
    b = DtBuilder(dump_machine_dtb("qemu-system-aarch64", VIRT))
    add_twin_node(b, shape, "dut", 0x70000000)
    dtb = tmp_path / "t.dtb"
    dtb.write_bytes(b.blob())
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True, text=True,
                         check=True).stdout
    assert f'compatible = "{shape.compatible[0]}";' in dts     # dtc reads it back
    fdt = libfdt.Fdt(dtb.read_bytes())
    node = fdt.path_offset("/dut@70000000")
    assert len(fdt.getprop(node, "reg")) == 16 * len(shape.regs)          # 2+2 cells per window
    irqs = fdt.getprop(node, "interrupts", libfdt.QUIET_NOTFOUND)
    assert (len(irqs) if isinstance(irqs, libfdt.Property) else 0) == 12 * len(shape.spis)
