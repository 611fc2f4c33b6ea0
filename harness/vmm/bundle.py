"""The VMM the target runs: Debian 12's arm64 QEMU 7.2 (qemu-system-arm: still with vfio-platform,
vfio-amd-xgbe and vfio-calxeda-xgmac, which QEMU 10.2 removed) with every library it needs, from
the private apt directory, never installed: a tarball made once per version, unpacked on the target
under ON_TARGET and run through its own loader (as harness/fidelity/dpdk.py runs DPDK)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness import userland
from harness.errors import HostError
from harness.kernel.apt import PrivateApt

PACKAGE = "qemu-system-arm"
ON_TARGET = "/opt/vmm"
BINARY = "usr/bin/qemu-system-aarch64"


def stage(cache: Path) -> Path:
    """A tarball of qemu-system-aarch64 and the arm64 libraries it needs (no firmware, no ROMs:
    the guest is booted with -kernel on virt, which needs none), made once per QEMU version."""
    apt = PrivateApt(cache / "apt" / "userspace-stable-arm64", "stable", ["arm64"])
    apt.update()
    ver = apt.candidate(f"{PACKAGE}:arm64")
    if ver is None:
        raise HostError(f"the private apt ({apt.root}) has no {PACKAGE} for arm64")
    out = cache / f"vmm-{PACKAGE}-{ver.replace(':', '_')}-arm64.tar.gz"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(prefix="vfio-hil-vmm-") as tmp:
        root = Path(tmp) / "root"
        userland.unpack(apt.download_with_dependencies([PACKAGE], "arm64"), root)
        if not (root / BINARY).exists():
            raise HostError(f"{PACKAGE} {ver} did not unpack {BINARY}")
        return userland.pack(root, [BINARY], out)


def command(args: str) -> str:
    """The shell command that runs the bundled QEMU with ``args`` through the bundle's own loader."""
    return f"{userland.through_loader(ON_TARGET, BINARY)} {args}"
