"""What every type1 run must show, whatever the device: the control's stale DMA landed in the next
tenant's own memory after IOMMU faults, and with the real reset nothing landed and the twin saw
no DMA attempt in the gap."""

from harness.suite.platform import VARIANTS


def assert_controls_bleed_and_real_resets_hold(tests: dict) -> None:
    for x in VARIANTS:
        control = tests[f"control.null_reset.{x}"]["evidence"]
        assert control["gap_check"]["changed"] > 1000 and control["gap_iommu_faults"] > 0, control
        real = tests[f"teardown.{x}.iova_bleed"]["evidence"]
        assert real["gap_check"]["changed"] == 0 and real["gap_dma_writes"] == 0, real


def assert_every_iova_bleed_fails(tests: dict) -> None:
    """A patch that breaks the reset: the stale DMA lands in the next tenant's memory in every variant."""
    for x in VARIANTS:
        t = tests[f"teardown.{x}.iova_bleed"]
        assert t["verdict"] == "fail" and "next tenant's own memory" in t["reason"], t
