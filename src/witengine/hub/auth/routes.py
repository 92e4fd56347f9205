"""Routes of trust: tokens (`/tokens`), the audit log (`/audit`), node enrolment
(`/nodes/enrol`), `/whoami`, and the dashboard's `/signin` and `/signout`.

Who may call each is decided by the gate's policy (tokens and audit: admins; enrolment: join
tokens); these routes only do the work and write the audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse

from witengine.hub.auth.book import TokenBook
from witengine.hub.auth.gate import AuthGate, clear_session, principal_of, set_session
from witengine.hub.store.base import AuditRecord, TokenRecord
from witengine.protocol import MAX_INT64, ErrorBody
from witengine.protocol.auth import (
    AuditLine,
    CreateToken,
    Enrolment,
    EnrolRequest,
    IssuedToken,
    TokenInfo,
    WhoAmI,
)
from witengine.security.tokens import Role, TokenError, parse_ttl

Fingerprint = Callable[[], str | None]  # the hub's TLS fingerprint, None without TLS


def token_info(record: TokenRecord) -> TokenInfo:
    return TokenInfo(
        id=record.id,
        role=Role(record.role),
        label=record.label,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        last_used=record.last_used,
        node_id=record.node_id,
        created_by=record.created_by,
        max_uses=record.max_uses,
        uses=record.uses,
        pool=record.pool,
        owner=record.owner,
    )


def token_target(record: TokenRecord) -> str:
    """What the audit log says of a token made: its id, role, and a join token's pool."""
    placed = ""
    if record.pool is not None or record.owner is not None:
        placed = f", pool {record.pool or 'default'}, owner {record.owner or '(each node)'}"
    return f"{record.id} ({record.role}{placed})"


def audit_line(record: AuditRecord) -> AuditLine:
    """An audit record as the API and `wit audit` show it."""
    return AuditLine(
        seq=record.seq,
        at=record.at,
        action=record.action,
        outcome=record.outcome,
        actor_id=record.actor_id,
        actor_role=record.actor_role,
        address=record.address,
        target=record.target,
    )


def auth_router(book: TokenBook, gate: AuthGate, fingerprint: Fingerprint) -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.get("/whoami", response_model=WhoAmI)
    async def whoami(request: Request) -> WhoAmI:
        """The token this request carries: its id, role and (node credentials) node."""
        principal = principal_of(request)
        return WhoAmI(
            token_id=principal.token_id,
            role=principal.role,
            label=principal.label,
            node_id=principal.node_id,
        )

    @router.post(
        "/tokens",
        response_model=IssuedToken,
        status_code=status.HTTP_201_CREATED,
        responses={400: {"model": ErrorBody}},
    )
    async def create_token(body: CreateToken, request: Request) -> IssuedToken:
        """Make a token; `node` (or `join`) makes a join token that carries the hub's TLS
        fingerprint. Its secret is in this answer only."""
        role = Role.JOIN if body.role in (Role.NODE, Role.JOIN) else body.role
        try:
            ttl = parse_ttl(body.ttl) if body.ttl else None
            issued = book.issue(
                role,
                label=body.label,
                ttl_seconds=ttl,
                created_by=principal_of(request).token_id,
                max_uses=body.uses if role in (Role.JOIN, Role.ACCOUNT) else None,
                fingerprint=fingerprint() if role is Role.JOIN else None,
                pool=body.pool,
                owner=body.owner,
            )
        except TokenError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        gate.audit(request, "token.create", "ok", token_target(issued.record))
        return IssuedToken(**token_info(issued.record).model_dump(), token=issued.text)

    @router.get("/tokens", response_model=list[TokenInfo])
    async def list_tokens() -> list[TokenInfo]:
        """Every token, oldest first, without secrets."""
        return [token_info(t) for t in book.store.list_tokens()]

    @router.post(
        "/tokens/{token_id}/revoke", response_model=TokenInfo, responses={404: {"model": ErrorBody}}
    )
    async def revoke_token(token_id: str, request: Request) -> TokenInfo:
        """Revoke a token at once: its next request is refused, its node links are closed."""
        record = book.store.get_token(token_id)
        if record is None:
            gate.audit(request, "token.revoke", "unknown token", token_id[:40])
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token {token_id}")
        revoked = book.revoke(token_id)
        closed = await gate.close_links(token_id, f"token {token_id} was revoked")
        outcome = "ok" if revoked else "already revoked"
        gate.audit(
            request, "token.revoke", outcome, f"{token_id} ({record.role}); {closed} link(s)"
        )
        found = book.store.get_token(token_id)
        assert found is not None
        return token_info(found)

    @router.get("/audit", response_model=list[AuditLine])
    async def audit(
        limit: int = 100, before: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None
    ) -> list[AuditLine]:
        """The audit log, newest first."""
        lines = book.store.audit(max(1, min(limit, 10_000)), before)
        return [audit_line(r) for r in lines]

    @router.post(
        "/nodes/enrol",
        response_model=Enrolment,
        status_code=status.HTTP_201_CREATED,
        responses={403: {"model": ErrorBody}},
    )
    async def enrol(body: EnrolRequest, request: Request) -> Enrolment:
        """Trade a join token for a node's own credential and id (once per node)."""
        principal = principal_of(request)
        if principal.role is Role.JOIN and not book.store.use_token(principal.token_id):
            gate.audit(request, "node.enrol", "refused: join token used up", body.name)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "this join token has enrolled all the nodes it may"
            )
        # A node enrolling again (its credential revoked, say) keeps its id, and its old
        # credential goes: one node, one record, one credential.
        former = book.former_node(body.previous) if body.previous else None
        node_id = former or f"node_{uuid.uuid4().hex[:12]}"
        if former is not None:
            for record in book.store.list_tokens():
                if record.node_id == former and record.revoked_at is None:
                    book.revoke(record.id)
                    await gate.close_links(record.id, "the node enrolled again")
        # The join token's pool and owner go with the node's credential to its first
        # connection; a node known already is moved there now.
        join = book.store.get_token(principal.token_id) if principal.role is Role.JOIN else None
        pool, owner = (join.pool, join.owner) if join is not None else (None, None)
        issued = book.issue(
            Role.NODE,
            label=body.name,
            node_id=node_id,
            created_by=principal.token_id,
            pool=pool,
            owner=owner,
        )
        if pool is not None or owner is not None:
            book.store.place_node(node_id, pool=pool, owner=owner)
        again = " again" if former else ""
        placed = f" in pool {pool or 'default'}, owner {owner or '(itself)'}" if join else ""
        gate.audit(
            request,
            "node.enrol",
            "ok",
            f"{node_id} {body.name!r}{again} as {issued.record.id}{placed}",
        )
        return Enrolment(node_id=node_id, token_id=issued.record.id, token=issued.text)

    return router


def signin_router() -> APIRouter:
    """`/signin` (the gate shows the form on GET and checks the pasted token on POST) and
    `/signout`."""
    router = APIRouter(include_in_schema=False)

    @router.get("/signin")
    async def signed_in_already() -> RedirectResponse:
        return RedirectResponse("/", status_code=303)

    @router.post("/signin")
    async def signin(request: Request) -> RedirectResponse:
        form = dict(parse_qsl((await request.body())[:4096].decode(errors="replace")))
        target = form.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        response = RedirectResponse(target, status_code=303)
        set_session(response, request.state.presented, request.url.scheme == "https")
        return response

    @router.post("/signout")
    async def signout() -> RedirectResponse:
        response = RedirectResponse("/signin", status_code=303)
        clear_session(response)
        return response

    return router
