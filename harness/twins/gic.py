"""Interrupt lines of a twin: the GIC's own SPI inputs on QEMU virt, driven with qtest set_irq_in.

Driving the GIC's input line (not its pending latch) keeps level-triggered
semantics exact: the GIC model re-signals an interrupt that is EOI'd while the
line is still high, as on hardware. virt creates its GIC unnamed, right after
the CPUs, so it is /machine/unattached/device[<cpus>]; ``locate`` proves that by
raising a spare SPI and seeing it pending in GICD_ISPENDR, then lowers it.
"""

from __future__ import annotations

from harness.errors import InfrastructureError
from harness.twins.qtest import QtestClient

VIRT_GICD = 0x08000000
GICD_ISPENDR = 0x200
SPI_BASE = 32


class GicLines:
    def __init__(self, q: QtestClient, qom_path: str, gicd: int = VIRT_GICD):
        self.q, self.path, self.gicd = q, qom_path, gicd
        self.levels: dict[int, int] = {}

    @classmethod
    def locate(cls, q: QtestClient, cpus: int = 1, spare_spi: int = 120, gicd: int = VIRT_GICD) -> "GicLines":
        path = f"/machine/unattached/device[{cpus}]"
        lines = cls(q, path, gicd)
        lines.set(spare_spi, 1)
        seen = lines.pending(spare_spi)
        lines.set(spare_spi, 0)
        if not seen:
            raise InfrastructureError(f"{path} is not the GIC of this virt machine (SPI {spare_spi} raised through "
                                      f"it is not pending in GICD_ISPENDR); is -smp {cpus} right?")
        return lines

    def set(self, spi: int, level: int) -> None:
        self.q.set_irq_in(self.path, "unnamed-gpio-in", spi, 1 if level else 0)
        self.levels[spi] = 1 if level else 0

    def pending(self, spi: int) -> bool:
        irq = spi + SPI_BASE
        return bool(self.q.readl(self.gicd + GICD_ISPENDR + 4 * (irq // 32)) & (1 << (irq % 32)))
