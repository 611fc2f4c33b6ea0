"""Debian userspace for a target, never installed: .debs from the private apt unpacked into a
tree, packed once into a tarball in the cache, staged over SSH, and run on the target through the
tree's own loader and libraries (the initramfs's are not touched). Used by the DPDK fidelity
check (harness/fidelity/dpdk.py) and the VMM (harness/vmm/bundle.py)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from harness import proc

TREES = ("lib", "usr/lib")      # where an arm64 .deb puts its loader and libraries


def unpack(debs: list[Path], root: Path) -> None:
    for deb in debs:
        proc.run(["dpkg-deb", "-x", str(deb), str(root)], what=f"dpkg-deb -x {deb.name}")


def pack(root: Path, programs: list[str], out: Path) -> Path:
    """``out``: a tarball of ``programs`` (paths below ``root``) and the tree's libraries, written
    under a temporary name and renamed, so a cache never holds half of one."""
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for sub in (*programs, *TREES):
            if (root / sub).exists():
                tar.add(root / sub, arcname=sub)
    tmp.rename(out)
    return out


def through_loader(on_target: str, program: str) -> str:
    """The command that runs ``program`` (a path below ``on_target``, where the tarball was
    unpacked) with the tarball's own loader and libraries."""
    libs = f"{on_target}/lib/aarch64-linux-gnu:{on_target}/usr/lib/aarch64-linux-gnu"
    return f"{on_target}/lib/ld-linux-aarch64.so.1 --library-path {libs} {on_target}/{program}"
