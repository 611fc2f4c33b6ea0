"""Build the target's initramfs from Debian packages of the target architecture.

Packages are downloaded by the private apt and unpacked with ``dpkg-deb -x``
(never installed on the host); the archive is packed by the kernel's own
``usr/gen_init_cpio`` from a list we write, so ownership is root:root whatever
user builds it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
from pathlib import Path

from harness import proc
from harness.targets import TargetProfile

DATA = Path(__file__).parent / "data"
PRUNE = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/locale",
         "usr/share/bug", "usr/lib/locale"]
NULL_RESET_DIR = "lib/vfio-hil/null-reset"


def populate_rootfs(root: Path, debs: list[Path], target: TargetProfile, release: str, modroot: Path,
                    agent: Path, null_resets: dict[str, Path], ssh_pubkey: str, log: Path) -> None:
    for deb in debs:
        proc.run(["dpkg-deb", "-x", str(deb), str(root)], what=f"dpkg-deb -x {deb.name}", log=log)
    for rel in PRUNE:
        shutil.rmtree(root / rel, ignore_errors=True)
    for gconv in root.glob("usr/lib/*/gconv"):
        shutil.rmtree(gconv, ignore_errors=True)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root",
              "lib/modules", "usr/share/udhcpc", "etc/vfio-hil"):
        (root / d).mkdir(parents=True, exist_ok=True)
    if not (root / "bin/busybox").exists():
        raise FileNotFoundError(f"{root}/bin/busybox missing: the busybox-static package did not unpack it")
    # The kernel's usermode helper execs /sbin/modprobe for request_module();
    # it must work before `busybox --install` runs.
    _symlink(root / "sbin/modprobe", "/bin/busybox")

    shutil.copytree(modroot / "lib/modules" / release, root / "lib/modules" / release, symlinks=True)
    for link in ("build", "source"):
        (root / "lib/modules" / release / link).unlink(missing_ok=True)
    shutil.copy2(agent, root / "usr/bin/vfio-hil-agent")
    for compat, ko in null_resets.items():
        dest = root / NULL_RESET_DIR / compat.replace(",", "_")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ko, dest / ko.name)

    _write(root / "init", (DATA / "init.sh").read_text(), 0o755)
    _write(root / "usr/share/udhcpc/default.script", (DATA / "udhcpc.script").read_text(), 0o755)
    _write(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    _write(root / "etc/group", "root:x:0:\n")
    _write(root / "etc/shadow", "root:*:19000:0:99999:7:::\n", 0o600)
    _write(root / "etc/shells", "/bin/sh\n")
    _write(root / "etc/profile", "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='vfio-hil:\\w# '\n")
    _write(root / "etc/vfio-hil/target.env",
           f"VFIO_HIL_TARGET='{target.name}'\n"
           f"VFIO_HIL_MGMT_DEVICE='{target.mgmt_device}'\n"
           f"VFIO_HIL_MGMT_MODULES='{' '.join(target.mgmt_modules)}'\n"
           f"VFIO_HIL_MGMT_FEATURES_OFF='{' '.join(target.mgmt_features_off)}'\n"
           f"VFIO_HIL_NULL_RESET_DIR='/{NULL_RESET_DIR}'\n")
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    _write(root / "root/.ssh/authorized_keys", ssh_pubkey.strip() + "\n", 0o600)
    os.chmod(root / "root", 0o700)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def _symlink(path: Path, target: str) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def cpio_list(root: Path) -> str:
    """A gen_init_cpio list for everything under ``root``, owned by root, modes as on disk."""
    lines = ["dir /dev 0755 0 0", "nod /dev/console 0600 0 0 c 5 1", "nod /dev/null 0666 0 0 c 1 3"]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = "/" + os.path.relpath(dirpath, root) if dirpath != str(root) else ""
        for name in dirnames + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = f"{rel_dir}/{name}"
            if rel == "/dev":
                continue
            st = os.lstat(full)
            mode = f"{stat.S_IMODE(st.st_mode):04o}"
            if stat.S_ISLNK(st.st_mode):
                lines.append(f"slink {rel} {os.readlink(full)} 0777 0 0")
            elif stat.S_ISDIR(st.st_mode):
                lines.append(f"dir {rel} {mode} 0 0")
            elif stat.S_ISREG(st.st_mode):
                lines.append(f"file {rel} {full} {mode} 0 0")
    return "\n".join(lines) + "\n"


def pack(root: Path, gen_init_cpio: Path, out: Path, log: Path) -> None:
    """Write ``out`` (gzip'd newc cpio, mtime 0 in the gzip header for reproducibility)."""
    listing = out.with_suffix(".list")
    listing.write_text(cpio_list(root))
    raw = out.with_suffix(".cpio")
    proc.run([str(gen_init_cpio), str(listing)], what="gen_init_cpio", stdout_to=raw, log=log, timeout=600)
    with open(raw, "rb") as src, gzip.GzipFile(out, "wb", compresslevel=6, mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    raw.unlink()
