"""The IOMMU path (issue 12) end to end: qemu-seattle with --iommu type1 on 6.1. The XGBE twin sits
behind QEMU virt's SMMUv3 and translates every access through the tables the kernel wrote
(harness/twins/smmuv3.py); the tenant's buffers are its own pages mapped with VFIO_IOMMU_MAP_DMA
at IOVA 0xc0000000. With the real AMD handler nothing lands in the next tenant's own memory at
those IOVAs; the null-reset control must show the stale DMA landing there. The patch that drops
the SWR write (amdxgbe-reset-no-swr.patch) turns every iova_bleed to fail: a `make mutants` row."""

import json

import pytest

from harness.suite.platform import VARIANTS
from tests.integration.type1_evidence import (assert_controls_bleed_and_real_resets_hold,
                                               assert_every_iova_bleed_fails)
from tests.integration.verdicts import explain, not_passed

pytestmark = pytest.mark.integration


@pytest.mark.long       # make long-tests: a whole type1 run (68 s); make test measured 33 min 46 s cold with it
def test_amd_xgbe_handler_behind_the_smmu(suite_runs):
    doc = suite_runs("qemu-seattle", "debian:6.1", iommu="type1")
    tests = {t["id"]: t for t in doc["tests"]}
    v = {k: t["verdict"] for k, t in tests.items()}
    # 6.1 ignores reset_required=0; QEMU 7.2 resets no device across a guest reset (test_vmm_next_guest.py)
    expected = {"reset.required_override": "fail", "vmm.system_reset.guest_dma_bleed": "fail",
                "vmm.system_reset.guest_irq_bleed": "fail"}
    assert not_passed(doc) == expected, explain(doc, expected)
    assert {f"teardown.{x}.iova_bleed" for x in VARIANTS} <= set(v), "no iova_bleed checks in a type1 run"
    # the stale DMA landed in the next tenant's own pages, after IOMMU faults while nothing was mapped
    assert_controls_bleed_and_real_resets_hold(tests)
    # The twin really translated: its DMA is logged by IOVA, and the walker found the kernel's tables
    # (the native driver's DMA-API mappings and the tenants' type1 mappings alike).
    events = [json.loads(line) for line in (doc["dir"] / "twin-events.jsonl").read_text().splitlines()]
    dma = [e for e in events if e["kind"] == "dma"]
    assert dma and all("iova" in e for e in dma), dma[:3]
    assert any(e["kind"] == "iommu_fault" for e in events)


@pytest.mark.mutant     # make mutant-tests (a patched kernel): also a `make mutants` row
def test_without_the_swr_the_stale_dma_lands_in_the_next_tenants_memory(suite_runs):
    tests = {t["id"]: t for t in suite_runs("qemu-seattle", "debian:6.1", "amdxgbe-reset-no-swr.patch",
                                            iommu="type1")["tests"]}
    assert_every_iova_bleed_fails(tests)


@pytest.mark.mutant     # make mutant-tests (a patched 7.2 kernel: make mutants rows run on 6.1, which never refuses)
def test_a_kernel_that_will_not_lift_the_isolated_msi_rule_fails_msi_isolation(suite_runs):
    """vfio-type1-no-unsafe-interrupts.patch: 7.2 refuses the XGBE's group (no isolated MSIs) and
    allow_unsafe_interrupts=1 no longer lifts it; iommu.msi_isolation must say so as a fail."""
    tests = {t["id"]: t for t in suite_runs("qemu-seattle", "debian:sid", "vfio-type1-no-unsafe-interrupts.patch",
                                            iommu="type1")["tests"]}
    t = tests["iommu.msi_isolation"]
    assert t["verdict"] == "fail" and "still refused" in t["reason"], t
