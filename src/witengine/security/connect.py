"""How every client of a hub (the CLI, `HubClient`, the node agent) builds its connections.

One helper, `transport_options`, gives the headers and the TLS verification for a hub URL: the
token travels only as `Authorization: Bearer …`, never over plain HTTP to another machine unless
the caller says `insecure`, and an https hub is checked against its pinned fingerprint. httpx
clients and websockets connections are both built from what it returns.

Without a pin the verification is the certificate authorities this machine trusts, loaded once
per process (`trusted_authorities`): loading them costs tens of milliseconds of CPU, which every
new client paid again, even for a plain-HTTP hub; a process that enrols a hundred simulated
nodes spent seconds on it.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from witengine.errors import WitError
from witengine.security.tls import pinned_ssl_context, read_pin

Verify = ssl.SSLContext


class InsecureTransport(WitError):
    """A token would travel in clear text to another machine."""


def is_loopback(url: str) -> bool:
    """Whether the URL names this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, token: str | None, *, insecure: bool = False) -> None:
    """Refuse to send `token` over plain HTTP to a host that is not this machine."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InsecureTransport(f"{url!r} is not an http:// or https:// URL")
    if token and scheme == "http" and not insecure and not is_loopback(url):
        raise InsecureTransport(
            f"refusing to send a token over plain HTTP to {url}: use the hub's https:// address "
            "(wit hub --tls), or pass --insecure (WIT_INSECURE=1) on a network you trust"
        )


@functools.cache
def trusted_authorities() -> ssl.SSLContext:
    """The certificate authorities this machine trusts, as httpx loads them by default
    (honouring `SSL_CERT_FILE` and `SSL_CERT_DIR`), loaded once and shared by every client."""
    return httpx.create_ssl_context()


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def transport_options(
    url: str,
    token: str | None,
    fingerprint: str | None,
    *,
    insecure: bool = False,
    pin_file: Path | None = None,
    who: str = "this machine",
) -> tuple[dict[str, str], Verify]:
    """The headers and the TLS verification (an `ssl.SSLContext`) to reach the hub at `url`
    with `token`; InsecureTransport when that would leak the token.

    An https hub is checked against `fingerprint` when one is given (and, after the first
    handshake that matches, the pin is saved in `pin_file`), else against the pin saved in
    `pin_file`; with neither, against the certificate authorities this machine trusts.
    """
    check_transport(url, token, insecure=insecure)
    verify = trusted_authorities()
    if urlsplit(url).scheme.lower() == "https":
        verify = _pinned(url, fingerprint, pin_file, who)
    return auth_headers(token), verify


def _pinned(url: str, fingerprint: str | None, pin_file: Path | None, who: str) -> Verify:
    """An SSL context that accepts exactly the certificate with the pinned fingerprint."""
    if fingerprint:
        return pinned_ssl_context(
            fingerprint, url=url, pin_file=pin_file, remember=pin_file is not None, who=who
        )
    saved = read_pin(pin_file) if pin_file is not None else None
    if saved is None:
        return trusted_authorities()
    return pinned_ssl_context(saved, url=url, pin_file=pin_file, who=who)


PROBE_SECONDS = 2.0  # to ask a hub once in the other scheme, after a failure that looked like it


def wrong_scheme(url: str, error: BaseException) -> str | None:
    """What to say when `error` came of speaking the other scheme than the hub at `url` does:
    `http://` to a hub that serves TLS (it hangs up), `https://` to a plain one (the handshake
    reads an HTTP answer). Found by asking the hub once in the other scheme, sending nothing
    but a handshake or a bare `HEAD /` (never a token); None when that is not the trouble."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if host is None or scheme not in ("http", "https"):
        return None
    port = parts.port or (443 if scheme == "https" else 80)
    causes = list(_causes(error))
    rest = parts.path.rstrip("/")
    if scheme == "https":
        handshake = any(
            isinstance(c, ssl.SSLError) and not isinstance(c, ssl.SSLCertVerificationError)
            for c in causes
        )
        return plain_hub(url) if handshake else None
    hung_up = any(
        isinstance(c, EOFError | ConnectionResetError)
        or type(c).__name__ in ("RemoteProtocolError", "InvalidMessage")
        for c in causes
    )
    if hung_up and _answers_tls(host, port):
        return (
            f"the hub at {url} speaks TLS: use https://{parts.netloc}{rest}, with its "
            "certificate's fingerprint (--fingerprint, or a join token made on it)"
        )
    return None


def plain_hub(url: str) -> str | None:
    """What to say when the hub at an https:// `url` speaks plain HTTP (asked once with a bare
    `HEAD /`, no token); None when it does not, or cannot be reached."""
    parts = urlsplit(url)
    if parts.hostname is None or not _answers_plain_http(parts.hostname, parts.port or 443):
        return None
    return (
        f"the hub at {url} speaks plain HTTP, not TLS: use "
        f"http://{parts.netloc}{parts.path.rstrip('/')} (or start the hub with --tls)"
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and what it wraps: causes, contexts and exceptions passed as arguments (as
    httpcore wraps an SSLError), a few levels deep."""
    seen: list[BaseException] = []
    todo = [error]
    while todo and len(seen) < 16:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo += [a for a in current.args if isinstance(a, BaseException)]


def _answers_tls(host: str, port: int) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only whether it speaks TLS; nothing is sent
    try:
        with (
            socket.create_connection((host, port), timeout=PROBE_SECONDS) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except OSError:
        return False


def _answers_plain_http(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS) as raw:
            raw.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            return raw.recv(5) == b"HTTP/"
    except OSError:
        return False
