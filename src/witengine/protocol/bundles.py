"""The wire form of plugin bundles a hub serves: `GET /plugins` and `GET /keys/signing`.

The listing is a summary for choosing what to download; a node trusts none of it until the
bundle's bytes hash to `sha256` and `signature` verifies, and then reads the signed manifest
inside the bundle for everything it acts on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from witengine.protocol import SHA256_PATTERN, Answer, Count


class PluginBundle(Answer):
    """One bundle the hub serves, from `GET /plugins`."""

    name: Annotated[str, Field(max_length=100)]
    version: Annotated[str, Field(max_length=50)]
    entry: str  # module:attribute of the Plugin inside
    witengine: str  # the witengine versions it works with, e.g. ">=0.1,<0.2"
    platforms: list[str]  # ["any"] for pure Python
    python: str | None = None  # the interpreter its compiled files need
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)]
    size: Count
    signature: str  # base64 Ed25519 signature of the sha256, by the publisher key below
    key_id: str  # the publisher key's id (start of the sha256 of its raw bytes)
    url: str  # where to download it, relative to the API root


class SigningKey(Answer):
    """The public key a hub signs bundles with, from `GET /keys/signing`."""

    algorithm: Literal["ed25519"] = "ed25519"
    key_id: str
    public_key: str  # PEM (SubjectPublicKeyInfo)
