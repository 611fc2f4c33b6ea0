"""A target's exact QEMU command line, started halted (-S), checked, and quit.

`vfio-hil doctor` runs this for every QEMU target, so a host that lacks something
the command line needs (an option ROM, a machine, a device model, a firmware file)
is caught before any kernel is built, with QEMU's own message. The command line
is the one a run uses: the same labgrid environment, the same driver, the same
LG_VFIO_HIL_* variables; only the images are placeholders, which QEMU loads at
start-up but never runs (the guest executes no instruction under -S).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from harness.errors import VfioHilError
from harness.lab.session import lab_environment, lab_variables
from harness.targets import TargetProfile
from harness.traffic import UdpPorts

# The smallest tree QEMU's loaders accept: they write /chosen and /memory's reg into it.
PLACEHOLDER_DTS = """/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>; model = "vfio-hil placeholder";
    chosen { }; memory { device_type = "memory"; reg = <0 0>; }; };
"""


class PlaceholderImages:
    """Stand-ins for a build's kernel, initramfs and tree (the ``Artifacts.path`` of a build)."""

    def __init__(self, directory: Path):
        self.dir = directory
        (directory / "kernel").write_bytes(bytes(4096))
        (directory / "initramfs").write_bytes(bytes(512))
        subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", str(directory / "dtb")],
                       input=PLACEHOLDER_DTS, text=True, check=True, capture_output=True, timeout=30)

    def path(self, name: str) -> Path:
        return self.dir / name


def launch_frozen(target: TargetProfile, lab_config: Path | None = None) -> dict:
    """Start ``target``'s QEMU halted, ask QMP for its status, quit it. Returns {"status", "argv"};
    raises a VfioHilError carrying QEMU's command line, exit status and stderr when it cannot start.
    ``lab_config`` replaces the target's labgrid environment (the harness's own tests use it)."""
    with tempfile.TemporaryDirectory(prefix="vfio-hil-frozen-") as tmp:
        tmpdir = Path(tmp)
        images = PlaceholderImages(tmpdir)
        twin_plan = None
        if target.twin:
            from harness.twins.runtime import plan

            twin_plan = plan(target, tmpdir)     # the real tree build: it runs QEMU's dumpdtb too
        try:
            variables = lab_variables(target, images, tmpdir, UdpPorts(), twin_plan=twin_plan)
            env = lab_environment(lab_config or target.lab_config_path(), variables)
            try:
                qemu = env.get_target("main").get_driver("DeadlineQEMUDriver")
                qemu.start_frozen()
                try:
                    status = qemu.monitor_command("query-status")
                    return {"status": status.get("status"), "argv": qemu.command_line}
                finally:
                    qemu.off()
            finally:
                env.cleanup()
        finally:
            if twin_plan is not None:
                twin_plan.close()


def frozen_launch_error(exc: Exception) -> str:
    """What a person needs from a failed frozen launch: the error's own text (QEMU's stderr tail)."""
    text = str(exc) if isinstance(exc, VfioHilError) else f"{type(exc).__name__}: {exc}"
    return text.strip()
