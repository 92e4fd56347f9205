"""Tickets to a node's own page: what the hub signs so that a node can tell, offline, who may see
its page from another machine and press its buttons.

A node cannot check the hub's tokens (the hub keeps only their hashes), and should never see
them: any machine enrolled as a node would collect the tokens of everyone who opened its page.
So the hub, which checked the person's token, signs a ticket instead: `<body>.<signature>`, both
base64url, the body the JSON `{"node": id, "role": "viewer"|"admin", "exp": seconds}`, signed
with the hub's Ed25519 key (the one that signs plugin bundles, which every node pins on first
contact) over a prefix that no bundle signature shares. A ticket opens one node's page, for a
while, with a role: nothing else, and not the hub.

Pure: no I/O, no clock (the time is passed in).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from witengine.errors import WitError
from witengine.security.tokens import Role

TICKET_SECONDS = 3600.0  # how long a ticket opens the page
CLOCK_SKEW = 120.0  # how far the node's clock may be behind the hub's
_DOMAIN = b"witengine node page ticket\n"  # what is signed starts so: never a bundle's manifest
ROLES = (Role.VIEWER, Role.ADMIN)  # viewers read the page; admins may also pause and resume


class TicketError(WitError):
    """A ticket does not open this page; the message says why."""


@dataclass(frozen=True)
class Ticket:
    node_id: str
    role: Role
    expires: float  # seconds since the epoch, by the hub's clock

    @property
    def may_pause(self) -> bool:
        return self.role is Role.ADMIN


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_ticket(
    key: Ed25519PrivateKey, node_id: str, role: Role, now: float, seconds: float = TICKET_SECONDS
) -> str:
    """A ticket to `node_id`'s page for `role` (an admin's, else a viewer's), from `now`."""
    role = Role.ADMIN if role is Role.ADMIN else Role.VIEWER
    body = json.dumps(
        {"node": node_id, "role": role.value, "exp": round(now + seconds)}, separators=(",", ":")
    ).encode()
    text = _b64(body)
    return f"{text}.{_b64(key.sign(_DOMAIN + text.encode()))}"


def read_ticket(
    text: str, keys: Sequence[Ed25519PublicKey], node_id: str | None, now: float
) -> Ticket:
    """The ticket `text`, checked: signed by one of `keys`, for `node_id`, not expired."""
    body_text, _, signature_text = text.strip().partition(".")
    if not body_text or not signature_text or len(text) > 2000:
        raise TicketError("not a ticket")
    try:
        signature = _unb64(signature_text)
        body = json.loads(_unb64(body_text))
    except ValueError:
        raise TicketError("not a ticket") from None
    if not any(_verifies(key, signature, body_text) for key in keys):
        raise TicketError("the ticket is not signed by this node's hub")
    if not isinstance(body, dict):
        raise TicketError("not a ticket")
    node, role, expires = body.get("node"), body.get("role"), body.get("exp")
    if node_id is None or node != node_id:
        raise TicketError("the ticket is for another node")
    if role not in {r.value for r in ROLES} or not isinstance(expires, int | float):
        raise TicketError("not a ticket")
    if now > expires + CLOCK_SKEW:
        raise TicketError("the ticket has expired: open the page again from the hub's dashboard")
    return Ticket(node, Role(role), float(expires))


def _verifies(key: Ed25519PublicKey, signature: bytes, body_text: str) -> bool:
    try:
        key.verify(signature, _DOMAIN + body_text.encode())
    except InvalidSignature:
        return False
    return True
