"""Result receipts: what a selling node signs, with its owner's account key, for each results
upload of a paid batch (a trade), and how the hub checks it.

A receipt is a signed request (`witengine.security.signing`) of method `RECEIPT` on the trade's
path, `/api/v1/trades/<TRADE>`, whose body is the canonical JSON

    {"account": ACCOUNT, "items": [[MAP, INDEX, ATTEMPT, DIGEST], ...], "trade": TRADE}

(keys sorted, no spaces), where DIGEST is the sha256 hex of the item's result as delivered:
the canonical JSON of `[ok, value, error]`. So the owner's signature says which results of
which trade it delivered, at what moment, with a nonce never used twice: a changed result, an
item added or left out, another trade's receipt or a replayed one does not pass. The hub keeps
each receipt whole, as it keeps the other signed requests, so `wit ledger verify` checks it
again with the account's public key.

Pure: no I/O, no clock (times are passed in).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witengine.security.signing import (
    SignatureError,
    Signed,
    check_time,
    read_headers,
    sign_request,
    verifies,
)

METHOD = "RECEIPT"


def _canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def path_of(trade_id: str) -> str:
    """The path a trade's receipts are signed for (the trade's own, in the API)."""
    return f"/api/v1/trades/{trade_id}"


def digest(ok: bool, value: Any, error: str | None) -> str:
    """The sha256 hex of one item's result, as delivered."""
    return hashlib.sha256(_canonical_json([ok, value, error])).hexdigest()


def body_of(account: str, trade_id: str, results: Sequence[Sequence[Any]]) -> bytes:
    """The receipt's signed body for these results (`TaskResult`s: map, index, attempt, ok,
    value, error, ...)."""
    items = [[r[0], r[1], r[2], digest(r[3], r[4], r[5])] for r in results]
    return _canonical_json({"account": account, "items": items, "trade": trade_id})


def sign_receipt(
    key: Ed25519PrivateKey,
    account: str,
    trade_id: str,
    results: Sequence[Sequence[Any]],
    now: float,
) -> Signed:
    """The owner's receipt for this upload of the trade's results, at time `now`."""
    headers = sign_request(
        key, account, METHOD, path_of(trade_id), body_of(account, trade_id, results), now
    )
    return read_headers(headers)


def check_receipt(
    public_key: str,
    seller: str,
    trade_id: str,
    results: Sequence[Sequence[Any]],
    receipt: Signed,
    now: float,
) -> bytes:
    """The signed body when `receipt` is the seller's, by the key `public_key`, for exactly
    these results of the trade, within the time window of `now`; SignatureError saying why not
    otherwise. (The nonce is the keeper's to check: it keeps every receipt it takes.)"""
    if receipt.account != seller:
        raise SignatureError(
            f"the receipt is signed for account {receipt.account[:40]!r}, but the trade's "
            f"seller is {seller!r}"
        )
    check_time(receipt, now)
    body = body_of(seller, trade_id, results)
    if not verifies(public_key, receipt, METHOD, path_of(trade_id), body):
        raise SignatureError(
            f"the receipt is not account {seller!r}'s for these results of trade {trade_id} "
            "(a wrong key, or a result changed after signing)"
        )
    return body
