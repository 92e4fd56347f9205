"""A node's own key: the Ed25519 key pair a node without a token asks to join with.

The node makes it on its first ask and keeps the private key in its cache folder (`node.key`,
PEM, mode 600). The hub knows the node by its public key's fingerprint (`sha256:` and the hex
SHA-256 of the raw 32-byte key), which both sides show so that an admin can tell the machine
before approving it. The node proves it holds the key by signing a challenge the hub gave it,
never by sending a secret: a listener who learns the public key or the fingerprint (both are
shown to every viewer) cannot get the node's credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from witengine.security.files import read_private, write_private

NODE_KEY_FILE = "node.key"
_SIGNED = b"witengine node join\n"  # what a signature is for, before the challenge


def key_fingerprint(public_key: str) -> str:
    """`sha256:<hex>` of a raw public key given in base64; ValueError when it is not one."""
    return "sha256:" + hashlib.sha256(_raw_public(public_key)).hexdigest()


def short_fingerprint(fingerprint: str) -> str:
    """The first 16 hex digits, in groups of four: enough to tell two machines apart by eye
    (no one can make a key to match 64 chosen bits)."""
    digits = fingerprint.removeprefix("sha256:")[:16]
    return "-".join(digits[at : at + 4] for at in range(0, len(digits), 4))


def signs(public_key: str, challenge: str, signature: str) -> bool:
    """Whether `signature` (base64) is the key's signature of `challenge`."""
    try:
        key = Ed25519PublicKey.from_public_bytes(_raw_public(public_key))
        key.verify(base64.b64decode(signature, validate=True), _SIGNED + challenge.encode())
    except (ValueError, binascii.Error, InvalidSignature):
        return False
    return True


def _raw_public(public_key: str) -> bytes:
    try:
        raw = base64.b64decode(public_key, validate=True)
    except binascii.Error:
        raise ValueError("a public key is 32 bytes in base64") from None
    if len(raw) != 32:
        raise ValueError("a public key is 32 bytes in base64")
    return raw


@dataclass(frozen=True)
class NodeKey:
    """A node's key pair, as the node holds it."""

    private: Ed25519PrivateKey

    @classmethod
    def load_or_make(cls, folder: Path) -> NodeKey:
        """The key kept in `folder/node.key`, made (and kept, mode 600) the first time."""
        path = folder / NODE_KEY_FILE
        text = read_private(path)
        if text is not None:
            try:
                loaded = serialization.load_pem_private_key(text.encode(), password=None)
            except ValueError:
                loaded = None
            if isinstance(loaded, Ed25519PrivateKey):
                return cls(loaded)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        folder.mkdir(parents=True, exist_ok=True)
        write_private(path, pem.decode())
        return cls(key)

    @property
    def public_key(self) -> str:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_key)

    def sign(self, challenge: str) -> str:
        return base64.b64encode(self.private.sign(_SIGNED + challenge.encode())).decode()
