"""A fragment symbol that does not land is a clear exit-2 error, found before compiling anything."""

import attrs
import pytest

from harness.artifacts import build_artifacts
from harness.errors import FragmentError
from harness.kernel.spec import parse_kernel_spec
from harness.paths import cache_root

pytestmark = pytest.mark.integration


def test_symbol_that_does_not_land_names_symbol_and_fragment_line(highbank, kernel_spec, tmp_path):
    frag = tmp_path / "broken.config"
    frag.write_text("# a symbol no kernel has, and one whose dependency (ARCH_BCM_IPROC) is unmet here\n"
                    "CONFIG_VFIO_HIL_NO_SUCH_SYMBOL=y\nCONFIG_VFIO_PLATFORM_BCMFLEXRM_RESET=m\n")
    target = attrs.evolve(highbank, kconfig=[*highbank.kconfig, str(frag)])
    artifacts = cache_root() / "artifacts" / target.name
    before = set(artifacts.iterdir()) if artifacts.exists() else set()
    with pytest.raises(FragmentError) as exc:
        build_artifacts(target, parse_kernel_spec(kernel_spec), [])
    msg = str(exc.value)
    assert "CONFIG_VFIO_HIL_NO_SUCH_SYMBOL: asked =y at broken.config:2" in msg
    assert "CONFIG_VFIO_PLATFORM_BCMFLEXRM_RESET: asked =m at broken.config:3" in msg
    assert "kconfig_findings" in msg and exc.value.exit_code == 2
    assert set(artifacts.iterdir()) == before   # nothing half-built left behind

