"""Build the VMM check's bare-metal guest (harness/vmm/guest/) with the host's arm64 cross
compiler: a flat binary with a Linux arm64 Image header, which QEMU's -kernel loads like a kernel."""

from __future__ import annotations

from pathlib import Path

from harness import proc

SOURCES = Path(__file__).with_name("guest")
CFLAGS = ["-ffreestanding", "-nostdlib", "-nostartfiles", "-static", "-O2",
          # MMU off: every data access is Device memory, where an unaligned access faults and SIMD is
          # not enabled (CPACR_EL1) in a guest that never sets it up.
          "-mgeneral-regs-only", "-mstrict-align",
          "-fno-stack-protector", "-fno-pie", "-no-pie", "-fno-asynchronous-unwind-tables",
          "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments", "-Wall", "-Wextra", "-Werror",
          "-Wno-unused-parameter"]


def build_guest(out_dir: Path) -> Path:
    """guest.bin in ``out_dir``, linked at virt's RAM base + the Image header's text_offset."""
    elf, binary = out_dir / "guest.elf", out_dir / "guest.bin"
    proc.run(["aarch64-linux-gnu-gcc", *CFLAGS, "-T", str(SOURCES / "guest.lds"), "-o", str(elf),
              str(SOURCES / "start.S"), str(SOURCES / "guest.c"), str(SOURCES / "fdt.c")], what="build the VMM guest")
    proc.run(["aarch64-linux-gnu-objcopy", "-O", "binary", str(elf), str(binary)], what="objcopy the VMM guest")
    return binary
