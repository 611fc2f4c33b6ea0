"""Kernel source trees: get them, hash them, and keep an incremental work tree.

A *pristine* tree is never modified: Debian's linux-source unpacked into the cache,
or a maintainer's own tree (path:). Builds happen in a *work tree*, an rsync copy
of the pristine tree with the --kernel-patch files applied. Re-syncing restores
what earlier patches changed, and every file it rewrites gets a fresh mtime, so
make rebuilds exactly what differs and a one-file patch reuses the rest of the
build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

import attrs

from harness import proc
from harness.errors import KernelSpecError, PatchError
from harness.kernel.apt import LISTS_MAX_AGE_S, PrivateApt
from harness.kernel.spec import KernelSpec

_LINUX_SOURCE = re.compile(r"^linux-source-(\d+)\.(\d+)$")


@attrs.frozen
class SourceTree:
    spec: KernelSpec
    path: Path            # pristine tree
    identity: str         # stable across edits of the same tree: keys the incremental work tree
    origin: dict          # what it is, for the metadata (package + version, or path)
    content_hash: str     # sha256 of the source content


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def newest_linux_source(names: list[str]) -> str | None:
    series = [(int(m.group(1)), int(m.group(2)), n) for n in names if (m := _LINUX_SOURCE.match(n))]
    return max(series)[2] if series else None


def resolve_source(spec: KernelSpec, cache: Path, refresh: bool = False) -> SourceTree:
    if spec.kind == "path":
        return _path_source(spec, cache)
    return _debian_source(spec, cache, refresh)


def _private_apt(cache: Path, suite: str, refresh: bool) -> PrivateApt:
    apt = PrivateApt(cache / "apt" / f"kernel-{suite}", suite, [], security=suite != "backports")
    apt.update(max_age_s=0 if refresh else LISTS_MAX_AGE_S)
    return apt


def _debian_source(spec: KernelSpec, cache: Path, refresh: bool) -> SourceTree:
    apt = _private_apt(cache, spec.suite, refresh)
    suite = spec.suite
    if spec.series is None:
        package = newest_linux_source(apt.package_names("linux-source-"))
        if package is None:
            raise KernelSpecError(f"kernel spec {spec.text!r}: Debian {spec.suite} offers no linux-source-X.Y package")
    else:
        package = f"linux-source-{spec.series}"
    version = apt.candidate(package)
    if version is None and spec.suite == "stable":
        # A newer series built for stable (6.12 on bookworm) is in stable's backports.
        apt, suite = _private_apt(cache, "backports", refresh), "backports"
        version = apt.candidate(package)
    if version is None:
        raise KernelSpecError(f"kernel spec {spec.text!r}: Debian {spec.suite}{' or its backports' if suite != spec.suite else ''} "
                              f"has no package {package}; try debian:sid for the newest, or another series")
    tree = cache / "sources" / f"{package}_{version}"
    deb_dir = cache / "debian-debs"
    debs = sorted(deb_dir.glob(f"{package}_{version.split(':')[-1]}_*.deb"))
    deb = debs[0] if debs else apt.download(package, version, deb_dir)
    digest_file = deb.with_suffix(".sha256")
    if not digest_file.exists():
        digest_file.write_text(sha256_file(deb))
    if not tree.is_dir():
        _unpack_linux_source(deb, package, tree)
    return SourceTree(spec, tree, identity=f"debian:{package}={version}",
                      origin={"kind": "debian", "package": package, "version": version, "deb": deb.name,
                              "suite": suite},
                      content_hash=digest_file.read_text().strip())


def _unpack_linux_source(deb: Path, package: str, dest: Path) -> None:
    """Unpack usr/src/<package>.tar.xz from the .deb into ``dest``, atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".unpack-") as tmp:
        tmp = Path(tmp)
        proc.run(["dpkg-deb", "-x", str(deb), str(tmp / "deb")], what=f"dpkg-deb -x {deb.name}", timeout=600)
        tarballs = sorted((tmp / "deb/usr/src").glob(f"{package}.tar.*"))
        if not tarballs:
            raise KernelSpecError(f"{deb.name} holds no usr/src/{package}.tar.*; is it a linux-source package?")
        proc.run(["tar", "-xf", str(tarballs[0]), "-C", str(tmp)], what=f"unpacking {tarballs[0].name}", timeout=1200)
        (tmp / package).rename(dest)


def _path_source(spec: KernelSpec, cache: Path) -> SourceTree:
    tree = spec.path
    dirty = [p for p in (".config", "include/config", "arch/arm/include/generated") if (tree / p).exists()]
    if dirty:
        raise KernelSpecError(f"kernel tree {tree} has been built in place ({', '.join(dirty)} exist); "
                              f"out-of-tree builds need a clean tree: run 'make mrproper' in it")
    digest = tree_content_hash(tree, cache / "tree-hashes" / (hashlib.sha256(str(tree).encode()).hexdigest()[:16] + ".json"))
    return SourceTree(spec, tree, identity=f"path:{tree}", origin={"kind": "path", "path": str(tree)},
                      content_hash=digest)


def tree_content_hash(tree: Path, memo: Path) -> str:
    """sha256 over every file's relative path and content (``.git`` excluded).

    File digests are remembered by (size, mtime, inode) in ``memo``, so only files
    changed since the last call are read again.
    """
    try:
        old = json.loads(memo.read_text())
    except (OSError, ValueError):
        old = {}
    new: dict[str, list] = {}
    top = hashlib.sha256()
    entries = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, tree)
            st = os.lstat(full)
            stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
            prev = old.get(rel)
            if prev and prev[:3] == stamp:
                digest = prev[3]
            elif os.path.islink(full):
                digest = hashlib.sha256(b"link:" + os.readlink(full).encode()).hexdigest()
            else:
                digest = sha256_file(Path(full))
            new[rel] = stamp + [digest]
            entries.append((rel, digest))
    for rel, digest in sorted(entries):
        top.update(f"{rel}\0{digest}\n".encode())
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(".tmp")
    tmp.write_text(json.dumps(new))
    tmp.replace(memo)
    return top.hexdigest()


def sync_work_tree(pristine: Path, work: Path, log: Path) -> int:
    """Make ``work`` an exact copy of ``pristine``; returns how many files changed.

    Files rsync rewrites get mtime = now: a file restored to its older pristine
    content (undoing a previous patch) must still look newer than its objects.
    That makes mtimes differ from the pristine tree, so files are compared by
    content (--checksum), or every sync would rewrite them and make would
    rebuild them forever.
    """
    work.mkdir(parents=True, exist_ok=True)
    out = proc.run(["rsync", "-a", "--checksum", "--delete", "--exclude=/.git", "--out-format=%n", f"{pristine}/", f"{work}/"],
                   what="rsync of the kernel source into the work tree", timeout=1800).stdout
    now = time.time()
    changed = 0
    for rel in out.splitlines():
        target = work / rel
        if rel and not rel.endswith("/") and target.is_file() and not target.is_symlink():
            os.utime(target, (now, now))
            changed += 1
    with open(log, "a") as fh:
        fh.write(f"work tree sync: {changed} files changed\n")
    return changed


def check_patches(patches: list[Path]) -> None:
    for p in patches:
        if not p.is_file():
            raise PatchError(f"--kernel-patch {p}: no such file")


def apply_patches(work: Path, patches: list[Path], log: Path) -> None:
    for patch in patches:
        result = proc.run(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch",
                           "--reject-file=-", "-d", str(work), "-i", str(patch.resolve())],
                          what=f"patch {patch}", check=False, timeout=300)
        with open(log, "a") as fh:
            fh.write(f"$ patch -p1 < {patch}\n{result.stdout}")
        if result.returncode != 0:
            raise PatchError(f"--kernel-patch {patch} does not apply with 'patch -p1':\n"
                             + describe_patch_failure(result.stdout)
                             + "\n  fix: rebase the patch onto this kernel's source, or check the -p1 path prefix")


def describe_patch_failure(output: str) -> str:
    """Turn patch(1) output into one line per problem, naming the file and the hunk."""
    problems = []
    current = None
    for line in output.splitlines():
        if m := re.match(r"(?:patching|checking) file (.+)", line):
            current = m.group(1).strip()
        elif m := re.match(r"Hunk #(\d+) FAILED at (\d+)", line):
            problems.append(f"  {current}: hunk #{m.group(1)} FAILED at line {m.group(2)}")
        elif "can't find file to patch" in line:
            problems.append(f"  {line.strip()} (the file the patch names does not exist in this tree)")
        elif "Reversed (or previously applied) patch detected" in line:
            problems.append(f"  {current}: already applied, or reversed")
        elif "Only garbage was found in the patch input" in line or "malformed patch" in line:
            problems.append(f"  not a patch: {line.strip()}")
    if not problems:
        problems = ["  " + line for line in output.strip().splitlines()[-5:]] or ["  (patch printed nothing)"]
    return "\n".join(problems)
