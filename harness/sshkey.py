"""The SSH key that opens every target vfio-hil builds (kept 0600 in the 0700 cache)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def ensure_key(cache: Path) -> tuple[Path, str]:
    """Return (private key path, public key line), creating the key pair once."""
    key_dir = cache / "ssh"
    key_dir.mkdir(mode=0o700, exist_ok=True)
    priv, pub = key_dir / "id_ed25519", key_dir / "id_ed25519.pub"
    if not priv.exists() or not pub.exists():
        key = Ed25519PrivateKey.generate()
        tmp = priv.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
        pub.write_text(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH).decode() + " vfio-hil\n")
        tmp.replace(priv)
    return priv, pub.read_text().strip()
