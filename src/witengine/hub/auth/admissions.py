"""Nodes that join without a token (`wit hub --approve-lan`): their asks, the admins' answers,
and the routes of both.

A node on the hub's local network (`lan`) asks `POST /nodes/join` with its name, machine and
public key. It waits as `pending` until an admin approves it (`POST /join-requests/{id}/approve`)
or refuses it (`…/refuse`); an approved node is given its own credential at its next ask signed
with its key (a challenge the hub handed it, so only the key's holder gets it), and is then a node
like any other. Refused and revoked nodes (`POST /nodes/{id}/revoke`) are remembered by key in
the store and refused when they ask again. The ask is the one route besides the health check
that takes no token: what lets a node in is an admin's approval, never the ask.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from fastapi import APIRouter, HTTPException, Request, Response, status

from witengine.hub.auth.book import TokenBook
from witengine.hub.auth.gate import AuthGate, address_of, principal_of
from witengine.hub.auth.lan import lan_refusal
from witengine.hub.store.base import JoinRecord, Store
from witengine.protocol import ErrorBody
from witengine.protocol.auth import Enrolment, JoinAsk, JoinInfo, JoinWaiting, NodeRevoked
from witengine.protocol.states import Admission
from witengine.security.node_keys import key_fingerprint, short_fingerprint, signs
from witengine.security.tokens import Role

log = logging.getLogger(__name__)
MAX_WAITING = 100  # nodes pending at once: more asks are refused (429) until admins answer some
WallClock = Callable[[], float]


class JoinRefused(Exception):
    """An ask the hub turns away, with its status and the reason the node prints."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Admissions:
    """The hub's side of joining without a token."""

    def __init__(
        self, store: Store, book: TokenBook, gate: AuthGate, wall: WallClock, *, open_: bool
    ) -> None:
        self.store = store
        self.book = book
        self.gate = gate
        self.wall = wall
        self.open = open_  # wit hub --approve-lan
        self._challenges: dict[str, str] = {}  # key fingerprint -> what its next ask signs

    async def ask(self, ask: JoinAsk, address: str) -> Enrolment | JoinWaiting:
        """Answer a node's ask: its credential when approved and the ask is signed, else where
        it stands and a challenge to sign; JoinRefused otherwise."""
        if not self.open:
            raise JoinRefused(
                403,
                "this hub takes new nodes with a join token only (it was started without "
                "--approve-lan): make one on the hub's machine with `wit token create --role "
                "node`, then wit node --token …",
            )
        refusal = lan_refusal(address)
        if refusal is not None:
            raise JoinRefused(403, refusal)
        try:
            fingerprint = key_fingerprint(ask.public_key)
        except ValueError as error:
            raise JoinRefused(400, str(error)) from None
        now = self.wall()
        record = self.store.get_join(fingerprint)
        if record is not None and Admission(record.state).shut_out:
            target = f"{record.node_id} {record.name!r} ({record.state})"
            self.book.audit("node.join", "refused", address=address, target=target)
            raise JoinRefused(403, _shut_out(record))
        if record is None:
            waiting = sum(j.state == Admission.PENDING for j in self.store.list_joins())
            if waiting >= MAX_WAITING:
                raise JoinRefused(
                    429,
                    f"{waiting} nodes are waiting for approval already: the hub takes no more "
                    "until an admin approves or refuses some (wit nodes --approve/--refuse)",
                )
            record = JoinRecord(
                fingerprint=fingerprint,
                node_id=f"node_{uuid.uuid4().hex[:12]}",
                public_key=ask.public_key,
                name=ask.name,
                address=address,
                machine=ask.machine.model_dump(),
                state=Admission.PENDING.value,
                asked_at=now,
                seen_at=now,
            )
            self.book.audit(
                "node.join",
                "pending",
                address=address,
                target=f"{record.node_id} {ask.name!r} key {short_fingerprint(fingerprint)}",
            )
            log.info("node %s (%s) asks to join from %s", ask.name, record.node_id, address)
        else:
            record = replace(
                record,
                name=ask.name,
                address=address,
                machine=ask.machine.model_dump(),
                seen_at=now,
            )
        self.store.put_join(record)
        expected = self._challenges.get(fingerprint)
        signed = (
            expected is not None
            and ask.challenge == expected
            and ask.signature is not None
            and signs(ask.public_key, expected, ask.signature)
        )
        if record.state == Admission.APPROVED and signed:
            del self._challenges[fingerprint]
            return await self._credential(record, address)
        challenge = self._challenges[fingerprint] = secrets.token_urlsafe(32)
        return JoinWaiting(
            node_id=record.node_id,
            state=Admission(record.state),
            fingerprint=fingerprint,
            challenge=challenge,
        )

    async def _credential(self, record: JoinRecord, address: str) -> Enrolment:
        """The node's own credential; any it had before is revoked (one node, one credential)."""
        for token in self.store.list_tokens():
            if token.node_id == record.node_id and self.book.revoke(token.id):
                await self.gate.close_links(token.id, "the node joined again")
        issued = self.book.issue(Role.NODE, label=record.name, node_id=record.node_id)
        self.book.audit(
            "node.join",
            "ok",
            address=address,
            target=f"{record.node_id} {record.name!r} as {issued.record.id}",
        )
        log.info("node %s (%s) joined", record.name, record.node_id)
        return Enrolment(node_id=record.node_id, token_id=issued.record.id, token=issued.text)

    # ------------------------------------------------------------- answers

    def find(self, node_id: str) -> JoinRecord | None:
        return next((j for j in self.store.list_joins() if j.node_id == node_id), None)

    def decide(self, node_id: str, state: Admission, admin: str) -> JoinRecord:
        """Approve or refuse a node that asked; LookupError when none with that id did."""
        record = self.find(node_id)
        if record is None:
            raise LookupError(f"no node {node_id} asked to join")
        if record.state != state.value:
            record = replace(record, state=state.value, decided_at=self.wall(), decided_by=admin)
            self.store.put_join(record)
        return record

    async def revoke(self, node_id: str, admin: str) -> tuple[list[str], JoinRecord | None]:
        """Put a node out: its credentials are revoked (its link closed) and, when it joined
        without a token, its key is remembered as revoked. The credentials revoked, and its
        ask; LookupError when the hub knows no such node."""
        record = self.find(node_id)
        tokens = [t for t in self.store.list_tokens() if t.node_id == node_id]
        if record is None and not tokens and self.store.get_node(node_id) is None:
            raise LookupError(f"no node {node_id}")
        revoked = []
        for token in tokens:
            if self.book.revoke(token.id):
                revoked.append(token.id)
            await self.gate.close_links(token.id, "an admin revoked this node")
        if record is not None:
            record = self.decide(node_id, Admission.REVOKED, admin)
        return revoked, record


def _shut_out(record: JoinRecord) -> str:
    state = Admission(record.state)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.decided_at or 0))
    return (
        f"an admin {state.value} this node ({record.name}, {record.node_id}, key "
        f"{short_fingerprint(record.fingerprint)}) on {when}: the hub refuses it; an admin may "
        f"let it in again with wit nodes --approve {record.node_id}"
    )


def join_info(record: JoinRecord) -> JoinInfo:
    return JoinInfo(
        node_id=record.node_id,
        name=record.name,
        address=record.address,
        fingerprint=record.fingerprint,
        machine=record.machine,
        state=Admission(record.state),
        asked_at=record.asked_at,
        seen_at=record.seen_at,
        decided_at=record.decided_at,
        decided_by=record.decided_by,
    )


def admission_router(admissions: Admissions) -> APIRouter:
    router = APIRouter(tags=["nodes"])
    gate = admissions.gate

    @router.post(
        "/nodes/join",
        response_model=Enrolment | JoinWaiting,
        status_code=status.HTTP_201_CREATED,
        responses={
            202: {"model": JoinWaiting},
            403: {"model": ErrorBody},
            429: {"model": ErrorBody},
        },
    )
    async def join(body: JoinAsk, request: Request, response: Response) -> Enrolment | JoinWaiting:
        """Ask to join without a token (a hub started with --approve-lan, from its local
        network): 202 while the node waits for an admin, 201 with its credential once approved
        and the ask is signed with its key, 403 when refused."""
        try:
            answer = await admissions.ask(body, address_of(request))
        except JoinRefused as refused:
            raise HTTPException(refused.code, refused.reason) from None
        if isinstance(answer, JoinWaiting):
            response.status_code = status.HTTP_202_ACCEPTED
        return answer

    @router.get("/join-requests", response_model=list[JoinInfo])
    async def join_requests() -> list[JoinInfo]:
        """Every node that asked to join without a token, and where it stands."""
        return [join_info(record) for record in admissions.store.list_joins()]

    def decide(node_id: str, state: Admission, request: Request) -> JoinInfo:
        action = "node.approve" if state is Admission.APPROVED else "node.refuse"
        admin = principal_of(request).token_id
        try:
            record = admissions.decide(node_id, state, admin)
        except LookupError as error:
            gate.audit(request, action, "unknown node", node_id[:40])
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        gate.audit(request, action, "ok", f"{record.node_id} {record.name!r}")
        log.info("%s node %s (%s)", state.value, record.name, record.node_id)
        return join_info(record)

    @router.post(
        "/join-requests/{node_id}/approve",
        response_model=JoinInfo,
        responses={404: {"model": ErrorBody}},
    )
    async def approve(node_id: str, request: Request) -> JoinInfo:
        """Let a node that asked join: it gets its credential at its next ask. A refused or
        revoked node is let in again."""
        return decide(node_id, Admission.APPROVED, request)

    @router.post(
        "/join-requests/{node_id}/refuse",
        response_model=JoinInfo,
        responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    )
    async def refuse(node_id: str, request: Request) -> JoinInfo:
        """Refuse a node that asked to join; it is remembered and refused when it asks again.
        An approved node is revoked instead (`POST /nodes/{id}/revoke`); a revoked one stays so."""
        record = admissions.find(node_id)
        if record is not None and record.state == Admission.REVOKED:
            return join_info(record)  # shut out already
        if record is not None and record.state == Admission.APPROVED:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"node {record.name} ({node_id}) was approved; put it out with wit nodes "
                f"--revoke {node_id}",
            )
        return decide(node_id, Admission.REFUSED, request)

    @router.post(
        "/nodes/{node_id}/revoke",
        response_model=NodeRevoked,
        responses={404: {"model": ErrorBody}},
    )
    async def revoke(node_id: str, request: Request) -> NodeRevoked:
        """Put a node out of the farm: its credentials are revoked and its link closed; a node
        that joined without a token is refused when it asks again (until approved again)."""
        try:
            revoked, record = await admissions.revoke(node_id, principal_of(request).token_id)
        except LookupError as error:
            gate.audit(request, "node.revoke", "unknown node", node_id[:40])
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        node = admissions.store.get_node(node_id)
        name = node.name if node is not None else record.name if record is not None else ""
        tokens = ", ".join(revoked) or "no credential"
        gate.audit(request, "node.revoke", "ok", f"{node_id} {name!r}; revoked {tokens}")
        log.info("revoked node %s (%s): %s", name, node_id, tokens)
        return NodeRevoked(
            id=node_id,
            name=name,
            revoked=revoked,
            state=Admission(record.state) if record is not None else None,
        )

    return router
