"""The stage-1 VMSAv8-64 LPAE table walk (4 KiB granule) shared by the SMMU walkers.

SMMUv3 (smmuv3.py) finds TTB0/T0SZ/TG0/EPD0 in a context descriptor, SMMUv2 (smmuv2.py) in a
context bank's TTBR0/TCR; the fields sit at different bits in each, so the caller decodes them and
the walk takes plain values. The tables are what drivers/iommu/io-pgtable-arm.c writes for
ARM_64_LPAE_S1 (6.1: io-pgtable-arm.c:67-95): ARM_LPAE_PTE_TYPE_{BLOCK,TABLE,PAGE} in bits 1:0,
ARM_LPAE_PTE_ADDR_MASK bits 47:12, AF at bit 10, AP_RDONLY (AP[2]) at bit 7. Approximations:
4 KiB granule only, 48-bit output addresses (no 52-bit PA), AP[1]/XN/APTable and the memory
attributes ignored.
"""

from __future__ import annotations

from typing import Callable

OA_47_12 = ((1 << 48) - 1) & ~0xfff
PAGE = 4096


class IommuFault(Exception):
    """An access the SMMU would not let through: why, at which IOVA."""

    def __init__(self, iova: int, reason: str):
        super().__init__(f"{reason} at IOVA {iova:#x}")
        self.iova, self.reason = iova, reason


def bits(value: int, hi: int, lo: int) -> int:
    return (value >> lo) & ((1 << (hi - lo + 1)) - 1)


def walk_stage1(q64: Callable[[int], int], page: int, t0sz: int, tg0: int, epd0: int,
                ttb0: int) -> tuple[int, bool]:
    """(PA of ``page``, writable) through the tables at ``ttb0``; raises IommuFault.

    ``q64(addr)`` reads one little-endian 64-bit descriptor from guest memory. ``tg0`` is the
    architectural TG0 encoding (0 = 4 KiB in both SMMUv3's CD and SMMUv2's CB_TCR)."""
    if tg0 != 0:
        raise IommuFault(page, f"TG0 {tg0}: only the 4 KiB granule is modelled")
    va_bits = 64 - t0sz
    if epd0 or page >> va_bits:
        raise IommuFault(page, f"translation fault (outside the {va_bits}-bit TTB0 range, or EPD0)")
    # The start level is the one whose index covers the top IOVA bit (9 bits a level above 12).
    level = 3 - (va_bits - 13) // 9
    table = ttb0
    while True:
        shift = 12 + 9 * (3 - level)
        entries_bits = min(9, va_bits - shift)
        desc = q64(table + ((page >> shift) & ((1 << entries_bits) - 1)) * 8)
        if not desc & 1:
            raise IommuFault(page, f"translation fault (invalid level-{level} descriptor)")
        if level < 3 and desc & 2:            # table descriptor
            table, level = desc & OA_47_12, level + 1
            continue
        if level == 3 and not desc & 2:
            raise IommuFault(page, "translation fault (reserved level-3 descriptor)")
        if level == 0:
            raise IommuFault(page, "translation fault (block descriptor at level 0)")
        if not desc >> 10 & 1:
            raise IommuFault(page, f"access flag fault (level-{level} descriptor without AF)")
        out_mask = ((1 << 48) - 1) & ~((1 << shift) - 1)
        pa = (desc & out_mask) | (page & ((1 << shift) - 1))
        return pa, not desc >> 7 & 1
