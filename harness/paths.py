"""Where vfio-hil keeps things on the host."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGETS_DIR = PROJECT_ROOT / "targets"
LAB_CONFIGS_DIR = PROJECT_ROOT / "lab-configs"
REPORTS_DIR = PROJECT_ROOT / "reports"


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/vfio-hil`` (default ``~/.cache/vfio-hil``), created 0700.

    0700 because it holds the SSH key that opens every target we build.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(base) / "vfio-hil"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    return root


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """``text`` into ``path``, readable by this user only from its creation (a password, a key, a
    config holding either): never briefly world-readable, as a write then chmod would leave it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)          # an existing file keeps its old mode through O_CREAT
