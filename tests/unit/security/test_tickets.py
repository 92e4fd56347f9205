"""Tickets to a node's page: the hub signs one for a node, a role and a while; the node takes only
its own, signed by its hub's key, in time."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witengine.security.tickets import (
    CLOCK_SKEW,
    TICKET_SECONDS,
    TicketError,
    make_ticket,
    read_ticket,
)
from witengine.security.tokens import Role

NOW = 1_800_000_000.0
HUB = Ed25519PrivateKey.generate()


@pytest.mark.parametrize(
    ("role", "read_as", "may_pause"),
    [
        (Role.ADMIN, Role.ADMIN, True),
        (Role.VIEWER, Role.VIEWER, False),
        (Role.SUBMITTER, Role.VIEWER, False),
    ],
)
def test_a_ticket_reads_back_with_its_role(role: Role, read_as: Role, may_pause: bool) -> None:
    ticket = read_ticket(make_ticket(HUB, "node_1", role, NOW), [HUB.public_key()], "node_1", NOW)
    assert (ticket.node_id, ticket.role, ticket.may_pause) == ("node_1", read_as, may_pause)
    assert ticket.expires == NOW + TICKET_SECONDS


def tampered() -> str:
    _, _, signature = make_ticket(HUB, "node_1", Role.VIEWER, NOW).partition(".")
    other, _, _ = make_ticket(HUB, "node_1", Role.ADMIN, NOW).partition(".")
    return f"{other}.{signature}"


def bundle_signed() -> str:
    """A signature by the hub's key over the body alone (as a bundle's is over its manifest)."""
    body, _, _ = make_ticket(HUB, "node_1", Role.ADMIN, NOW).partition(".")
    import base64

    signature = base64.urlsafe_b64encode(HUB.sign(body.encode())).rstrip(b"=").decode()
    return f"{body}.{signature}"


@pytest.mark.parametrize(
    ("text", "node_id", "now", "why"),
    [
        (
            make_ticket(Ed25519PrivateKey.generate(), "node_1", Role.ADMIN, NOW),
            "node_1",
            NOW,
            "not signed by this node's hub",
        ),
        (make_ticket(HUB, "node_2", Role.ADMIN, NOW), "node_1", NOW, "for another node"),
        (make_ticket(HUB, "node_1", Role.ADMIN, NOW), None, NOW, "for another node"),
        (
            make_ticket(HUB, "node_1", Role.ADMIN, NOW),
            "node_1",
            NOW + TICKET_SECONDS + CLOCK_SKEW + 1,
            "expired",
        ),
        (tampered(), "node_1", NOW, "not signed by this node's hub"),
        (bundle_signed(), "node_1", NOW, "not signed by this node's hub"),
        ("wit-admin.tok_0123456789ab.secret", "node_1", NOW, "not a ticket"),
        ("", "node_1", NOW, "not a ticket"),
    ],
)
def test_a_ticket_that_is_not_this_nodes_is_refused(
    text: str, node_id: str | None, now: float, why: str
) -> None:
    with pytest.raises(TicketError, match=why):
        read_ticket(text, [HUB.public_key()], node_id, now)
