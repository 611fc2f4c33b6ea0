"""Does the VMM start with the device assigned? Boots qemu-seattle in type1 (the XGBE twin behind
the SMMUv3) with its twin, binds the XGBE to vfio-platform, stages the VMM bundle and the
bare-metal guest, and runs QEMU 7.2 with -device vfio-amd-xgbe on the target: what it prints and
how long it takes until the guest's first line are the findings (no verdict yet).

    .venv/bin/python -m harness.vmm.probe [--kernel debian:6.1]

Writes reports/vmm/probe-<release>-<time>.json."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from harness import proc
from harness.artifacts import build_artifacts
from harness.kernel.spec import parse_kernel_spec
from harness.lab.session import booted
from harness.paths import REPORTS_DIR, cache_root
from harness.suite import platform
from harness.targets import get_target
from harness.twins.runtime import start_when_planned
from harness.vmm import bundle

GUEST_SRC = Path(__file__).with_name("guest.S")
GUEST_LINE = "VFIO-HIL-GUEST up"
VMM_DEADLINE_S = 120


def build_guest(out_dir: Path) -> Path:
    """guest.S, assembled and linked at virt's RAM base + the Image header's text_offset."""
    obj, elf, binary = out_dir / "guest.o", out_dir / "guest.elf", out_dir / "guest.bin"
    proc.run(["aarch64-linux-gnu-as", "-o", str(obj), str(GUEST_SRC)], what="assemble the guest")
    proc.run(["aarch64-linux-gnu-ld", "-Ttext=0x40080000", "-o", str(elf), str(obj)], what="link the guest")
    proc.run(["aarch64-linux-gnu-objcopy", "-O", "binary", str(elf), str(binary)], what="objcopy the guest")
    return binary


def vmm_args(device: str, guest: str) -> str:
    return (f"-M virt -cpu cortex-a57 -m 64 -nographic -monitor none -nodefaults -serial stdio "
            f"-kernel {guest} -device vfio-amd-xgbe,host={device}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="debian:6.1")
    args = ap.parse_args()
    target = get_target("qemu-seattle").for_iommu("type1")
    tarball = bundle.stage(cache_root())
    art = build_artifacts(target, parse_kernel_spec(args.kernel), [], say=print)
    log_dir = REPORTS_DIR / "vmm" / f"probe-{art.meta['release']}-{time.strftime('%Y%m%dT%H%M%S')}"
    log_dir.mkdir(parents=True)
    guest = build_guest(log_dir)
    holder: dict = {}
    attach = start_when_planned(target, log_dir / "twin-events.jsonl", holder)

    record: dict = {"release": art.meta["release"], "bundle": tarball.name, "bundle_bytes": tarball.stat().st_size}
    with booted(target, art, log_dir, on_twin_plan=attach) as s:
        ssh = s.ssh
        try:
            started = time.monotonic()
            ssh.put(str(tarball), "/tmp/vmm.tar.gz")
            ssh.run_check(f"mkdir -p {bundle.ON_TARGET} && tar -xzf /tmp/vmm.tar.gz -C {bundle.ON_TARGET} "
                          f"&& rm /tmp/vmm.tar.gz")
            ssh.put(str(guest), "/tmp/guest.bin")
            record["stage_s"] = round(time.monotonic() - started, 1)
            out, _, rc = ssh.run(bundle.command("--version"), timeout=120)
            record["version"] = out[:1]
            ssh.run_check("modprobe vfio_iommu_type1 && modprobe vfio_platform")
            platform.bind_to_vfio(ssh, target.dut_device)
            record["driver"] = platform.current_driver(ssh, target.dut_device)
            mark = platform.dmesg_mark(ssh)
            started = time.monotonic()
            out, _, rc = ssh.run(f"timeout {VMM_DEADLINE_S} " + bundle.command(vmm_args(target.dut_device,
                                                                                          "/tmp/guest.bin"))
                                 + " </dev/null >/tmp/vmm.out 2>&1 & pid=$!; i=0; while [ $i -lt 600 ] && ! grep -q 'GUEST' /tmp/vmm.out 2>/dev/null;"
                                 " do kill -0 $pid 2>/dev/null || break; sleep 0.2; i=$((i+1)); done; cat /tmp/vmm.out; kill $pid 2>/dev/null; wait $pid",
                                 timeout=VMM_DEADLINE_S + 30)
            record.update(vmm_rc=rc, vmm_s=round(time.monotonic() - started, 1), vmm_output=out[-80:],
                          guest_seen=any(GUEST_LINE in line for line in out),
                          dmesg=platform.dmesg_since(ssh, mark)[-40:])
        finally:
            (log_dir / "probe.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0 if record.get("guest_seen") else 1


if __name__ == "__main__":
    raise SystemExit(main())
