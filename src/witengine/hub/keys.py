"""The hub's keys: the Ed25519 key it signs plugin bundles with, created on its first start.

The private key lives in `<data-dir>/keys/signing.key` (PKCS#8 PEM, mode 600, in a folder of
mode 700); its public half is written beside it as `signing.pub` so an operator can copy it to
nodes (`wit node --trust-key signing.pub`). Every key the hub holds is handled here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witengine.errors import WitError
from witengine.plugins.bundles import key_id, public_key_pem
from witengine.security.files import keep_private

log = logging.getLogger(__name__)


class SigningKeyError(WitError):
    """The hub's key file exists but cannot be used."""


def signing_key(data_dir: Path) -> Ed25519PrivateKey:
    """The hub's signing key: read from the data dir, or made and stored there the first time."""
    folder = data_dir / "keys"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "signing.key"
    try:
        key = _create(path)
        log.info("created the hub's signing key %s in %s", key_id(key.public_key()), path)
    except FileExistsError:
        key = _read(path)
    public = folder / "signing.pub"
    text = public_key_pem(key.public_key())
    if not public.exists() or public.read_text() != text:
        public.write_text(text)
    return key


def _create(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: two hubs starting on one data dir never overwrite each other's key.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, pem)
    except BaseException:
        os.close(descriptor)
        path.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    return key


def _read(path: Path) -> Ed25519PrivateKey:
    keep_private(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"the hub's signing key {path} cannot be read: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the hub's signing key {path} is not an Ed25519 key")
    return key
