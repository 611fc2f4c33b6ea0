"""`vfio-hil doctor`: every host requirement, found or missing, with the exact fix."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import attrs

REQUIREMENTS_FILE = Path(__file__).parent / "data" / "host-packages.txt"
MIN_FREE_GIB = 12
PYTHON_MODULES = [("labgrid", "labgrid"), ("pexpect", "pexpect"), ("paramiko", "paramiko"),
                  ("libfdt", "pylibfdt"), ("rich", "rich"), ("pytest", "pytest"), ("yaml", "pyyaml"),
                  ("attrs", "attrs")]


@attrs.frozen
class Check:
    name: str
    ok: bool
    detail: str
    fix: str


@attrs.frozen
class Requirement:
    package: str
    probe: str      # cmd:NAME | file:PATH | pymod:NAME
    why: str


def load_requirements(path: Path = REQUIREMENTS_FILE) -> list[Requirement]:
    out = []
    for raw in path.read_text().splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        package, probe, *why = raw.split(None, 2)
        out.append(Requirement(package, probe, why[0].strip() if why else ""))
    return out


def package_for_command(command: str) -> str | None:
    return next((r.package for r in load_requirements() if r.probe == f"cmd:{command}"), None)


def probe(req: Requirement) -> tuple[bool, str]:
    kind, _, what = req.probe.partition(":")
    if kind == "cmd":
        found = shutil.which(what)
        return found is not None, found or f"{what} not on PATH"
    if kind == "file":
        return Path(what).exists(), what
    if kind == "pymod":
        return importlib.util.find_spec(what) is not None, f"python module {what}"
    return False, f"unknown probe {req.probe!r} in {REQUIREMENTS_FILE}"


def run_checks(cache: Path) -> list[Check]:
    checks = []
    sudo = "" if os.geteuid() == 0 else "sudo "
    for req in load_requirements():
        ok, detail = probe(req)
        checks.append(Check(f"{req.package} ({req.probe})", ok, detail,
                            f"{sudo}apt-get install {req.package}   # or: make setup"))
    for module, dist in PYTHON_MODULES:
        ok = importlib.util.find_spec(module) is not None
        checks.append(Check(f"python: {dist}", ok, module, "make setup   # installs into .venv"))
    free = shutil.disk_usage(cache).free / 2**30
    checks.append(Check("disk space in cache", free >= MIN_FREE_GIB, f"{free:.1f} GiB free in {cache}",
                        f"free space, or set XDG_CACHE_HOME to a disk with {MIN_FREE_GIB} GiB free"))
    checks += qemu_machine_checks()
    checks += qemu_launch_checks()
    return checks


def machine_listed(help_text: str, machine: str) -> bool:
    """Whether `qemu-system-X -machine help` output lists ``machine`` (first word of a line).
    ``machine`` may carry options, as a -machine argument does ("virt,gic-version=3")."""
    name = machine.split(",", 1)[0]
    return any(line.split()[:1] == [name] for line in help_text.splitlines())


def qemu_launch_checks(lab_configs: dict[str, Path] | None = None) -> list[Check]:
    """Each QEMU target's exact command line must start (halted, -S) on this host: what a machine
    listing cannot show (a missing option ROM, a device model, a firmware file) shows here, in
    QEMU's own words. ``lab_configs`` replaces targets' labgrid environments (for tests)."""
    from harness.lab.frozen import frozen_launch_error, launch_frozen
    from harness.targets import available_targets, get_target

    checks = []
    for name in available_targets():
        target = get_target(name)
        if not target.qemu_settings():
            continue
        try:
            result = launch_frozen(target, (lab_configs or {}).get(name))
            ok, detail = True, f"started halted (QMP status {result['status']!r}) and quit"
        except Exception as exc:   # noqa: BLE001 - any failure is this check's finding, shown whole
            ok, detail = False, frozen_launch_error(exc)
        checks.append(Check(f"QEMU starts (target {name})", ok, detail,
                            "install what QEMU's message names (make setup installs the host packages); "
                            "a missing ROM or firmware file comes from Debian's ipxe-qemu / qemu-efi-*"))
    return checks


def qemu_machine_checks() -> list[Check]:
    """Each QEMU target's machine must exist in the host's QEMU (QEMU 11 dropped highbank/midway)."""
    import subprocess

    from harness.targets import available_targets, get_target

    checks = []
    machines_by_binary: dict[str, str] = {}
    for name in available_targets():
        qemu = get_target(name).qemu_settings()
        if not qemu:
            continue
        binary = qemu["binary"]
        if binary not in machines_by_binary:
            try:
                machines_by_binary[binary] = subprocess.run([binary, "-machine", "help"], capture_output=True,
                                                            text=True, timeout=30).stdout
            except OSError:
                machines_by_binary[binary] = ""
        listed = machine_listed(machines_by_binary[binary], qemu["machine"])
        checks.append(Check(f"QEMU machine {qemu['machine']} (target {name})", listed,
                            f"{binary} -machine help " + ("lists it" if listed else "does not list it"),
                            "install Debian stable's qemu-system-arm 7.2 (QEMU 11 dropped highbank/midway)"))
    return checks
