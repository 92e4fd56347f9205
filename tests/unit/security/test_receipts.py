"""Result receipts: the owner's signature holds for exactly the results of one trade it
delivered, with the owner's key, within the time window; a changed result (its digest), an
item left out, another trade, another account or key, a stale receipt are refused naming why;
the hub keeps a receipt once, so a replay is refused, and `recheck` checks kept ones again."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from witengine.hub.exchange import receipts as hub_receipts
from witengine.hub.exchange.signatures import recheck
from witengine.hub.store.base import AccountRecord
from witengine.hub.store.market import TradeRecord
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import Receipt, TaskResult
from witengine.security.accounts import AccountKey
from witengine.security.receipts import body_of, check_receipt, digest, sign_receipt
from witengine.security.signing import SignatureError

NOW = 1_800_000_000.0
TRADE = "b_0123456789ab"
RESULTS = [
    TaskResult("m_1", 0, 1, True, {"frame": 1, "sha256": "ab" * 32}),
    TaskResult("m_1", 1, 1, False, None, "out of memory"),
]


def test_a_receipt_names_each_item_with_the_digest_of_its_result() -> None:
    body = json.loads(body_of("farm", TRADE, RESULTS))
    assert body == {
        "account": "farm",
        "trade": TRADE,
        "items": [
            ["m_1", 0, 1, digest(True, {"frame": 1, "sha256": "ab" * 32}, None)],
            ["m_1", 1, 1, digest(False, None, "out of memory")],
        ],
    }
    # The digest is of the result as delivered: the same value in another key order is the same.
    assert digest(True, {"b": 1, "a": 2}, None) == digest(True, {"a": 2, "b": 1}, None)
    assert digest(True, 1, None) != digest(True, 2, None)


def test_the_owners_receipt_holds_for_exactly_what_it_delivered() -> None:
    key = AccountKey.make("farm")
    receipt = sign_receipt(key.private, "farm", TRADE, RESULTS, NOW)
    body = check_receipt(key.public_key, "farm", TRADE, RESULTS, receipt, NOW + 10)
    assert body == body_of("farm", TRADE, RESULTS)

    tampered = [RESULTS[0]._replace(value={"frame": 2}), RESULTS[1]]
    with pytest.raises(SignatureError, match="a result changed after signing"):
        check_receipt(key.public_key, "farm", TRADE, tampered, receipt, NOW)
    with pytest.raises(SignatureError, match="not account 'farm'"):
        check_receipt(key.public_key, "farm", TRADE, RESULTS[:1], receipt, NOW)  # one left out
    with pytest.raises(SignatureError, match="of trade b_other"):
        check_receipt(key.public_key, "farm", "b_other", RESULTS, receipt, NOW)


def test_a_receipt_by_a_wrong_key_or_for_another_account_or_stale_is_refused() -> None:
    key = AccountKey.make("farm")
    stranger = AccountKey.make("farm")  # the same name, another key
    forged = sign_receipt(stranger.private, "farm", TRADE, RESULTS, NOW)
    with pytest.raises(SignatureError, match="a wrong key"):
        check_receipt(key.public_key, "farm", TRADE, RESULTS, forged, NOW)
    other = sign_receipt(key.private, "mallory", TRADE, RESULTS, NOW)
    with pytest.raises(SignatureError, match="the trade's seller is 'farm'"):
        check_receipt(key.public_key, "farm", TRADE, RESULTS, other, NOW)
    old = sign_receipt(key.private, "farm", TRADE, RESULTS, NOW - 3600)
    with pytest.raises(SignatureError, match="stale signature"):
        check_receipt(key.public_key, "farm", TRADE, RESULTS, old, NOW)


def _trade() -> TradeRecord:
    return TradeRecord(
        TRADE, "j_1", "m_1", "node_1", "gpu-1", "farm", "buyer", "Compute.Sleep", 1000, 2000, 2, 2.0
    )


def test_the_hub_keeps_a_receipt_once_refuses_a_replay_and_rechecks_what_it_kept() -> None:
    store = MemoryStore()
    key = AccountKey.make("farm")
    store.add_account(AccountRecord("farm", key.public_key, "active", NOW))
    trade = _trade()
    receipt = Receipt(**vars(sign_receipt(key.private, "farm", TRADE, RESULTS, NOW)))
    taken = hub_receipts.take(store, trade, True, RESULTS, receipt, NOW)
    assert taken.refused == "" and taken.detail.startswith("receipt signed by farm")
    again = hub_receipts.take(store, trade, True, RESULTS, receipt, NOW)
    assert again.refused.startswith("replayed: the receipt's nonce")
    kept = hub_receipts.of_trade(store, trade)
    assert [(r.method, r.path) for r in kept] == [("RECEIPT", f"/api/v1/trades/{TRADE}")]
    assert recheck(store) == (1, None)
    # A kept receipt edited afterwards (a digest changed) no longer verifies: `wit ledger verify`.
    edited = kept[0].body.replace(digest(True, {"frame": 1, "sha256": "ab" * 32}, None), "0" * 64)
    assert edited != kept[0].body
    store.signed[0] = replace(kept[0], body=edited)
    number, problem = recheck(store)
    assert number == 1 and problem is not None and "does not verify" in problem


def test_the_hub_refuses_a_missing_or_bad_receipt_and_marks_a_keyless_nodes_upload() -> None:
    store = MemoryStore()
    key = AccountKey.make("farm")
    store.add_account(AccountRecord("farm", key.public_key, "active", NOW))
    trade = _trade()
    missing = hub_receipts.take(store, trade, True, RESULTS, None, NOW)
    assert "without the receipt" in missing.refused
    keyless = hub_receipts.take(store, trade, False, RESULTS, None, NOW)
    assert keyless.refused == ""
    assert keyless.detail == "unsigned: node gpu-1 holds no key of account farm"
    forged = sign_receipt(AccountKey.make("farm").private, "farm", TRADE, RESULTS, NOW)
    bad = hub_receipts.take(store, trade, True, RESULTS, Receipt(**vars(forged)), NOW)
    assert "a wrong key" in bad.refused
    assert hub_receipts.of_trade(store, trade) == []  # nothing kept of what was refused
