"""`wit account` and `wit ledger` as a user runs them, against a real hub process on
127.0.0.1: accounts made (active with the admin's token, pending with a viewer's until
approved), a passphrase-protected key kept mode 600, grants, balances, a signed transfer, a
statement with its running balance, and `wit ledger verify`, green and then, after an amount
is edited in the hub's SQLite file, exit 1 naming the transaction (and, after a kept signed
request's body is edited, naming the request)."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess

import pytest

from witengine.testing.processes import ProcessFarm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def wit(
    farm: ProcessFarm, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`wit ARGS` with the passphrase of encrypted keys set, as the admin or with `token`."""
    env = {"WIT_ACCOUNT_PASSPHRASE": "open sesame"}
    if token is not None:
        env["WIT_TOKEN"] = token
    return farm.wit(*args, env=env)


def test_accounts_are_made_approved_granted_and_pay_each_other(farm: ProcessFarm) -> None:
    made = wit(farm, "account", "create", "alice", "--passphrase")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("account alice is active (sha256:")
    key = farm.root / "config" / "accounts" / "alice.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    viewer = farm.api("POST", "/tokens", json={"role": "viewer"}).json()["token"]
    pending = wit(farm, "account", "create", "bob", token=viewer)
    assert pending.returncode == 0 and "wit account approve bob" in pending.stdout
    assert wit(farm, "account", "approve", "bob").stdout.startswith("account bob is active")
    granted = wit(farm, "account", "grant", "alice", "10.5", "--memo", "welcome")
    assert granted.stdout.strip() == "granted 10.500 credits to alice (transaction 1)"
    paid = wit(farm, "account", "transfer", "alice", "bob", "2.5")
    assert paid.returncode == 0, paid.stderr
    balance = json.loads(wit(farm, "account", "balance", "alice", "--json").stdout)
    assert balance == {**balance, "account": "alice", "balance": 8000, "credits": "8.000"}
    statement = wit(farm, "ledger", "--account", "alice").stdout.splitlines()
    assert "balance 10.500" in statement[0] and "(welcome)" in statement[0]
    assert "alice -2.500, bob +2.500  balance 8.000" in statement[1]
    verified = wit(farm, "ledger", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "2 transaction(s) chained" in verified.stdout
    assert "1 signed request(s) verify" in verified.stdout


def test_refused_moves_exit_1_or_2_saying_why(farm: ProcessFarm) -> None:
    assert wit(farm, "account", "create", "erin").returncode == 0
    broke = wit(farm, "account", "transfer", "erin", "alice", "1")
    assert broke.returncode == 1
    assert "account 'erin' holds 0.000 credits, and this needs 1.000" in broke.stderr
    too_fine = wit(farm, "account", "grant", "erin", "0.0001")
    assert too_fine.returncode == 2 and "at most three decimals" in too_fine.stderr
    nobody = wit(farm, "account", "grant", "nobody", "1")
    assert nobody.returncode == 1 and "no account named 'nobody'" in nobody.stderr


def test_a_signed_request_edited_in_the_hub_database_fails_verify_naming_it(
    farm: ProcessFarm,
) -> None:
    for name in ("gina", "hugo"):
        assert wit(farm, "account", "create", name).returncode == 0
    wit(farm, "account", "grant", "gina", "5")
    assert wit(farm, "account", "transfer", "gina", "hugo", "1").returncode == 0
    assert wit(farm, "ledger", "verify").returncode == 0
    db = sqlite3.connect(farm.root / "hub" / "hub.sqlite3")
    try:
        rows = db.execute("SELECT account, nonce, body FROM signed_requests ORDER BY seq")
        kept = [(account, nonce, body) for account, nonce, body in rows]
        number = next(n for n, row in enumerate(kept, 1) if row[0] == "gina")
        _, nonce, body = kept[number - 1]
        db.execute("DROP TRIGGER signed_requests_no_update")  # as someone editing the file would
        edited = body.replace("1000", "4000")
        assert edited != body
        db.execute("UPDATE signed_requests SET body = ? WHERE nonce = ?", (edited, nonce))
        db.commit()
        broken = wit(farm, "ledger", "verify")
        assert broken.returncode == 1
        assert (
            f"wit ledger verify: signed request {number} (gina, nonce {nonce}) does not verify "
            "with the account's key" in broken.stderr
        )
        db.execute("UPDATE signed_requests SET body = ? WHERE nonce = ?", (body, nonce))
        db.commit()
    finally:
        db.close()
    assert wit(farm, "ledger", "verify").returncode == 0


def test_an_amount_edited_in_the_hub_database_fails_verify_naming_it(farm: ProcessFarm) -> None:
    for name in ("carol", "dave"):
        assert wit(farm, "account", "create", name).returncode == 0
    wit(farm, "account", "grant", "carol", "5")
    assert wit(farm, "account", "transfer", "carol", "dave", "1").returncode == 0
    seq = json.loads(wit(farm, "ledger", "--json").stdout)[-1]["seq"]
    db = sqlite3.connect(farm.root / "hub" / "hub.sqlite3")
    db.execute("DROP TRIGGER entries_no_update")  # what someone editing the file would do
    db.execute("UPDATE entries SET amount = amount * 3 WHERE seq = ?", (seq,))
    db.commit()
    db.close()
    broken = wit(farm, "ledger", "verify")
    assert broken.returncode == 1
    assert f"wit ledger verify: transaction {seq}: its hash does not match" in broken.stderr
