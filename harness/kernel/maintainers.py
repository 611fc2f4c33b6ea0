"""Who maintains the code under test, as the kernel tree under test says (its MAINTAINERS file).

A removal decision weighs whether anyone looks after the code: vfio-fsl-mc was Maintained in 6.1,
Orphan in 6.12 and Maintained by NXP again in 7.2. The entry is found from the handler's Kconfig
symbol: the directory of the Kconfig file that declares it, then the MAINTAINERS section whose
F: pattern covers that directory most closely.
"""

from __future__ import annotations

import re
from pathlib import Path

_FIELD = re.compile(r"^([A-Z]):\s*(.*)$")
# Where the handlers' Kconfig files live; searching the whole tree would cost seconds per run.
SEARCH_DIRS = ("drivers/vfio",)


def kconfig_dir(tree: Path, symbol: str) -> str | None:
    """The tree-relative directory (with a trailing /) of the Kconfig file declaring ``symbol``
    (without CONFIG_), or None."""
    decl = re.compile(rf"^\s*(menu)?config\s+{re.escape(symbol)}\s*$", re.M)
    for top in SEARCH_DIRS:
        for kconfig in sorted((tree / top).rglob("Kconfig*")):
            if decl.search(kconfig.read_text(errors="replace")):
                return kconfig.parent.relative_to(tree).as_posix() + "/"
    return None


def sections(text: str) -> list[dict]:
    """MAINTAINERS' sections: {"title", "fields": {letter: [values]}}, after the preamble."""
    out, current = [], None
    for line in text.splitlines():
        m = _FIELD.match(line)
        if m and current is not None:
            current["fields"].setdefault(m.group(1), []).append(m.group(2).strip())
        elif line.strip() and not m and line == line.upper() and not line.startswith((" ", "\t")):
            current = {"title": line.strip(), "fields": {}}
            out.append(current)
        elif not line.strip():
            current = current if current is None or not current["fields"] else None
    return out


def entry(tree: Path, symbol: str) -> dict | None:
    """{"section", "status", "maintainers", "file_pattern"} for the code behind ``symbol``, or None."""
    directory = kconfig_dir(tree, symbol)
    maintainers = tree / "MAINTAINERS"
    if directory is None or not maintainers.is_file():
        return None
    best, best_len = None, -1
    for sec in sections(maintainers.read_text(errors="replace")):
        for pattern in sec["fields"].get("F", []):
            if directory.startswith(pattern) and len(pattern) > best_len:
                best, best_len = (sec, pattern), len(pattern)
    if best is None:
        return None
    sec, pattern = best
    return {"section": sec["title"], "status": (sec["fields"].get("S") or ["(none)"])[0],
            "maintainers": [re.sub(r"\s*<.*", "", m) for m in sec["fields"].get("M", [])],
            "file_pattern": pattern}
