"""qemu-lx2160a behind LX2160A's MMU-500 (issue 12): the MC twin's qDMA and MSIs carry the
container's ICID, which iommu-map makes a stream of the MMU-500 twin (harness/twins/mmu500.py,
smmuv2.py), so the container is one IOMMU group and vfio-fsl-mc runs under VFIO type1. The
tenant's copy jobs name IOVAs of its own pages (VFIO_IOMMU_MAP_DMA); with the real close-time
reset nothing lands in the next tenant's own memory at those IOVAs, and the null-reset control
shows the queued jobs copying over it. Too long for make test's budget: `make long-tests`; the
patched run is a `make mutants` row and `make mutant-tests`."""

import json

import pytest

from tests.integration.type1_evidence import (assert_controls_bleed_and_real_resets_hold,
                                               assert_every_iova_bleed_fails)

pytestmark = pytest.mark.integration


@pytest.mark.long
def test_vfio_fsl_mc_behind_the_mmu500(suite_runs):
    doc = suite_runs("qemu-lx2160a", "debian:6.1", iommu="type1")
    tests = {t["id"]: t for t in doc["tests"]}
    v = {k: t["verdict"] for k, t in tests.items()}
    # the per-object reset through the container's portal is the finding of the no-IOMMU runs too
    assert {k: x for k, x in v.items() if x not in ("pass", "skip")} == \
        {"teardown.container_portal.object_reset": "fail"}, v
    assert v["iommu.msi_isolation"] == "pass"
    assert_controls_bleed_and_real_resets_hold(tests)
    events = [json.loads(line) for line in (doc["dir"] / "twin-events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "dma" and "iova" in e for e in events)
    # refused accesses carry the tenant container's ICID (0x20) as their stream
    assert {e.get("sid") for e in events if e["kind"] == "iommu_fault"} == {"0x20"}


@pytest.mark.mutant     # make mutant-tests (a patched kernel): also a `make mutants` row
def test_without_the_close_time_reset_the_queued_jobs_land_in_the_next_tenants_memory(suite_runs):
    tests = {t["id"]: t for t in suite_runs("qemu-lx2160a", "debian:6.1", "vfio-fsl-mc-no-reset-on-close.patch",
                                            iommu="type1")["tests"]}
    assert_every_iova_bleed_fails(tests)
