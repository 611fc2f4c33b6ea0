"""The next guest: a VMM on the target (Debian 12's QEMU 7.2) runs a bare-metal guest with the
device assigned; the guest's driver has DMA and interrupts running when its VMM is killed, crashes,
exits, or resets the guest; the next guest watches its own RAM where the previous guest's buffers
were and counts the device's interrupts from its first instructions (harness/vmm/check.py says
each variant and what is measured).

Type1 only (QEMU's vfio needs an IOMMU container) and only for a profile with a vmm_device.
The real handler's checks first, then their null-reset controls: each check's pass rests on its
own control (results.control_of), which must see the same bleed with a handler that does nothing.
This module puts the handler each needs in place itself, whatever the module before it left."""

import tempfile
from pathlib import Path

import pytest

from harness.paths import cache_root
from harness.suite import platform
from harness.vmm import bundle, check
from harness.vmm.guest_build import build_guest

pytestmark = [pytest.mark.buses("platform"), pytest.mark.iommu("type1")]


@pytest.fixture(scope="module")
def vmm_staged(dut_bound, ssh, profile):
    """The VMM bundle and the guest, on the target."""
    if not profile.vmm_device:
        pytest.skip("the profile names no vmm_device: no VMM can assign this device")
    with tempfile.TemporaryDirectory(prefix="vfio-hil-guest-") as tmp:
        return check.stage(ssh, bundle.stage(cache_root()), build_guest(Path(tmp)))


@pytest.fixture(scope="module")
def vmm_runs():
    """Each (handler, variant) experiment runs once; its two checks read the same evidence."""
    return {}


def _experiment(runs, handler, ssh, profile, variant, twin, staged):
    if (handler, variant) not in runs:
        (platform.use_null_reset if handler == "null" else platform.use_real_reset)(ssh, profile)
        runs[(handler, variant)] = check.run_variant(ssh, profile, variant, twin)
    return {**runs[(handler, variant)], "staged": staged}


@pytest.mark.vfio_id("vmm.{variant}.{measure}")
@pytest.mark.parametrize("measure", check.MEASURES)
@pytest.mark.parametrize("variant", check.VARIANTS)
def test_vmm_next_guest(vmm_staged, ssh, profile, twin, vmm_runs, variant, measure, evidence):
    """Nothing of the previous guest's device reaches the next guest: no canary byte of its RAM
    written (guest_dma_bleed), no interrupt of the device delivered (guest_irq_bleed)."""
    ev = _experiment(vmm_runs, "real", ssh, profile, variant, twin, vmm_staged)
    evidence.update(ev)
    if measure == "guest_dma_bleed":
        assert not check.dma_bled(ev), check.why_bled(ev, "dma")
    else:
        assert not check.irq_bled(ev), check.why_bled(ev, "irq")


@pytest.mark.vfio_id("control.null_reset.vmm.{variant}.{measure}")
@pytest.mark.parametrize("measure", check.MEASURES)
@pytest.mark.parametrize("variant", check.VARIANTS)
def test_vmm_control_null_reset(vmm_staged, ssh, profile, twin, vmm_runs, variant, measure, evidence):
    """The same experiment with the null-reset module: the bleed its check would see must be seen."""
    ev = _experiment(vmm_runs, "null", ssh, profile, variant, twin, vmm_staged)
    evidence.update(ev)
    if measure == "guest_dma_bleed":
        assert check.dma_bled(ev), (f"without the reset no canary byte of the next guest changed ({ev['next_guest']}): "
                                    f"vmm.{variant}.guest_dma_bleed could not see a bleed")
    else:
        assert check.irq_bled(ev), (f"without the reset no interrupt reached the next guest ({ev['next_guest']}): "
                                    f"vmm.{variant}.guest_irq_bleed could not see one")
