"""Who maintains the handler, from a tree's MAINTAINERS (pure file parsing, a tiny fake tree)."""

from harness.kernel.maintainers import entry

MAINTAINERS = """List of maintainers
===================

Descriptions of section entries and preferred order
	M: *Mail* patches to: FullName <address@domain>

VFIO DRIVER
M:	Alex Williamson <alex@example.org>
S:	Maintained
F:	drivers/vfio/

VFIO FSL-MC DRIVER
L:	kvm@vger.kernel.org
S:	Orphan
F:	drivers/vfio/fsl-mc/

VFIO PLATFORM DRIVER
M:	Eric Auger <eric.auger@example.com>
S:	Maintained
F:	drivers/vfio/platform/
"""


def _tree(tmp_path):
    (tmp_path / "drivers/vfio/fsl-mc").mkdir(parents=True)
    (tmp_path / "drivers/vfio/platform/reset").mkdir(parents=True)
    (tmp_path / "drivers/vfio/fsl-mc/Kconfig").write_text("config VFIO_FSL_MC\n\ttristate \"x\"\n")
    (tmp_path / "drivers/vfio/platform/reset/Kconfig").write_text("config VFIO_PLATFORM_AMDXGBE_RESET\n")
    (tmp_path / "MAINTAINERS").write_text(MAINTAINERS)
    return tmp_path


def test_the_closest_section_wins_and_an_orphan_says_so(tmp_path):
    tree = _tree(tmp_path)
    e = entry(tree, "VFIO_FSL_MC")
    assert (e["section"], e["status"], e["maintainers"]) == ("VFIO FSL-MC DRIVER", "Orphan", [])
    e = entry(tree, "VFIO_PLATFORM_AMDXGBE_RESET")
    assert (e["section"], e["status"], e["maintainers"]) == ("VFIO PLATFORM DRIVER", "Maintained", ["Eric Auger"])
    assert entry(tree, "VFIO_NO_SUCH_SYMBOL") is None
