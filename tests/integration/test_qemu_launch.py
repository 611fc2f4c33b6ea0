"""A QEMU that dies at launch raises at once with its command line and stderr, not a hang."""

import time

import pytest

from harness.artifacts import Artifacts
from harness.errors import CommandError
from harness.lab.session import booted
from harness.targets import get_target

pytestmark = pytest.mark.integration


def test_launch_failure_carries_command_line_and_stderr(tmp_path):
    missing = tmp_path / "no-such"
    art = Artifacts(missing, {"artifacts": {"kernel": "zImage", "dtb": "x.dtb", "initramfs": "initramfs.cpio.gz"}})
    started = time.monotonic()
    with pytest.raises(CommandError) as exc:
        with booted(get_target("qemu-highbank"), art, tmp_path / "boot"):
            pass
    assert time.monotonic() - started < 30
    msg = str(exc.value)
    assert "QEMU launch" in msg and "qemu-system-arm" in msg and str(missing / "zImage") in msg
    assert exc.value.log_path and exc.value.log_path.is_file()
    assert "zImage" in exc.value.output_tail   # QEMU's own complaint about the missing kernel
