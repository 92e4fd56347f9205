"""The hub's certificate and fingerprint pins, over real TLS on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from witengine.security.connect import transport_options
from witengine.security.tls import (
    PinMismatch,
    TlsError,
    TlsIdentity,
    certificate_fingerprint,
    ensure_certificate,
    fetch_fingerprint,
    fingerprint_of,
    parse_fingerprint,
    pin_failure,
    pin_path,
    pinned_ssl_context,
    read_pin,
    write_pin,
)

WRONG = "sha256:" + "ab" * 32


def test_certificate_is_made_once_and_reused_with_the_same_fingerprint(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path)
    again = ensure_certificate(tmp_path)

    assert again == first
    assert first.cert_path == tmp_path / "tls" / "cert.pem"
    assert first.fingerprint == fingerprint_of(first.cert_path.read_bytes())
    assert certificate_fingerprint(tmp_path) == first.fingerprint
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "tls").iterdir() if p.name.startswith(".")] == []


def test_certificate_names_this_machine_and_lasts_ten_years(tmp_path: Path) -> None:
    identity = ensure_certificate(tmp_path, names=["hub.example", "192.0.2.7"])
    certificate = x509.load_pem_x509_certificate(identity.cert_path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert {"localhost", "hub.example"} <= set(names.get_values_for_type(x509.DNSName))
    addresses = set(names.get_values_for_type(x509.IPAddress))
    assert {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "192.0.2.7")} <= addresses
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.days >= 3650


def test_a_hub_without_tls_has_no_fingerprint(tmp_path: Path) -> None:
    assert certificate_fingerprint(tmp_path) is None


def test_a_key_readable_by_others_is_made_private_again(tmp_path: Path) -> None:
    identity = ensure_certificate(tmp_path)
    identity.key_path.chmod(0o644)

    assert ensure_certificate(tmp_path) == identity
    assert stat.S_IMODE(identity.key_path.stat().st_mode) == 0o600


def test_a_certificate_without_its_key_is_refused_not_replaced(tmp_path: Path) -> None:
    identity = ensure_certificate(tmp_path)
    identity.key_path.unlink()

    with pytest.raises(TlsError, match=r"has no key beside it .*key\.pem"):
        ensure_certificate(tmp_path)
    assert fingerprint_of(identity.cert_path.read_bytes()) == identity.fingerprint


def test_a_certificate_for_another_key_is_refused(tmp_path: Path) -> None:
    ensure_certificate(tmp_path / "one")
    other = ensure_certificate(tmp_path / "two")
    (tmp_path / "one" / "tls" / "cert.pem").write_bytes(other.cert_path.read_bytes())

    with pytest.raises(TlsError, match=r"is not for the key"):
        ensure_certificate(tmp_path / "one")


def test_a_garbled_key_is_named(tmp_path: Path) -> None:
    identity = ensure_certificate(tmp_path)
    identity.key_path.write_text("not a key")

    with pytest.raises(TlsError, match=r"TLS key .*key\.pem cannot be read"):
        ensure_certificate(tmp_path)


def test_fingerprint_is_the_same_from_pem_and_der(tmp_path: Path) -> None:
    identity = ensure_certificate(tmp_path)
    pem = identity.cert_path.read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)

    assert fingerprint_of(pem) == fingerprint_of(der) == fingerprint_of(pem.decode())
    assert identity.fingerprint.startswith("sha256:") and len(identity.fingerprint) == 71


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "ab" * 32,
        "AB" * 32,
        "  SHA256:" + "Ab" * 32 + "\n",
        "SHA256 Fingerprint=" + ":".join(["AB"] * 32),
    ],
)
def test_fingerprints_are_read_in_their_usual_spellings(text: str) -> None:
    assert parse_fingerprint(text) == WRONG


@pytest.mark.parametrize("text", ["", "sha256:", "sha256:abc", "md5:" + "ab" * 16, "zz" * 32])
def test_a_malformed_fingerprint_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(TlsError, match=r"expected sha256: followed by 64 hex digits"):
        parse_fingerprint(text)


def test_pins_are_kept_one_file_per_hub_address(tmp_path: Path) -> None:
    one = pin_path(tmp_path, "https://192.168.1.10:7310/")
    other = pin_path(tmp_path, "https://[fe80::1]:7310")

    assert one == tmp_path / "192.168.1.10-7310.sha256"
    assert one != other and other.parent == tmp_path
    assert read_pin(one) is None
    write_pin(one, "AB" * 32)
    assert read_pin(one) == WRONG


def test_a_damaged_pin_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "hub.sha256"
    path.write_text("garbage")

    with pytest.raises(TlsError, match=r"pin file .*hub\.sha256 is damaged"):
        read_pin(path)


# ------------------------------------------------------------------ real TLS on loopback


@dataclass
class TlsServer:
    """A TLS server on 127.0.0.1 that records every byte it receives and answers HTTP 200."""

    identity: TlsIdentity
    port: int = 0
    received: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def heard(self) -> bytes:
        return b"".join(self.received)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TlsServer]:
    identity = ensure_certificate(tmp_path / "hub")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(identity.cert_path, identity.key_path)
    state = TlsServer(identity)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await asyncio.wait_for(reader.read(65536), 10)
            state.received.append(data)
            if data:
                body = b"ok"
                head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
                writer.write(head.encode() + b"\r\n" + body)
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # a client that refused the certificate hangs up mid-handshake
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    state.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield state


async def test_a_pinned_client_reaches_the_server_with_that_certificate(server: TlsServer) -> None:
    context = pinned_ssl_context(server.identity.fingerprint, url=server.url)

    async with httpx.AsyncClient(verify=context, timeout=10) as client:
        response = await client.get(server.url + "/api/v1/health")

    assert response.text == "ok"
    assert b"GET /api/v1/health" in server.heard()


async def test_a_wrong_pin_is_refused_before_the_token_is_sent(server: TlsServer) -> None:
    context = pinned_ssl_context(WRONG, url=server.url, who="this node")

    async with httpx.AsyncClient(verify=context, timeout=10) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(server.url, headers={"Authorization": "Bearer SECRET"})

    mismatch = pin_failure(caught.value)
    assert mismatch is not None
    assert str(mismatch) == (
        f"the hub at {server.url} presented certificate {server.identity.fingerprint}, but this "
        f"node is pinned to {WRONG}; check the fingerprint given (--fingerprint, WIT_FINGERPRINT "
        "or the join token) against what `wit hub --show-fingerprint` prints on the hub's machine"
    )
    assert (mismatch.presented, mismatch.pinned) == (server.identity.fingerprint, WRONG)
    assert b"SECRET" not in server.heard()
    assert b"GET" not in server.heard()


async def test_the_sync_client_honours_the_pin_too(server: TlsServer) -> None:
    def both() -> tuple[str, BaseException | None]:
        good = pinned_ssl_context(server.identity.fingerprint)
        text = httpx.get(server.url, verify=good, timeout=10).text
        try:
            httpx.get(server.url, verify=pinned_ssl_context(WRONG), timeout=10)
        except httpx.ConnectError as error:
            return text, pin_failure(error)
        return text, None

    text, refused = await asyncio.to_thread(both)

    assert text == "ok"
    assert isinstance(refused, PinMismatch)


async def test_websockets_honour_the_pin(tmp_path: Path) -> None:
    identity = ensure_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(identity.cert_path, identity.key_path)
    heard: list[str] = []

    async def greet(socket: websockets.ServerConnection) -> None:
        heard.append(socket.request.headers.get("Authorization", "") if socket.request else "")
        await socket.send("welcome")

    async with websockets.serve(greet, "127.0.0.1", 0, ssl=context) as listener:
        port = next(iter(listener.sockets)).getsockname()[1]
        url = f"wss://127.0.0.1:{port}/api/v1/nodes/connect"
        headers = {"Authorization": "Bearer SECRET"}
        good = pinned_ssl_context(identity.fingerprint)
        async with websockets.connect(url, ssl=good, additional_headers=headers) as socket:
            assert await socket.recv() == "welcome"
        with pytest.raises(PinMismatch):
            async with websockets.connect(url, ssl=pinned_ssl_context(WRONG)) as socket:
                pass

    assert heard == ["Bearer SECRET"]


async def test_a_given_pin_is_saved_after_the_first_handshake_that_matches(
    server: TlsServer, tmp_path: Path
) -> None:
    pin = tmp_path / "pins" / "hub.sha256"
    async with httpx.AsyncClient(
        verify=pinned_ssl_context(WRONG, pin_file=pin, remember=True)
    ) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(server.url)
    assert read_pin(pin) is None  # a pin that did not match is never saved

    _, verify = transport_options(server.url, "SECRET", server.identity.fingerprint, pin_file=pin)
    async with httpx.AsyncClient(verify=verify, timeout=10) as client:
        assert (await client.get(server.url)).text == "ok"
    assert read_pin(pin) == server.identity.fingerprint

    _, verify = transport_options(server.url, "SECRET", None, pin_file=pin)  # from the file now
    async with httpx.AsyncClient(verify=verify, timeout=10) as client:
        assert (await client.get(server.url)).text == "ok"


async def test_a_saved_pin_that_no_longer_matches_says_which_file_to_remove(
    server: TlsServer, tmp_path: Path
) -> None:
    pin = tmp_path / "hub.sha256"
    write_pin(pin, WRONG)
    _, verify = transport_options(server.url, "SECRET", None, pin_file=pin, who="this node")

    async with httpx.AsyncClient(verify=verify, timeout=10) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(server.url, headers={"Authorization": "Bearer SECRET"})

    assert str(pin_failure(caught.value)).endswith(
        f"but this node is pinned to {WRONG}; if the hub's certificate was replaced on purpose, "
        f"remove {pin}"
    )
    assert read_pin(pin) == WRONG
    assert b"SECRET" not in server.heard()


async def test_without_any_pin_a_self_signed_hub_is_not_trusted(server: TlsServer) -> None:
    _, verify = transport_options(server.url, "SECRET", None)

    async with httpx.AsyncClient(verify=verify, timeout=10) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(server.url, headers={"Authorization": "Bearer SECRET"})

    assert b"SECRET" not in server.heard()


async def test_fetch_fingerprint_reads_what_the_server_presents(server: TlsServer) -> None:
    assert await fetch_fingerprint(server.url) == server.identity.fingerprint


async def test_fetch_fingerprint_names_an_unreachable_server() -> None:
    from witengine.testing.processes import free_port

    with pytest.raises(TlsError, match=r"cannot reach https://127\.0\.0\.1:\d+"):
        await fetch_fingerprint(f"https://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(TlsError, match="is not an https:// URL"):
        await fetch_fingerprint("http://127.0.0.1:1")
