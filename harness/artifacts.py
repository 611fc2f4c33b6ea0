"""The build pipeline: kernel, modules, dtb, agent, null-reset controls, initramfs.

Artifacts are keyed by content (source+patches hash, fragments, arch, compiler,
and the harness's own on-target inputs), assembled in a temporary directory and
renamed into place, so an interrupted or failed build leaves nothing half-made
in the cache and an identical request is answered from the cache at once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import attrs

from harness import initramfs, proc
from harness.errors import HostError, InfrastructureError, TargetProfileError
from harness.kernel.apt import PrivateApt
from harness.kernel.build import (BuiltKernel, build_kernel, ccache_env, compiler_version, fragment_hash,
                                  make_argv, patches_hash)
from harness.kernel.source import check_patches, resolve_source, sha256_file
from harness.kernel.spec import KernelSpec
from harness.paths import cache_root
from harness.sshkey import ensure_key
from harness.targets import TargetProfile

PACKAGE_DIR = Path(__file__).parent
METADATA = "metadata.json"
SCHEMA = 1
# A cold build holds a Debian source tree twice (pristine + work tree) and objects.
NEEDED_FREE_GIB = 6


@attrs.frozen
class Artifacts:
    dir: Path
    meta: dict
    cached: bool = False

    def path(self, name: str) -> Path:
        return self.dir / self.meta["artifacts"][name]

    @classmethod
    def load(cls, d: Path, cached: bool = False) -> "Artifacts":
        return cls(d, json.loads((d / METADATA).read_text()), cached)


def harness_inputs_hash(target: TargetProfile) -> str:
    """What of ours ends up on the target: agent, module and init sources, the profile."""
    h = hashlib.sha256()
    files = sorted([*(PACKAGE_DIR / "agent").glob("*.[ch]"), *(PACKAGE_DIR / "nullreset").glob("*"),
                    *(PACKAGE_DIR / "data").glob("*"), PACKAGE_DIR / "initramfs.py", PACKAGE_DIR / "artifacts.py"])
    for f in files:
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    if target.source_file:
        h.update(target.source_file.read_bytes())
    return h.hexdigest()


def check_disk_space(path: Path, needed_gib: float = NEEDED_FREE_GIB) -> None:
    free = shutil.disk_usage(path).free / 2**30
    if free < needed_gib:
        raise HostError(f"no disk space: a build needs {needed_gib} GiB free in {path}, {free:.1f} GiB are; "
                        f"free some, or point XDG_CACHE_HOME at a larger disk")


def build_artifacts(target: TargetProfile, spec: KernelSpec, patches: list[Path], *, refresh: bool = False,
                    jobs: int | None = None, say=print) -> Artifacts:
    cache = cache_root()
    patches = [p.resolve() for p in patches]
    check_patches(patches)
    compiler = compiler_version(target.arch_info)
    say(f"resolving {spec.text}")
    source = resolve_source(spec, cache, refresh)
    fhash = fragment_hash(target.kconfig_paths())
    phash = patches_hash(patches)
    source_hash = hashlib.sha256(f"{source.content_hash}\0{phash}".encode()).hexdigest()
    key = hashlib.sha256("\0".join([source_hash, fhash, target.arch, compiler,
                                    harness_inputs_hash(target)]).encode()).hexdigest()[:20]
    final = cache / "artifacts" / target.name / key
    if (final / METADATA).is_file():
        return Artifacts.load(final, cached=True)

    check_disk_space(cache)
    log = cache / "logs" / f"{target.name}-{key}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    final.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{key}-"))
    try:
        say(f"building kernel {source.identity} for {target.name} (log: {log})")
        kb = build_kernel(target, source, patches, cache, log, jobs)
        say(f"kernel {kb.release} built; staging modules, agent, null-reset controls")
        _install_modules(kb, target, tmp / "modroot", cache, log)
        agent = _build_agent(kb, target, tmp / "vfio-hil-agent", log)
        null_resets = _build_null_resets(kb, target, tmp / "null-reset", cache, log)
        say("assembling the initramfs")
        apt = PrivateApt(cache / "apt" / f"userspace-stable-{target.arch_info.debian_arch}", "stable",
                         [target.arch_info.debian_arch], security=False)     # one index per arch
        apt.update()
        debs = apt.download_with_dependencies(target.userspace_packages, target.arch_info.debian_arch)
        _, pubkey = ensure_key(cache)
        rootfs = tmp / "rootfs"
        initramfs.populate_rootfs(rootfs, debs, target, kb.release, tmp / "modroot", agent, null_resets, pubkey, log)
        initramfs.pack(rootfs, kb.obj / "usr" / "gen_init_cpio", tmp / "initramfs.cpio.gz", log)
        shutil.rmtree(rootfs)
        shutil.copy2(kb.image, tmp / kb.image.name)
        if kb.dtb is not None:
            shutil.copy2(kb.dtb, tmp / kb.dtb.name)
        shutil.copy2(kb.config, tmp / "config")
        shutil.copy2(log, tmp / "build.log")
        meta = {
            "schema": SCHEMA,
            "key": key,
            "target": target.name,
            "kernel_spec": spec.text,
            "source": {**source.origin, "content_sha256": source.content_hash},
            "patches": [{"path": str(p), "sha256": sha256_file(p)} for p in patches],
            "source_hash": source_hash,
            "release": kb.release,
            "arch": target.arch,
            "compiler": compiler,
            "fragments": [{"file": str(f.relative_to(f.parents[1])), "sha256": sha256_file(f)}
                          for f in target.kconfig_paths()],
            "fragment_hash": fhash,
            "kconfig_findings": kb.kconfig_findings,
            "userspace_packages": [d.name for d in debs],
            "artifacts": {
                "kernel": kb.image.name, "dtb": kb.dtb.name if kb.dtb else None, "initramfs": "initramfs.cpio.gz",
                "config": "config", "agent": "vfio-hil-agent", "modules": f"modroot/lib/modules/{kb.release}",
                "build_log": "build.log",
            },
            "null_reset": {c: str(p.relative_to(tmp)) for c, p in null_resets.items()},
            "build_seconds": round(time.monotonic() - started, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
        if final.exists():          # a concurrent identical build won the race; keep its result
            shutil.rmtree(tmp)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Artifacts.load(final)


def _install_modules(kb: BuiltKernel, target: TargetProfile, modroot: Path, cache: Path, log: Path) -> None:
    proc.run(make_argv(kb.src, kb.obj, target.arch_info, "modules_install",
                       extra=[f"INSTALL_MOD_PATH={modroot}", "INSTALL_MOD_STRIP=1"]),
             what="make modules_install", log=log, env=ccache_env(cache))
    # depmod for the target's release, on the staged tree (kmod's depmod reads any arch).
    proc.run(["depmod", "-b", str(modroot), kb.release], what="depmod", log=log)
    dep = modroot / "lib/modules" / kb.release / "modules.dep"
    if not dep.is_file():
        raise InfrastructureError(f"depmod wrote no modules.dep under {modroot}")
    built = {Path(line.split(":", 1)[0]).name.removesuffix(".ko").replace("-", "_")
             for line in dep.read_text().splitlines() if line}
    missing = [m for m in target.mgmt_modules if m.replace("-", "_") not in built]
    if missing:
        raise TargetProfileError(f"{target.source_file}: mgmt_modules names {missing}, which this kernel did not "
                                 f"build as modules; built: {', '.join(sorted(built))}")


def _build_agent(kb: BuiltKernel, target: TargetProfile, out: Path, log: Path) -> Path:
    """Static agent, compiled against the uAPI headers of the kernel under test."""
    sources = sorted(str(p) for p in (PACKAGE_DIR / "agent").glob("*.c"))
    proc.run([f"{target.arch_info.cross_compile}gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror",
              "-I", str(kb.obj / "vfio-hil-headers" / "include"), "-o", str(out), *sources],
             what="cross-compiling the agent", log=log)
    return out


def _build_null_resets(kb: BuiltKernel, target: TargetProfile, outdir: Path, cache: Path, log: Path) -> dict:
    """One null-reset module per compatible the target names, built against this kernel."""
    out = {}
    for compat in target.null_reset_compatibles:
        build = Path(tempfile.mkdtemp(prefix="null-reset-"))
        try:
            for f in ("Kbuild", "vfio_null_reset.c"):
                shutil.copy2(PACKAGE_DIR / "nullreset" / f, build / f)
            proc.run(make_argv(kb.src, kb.obj, target.arch_info, "modules",
                               extra=[f"M={build}", f"NULL_RESET_COMPAT={compat}"]),
                     what=f"building the null-reset control for {compat}", log=log, env=ccache_env(cache))
            dest = outdir / compat.replace(",", "_")
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(build / "vfio_null_reset.ko", dest / "vfio_null_reset.ko")
            out[compat] = dest / "vfio_null_reset.ko"
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return out
