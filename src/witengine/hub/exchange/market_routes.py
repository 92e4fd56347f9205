"""Routes of the market: asks (`/asks`, made and removed by their account's signature),
mandates (`/mandates`, made, paused, resumed and removed the same way) and trades (`/trades`,
each with its phases and the signed requests behind it). Bids travel with the job they are
for (`POST /jobs` with `bid`, signed; see `routes.jobs`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from witengine.hub.auth.gate import AuthGate
from witengine.hub.exchange import receipts
from witengine.hub.exchange.market import Market
from witengine.hub.exchange.routes import owners_read
from witengine.hub.exchange.signatures import SignedBy, SignedRequest
from witengine.hub.exchange.signatures import signed_request as signature_of
from witengine.hub.store.base import Store
from witengine.hub.store.ledger import credits
from witengine.hub.store.market import (
    AskRecord,
    MandateRecord,
    MandateSide,
    MandateState,
    TradeRecord,
)
from witengine.protocol import ErrorBody
from witengine.protocol.exchange import (
    AskInfo,
    MandateInfo,
    NewAsk,
    NewMandate,
    SignedLine,
    TradeDetail,
    TradeInfo,
    TradePhaseLine,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409)
}


def ask_info(ask: AskRecord) -> AskInfo:
    return AskInfo(**vars(ask))


def mandate_info(market: Market, mandate: MandateRecord) -> MandateInfo:
    spent = market.spent_today(mandate.id) if mandate.side == MandateSide.BUY else None
    return MandateInfo(**vars(mandate), spent_today=spent)


def trade_info(trade: TradeRecord) -> TradeInfo:
    return TradeInfo(**vars(trade))


def trade_detail(store: Store, market: Market, trade: TradeRecord) -> TradeDetail:
    """A trade with its phases, the signed requests of its bid and its ask, and the seller's
    receipts of its results."""
    phases = [
        TradePhaseLine(phase=p.phase, at=p.at, detail=p.detail)
        for p in market.book.trade_phases(trade.id)
    ]
    nonces = {}
    bid = market.bid(trade.job_id) or market.book.get_bid(trade.job_id)
    if bid is not None:
        nonces[bid.account] = {bid.nonce}
    ask = next((a for a in market.book.list_asks(trade.seller) if a.id == trade.ask_id), None)
    if ask is not None and ask.nonce:
        nonces.setdefault(ask.account, set()).add(ask.nonce)
    for name in (trade.ask_id, trade.mandate):  # a seller's mandate, the buyer's mandate
        mandate = market.mandate(name) if name else None
        if mandate is not None and mandate.nonce:
            nonces.setdefault(mandate.account, set()).add(mandate.nonce)
    signed = [
        SignedLine(**vars(record))
        for account, wanted in nonces.items()
        for record in store.signed_requests(account)
        if record.nonce in wanted
    ]
    signed += [SignedLine(**vars(record)) for record in receipts.of_trade(store, trade)]
    return TradeDetail(**vars(trade), phases=phases, signed=signed)


def market_router(store: Store, market: Market, gate: AuthGate) -> APIRouter:
    router = APIRouter(tags=["exchange"])

    @router.post(
        "/asks", response_model=AskInfo, status_code=status.HTTP_201_CREATED, responses=ERRORS
    )
    async def add_ask(body: NewAsk, request: Request) -> AskInfo:
        """A standing offer of the signing account's nodes (signed by its key)."""
        # Checked here, after the body: a request refused as malformed keeps no nonce.
        signed = await signature_of(request)
        ask = market.add_ask(
            signed.account,
            body.activity,
            body.price,
            hours=body.hours,
            min_work=body.min_work,
            nonce=signed.nonce,
        )
        target = f"{ask.id} {signed.account} {body.activity} at {credits(body.price)}"
        gate.audit(request, "ask.add", "ok", target)
        return ask_info(ask)

    @router.get("/asks", response_model=list[AskInfo])
    async def list_asks(
        request: Request,
        account: Annotated[str | None, Query(max_length=200)] = None,
    ) -> list[AskInfo]:
        """Every standing ask (of one account with `account`), oldest first."""
        await owners_read(request, account)
        return [ask_info(a) for a in market.asks(account)]

    @router.delete("/asks/{ask_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
    async def remove_ask(ask_id: str, request: Request, signed: SignedBy) -> Response:
        """Withdraw an ask (signed by the account that made it)."""
        found = next((a for a in market.asks() if a.id == ask_id), None)
        if found is None:
            gate.audit(request, "ask.remove", "refused: unknown", ask_id[:40])
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ask {ask_id}")
        if found.account != signed.account:
            gate.audit(request, "ask.remove", "refused: not its account", ask_id)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"ask {ask_id} is account {found.account!r}'s: only its key withdraws it",
            )
        market.remove_ask(ask_id)
        gate.audit(request, "ask.remove", "ok", f"{ask_id} {signed.account}")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    _mandate_routes(router, market, gate)

    @router.get("/trades", response_model=list[TradeInfo])
    async def list_trades(
        request: Request,
        job: Annotated[str | None, Query(max_length=200)] = None,
        account: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[TradeInfo]:
        """Trades, newest first: of a job, of an account (as seller or buyer), or all."""
        await owners_read(request, account)
        found = market.book.list_trades(job_id=job, account=account, limit=limit)
        return [trade_info(t) for t in found]

    @router.get("/trades/{trade_id}", response_model=TradeDetail, responses=ERRORS)
    async def get_trade(trade_id: str) -> TradeDetail:
        """A trade, its phases in order, and the signed requests of its bid and ask."""
        trade = market.book.get_trade(trade_id)
        if trade is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no trade {trade_id}")
        return trade_detail(store, market, trade)

    return router


def _mandate_routes(router: APIRouter, market: Market, gate: AuthGate) -> None:
    @router.post(
        "/mandates",
        response_model=MandateInfo,
        status_code=status.HTTP_201_CREATED,
        responses=ERRORS,
    )
    async def add_mandate(body: NewMandate, request: Request) -> MandateInfo:
        """A standing rule of the signing account that sells or buys by itself (signed)."""
        signed = await signature_of(request)  # after the body, as for an ask
        mandate = market.add_mandate(
            signed.account,
            MandateSide(body.side),
            body.activity,
            body.price,
            hours=body.hours,
            node=body.node,
            daily=body.daily,
            nonce=signed.nonce,
        )
        what = body.activity or "any activity"
        target = f"{mandate.id} {signed.account} {body.side} {what} at {credits(body.price)}"
        gate.audit(request, "mandate.add", "ok", target)
        return mandate_info(market, mandate)

    @router.get("/mandates", response_model=list[MandateInfo])
    async def list_mandates(
        request: Request,
        account: Annotated[str | None, Query(max_length=200)] = None,
    ) -> list[MandateInfo]:
        """Every mandate (of one account with `account`), oldest first."""
        await owners_read(request, account)
        return [mandate_info(market, m) for m in market.mandates(account)]

    def owned(
        request: Request, action: str, mandate_id: str, signed: SignedRequest
    ) -> MandateRecord:
        found = market.mandate(mandate_id)
        if found is None:
            gate.audit(request, f"mandate.{action}", "refused: unknown", mandate_id[:40])
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no mandate {mandate_id}")
        if found.account != signed.account:
            gate.audit(request, f"mandate.{action}", "refused: not its account", mandate_id)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"mandate {mandate_id} is account {found.account!r}'s: only its key may "
                f"{action} it",
            )
        return found

    @router.post("/mandates/{mandate_id}/pause", response_model=MandateInfo, responses=ERRORS)
    async def pause_mandate(mandate_id: str, request: Request, signed: SignedBy) -> MandateInfo:
        """Stop a mandate trading, keeping it (signed by its account)."""
        return changed(request, "pause", mandate_id, signed, MandateState.PAUSED)

    @router.post("/mandates/{mandate_id}/resume", response_model=MandateInfo, responses=ERRORS)
    async def resume_mandate(mandate_id: str, request: Request, signed: SignedBy) -> MandateInfo:
        """Let a paused mandate trade again (signed by its account)."""
        return changed(request, "resume", mandate_id, signed, MandateState.ACTIVE)

    def changed(
        request: Request, action: str, mandate_id: str, signed: SignedRequest, to: MandateState
    ) -> MandateInfo:
        found = owned(request, action, mandate_id, signed)
        market.set_mandate_state(mandate_id, to)
        gate.audit(request, f"mandate.{action}", "ok", f"{mandate_id} {signed.account}")
        return mandate_info(market, replace(found, state=to.value))

    @router.delete(
        "/mandates/{mandate_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS
    )
    async def remove_mandate(mandate_id: str, request: Request, signed: SignedBy) -> Response:
        """Withdraw a mandate (signed by its account): it trades no more."""
        owned(request, "remove", mandate_id, signed)
        market.remove_mandate(mandate_id)
        gate.audit(request, "mandate.remove", "ok", f"{mandate_id} {signed.account}")
        return Response(status_code=status.HTTP_204_NO_CONTENT)
