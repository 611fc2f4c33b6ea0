"""The next guest (issue 14) end to end: qemu-seattle in type1 on 6.1 and sid runs the VMM checks
(testsuites/test_vmm_reset.py): QEMU 7.2 inside the target assigns the XGBE twin to a bare-metal
guest, which loses it four ways; the next guest watches. With the real AMD handler nothing reaches
the next guest after a SIGKILL, a crash or a clean exit; across a QMP system_reset QEMU 7.2 issues
no VFIO_DEVICE_RESET, so the rebooted guest gets the previous boot's DMA and interrupts (a fail,
with the twin's log showing no reset). Every null-reset control must bleed into the next guest.
The patch that drops the SWR write (amdxgbe-reset-no-swr.patch) must turn the next-guest DMA
checks of the variants that close the device to fail."""

import pytest

from harness.vmm.check import VARIANTS
from tests.integration.verdicts import explain

pytestmark = pytest.mark.integration

CLOSE_VARIANTS = [v for v in VARIANTS if v != "system_reset"]
MEASURES = ("guest_dma_bleed", "guest_irq_bleed")


def vmm_tests(doc: dict) -> dict:
    return {t["id"]: t for t in doc["tests"] if t["id"].startswith(("vmm.", "control.null_reset.vmm."))}


def assert_next_guest(doc: dict) -> None:
    tests = vmm_tests(doc)
    verdicts = {k: t["verdict"] for k, t in tests.items()}
    expected = {**{f"vmm.{v}.{m}": "pass" for v in CLOSE_VARIANTS for m in MEASURES},
                **{f"vmm.system_reset.{m}": "fail" for m in MEASURES},
                **{f"control.null_reset.vmm.{v}.{m}": "pass" for v in VARIANTS for m in MEASURES}}
    assert verdicts == expected, explain(doc, [k for k, v in expected.items() if verdicts.get(k) == v])
    for v in VARIANTS:
        control = tests[f"control.null_reset.vmm.{v}.guest_dma_bleed"]["evidence"]
        assert control["next_guest"]["changed"] > 0 and control["next_guest"]["irqs"] > 0, control["next_guest"]
        assert control["twin"]["resets"] == [], control["twin"]["resets"]     # the null handler reset nothing
        real = tests[f"vmm.{v}.guest_dma_bleed"]["evidence"]
        assert real["check_s"] < 120, real["check_s"]
        if v in CLOSE_VARIANTS:
            # the handler ran at the dead VMM's release (and the next one's open): DMA_MR.SWR in the twin's log
            assert any(r["what"] == "DMA_MR.SWR" for r in real["twin"]["resets"]), real["twin"]
    reset = tests["vmm.system_reset.guest_dma_bleed"]
    assert reset["evidence"]["twin"]["resets"] == [] and "never ran" in reset["reason"], reset


@pytest.mark.long       # make long-tests: the whole type1 run, VMM checks included
@pytest.mark.parametrize("kernel", ["debian:6.1", "debian:sid"])
def test_the_next_guest_sees_nothing_after_a_vmm_death_with_the_amd_handler(suite_runs, kernel):
    assert_next_guest(suite_runs("qemu-seattle", kernel, iommu="type1"))


@pytest.mark.mutant     # make mutant-tests (a patched kernel)
def test_without_the_swr_the_previous_guests_dma_reaches_the_next_guest(suite_runs):
    tests = vmm_tests(suite_runs("qemu-seattle", "debian:6.1", "amdxgbe-reset-no-swr.patch", iommu="type1"))
    for v in CLOSE_VARIANTS:
        t = tests[f"vmm.{v}.guest_dma_bleed"]
        assert t["verdict"] == "fail" and "canary bytes" in t["reason"], (v, t["verdict"], t.get("reason"))
