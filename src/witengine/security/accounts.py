"""An account's key: the Ed25519 key pair that signs the account's requests to a hub.

`wit account create NAME` makes one and keeps its private key in the user's config folder
(`accounts/NAME.key`, PKCS#8 PEM, mode 600, in a folder of mode 700), encrypted with a
passphrase when one is given (the cryptography library's best available encryption); the hub
keeps only the public half. Account names are those of pools' form; a name with a colon, and
`mint`, belong to the ledger's own accounts (`exchange:fees`, `escrow:JOB`, `mint`).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witengine.errors import WitError
from witengine.security.files import keep_private, write_private
from witengine.security.node_keys import key_fingerprint

ACCOUNT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"
RESERVED_NAMES = frozenset({"mint"})
_NAME = re.compile(ACCOUNT_NAME_PATTERN)


class AccountKeyError(WitError):
    """An account's key file is missing, unreadable, or its passphrase is wrong."""


def check_account_name(name: str) -> str:
    """`name` when it may name an account; AccountKeyError saying why not."""
    if not _NAME.fullmatch(name):
        raise AccountKeyError(
            f"{name!r} is not an account name: a letter or digit, then up to 39 letters, "
            "digits, '_', '.' or '-'"
        )
    if name in RESERVED_NAMES:
        raise AccountKeyError(f"{name!r} is the ledger's own account: choose another name")
    return name


def key_path(config_dir: Path, name: str) -> Path:
    return config_dir / "accounts" / f"{name}.key"


@dataclass(frozen=True)
class AccountKey:
    """An account's key pair, as its holder keeps it."""

    name: str
    private: Ed25519PrivateKey

    @classmethod
    def make(cls, name: str) -> AccountKey:
        return cls(check_account_name(name), Ed25519PrivateKey.generate())

    def save(self, path: Path, passphrase: str | None = None) -> None:
        """Keep the private key at `path` (mode 600), encrypted when a passphrase is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        write_private(path, pem.decode())

    @classmethod
    def load(cls, name: str, path: Path, passphrase: str | None = None) -> AccountKey:
        """The key kept at `path`; AccountKeyError when it is missing, not a key, or the
        passphrase does not open it."""
        try:
            data = path.read_bytes()
        except OSError:
            raise AccountKeyError(
                f"no key of account {name!r} in {path}: make one with wit account create {name}"
            ) from None
        keep_private(path)
        try:
            key = serialization.load_pem_private_key(
                data, password=passphrase.encode() if passphrase else None
            )
        except TypeError:
            wanted = "needs its passphrase" if not passphrase else "takes no passphrase"
            raise AccountKeyError(
                f"the key of account {name!r} ({path}) {wanted} (WIT_ACCOUNT_PASSPHRASE)"
            ) from None
        except ValueError:
            raise AccountKeyError(
                f"the key of account {name!r} ({path}) cannot be read: a wrong passphrase, "
                "or not a key"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AccountKeyError(f"{path} holds no Ed25519 key")
        return cls(name, key)

    @staticmethod
    def encrypted(path: Path) -> bool:
        """Whether the key file at `path` needs a passphrase."""
        try:
            return b"ENCRYPTED PRIVATE KEY" in path.read_bytes()[:64]
        except OSError:
            return False

    @property
    def public_key(self) -> str:
        """The raw 32-byte public key, in base64: what the hub keeps."""
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_key)
