"""The firmware the virtual lab's boards boot through, as the boards they stand for do:

- ``uboot``: Debian's u-boot-qemu (a host package), U-Boot on QEMU virt: Highbank/Midway, Stingray
  and LX2160A boot through U-Boot, TFTP and booti/bootz;
- ``uefi``: EDK2 for QEMU virt (Debian's qemu-efi-aarch64: QEMU_EFI.fd) network-booting Debian's
  signed GRUB network image (grub-efi-arm64-signed: grubnetaa64.efi.signed), which reads
  ``grub.cfg`` from its TFTP prefix ``/grub``: AMD Seattle's path (UEFI, GRUB over the network,
  the kernel's EFI stub, a device tree handed over by GRUB's ``devicetree``). Both packages are
  fetched through the private apt (never installed) into the cache, once.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from harness import proc
from harness.errors import InfrastructureError, UsageError
from harness.paths import cache_root

UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
KINDS = ("uboot", "uefi")
GRUB_PREFIX = "grub"        # Debian's grubnetaa64 looks for (tftp)/grub/grub.cfg (its embedded prefix)
GRUB_IMAGE = "grubnetaa64.efi"
EDK2 = "usr/share/qemu-efi-aarch64/QEMU_EFI.fd"                          # in qemu-efi-aarch64
GRUB_SIGNED = "usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed"    # in grub-efi-arm64-signed


@attrs.frozen
class BoardFirmware:
    kind: str
    bios: Path                      # QEMU's -bios
    netboot: Path | None = None     # what the firmware fetches by TFTP at power-on (UEFI's PXE)


def board_firmware(kind: str) -> BoardFirmware:
    if kind == "uboot":
        if not UBOOT.is_file():
            raise InfrastructureError(f"{UBOOT} is missing (Debian: u-boot-qemu; or: make setup)")
        return BoardFirmware("uboot", UBOOT)
    if kind == "uefi":
        root = _fetched(cache_root() / "firmware" / "uefi-netboot", {"qemu-efi-aarch64": EDK2,
                                                                      "grub-efi-arm64-signed:arm64": GRUB_SIGNED})
        return BoardFirmware("uefi", root / EDK2, root / GRUB_SIGNED)
    raise UsageError(f"unknown board firmware {kind!r}; available: {', '.join(KINDS)}")


def _fetched(root: Path, wanted: dict[str, str]) -> Path:
    """``root`` with each package's files unpacked (dpkg-deb -x), downloaded once by the private apt."""
    if all((root / path).is_file() for path in wanted.values()):
        return root
    from harness.kernel.apt import PrivateApt

    apt = PrivateApt(cache_root() / "apt" / "userspace-stable-arm64", "stable", ["arm64"])
    apt.update()
    debs = root.parent / (root.name + "-debs")
    for package, path in wanted.items():
        version = apt.candidate(package)
        if version is None:
            raise InfrastructureError(f"Debian stable has no {package} (needed for {path})")
        deb = apt.download(package, version, debs)
        proc.run(["dpkg-deb", "-x", str(deb), str(root)], what=f"dpkg-deb -x {deb.name}", timeout=120)
        if not (root / path).is_file():
            raise InfrastructureError(f"unpacking {deb} gave no {path}")
    return root
