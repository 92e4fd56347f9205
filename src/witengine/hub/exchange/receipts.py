"""The hub's side of result receipts (`witengine.security.receipts`): each results upload of a
paid batch from a node that holds its owner's account key must carry the owner's signed
receipt of exactly those results; the hub checks it against the owner's public key, and keeps
it whole with the account's other signed requests (a nonce is taken once), so the trade shows
it and `wit ledger verify` checks it again. A node without its owner's key on the machine
sells still, but its trades say so: their results are uploaded unsigned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from witengine.hub.store.base import SignedRecord, Store
from witengine.hub.store.market import TradeRecord
from witengine.protocol import Receipt, TaskResult
from witengine.security.receipts import METHOD, check_receipt, path_of
from witengine.security.signing import SignatureError, Signed


@dataclass(frozen=True)
class Taken:
    """What came of an upload's receipt: `refused` says why its results are refused ("": they
    are not); `detail` is what the trade's "results uploaded" phase says of its signature."""

    detail: str
    refused: str = ""


def take(
    store: Store,
    trade: TradeRecord,
    signs: bool,
    results: Sequence[TaskResult],
    receipt: Receipt | None,
    now: float,
) -> Taken:
    """Check and keep the receipt of an upload of the trade's results, from a node that said it
    `signs` them with its owner's key (or not)."""
    if receipt is None:
        if signs:
            return Taken("", "its results came without the receipt its owner's key signs")
        return Taken(f"unsigned: node {trade.node_name} holds no key of account {trade.seller}")
    account = store.get_account(trade.seller)
    if account is None or account.state != "active":
        return Taken("", f"the trade's seller {trade.seller!r} is no active account")
    signed = Signed(receipt.account, receipt.timestamp, receipt.nonce, receipt.signature)
    try:
        body = check_receipt(account.public_key, trade.seller, trade.id, results, signed, now)
    except SignatureError as error:
        return Taken("", str(error))
    record = SignedRecord(
        signed.account,
        signed.nonce,
        signed.timestamp,
        METHOD,
        path_of(trade.id),
        body.decode(),
        signed.signature,
        now,
    )
    if not store.keep_signed(record):
        return Taken("", f"replayed: the receipt's nonce {signed.nonce} was used before")
    return Taken(f"receipt signed by {trade.seller} (nonce {signed.nonce})")


def of_trade(store: Store, trade: TradeRecord) -> list[SignedRecord]:
    """The receipts kept for a trade, as they came."""
    path = path_of(trade.id)
    return [r for r in store.signed_requests(trade.seller) if r.method == METHOD and r.path == path]
