"""What the strategy makes of the console after power-on (VfioHilStrategy._await_ready), read by
pexpect from a pipe holding what a board printed: the ready line, or the lab's error naming what
went wrong (a kernel panic, GRUB's own error, a kexec -e that came back to the stable prompt)."""

import os
from types import SimpleNamespace

import pytest
from pexpect.fdpexpect import fdspawn

from harness.errors import InfrastructureError
from harness.lab.strategy import VfioHilStrategy


class PipeConsole:
    """labgrid's console expect() (index, before, match, after) over a pipe of fixed output."""

    def __init__(self, text: str):
        r, self.w = os.pipe()          # left open: a board that goes quiet, not one that is gone
        os.write(self.w, text.encode())
        self.p = fdspawn(r)

    def expect(self, patterns, timeout):
        index = self.p.expect(patterns, timeout=timeout)
        return index, self.p.before, self.p.match, self.p.after


def strategy(text: str, grub_cfg=(), kexec=()):
    return SimpleNamespace(ready_marker="VFIO-HIL-READY", boot_timeout=1, grub_cfg=list(grub_cfg),
                           kexec=list(kexec), stable=SimpleNamespace(prompt="root@[^:]+:[^#]*# "),
                           console=PipeConsole(text), ready_line="")


def test_the_ready_line_is_taken_whole():
    s = strategy("Booting Linux\r\nVFIO-HIL-READY target=t ssh=up hostkey=AAAA\r\nvfio-hil:/# ")
    VfioHilStrategy._await_ready(s)
    assert s.ready_line == "VFIO-HIL-READY target=t ssh=up hostkey=AAAA"


@pytest.mark.parametrize("text,kw,said", [
    ("[ 1.0] Kernel panic - not syncing: VFS\r\n", {}, "the kernel failed while booting (Kernel panic - not syncing)"),
    ("error: file `/grub/Image' not found.\r\n", {"grub_cfg": ["linux x"]},
     "GRUB: error: file `/grub/Image' not found."),
    ("kexec -e\r\nNothing has been loaded!\r\nroot@seattle:~# ", {"kexec": ["kexec -e"]},
     "kexec -e came back to the stable system's prompt"),
])
def test_what_went_wrong_is_named_as_the_labs_error(text, kw, said):
    with pytest.raises(InfrastructureError) as exc:
        VfioHilStrategy._await_ready(strategy(text, **kw))
    assert str(exc.value).startswith(said), str(exc.value)


def test_a_grub_error_is_not_watched_for_without_grub():
    with pytest.raises(InfrastructureError, match="no 'VFIO-HIL-READY' on the console within"):
        VfioHilStrategy._await_ready(strategy("error: file `/x' not found.\r\n" + "." * 10))
