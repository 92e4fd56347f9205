"""Routes of the market: asks (`/asks`, made and removed by their account's signature) and
trades (`/trades`, each with its phases and the signed requests behind it). Bids travel with
the job they are for (`POST /jobs` with `bid`, signed; see `routes.jobs`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from witengine.hub.auth.gate import AuthGate
from witengine.hub.exchange.market import Market
from witengine.hub.exchange.signatures import SignedBy
from witengine.hub.exchange.signatures import signed_request as signature_of
from witengine.hub.store.base import Store
from witengine.hub.store.ledger import credits
from witengine.hub.store.market import AskRecord, TradeRecord
from witengine.protocol import ErrorBody
from witengine.protocol.exchange import (
    AskInfo,
    NewAsk,
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


def trade_info(trade: TradeRecord) -> TradeInfo:
    return TradeInfo(**vars(trade))


def trade_detail(store: Store, market: Market, trade: TradeRecord) -> TradeDetail:
    """A trade with its phases, and the signed requests of its bid and its ask."""
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
    signed = [
        SignedLine(**vars(record))
        for account, wanted in nonces.items()
        for record in store.signed_requests(account)
        if record.nonce in wanted
    ]
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
        account: Annotated[str | None, Query(max_length=200)] = None,
    ) -> list[AskInfo]:
        """Every standing ask (of one account with `account`), oldest first."""
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

    @router.get("/trades", response_model=list[TradeInfo])
    async def list_trades(
        job: Annotated[str | None, Query(max_length=200)] = None,
        account: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[TradeInfo]:
        """Trades, newest first: of a job, of an account (as seller or buyer), or all."""
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
