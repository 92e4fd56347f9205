"""Tokens: their format, their roles, and how their secrets are kept and compared.

A token is one copy-pasteable string, `wit-<role>.<id>.<secret>`: the id names its row in the
hub's store (and in the audit log), the secret is 32 random bytes of which the hub keeps only the
SHA-256. A join token (`wit-join.<id>.<secret>[.<fingerprint>]`) also carries the hex SHA-256 of
the hub's TLS certificate, so a node can pin the hub before it sends any secret; the part is
absent when the hub serves plain HTTP. Secrets are compared in constant time.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from witengine.errors import WitError

TOKEN_ID_PREFIX = "tok_"
_ID = re.compile(r"tok_[0-9a-f]{12}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
_FINGERPRINT_HEX = re.compile(r"[0-9a-f]{64}")
_TTL = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_LABEL = 200


class Role(StrEnum):
    """What a token may do. `join` tokens only enrol nodes, which then get `node` credentials."""

    ADMIN = "admin"
    SUBMITTER = "submitter"
    VIEWER = "viewer"
    NODE = "node"
    JOIN = "join"
    ACCOUNT = "account"  # registers an exchange account, active at once (wit account create)


# Roles whose rights include another's: an admin may do what a submitter may, and so on.
_INCLUDES: dict[Role, frozenset[Role]] = {
    Role.ADMIN: frozenset({Role.ADMIN, Role.SUBMITTER, Role.VIEWER}),
    Role.SUBMITTER: frozenset({Role.SUBMITTER, Role.VIEWER}),
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.NODE: frozenset({Role.NODE}),
    Role.JOIN: frozenset({Role.JOIN}),
    Role.ACCOUNT: frozenset({Role.ACCOUNT}),
}


def grants(role: Role, wanted: Role) -> bool:
    """Whether a token of `role` may do what `wanted` may."""
    return wanted in _INCLUDES[role]


class TokenError(WitError):
    """A string is not a witengine token, or a token option is malformed."""


@dataclass(frozen=True)
class TokenText:
    """A token as presented: its id, secret and (join tokens) the hub's fingerprint."""

    token_id: str
    secret: str
    kind: str  # the role written in the token; the store's row decides what it may do
    fingerprint: str | None = None  # "sha256:<hex>"


@dataclass(frozen=True)
class NewToken:
    """A token just made: the text to hand over once, and what the store keeps."""

    text: str
    token_id: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    """What the store keeps of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    """Whether `secret` hashes to `secret_hash`, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret).encode(), secret_hash.encode())


def new_token_id() -> str:
    return TOKEN_ID_PREFIX + secrets.token_hex(6)


def make_token(role: Role, fingerprint: str | None = None) -> NewToken:
    """A fresh token of `role`; a join token carries `fingerprint` ("sha256:<hex>") when given."""
    token_id = new_token_id()
    secret = secrets.token_urlsafe(32)
    text = f"wit-{role.value}.{token_id}.{secret}"
    if role is Role.JOIN and fingerprint:
        text += "." + _fingerprint_hex(fingerprint)
    return NewToken(text, token_id, hash_secret(secret))


def _fingerprint_hex(fingerprint: str) -> str:
    hex_part = fingerprint.removeprefix("sha256:").replace(":", "").lower()
    if not _FINGERPRINT_HEX.fullmatch(hex_part):
        raise TokenError(f"{fingerprint!r} is not a sha256 fingerprint")
    return hex_part


def parse_token(text: str) -> TokenText:
    """Read a token; TokenError (which never repeats the secret) when it is not one."""
    parts = text.strip().split(".")
    kinds = {f"wit-{role.value}": role.value for role in Role}
    if len(parts) not in (3, 4) or parts[0] not in kinds:
        raise TokenError("not a witengine token (wit-<role>.<id>.<secret>)")
    _, token_id, secret, *rest = parts
    if not _ID.fullmatch(token_id) or not _SECRET.fullmatch(secret):
        raise TokenError("not a witengine token (malformed id or secret)")
    fingerprint = None
    if rest:
        if parts[0] != "wit-join" or not _FINGERPRINT_HEX.fullmatch(rest[0]):
            raise TokenError("not a witengine token (malformed fingerprint part)")
        fingerprint = "sha256:" + rest[0]
    return TokenText(token_id, secret, kinds[parts[0]], fingerprint)


def parse_ttl(text: str) -> float:
    """Seconds of a lifetime such as `90s`, `15m`, `8h`, `30d`, `2w` (or `1d12h`)."""
    compact = text.strip().lower().replace(" ", "")
    matched = list(_TTL.finditer(compact))
    if not compact or "".join(m.group(0) for m in matched) != compact:
        raise TokenError(f"--ttl {text!r}: write a number and a unit s, m, h, d or w (e.g. 8h)")
    seconds = sum(float(m.group(1)) * _UNIT_SECONDS[m.group(2)] for m in matched)
    if seconds <= 0:
        raise TokenError(f"--ttl {text!r}: a lifetime must be longer than zero")
    return seconds
