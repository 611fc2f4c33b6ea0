"""The VMM the target runs: Debian 12's arm64 QEMU 7.2 (qemu-system-arm: still with vfio-platform,
vfio-amd-xgbe and vfio-calxeda-xgmac, which QEMU 10.2 removed) with every library it needs, from
the private apt directory, never installed: a tarball made once per version, unpacked on the target
under ON_TARGET and run through its own loader (as harness/fidelity/dpdk.py runs DPDK)."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from harness import proc
from harness.kernel.apt import PrivateApt

PACKAGE = "qemu-system-arm"
ON_TARGET = "/opt/vmm"
BINARY = "usr/bin/qemu-system-aarch64"


def version(apt: PrivateApt) -> str:
    out = proc.run(["apt-cache", *apt._options(), "policy", f"{PACKAGE}:arm64"], what="apt-cache policy").stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"the private apt has no candidate for {PACKAGE}:arm64:\n{out}")


def stage(cache: Path) -> Path:
    """A tarball of qemu-system-aarch64 and the arm64 libraries it needs (no firmware, no ROMs:
    the guest is booted with -kernel on virt, which needs none), made once per QEMU version."""
    apt = PrivateApt(cache / "apt" / "userspace-stable-arm64", "stable", ["arm64"])
    apt.update()
    ver = version(apt)
    out = cache / f"vmm-{PACKAGE}-{ver.replace(':', '_')}-arm64.tar.gz"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(prefix="vfio-hil-vmm-") as tmp:
        root = Path(tmp) / "root"
        for deb in apt.download_with_dependencies([PACKAGE], "arm64"):
            proc.run(["dpkg-deb", "-x", str(deb), str(root)], what=f"dpkg-deb -x {deb.name}")
        if not (root / BINARY).exists():
            raise RuntimeError(f"{PACKAGE} {ver} did not unpack {BINARY}")
        tmp_out = out.with_suffix(".tmp")
        with tarfile.open(tmp_out, "w:gz") as tar:
            for sub in (BINARY, "lib", "usr/lib"):
                if (root / sub).exists():
                    tar.add(root / sub, arcname=sub)
        tmp_out.rename(out)
    return out


def command(args: str) -> str:
    """The shell command that runs the bundled QEMU with ``args`` through the bundle's own loader."""
    libs = f"{ON_TARGET}/lib/aarch64-linux-gnu:{ON_TARGET}/usr/lib/aarch64-linux-gnu"
    return f"{ON_TARGET}/lib/ld-linux-aarch64.so.1 --library-path {libs} {ON_TARGET}/{BINARY} {args}"
