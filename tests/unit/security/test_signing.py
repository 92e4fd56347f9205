"""Signed requests: a signature holds for its account, method, path, body and moment only;
malformed headers and stale timestamps are refused naming what is wrong. Account keys are kept
mode 600, and a passphrase-protected key opens only with its passphrase."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from witengine.security.accounts import AccountKey, AccountKeyError, check_account_name
from witengine.security.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    check_time,
    read_headers,
    sign_request,
    verifies,
)

BODY = b'{"to":"bob","amount":1000,"memo":""}'
PATH = "/api/v1/ledger/transfers"


def test_a_signature_holds_for_exactly_what_was_signed() -> None:
    key = AccountKey.make("alice")
    headers = sign_request(key.private, "alice", "POST", PATH, BODY, 1000.0)
    signed = read_headers(headers)
    assert verifies(key.public_key, signed, "POST", PATH, BODY)
    assert not verifies(key.public_key, signed, "POST", PATH, BODY.replace(b"1000", b"9000"))
    assert not verifies(key.public_key, signed, "POST", "/api/v1/other", BODY)
    assert not verifies(key.public_key, signed, "PUT", PATH, BODY)
    assert not verifies(AccountKey.make("alice").public_key, signed, "POST", PATH, BODY)
    as_bob = read_headers({**headers, "X-Wit-Account": "bob"})
    assert not verifies(key.public_key, as_bob, "POST", PATH, BODY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({SIGNATURE_HEADER: None}, "missing header(s) X-Wit-Signature"),
        ({SIGNATURE_HEADER: "not base64!"}, "64-byte Ed25519 signature in base64"),
        ({SIGNATURE_HEADER: "AAAA"}, "64-byte Ed25519 signature in base64"),
        ({NONCE_HEADER: "short"}, "16 to 64 letters"),
        ({TIMESTAMP_HEADER: "soon"}, "whole seconds since the epoch"),
    ],
)
def test_malformed_headers_are_refused_naming_the_header(
    change: dict[str, str | None], message: str
) -> None:
    headers = sign_request(AccountKey.make("a").private, "a", "POST", PATH, BODY, 1000.0)
    for name, value in change.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    with pytest.raises(SignatureError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_headers(headers)


def test_a_timestamp_outside_the_window_is_stale() -> None:
    signed = read_headers(sign_request(AccountKey.make("a").private, "a", "POST", PATH, b"", 1000))
    check_time(signed, 1000 + 300)
    check_time(signed, 1000 - 300)
    with pytest.raises(SignatureError, match="stale signature: its timestamp is 301 s behind"):
        check_time(signed, 1000 + 301)


def test_a_key_is_kept_mode_600_and_its_passphrase_opens_it(tmp_path: Path) -> None:
    key = AccountKey.make("alice")
    path = tmp_path / "accounts" / "alice.key"
    key.save(path, "correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert AccountKey.encrypted(path) and b"PRIVATE KEY" in path.read_bytes()
    assert AccountKey.load("alice", path, "correct horse").public_key == key.public_key
    with pytest.raises(AccountKeyError, match="needs its passphrase"):
        AccountKey.load("alice", path)
    with pytest.raises(AccountKeyError, match="a wrong passphrase"):
        AccountKey.load("alice", path, "wrong")
    plain = tmp_path / "plain.key"
    key.save(plain)
    assert not AccountKey.encrypted(plain)
    assert AccountKey.load("alice", plain).public_key == key.public_key


@pytest.mark.parametrize("name", ["mint", "escrow:job", "", "a b", "x" * 41])
def test_names_the_ledger_keeps_or_no_name_at_all_are_refused(name: str) -> None:
    with pytest.raises(AccountKeyError):
        check_account_name(name)
