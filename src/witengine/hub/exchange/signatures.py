"""`SignatureCheck`: the FastAPI dependency a route that moves value takes, so that only the
account's key can move the account's credits.

It reads the request's signature headers (see `witengine.security.signing`), finds the
account's registered key, checks the timestamp window and the signature, and keeps the signed
request whole in the store, which refuses a nonce the account used before (across restarts:
it is kept in the store). A refusal is 400 (malformed), 401 (a signature that does not hold,
stale, or an unknown or pending account) or 409 (a replay), audited; nothing else is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from witengine.hub.auth.gate import AuthGate
from witengine.hub.store.base import SignedRecord, Store
from witengine.security.signing import (
    SignatureError,
    Signed,
    check_time,
    read_headers,
    verifies,
)


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature held: its account and the body it signed."""

    account: str
    nonce: str
    body: bytes

    @property
    def actor(self) -> str:
        return f"account {self.account} (signed {self.nonce})"


class SignatureCheck:
    def __init__(self, store: Store, gate: AuthGate, wall: Callable[[], float]) -> None:
        self.store = store
        self.gate = gate
        self.wall = wall

    def _refuse(self, request: Request, code: int, reason: str, target: str) -> HTTPException:
        self.gate.audit(request, "signature.refused", reason[:200], target)
        return HTTPException(code, reason)

    async def __call__(self, request: Request) -> SignedRequest:
        body = await request.body()
        method, path = request.method, request.url.path
        target = f"{method} {path}"
        try:
            signed: Signed = read_headers(request.headers)
        except SignatureError as error:
            raise self._refuse(request, status.HTTP_400_BAD_REQUEST, str(error), target) from None
        target += f" by {signed.account[:40]}"
        account = self.store.get_account(signed.account)
        if account is None or account.state != "active":
            why = "no account named" if account is None else "not yet approved: account"
            raise self._refuse(
                request, status.HTTP_401_UNAUTHORIZED, f"{why} {signed.account!r}", target
            )
        try:
            check_time(signed, self.wall())
        except SignatureError as error:
            raise self._refuse(request, status.HTTP_401_UNAUTHORIZED, str(error), target) from None
        if not verifies(account.public_key, signed, method, path, body):
            raise self._refuse(
                request,
                status.HTTP_401_UNAUTHORIZED,
                f"the signature is not account {signed.account!r}'s for this request "
                "(a wrong key, or a body, path or header changed after signing)",
                target,
            )
        record = SignedRecord(
            signed.account,
            signed.nonce,
            signed.timestamp,
            method,
            path,
            body.decode("utf-8", errors="replace"),
            signed.signature,
            self.wall(),
        )
        if not self.store.keep_signed(record):
            raise self._refuse(
                request,
                status.HTTP_409_CONFLICT,
                f"replayed: account {signed.account!r} has used nonce {signed.nonce} before; "
                "sign each request afresh",
                target,
            )
        return SignedRequest(signed.account, signed.nonce, body)

    async def check_read(self, request: Request, account: str) -> None:
        """A read of `account`'s own statement or balance by a caller whose token alone may not
        read the ledger (a node's credential, for its owner's console): it must be signed by
        that account's key, within the time window, or it is refused (400, 401, 403). A read
        moves nothing, so its nonce is not kept: a replay within the window reads the same
        again, and nothing more."""
        method, path = request.method, request.url.path
        target = f"{method} {path} for {account[:40]}"
        try:
            signed = read_headers(request.headers)
        except SignatureError as error:
            reason = f"a node reads only its owner's account, signed by its key: {error}"
            raise self._refuse(request, status.HTTP_400_BAD_REQUEST, reason, target) from None
        if signed.account != account:
            raise self._refuse(
                request,
                status.HTTP_403_FORBIDDEN,
                f"signed by account {signed.account[:40]!r}, which may read only its own",
                target,
            )
        found = self.store.get_account(account)
        if found is None or found.state != "active":
            why = "no account named" if found is None else "not yet approved: account"
            raise self._refuse(request, status.HTTP_401_UNAUTHORIZED, f"{why} {account!r}", target)
        try:
            check_time(signed, self.wall())
        except SignatureError as error:
            raise self._refuse(request, status.HTTP_401_UNAUTHORIZED, str(error), target) from None
        if not verifies(found.public_key, signed, method, path, await request.body()):
            raise self._refuse(
                request,
                status.HTTP_401_UNAUTHORIZED,
                f"the signature is not account {account!r}'s for this request",
                target,
            )


async def signed_request(request: Request) -> SignedRequest:
    """The dependency: the app's `SignatureCheck` (`app.state.signatures`) on this request."""
    check: SignatureCheck = request.app.state.signatures
    return await check(request)


# What a route that moves value takes: `signed: SignedBy`, the request's checked signature.
SignedBy = Annotated[SignedRequest, Depends(signed_request)]


def recheck(store: Store) -> tuple[int, str | None]:
    """Check every kept signed request again with its account's key: (how many, the first that
    fails, said in words, or None)."""
    keys = {a.name: a.public_key for a in store.list_accounts()}
    records = store.signed_requests()
    for number, record in enumerate(records, 1):
        signed = Signed(record.account, record.timestamp, record.nonce, record.signature)
        key = keys.get(record.account)
        if key is None or not verifies(
            key, signed, record.method, record.path, record.body.encode()
        ):
            return number, (
                f"signed request {number} ({record.account}, nonce {record.nonce}) does not "
                "verify with the account's key"
            )
    return len(records), None
