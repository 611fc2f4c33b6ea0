"""The next guest's verdict logic (harness/vmm/check.py) on recorded evidence: what a fail says
about the reset handler, from the twin's log."""

from harness.vmm.check import dma_bled, irq_bled, reset_issued, why_bled


def evidence(changed=0, irqs=0, resets=None, variant="sigkill"):
    ev = {"variant": variant,
          "next_guest": {"changed": changed, "canary_bytes": 163840, "watch_ms": 1040, "irqs": irqs,
                         "first_irq_ms": 40 if irqs else -1, "device_intids": [[144, 0], [145, irqs]]}}
    if resets is not None:
        ev["twin"] = {"resets": resets, "register_writes": 4}
    return ev


def test_a_bleed_with_no_reset_in_the_window_says_the_handler_never_ran():
    ev = evidence(changed=38272, irqs=2, resets=[], variant="system_reset")
    assert dma_bled(ev) and irq_bled(ev) and reset_issued(ev) is False
    assert "38272 of the next guest's 163840 canary bytes" in why_bled(ev, "dma")
    assert "between the system_reset and the report: the reset handler never ran" in why_bled(ev, "irq")


def test_a_bleed_after_a_reset_names_each_reset_and_when():
    ev = evidence(changed=100, resets=[{"ms": 188, "what": "PCS"}, {"ms": 238, "what": "DMA_MR.SWR"}])
    assert reset_issued(ev) is True
    assert "reset in between (PCS at 188 ms, DMA_MR.SWR at 238 ms)" in why_bled(ev, "dma")


def test_without_a_twin_nothing_is_said_of_the_handler():
    ev = evidence(irqs=1)
    assert reset_issued(ev) is None and not dma_bled(ev) and irq_bled(ev)
    assert "reset" not in why_bled(ev, "irq")


def test_a_vmm_the_kernel_refused_vfio_is_a_refusal_and_anything_else_is_not():
    from harness.vmm.target_vmm import kernel_refusal
    refused = ("qemu-system-aarch64: -device vfio-amd-xgbe,host=7e000000.xgmac: vfio 7e000000.xgmac: failed to "
               "setup container for group 0: failed to set iommu for container: Operation not permitted")
    assert kernel_refusal(["VFIO-HIL-GUEST {}", refused]) == refused
    busy = ("qemu-system-aarch64: -device vfio-amd-xgbe,host=7e000000.xgmac: vfio 7e000000.xgmac: failed to "
            "open /dev/vfio/0: Device or resource busy")
    assert kernel_refusal([busy, "qemu-system-aarch64: No available IOMMU models"]) is None
