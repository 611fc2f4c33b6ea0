import pytest

from harness.errors import InfrastructureError
from harness.suite import platform
from harness.targets import get_target

T = get_target("qemu-highbank")
RUNNING = {"DMA_CONTROL": "0x2", "DMA_INTR_ENA": "0x10040", "XGMAC_CONTROL": "0x4", "DMA_STATUS": "0x10040"}
RESET = {"DMA_CONTROL": "0x0", "DMA_INTR_ENA": "0x0", "XGMAC_CONTROL": "0x0", "DMA_STATUS": "0x10040"}


def test_busy_bits_follow_the_profile_masks():
    assert platform.busy_bits(T, RUNNING) == {"DMA_CONTROL": "0x2", "DMA_INTR_ENA": "0x10040", "XGMAC_CONTROL": "0x4"}
    # DMA_STATUS is not in the profile: latched status bits are not a reset failure.
    assert platform.busy_bits(T, RESET) == {}


def test_irq_bleed_is_irqs_seen_or_interrupts_left_armed():
    quiet = {"next_tenant": {"irqs": 0, "quiescence": RESET}}
    assert not platform.irq_bled(T, quiet)
    assert platform.irq_bled(T, {"next_tenant": {"irqs": 3, "quiescence": RESET}})
    armed = {**RESET, "DMA_INTR_ENA": "0x10040"}
    assert platform.irq_bled(T, {"next_tenant": {"irqs": 0, "quiescence": armed}})
    dma_only = {**RESET, "DMA_CONTROL": "0x2"}          # DMA left running is a DMA matter, not IRQ bleed
    assert not platform.irq_bled(T, {"next_tenant": {"irqs": 0, "quiescence": dma_only}})


def test_a_register_the_agent_did_not_report_is_an_infrastructure_error():
    with pytest.raises(InfrastructureError, match="XGMAC_CONTROL"):
        platform.busy_bits(T, {"DMA_CONTROL": "0x0", "DMA_INTR_ENA": "0x0"})


def test_dma_bleed_is_any_canary_byte_changed():
    assert platform.dma_bled({"gap_check": {"changed": 1}})
    assert not platform.dma_bled({"gap_check": {"changed": 0}})
