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


def test_native_probe_errors_are_the_lines_the_twins_really_provoked():
    """native.probe fails on these: what amd-xgbe logged against the twin before it modelled TX
    queue flush (6.1) and the timestamp commands (7.2); a clean probe and others' lines do not count."""
    log = ["virtio_net virtio0: something failed",                               # another device
           "amd-xgbe 7e000000.xgmac eth1: net device enabled",
           "amd-xgbe 7e000000.xgmac eth1: error flushing TX queues",
           "amd-xgbe 7e000000.xgmac eth1: timed out updating timestamp addend register"]
    mine, errors = platform.driver_lines(log, "7e000000.xgmac", "amd_xgbe")
    assert mine == log[1:]
    assert errors == log[2:]
    clean = ["brcm-flexrm-mbox 7e000000.mailbox: registered flexrm mailbox with 4 channels"]
    assert platform.driver_lines(clean, "7e000000.mailbox", "bcm_flexrm_mailbox") == (clean, [])


def test_the_agent_and_profile_must_agree_on_irq_wiring():
    iproc = get_target("qemu-iproc")
    platform.check_irq_wiring(iproc, {"next_tenant": {"wired_irq": False}})
    platform.check_irq_wiring(T, {"next_tenant": {"wired_irq": True}})
    with pytest.raises(InfrastructureError, match="wired_irq=True"):      # error, never a fail
        platform.check_irq_wiring(iproc, {"next_tenant": {"wired_irq": True}})
    with pytest.raises(InfrastructureError, match="wired_irq=False"):
        platform.check_irq_wiring(T, {"next_tenant": {"wired_irq": False}})
