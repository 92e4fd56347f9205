"""`TokenBook`: makes, checks and revokes tokens in a hub's store, and writes the audit log.

The one place that turns a presented token into a `Principal` or a reason for refusing it; the
API, the CLI working on a data directory and the hub's first start all go through it. It keeps
only the SHA-256 of each secret and compares in constant time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from witengine.errors import WitError
from witengine.hub.store.base import AuditRecord, Store, TokenRecord
from witengine.security.files import write_private
from witengine.security.tokens import (
    MAX_LABEL,
    Role,
    TokenError,
    hash_secret,
    make_token,
    parse_token,
    secret_matches,
)

ADMIN_TOKEN_FILE = "admin.token"
ADMIN_TOKEN_LABEL = "admin.token (made on the hub's first start)"
TOUCH_SECONDS = 60.0  # last_used is written at most this often per token
_DUMMY_HASH = hash_secret("not a secret anyone holds")


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a token that checked out."""

    token_id: str
    role: Role
    label: str = ""
    node_id: str | None = None  # node credentials: the node it is

    @property
    def actor(self) -> str:
        return f"{self.token_id} ({self.role.value})"


class Refused(WitError):
    """A presented token does not let anyone in; the message says why (never the secret)."""

    def __init__(self, reason: str, token_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_id = token_id


@dataclass(frozen=True)
class Issued:
    """A token just made: its text (to hand over once) and its stored record."""

    text: str
    record: TokenRecord


class TokenBook:
    def __init__(self, store: Store, wall: Callable[[], float]) -> None:
        self.store = store
        self.wall = wall
        self._touched: dict[str, float] = {}

    # ------------------------------------------------------------- making

    def issue(
        self,
        role: Role,
        *,
        label: str = "",
        ttl_seconds: float | None = None,
        node_id: str | None = None,
        created_by: str | None = None,
        max_uses: int | None = None,
        fingerprint: str | None = None,
        pool: str | None = None,
        owner: str | None = None,
    ) -> Issued:
        """Make a token and keep its record; a join token carries `fingerprint`, and the pool
        and owner of the nodes it enrols (a node credential, those of its node)."""
        if len(label) > MAX_LABEL:
            raise TokenError(f"a label has at most {MAX_LABEL} characters")
        if max_uses is not None and max_uses < 1:
            raise TokenError("--uses must be at least 1")
        if (pool is not None or owner is not None) and role not in (Role.JOIN, Role.NODE):
            raise TokenError("--pool and --owner are for node tokens only (--role node)")
        if pool is not None and self.store.get_pool(pool) is None:
            known = ", ".join(p.name for p in self.store.list_pools())
            raise TokenError(f"no pool named {pool!r} (pools: {known}); add it with wit pools add")
        now = self.wall()
        made = make_token(role, fingerprint)
        record = TokenRecord(
            id=made.token_id,
            role=role.value,
            label=label,
            secret_hash=made.secret_hash,
            created_at=now,
            expires_at=now + ttl_seconds if ttl_seconds is not None else None,
            node_id=node_id,
            created_by=created_by,
            max_uses=max_uses,
            pool=pool,
            owner=owner,
        )
        self.store.add_token(record)
        return Issued(made.text, record)

    def revoke(self, token_id: str) -> bool:
        """Revoke a token at once; False when there is none or it was revoked already."""
        return self.store.revoke_token(token_id, self.wall())

    # ------------------------------------------------------------ checking

    def verify(self, text: str) -> Principal:
        """The principal a presented token names; Refused with the reason otherwise."""
        try:
            presented = parse_token(text)
        except TokenError as error:
            secret_matches("x", _DUMMY_HASH)  # the same work as for a real token
            raise Refused(f"malformed token: {error}") from None
        record = self.store.get_token(presented.token_id)
        matches = secret_matches(presented.secret, record.secret_hash if record else _DUMMY_HASH)
        if record is None or not matches:
            raise Refused("unknown token", presented.token_id)
        now = self.wall()
        if record.revoked_at is not None:
            raise Refused(f"token {record.id} was revoked", record.id)
        if record.expires_at is not None and now >= record.expires_at:
            raise Refused(f"token {record.id} has expired", record.id)
        self._touch(record.id, now)
        return Principal(record.id, Role(record.role), record.label, record.node_id)

    def named_id(self, text: str) -> str | None:
        """The id of the stored token `text` names, its secret unchecked: None for a malformed
        token or one naming no token this hub made."""
        try:
            token_id = parse_token(text).token_id
        except TokenError:
            return None
        return token_id if self.store.get_token(token_id) is not None else None

    def former_node(self, text: str) -> str | None:
        """The node a node credential was made for, when `text` is that credential, revoked
        or expired or not: its secret proves the bearer is that node (its cache folder)."""
        try:
            presented = parse_token(text)
        except TokenError:
            return None
        record = self.store.get_token(presented.token_id)
        matches = secret_matches(presented.secret, record.secret_hash if record else _DUMMY_HASH)
        if record is None or not matches or record.role != Role.NODE.value:
            return None
        return record.node_id

    def still_valid(self, token_id: str) -> bool:
        """Whether a token that checked out earlier is still neither revoked nor expired."""
        record = self.store.get_token(token_id)
        if record is None or record.revoked_at is not None:
            return False
        return record.expires_at is None or self.wall() < record.expires_at

    def _touch(self, token_id: str, now: float) -> None:
        if now - self._touched.get(token_id, float("-inf")) < TOUCH_SECONDS:
            return
        if len(self._touched) > 10_000:  # bounded: forget, at worst write last_used again
            self._touched.clear()
        self._touched[token_id] = now
        self.store.touch_token(token_id, now)

    # --------------------------------------------------------------- audit

    def audit(
        self,
        action: str,
        outcome: str,
        *,
        actor: Principal | None = None,
        actor_id: str | None = None,
        address: str = "",
        target: str = "",
    ) -> None:
        self.store.append_audit(
            AuditRecord(
                at=self.wall(),
                action=action,
                outcome=outcome[:500],
                actor_id=actor.token_id if actor else actor_id,
                actor_role=actor.role.value if actor else None,
                address=address,
                target=target[:500],
            )
        )

    # ------------------------------------------------------- the first admin

    def ensure_admin_token(self, data_dir: Path) -> str | None:
        """On a hub's first start: make an admin token, write it to `admin.token` (mode 600)
        and return it to be shown once. None when the hub has made one before."""
        path = data_dir / ADMIN_TOKEN_FILE
        if path.exists() or any(
            t.label == ADMIN_TOKEN_LABEL and t.revoked_at is None for t in self.store.list_tokens()
        ):
            return None
        issued = self.issue(Role.ADMIN, label=ADMIN_TOKEN_LABEL)
        write_private(path, issued.text + "\n")
        self.audit("token.create", "ok", target=f"{issued.record.id} (admin, first start)")
        return issued.text
