"""Routes of accounts (`/accounts`) and the credit ledger (`/ledger`).

Registering an account: active at once with an admin's token or an `account` join token,
pending until an admin approves with any other. Grants are an admin's; a transfer moves the
signing account's credits and is refused unless signed by its key (`SignatureCheck`).
Every change, and every refusal, goes into the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from witengine.hub.auth.gate import AuthGate, principal_of
from witengine.hub.exchange.ledger import Ledger, UnknownAccount
from witengine.hub.exchange.ledger import statement as statement_of
from witengine.hub.exchange.signatures import SignatureCheck, SignedBy, recheck
from witengine.hub.store.base import AccountRecord, Store
from witengine.hub.store.ledger import LedgerTransaction, Overdrawn, Unbalanced, credits, is_system
from witengine.protocol import ErrorBody
from witengine.protocol.exchange import (
    AccountInfo,
    Balance,
    EntryLine,
    Grant,
    LedgerVerdict,
    NewAccount,
    SignedLine,
    TransactionLine,
    Transfer,
)
from witengine.security.accounts import RESERVED_NAMES
from witengine.security.node_keys import key_fingerprint
from witengine.security.tokens import Role

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409)
}


def account_info(record: AccountRecord) -> AccountInfo:
    return AccountInfo(
        name=record.name,
        public_key=record.public_key,
        fingerprint=key_fingerprint(record.public_key),
        state=record.state,
        created_at=record.created_at,
        approved_at=record.approved_at,
    )


def transaction_line(tx: LedgerTransaction, balance: int | None = None) -> TransactionLine:
    return TransactionLine(
        seq=tx.seq,
        kind=tx.kind,
        at=tx.at,
        actor=tx.actor,
        memo=tx.memo,
        entries=[EntryLine(account=e.account, amount=e.amount) for e in tx.entries],
        previous=tx.previous,
        hash=tx.hash,
        balance=balance,
    )


async def owners_read(request: Request, account: str | None) -> None:
    """A node's credential reads only its owner's account, each request signed by the
    account's key (the owner's console on the node); other roles read as the policy lets them."""
    if principal_of(request).role is not Role.NODE:
        return
    if account is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "a node reads only its owner's account (?account=NAME)"
        )
    check: SignatureCheck = request.app.state.signatures
    await check.check_read(request, account)


def exchange_router(store: Store, gate: AuthGate, wall: Callable[[], float]) -> APIRouter:
    """The accounts' routes and the ledger's."""
    router = APIRouter(tags=["exchange"])
    router.include_router(_account_routes(store, gate, wall))
    router.include_router(_ledger_routes(store, gate, wall))
    return router


def _moved(
    gate: AuthGate,
    request: Request,
    action: str,
    target: str,
    move: Callable[[], LedgerTransaction],
) -> LedgerTransaction:
    """Run a movement, answering its refusal with a 4xx; audited either way."""
    try:
        tx = move()
    except UnknownAccount as error:
        gate.audit(request, action, "refused: unknown account", target)
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except Overdrawn as error:
        gate.audit(request, action, "refused: overdrawn", target)
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except Unbalanced as error:
        gate.audit(request, action, "refused", target)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    gate.audit(request, action, "ok", f"{target} (transaction {tx.seq})")
    return tx


def _account_routes(store: Store, gate: AuthGate, wall: Callable[[], float]) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/accounts",
        response_model=AccountInfo,
        status_code=status.HTTP_201_CREATED,
        responses=ERRORS,
    )
    async def register(body: NewAccount, request: Request) -> AccountInfo:
        """Register an account's public key: active at once for an admin or an `account`
        join token, pending until an admin approves otherwise."""
        principal = principal_of(request)
        if body.name in RESERVED_NAMES:
            gate.audit(request, "account.create", "refused: reserved name", body.name)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{body.name!r} is the ledger's own")
        try:
            key_fingerprint(body.public_key)
        except ValueError as error:
            gate.audit(request, "account.create", "refused: bad key", body.name)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"public_key: {error}") from None
        if store.get_account(body.name) is not None:
            gate.audit(request, "account.create", "refused: exists", body.name)
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"an account named {body.name!r} exists already"
            )
        now = wall()
        active = principal.role is Role.ADMIN
        if principal.role is Role.ACCOUNT:
            if not store.use_token(principal.token_id):
                gate.audit(request, "account.create", "refused: token used up", body.name)
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, "this account token has registered all it may"
                )
            active = True
        record = AccountRecord(
            body.name,
            body.public_key,
            "active" if active else "pending",
            now,
            principal.token_id,
            now if active else None,
            principal.token_id if active else None,
        )
        if not store.add_account(record):
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"an account named {body.name!r} exists already"
            )
        fingerprint = key_fingerprint(body.public_key)
        gate.audit(request, "account.create", record.state, f"{body.name} {fingerprint}")
        return account_info(record)

    @router.get("/accounts", response_model=list[AccountInfo])
    async def list_accounts() -> list[AccountInfo]:
        """Every account, by name, with its public key and state."""
        return [account_info(a) for a in store.list_accounts()]

    @router.post("/accounts/{name}/approve", response_model=AccountInfo, responses=ERRORS)
    async def approve(name: str, request: Request) -> AccountInfo:
        """Approve a pending account: its key may sign from now on."""
        found = store.get_account(name)
        if found is None:
            gate.audit(request, "account.approve", "unknown account", name[:40])
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no account named {name!r}")
        if not store.approve_account(name, wall(), principal_of(request).token_id):
            gate.audit(request, "account.approve", "already active", name)
        else:
            gate.audit(request, "account.approve", "ok", name)
        approved = store.get_account(name)
        assert approved is not None
        return account_info(approved)

    @router.get("/accounts/{name}/balance", response_model=Balance, responses=ERRORS)
    async def balance(name: str, request: Request) -> Balance:
        """An account's balance, in milli-credits."""
        await owners_read(request, name)
        found = store.get_account(name)
        if found is None and not is_system(name):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no account named {name!r}")
        amount = store.balance(name)
        state = found.state if found is not None else "system"
        return Balance(account=name, balance=amount, credits=credits(amount), state=state)

    return router


def _ledger_routes(store: Store, gate: AuthGate, wall: Callable[[], float]) -> APIRouter:
    router = APIRouter()
    ledger = Ledger(store, wall)

    @router.post("/accounts/{name}/grant", response_model=TransactionLine, responses=ERRORS)
    async def grant(name: str, body: Grant, request: Request) -> TransactionLine:
        """Mint credits into an account (admins only)."""
        actor = f"admin {principal_of(request).token_id}"
        target = f"{credits(body.amount)} credits to {name[:40]}"
        tx = _moved(
            gate,
            request,
            "ledger.grant",
            target,
            lambda: ledger.grant(name, body.amount, actor=actor, memo=body.memo),
        )
        return transaction_line(tx)

    @router.post("/ledger/transfers", response_model=TransactionLine, responses=ERRORS)
    async def transfer(body: Transfer, request: Request, signed: SignedBy) -> TransactionLine:
        """Pay another account from the signing account (signed by its key)."""
        target = f"{credits(body.amount)} credits from {signed.account} to {body.to}"
        tx = _moved(
            gate,
            request,
            "ledger.transfer",
            target,
            lambda: ledger.transfer(
                signed.account, body.to, body.amount, actor=signed.actor, memo=body.memo
            ),
        )
        return transaction_line(tx)

    @router.get("/accounts/{name}/signed", response_model=list[SignedLine], responses=ERRORS)
    async def signed_requests(name: str) -> list[SignedLine]:
        """Every request the account signed that the hub took, whole, in order."""
        if store.get_account(name) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no account named {name!r}")
        return [SignedLine(**vars(record)) for record in store.signed_requests(name)]

    @router.get("/ledger", response_model=list[TransactionLine])
    async def statement(
        request: Request,
        account: Annotated[str | None, Query(max_length=200)] = None,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[TransactionLine]:
        """The ledger's transactions in order; with `account`, its statement with the running
        balance after each."""
        await owners_read(request, account)
        if account is None:
            return [transaction_line(tx) for tx in store.transactions(after=after, limit=limit)]
        if store.get_account(account) is None and not is_system(account):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no account named {account!r}")
        lines = [transaction_line(tx, bal) for tx, bal in statement_of(store, account)]
        return [line for line in lines if line.seq > after][:limit]

    @router.get("/ledger/verify", response_model=LedgerVerdict)
    async def verify() -> LedgerVerdict:
        """Check the hash chain, every balance, and every kept signed request's signature."""
        return ledger_verdict(ledger)

    return router


def ledger_verdict(ledger: Ledger) -> LedgerVerdict:
    """The whole ledger's check (`wit ledger verify`, the dashboard's account page): the hash
    chain, every balance, and every kept signed request's signature."""
    verdict = ledger.verify()
    checked, problem = recheck(ledger.store)
    if verdict.ok and problem is not None:
        return LedgerVerdict(
            ok=False, transactions=verdict.transactions, problem=problem, signed_requests=checked
        )
    return LedgerVerdict(
        ok=verdict.ok,
        transactions=verdict.transactions,
        problem=verdict.problem,
        bad_seq=verdict.bad_seq,
        signed_requests=checked,
    )
