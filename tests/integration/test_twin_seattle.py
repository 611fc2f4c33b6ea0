"""qemu-seattle end to end: the AMD XGBE reset handler against the XGBE twin, on 6.1. The handler
must stop DMA and IRQs after every teardown, every null-reset control must bleed, and the
handler must finish without its "PHY reset timeout" / "MAC SW reset failed" warnings (the twin's
PCS reset and DMA_MR.SWR self-clear). The patch that drops the SWR write
(tests/patches/amdxgbe-reset-no-swr.patch) was run by hand: all 10 bleed checks and reset.ioctl fail.
The kernel's own amd-xgbe driver must probe the twin and open and close its interface cleanly."""

import pytest

from .twin_rig import resets_by_test
from .verdicts import explain, not_passed

pytestmark = pytest.mark.integration


def test_amd_xgbe_handler_against_the_twin(suite_runs):
    doc = suite_runs("qemu-seattle", "debian:6.1")
    # 6.1.192 does not honour reset_required=0, as on every target.
    expected = {"reset.required_override": "fail"}
    assert not_passed(doc) == expected, explain(doc, expected)
    results = (doc["dir"] / "results.jsonl").read_text()
    assert "PHY reset timeout" not in results and "MAC SW reset failed" not in results
    by_test = resets_by_test(doc["dir"] / "twin-events.jsonl")
    # amd-xgbe's own probe and open reset the PCS and the DMA too (native.probe): only the resets
    # while the sigkill teardown ran (the tenant's death, then the next open) are the handler's.
    assert {"PCS", "DMA_MR.SWR"} <= set(by_test["teardown.sigkill.dma_bleed"]), by_test
    # The tenant ran all four channels and made its non-default settings; the gap shows them reset,
    # and the AN interrupt line (SPI 105) low.
    sigkill = {t["id"]: t for t in doc["tests"]}["teardown.sigkill.reset_state"]["evidence"]
    assert {"DMA_MR", "PCS_CTRL1", "AN_INTMASK", "AN_INT", "CH3_RCR"} <= set(sigkill["reset_state"]["tenant_set"]), \
        sigkill
    irq = {t["id"]: t for t in doc["tests"]}["teardown.sigkill.irq_bleed"]["evidence"]["gap_irq"]
    assert set(irq["line_high_ms"]) == {"101", "102", "103", "104", "105"}, irq
    native = next(t for t in doc["tests"] if t["id"] == "native.probe")["evidence"]
    assert native["driver"] == "amd-xgbe" and native["up_rc"] == 0 and "UP" in native["link"][0], native
    assert "MTL TX queue 0 flush" in by_test["native.probe"], "amd-xgbe's open path never flushed the TX queue"

