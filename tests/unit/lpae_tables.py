"""Stage-1 page tables laid out as drivers/iommu/io-pgtable-arm.c writes them (4 KiB granule),
for the walker tests: guest memory is a bytearray (``mem.b``) with a 64-bit store (``mem.q``)."""

import struct

AF, RO = 1 << 10, 1 << 7        # ARM_LPAE_PTE_AF; AP[2], read-only


def map_page(mem, pgd: int, iova: int, pa: int, extra: int = 0, levels: int = 4) -> None:
    """Map the 4 KiB page at ``iova`` to ``pa``, making the missing tables below ``pgd`` from
    pgd + 0x1000 on (``mem.next_table`` remembers where the next one goes, across calls)."""
    table = pgd
    nxt = max(pgd + 0x1000, getattr(mem, "next_table", 0))
    for level in range(4 - levels, 3):
        shift = 12 + 9 * (3 - level)
        slot = table + ((iova >> shift) & 0x1ff) * 8
        cur = struct.unpack_from("<Q", mem.b, slot)[0]
        if not cur:
            mem.q(slot, nxt | 3)
            cur, nxt = nxt | 3, nxt + 0x1000
        table = cur & ~0xfff
    mem.next_table = nxt
    mem.q(table + ((iova >> 12) & 0x1ff) * 8, pa | AF | 3 | extra)
