"""DPDK's fslmc bus and dpaa2 qDMA driver against the MC twin: real userspace nobody here wrote,
as a fidelity check of the twin (issue 11). It stages Debian's arm64 DPDK 22.11 (dpdk-test from
dpdk-dev and the libraries it and the fslmc/dpaa2 drivers need, from the private apt directory,
with their own libc and loader), boots qemu-lx2160a with its twin, makes and binds dprc.2 as the
suite does, and runs `dpdk-test dmadev_autotest` on the container (DPRC=dprc.2). How far it gets
is the finding: the report keeps DPDK's output and the MC commands it sent.

    .venv/bin/python -m harness.fidelity.dpdk [--kernel debian:6.1] [--iommu type1]   (make dpdk-fidelity)

In no-IOMMU mode vfio gives each object its own group, which DPDK's fslmc bus does not expect
(one group per container); with --iommu type1 the container is one group behind the MMU-500 twin
(harness/twins/mmu500.py), as on the SoC, and DPDK runs with --iova-mode=va.

Writes reports/fidelity/dpdk-<release>[-type1].json. A run that stops partway is a finding, not an error;
exit 1 only when the lab broke (no boot, no staging).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from harness import userland
from harness.artifacts import build_artifacts
from harness.kernel.apt import PrivateApt
from harness.kernel.spec import parse_kernel_spec
from harness.lab.session import booted
from harness.paths import REPORTS_DIR, cache_root
from harness.suite import fslmc
from harness.targets import get_target
from harness.twins.runtime import start_when_planned

VERSION = "22.11.11-0+deb12u1"
# The fslmc bus and what the dpaa2 qDMA driver needs, loaded with -d (EAL plugins)
PLUGINS = ["librte_common_dpaax.so.23", "librte_bus_fslmc.so.23", "librte_mempool_dpaa2.so.23",
           "librte_dma_dpaa2.so.23"]
RUN_DEADLINE_S = 180
ON_TARGET = "/opt/dpdk"      # not under /tmp: EAL refuses plugins below a world-writable directory
PROGRAM = "usr/bin/dpdk-test"


def stage(cache: Path) -> Path:
    """A tarball of dpdk-test and every library it and PLUGINS need (arm64), made once per version."""
    out = cache / f"dpdk-fidelity-{VERSION}-arm64.tar.gz"
    if out.exists():
        return out
    apt = PrivateApt(cache / "apt" / "userspace-stable-arm64", "stable", ["arm64"])
    apt.update()
    with tempfile.TemporaryDirectory(prefix="vfio-hil-dpdk-") as tmp:
        root, debs = Path(tmp) / "root", Path(tmp) / "debs"
        dev = apt.download("dpdk-dev:arm64", VERSION, debs)
        userland.unpack([dev], Path(tmp) / "dev")
        test = Path(tmp) / "dev/usr/bin/dpdk-test"
        needed = subprocess.run(["readelf", "-d", test], check=True, capture_output=True, text=True).stdout
        libs = [w.strip("[]") for line in needed.splitlines() if "NEEDED" in line for w in line.split()[-1:]]
        pkgs = sorted({_package(lib) for lib in libs + PLUGINS if lib.startswith("librte_")})
        userland.unpack(apt.download_with_dependencies([*pkgs, "libnuma1", "libfdt1"], "arm64"), root)
        (root / "usr/bin").mkdir(parents=True, exist_ok=True)
        (root / PROGRAM).write_bytes(test.read_bytes())
        return userland.pack(root, [PROGRAM], out)


def _package(lib: str) -> str:
    """The Debian package of a DPDK 22.11 library: librte_dma_dpaa2.so.23 -> librte-dma-dpaa2-23
    (a hyphen before the ABI number when the name ends in a digit, as Debian's policy has it)."""
    name = "librte-" + lib[len("librte_"):-len(".so.23")].replace("_", "-")
    return name + ("-23" if name[-1].isdigit() else "23")


def command(iova_mode: str = "pa", memory_mb: int = 256) -> str:
    """In type1 DPDK maps every 4 KiB page (--no-huge) with its own VFIO_IOMMU_MAP_DMA, and
    vfio_iommu_type1 allows 65535 mappings (dma_entry_limit): 256 MiB is 65536 pages (ENOSPC at
    the last one), so type1 runs get less memory."""
    pmds = f"{ON_TARGET}/usr/lib/aarch64-linux-gnu/dpdk/pmds-23.0"
    plugins = " ".join(f"-d {pmds}/{p}" for p in PLUGINS)
    return (f"mkdir -p /var/run/dpdk && cd /tmp && echo dmadev_autotest | DPRC=dprc.2 timeout {RUN_DEADLINE_S - 20} "
            f"{userland.through_loader(ON_TARGET, PROGRAM)} "
            f"{plugins} --no-huge -m {memory_mb} --iova-mode={iova_mode} -l 0 --no-pci --log-level=bus.fslmc:debug "
            f"--log-level=pmd.dma.dpaa2:debug 2>&1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="debian:6.1")
    ap.add_argument("--iommu", choices=["noiommu", "type1"], default="noiommu")
    args = ap.parse_args()
    target = get_target("qemu-lx2160a").for_iommu(args.iommu)
    tarball = stage(cache_root())
    art = build_artifacts(target, parse_kernel_spec(args.kernel), [], say=print)
    out_dir = REPORTS_DIR / "fidelity"
    out_dir.mkdir(parents=True, exist_ok=True)
    log_dir = out_dir / f"dpdk-{art.meta['release']}{target.mode_suffix}-{time.strftime('%Y%m%dT%H%M%S')}"
    holder: dict = {}
    attach = start_when_planned(target, log_dir / "twin-events.jsonl", holder)

    record: dict = {"release": art.meta["release"], "dpdk": VERSION, "iommu": target.iommu_mode}
    log_dir.mkdir(parents=True)
    type1 = target.iommu_mode == "type1"
    with booted(target, art, log_dir, on_twin_plan=attach,        # as run.py boots a target of that mode
                extra_bootargs="" if type1 else "vfio.enable_unsafe_noiommu_mode=1") as s:
        twin = holder["twin"]
        try:
            ssh = s.ssh
            ssh.put(str(tarball), "/tmp/dpdk.tar.gz")
            # EAL refuses to load plugins below a world-writable directory, and the initramfs's / is
            # one (the cpio's mode): this boot is this check's own, so / becomes 0755 for it.
            ssh.run_check("chmod 755 /")
            ssh.run_check(f"mkdir -p {ON_TARGET} && tar -xzf /tmp/dpdk.tar.gz -C {ON_TARGET} && rm /tmp/dpdk.tar.gz")
            before = fslmc.bind_session(ssh, target)
            first = fslmc._mc(twin).commands_total
            started = time.monotonic()
            record["iommu_attach"] = before.get("iommu_attach")
            out, _, rc = ssh.run(command("va", 64) if type1 else command(), timeout=RUN_DEADLINE_S)
            mc = fslmc._mc(twin)
            # DPDK logs one line per memory segment in no-IOMMU mode (65536 with -m 256): counted, not kept
            noisy = [line for line in out if "Running in NOIOMMU mode" in line]
            record.update(rc=rc, seconds=round(time.monotonic() - started, 1), noiommu_segment_lines=len(noisy),
                          output=[line for line in out if "Running in NOIOMMU mode" not in line][-300:],
                          mc_commands=list(mc.commands)[-(mc.commands_total - first):] if mc.commands_total > first else [],
                          dmesg=ssh.run("dmesg | tail -30")[0])
            fslmc.restore_session(ssh, target, before)
        finally:
            twin.stop()
    path = out_dir / f"dpdk-{art.meta['release']}{target.mode_suffix}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print("\n".join(record["output"][-60:]))
    print(f"dpdk-test exited {record['rc']} after {record['seconds']} s; {len(record['mc_commands'])} MC commands; "
          f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
