"""Find kernel warnings, oopses and panics in a console log or dmesg.

Each incident is the marker line plus the lines right after it, where the
kernel prints what went wrong. An incident matching a target's
known_boot_warnings is an emulation quirk: reported, with its reason, but not a
failure. Anything else is.
"""

from __future__ import annotations

import re

import attrs

# A WARN is "WARNING: CPU: 0 PID: 0 at FILE:LINE FUNC" up to 6.x and "WARNING: FILE:LINE at FUNC,
# CPU#0: COMM" from 7.x (lib/bug.c, __warn()); both are matched.
MARKERS = re.compile(r"(WARNING: CPU:|WARNING: \S+:\d+ at |BUG:|Oops|Kernel panic|Unable to handle kernel|"
                     r"Internal error:|general protection fault|kernel BUG at)")
# What the kernel prints when it misbehaves while a test runs, beyond the boot markers: an
# interrupt nobody handled, a reset handler or vfio-platform reporting a failed reset
# (vfio_platform_common.c "reset call failed", amdxgbe "PHY reset timeout" / "MAC SW reset
# failed", bcmflexrm "ring%d shutdown error", vfio_fsl_mc.c "reset device has failed"), and a
# task or CPU stuck in the kernel.
TEST_MARKERS = re.compile(MARKERS.pattern + r"|nobody cared|reset call failed|reset timeout|reset failed|"
                          r"reset device has failed|"
                          r"shutdown error|blocked for more than|soft lockup|rcu.{0,20}stall")
CONTEXT_LINES = 2


@attrs.frozen
class Incident:
    line_no: int        # 1-based, in the scanned text
    text: str           # the marker line and its context
    known_reason: str | None = None


def scan(text: str, known: list[dict] | None = None, markers: re.Pattern = MARKERS) -> list[Incident]:
    known = known or []
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if not markers.search(line):
            continue
        chunk = "\n".join(lines[i:i + 1 + CONTEXT_LINES])
        reason = next((k["reason"] for k in known if re.search(k["pattern"], chunk)), None)
        out.append(Incident(i + 1, chunk, reason))
    return out


def unexpected(incidents: list[Incident]) -> list[Incident]:
    return [i for i in incidents if i.known_reason is None]
