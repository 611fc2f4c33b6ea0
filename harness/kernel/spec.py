"""Kernel specs: how a user names the kernel to judge.

    debian:6.1      newest linux-source-6.1 in Debian stable (as the host's apt sources reach it)
    debian:6.12     a series stable lacks comes from stable's backports (bookworm-backports)
    debian:sid      newest linux-source-X.Y in Debian unstable
    debian:7.2@sid  linux-source-7.2 from unstable (explicit suite)
    path:/abs/tree  a maintainer's own kernel tree, never modified by us
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from harness.errors import KernelSpecError

EXAMPLES = "debian:6.1, debian:6.12, debian:sid, debian:7.2@sid, debian:6.12@backports, path:/abs/linux"
_SERIES = re.compile(r"^\d+\.\d+$")


@attrs.frozen
class KernelSpec:
    kind: str                    # "debian" | "path"
    text: str                    # what the user wrote, for reports
    series: str | None = None    # "6.1"; None means "newest in the suite"
    suite: str | None = None     # "stable" (then its backports) | "backports" | "sid"
    path: Path | None = None


def parse_kernel_spec(text: str) -> KernelSpec:
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise KernelSpecError(f"kernel spec {text!r} is not of the form KIND:VALUE; use one of: {EXAMPLES}")
    if kind == "debian":
        series, _, suite = rest.partition("@")
        if series == "sid" and not suite:
            return KernelSpec("debian", text, series=None, suite="sid")
        if not _SERIES.match(series):
            raise KernelSpecError(
                f"kernel spec {text!r}: {series!r} is not a kernel series like 6.1 or 'sid'; use one of: {EXAMPLES}")
        suite = suite or "stable"
        if suite not in ("stable", "backports", "sid"):
            raise KernelSpecError(f"kernel spec {text!r}: unknown Debian suite {suite!r}; use @stable, @backports or @sid")
        return KernelSpec("debian", text, series=series, suite=suite)
    if kind == "path":
        path = Path(rest)
        if not path.is_absolute():
            raise KernelSpecError(f"kernel spec {text!r}: the tree must be an absolute path, e.g. path:{Path(rest).resolve()}")
        if not path.is_dir():
            raise KernelSpecError(f"kernel spec {text!r}: no directory at {path}; give the top of a kernel source tree")
        if not (path / "Makefile").is_file() or not (path / "Kconfig").is_file():
            raise KernelSpecError(
                f"kernel spec {text!r}: {path} has no top-level Makefile and Kconfig; it is not a kernel source tree")
        return KernelSpec("path", text, path=path)
    raise KernelSpecError(f"kernel spec {text!r}: unknown kind {kind!r}; use one of: {EXAMPLES}")
