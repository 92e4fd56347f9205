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
import ssl
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
