"""Signed requests: what an account signs, and how a signature is checked.

A request that moves value carries four headers beside its body: `X-Wit-Account` (the account's
name), `X-Wit-Timestamp` (seconds since the epoch, an integer), `X-Wit-Nonce` (16 to 64 letters,
digits, '-' or '_', never used twice by one account) and `X-Wit-Signature` (base64 of the
account's Ed25519 signature). What is signed is the canonical text

    witengine signed request v1\n<ACCOUNT>\n<METHOD>\n<PATH>\n<sha256 hex of the body>\n
    <TIMESTAMP>\n<NONCE>

(one line each, no newline at the end), so a signature holds only for that account, method,
path, body and moment. The hub checks it against the account's registered public key, the
timestamp against its clock (a window either side) and the nonce against those it has kept;
it keeps every signed body, so anyone can check it again later with the public keys.

Pure: no I/O, no clock (times are passed in).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from witengine.errors import WitError

ACCOUNT_HEADER = "X-Wit-Account"
TIMESTAMP_HEADER = "X-Wit-Timestamp"
NONCE_HEADER = "X-Wit-Nonce"
SIGNATURE_HEADER = "X-Wit-Signature"
HEADERS = (ACCOUNT_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
WINDOW_SECONDS = 300  # how far a signed request's timestamp may be from the hub's clock
_PREFIX = "witengine signed request v1"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(WitError):
    """A signed request's headers are missing or malformed, or its signature does not hold."""


@dataclass(frozen=True)
class Signed:
    """A request's signature headers, read."""

    account: str
    timestamp: int
    nonce: str
    signature: str  # base64


def canonical(
    account: str, method: str, path: str, body: bytes, timestamp: int, nonce: str
) -> bytes:
    """The text an account signs for a request."""
    digest = hashlib.sha256(body).hexdigest()
    lines = (_PREFIX, account, method.upper(), path, digest, str(timestamp), nonce)
    return "\n".join(lines).encode()


def sign_request(
    key: Ed25519PrivateKey, account: str, method: str, path: str, body: bytes, now: float
) -> dict[str, str]:
    """The headers that sign a request of `account` with its key, at time `now`."""
    timestamp = int(now)
    nonce = secrets.token_urlsafe(18)
    signature = key.sign(canonical(account, method, path, body, timestamp, nonce))
    return {
        ACCOUNT_HEADER: account,
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
    }


def read_headers(headers: Mapping[str, str]) -> Signed:
    """The signature headers of a request; SignatureError naming what is missing or malformed."""
    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [name for name in HEADERS if name.lower() not in lowered]
    if missing:
        raise SignatureError(
            f"this request must be signed by its account: missing header(s) {', '.join(missing)}"
        )
    account = lowered[ACCOUNT_HEADER.lower()].strip()
    timestamp = lowered[TIMESTAMP_HEADER.lower()].strip()
    nonce = lowered[NONCE_HEADER.lower()].strip()
    signature = lowered[SIGNATURE_HEADER.lower()].strip()
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError(f"{TIMESTAMP_HEADER} must be whole seconds since the epoch")
    if not _NONCE.fullmatch(nonce):
        raise SignatureError(f"{NONCE_HEADER} must be 16 to 64 letters, digits, '-' or '_'")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise SignatureError(f"{SIGNATURE_HEADER} must be a 64-byte Ed25519 signature in base64")
    return Signed(account, int(timestamp), nonce, signature)


def check_time(signed: Signed, now: float, window: float = WINDOW_SECONDS) -> None:
    """SignatureError when the request's timestamp is outside the window around `now`."""
    off = signed.timestamp - now
    if abs(off) > window:
        when = "ahead of" if off > 0 else "behind"
        raise SignatureError(
            f"stale signature: its timestamp is {abs(off):.0f} s {when} the hub's clock "
            f"(at most {window:.0f} s either way); sign the request afresh"
        )


def verifies(public_key: str, signed: Signed, method: str, path: str, body: bytes) -> bool:
    """Whether `signed` is the signature, by the key `public_key` (raw, base64), of the request."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(
            base64.b64decode(signed.signature, validate=True),
            canonical(signed.account, method, path, body, signed.timestamp, signed.nonce),
        )
    except (ValueError, binascii.Error, InvalidSignature):
        return False
    return True
