"""The fsl-mc steps' pure decisions: when a DMA check on fsl-mc proves something."""

import pytest

from harness.suite import fslmc
from harness.suite.plugin import Inconclusive
from harness.targets import get_target

LX = get_target("qemu-lx2160a")


def test_no_watched_gap_means_no_dma_was_possible_and_says_why():
    with pytest.raises(pytest.skip.Exception, match="ran no copy jobs"):
        fslmc.check_dma_wiring({"tenant_jobs": 0})


def test_jobs_the_engine_never_ran_prove_nothing():
    with pytest.raises(Inconclusive, match="none of the tenant's 300 jobs"):
        fslmc.check_dma_wiring({"gap_check": {"changed": 0}, "tenant_jobs": 300, "tenant_dma_writes": 0})
    fslmc.check_dma_wiring({"gap_check": {"changed": 0}, "tenant_jobs": 300, "tenant_dma_writes": 98})
    fslmc.check_dma_wiring({"gap_check": {"changed": 0}, "tenant_jobs": 300, "tenant_dma_writes": None})  # a board


class _Ssh:
    def __init__(self, objects):
        self.objects = objects

    def run(self, cmd, timeout=None):
        return (self.objects, "", 0)


def test_the_tenant_runs_qdma_jobs_only_with_a_dpdmai_a_dpio_and_a_window():
    ssh = _Ssh(["dpmcp.3", "dpio.2", "dpio.1", "dpdmai.1"])
    assert fslmc.qdma_args(ssh, LX) == f"--qdma-dpio dpio.1 --window {LX.dma_window}"
    # type1: IOVAs over the tenant's own tmpfs pages, mapped with VFIO_IOMMU_MAP_DMA
    assert fslmc.qdma_args(ssh, LX.for_iommu("type1")) == \
        "--qdma-dpio dpio.1 --window 0xc0000000:0x100000 --dma-file /tmp/vfio-hil-dma-tenant"
    assert fslmc.qdma_args(_Ssh(["dpmcp.3", "dpdmai.1"]), LX) == ""
    import attrs
    assert fslmc.qdma_args(ssh, attrs.evolve(LX, dut_object="dpio.1")) == ""
