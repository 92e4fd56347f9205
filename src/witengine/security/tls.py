"""TLS for a hub: its self-signed certificate, and the fingerprint pins clients check it against.

The hub makes its certificate on the first start with `--tls` (`ensure_certificate`), in
`<data-dir>/tls/`: `key.pem` (ECDSA P-256, mode 600, in a folder of mode 700) and `cert.pem`,
valid for ten years, naming localhost, the loopback addresses, the host name and the machine's
network addresses. It is made once and reused, so its fingerprint (`sha256:` and the hex SHA-256
of the certificate's DER bytes) stays the same across restarts and is what nodes and clients pin.

No certificate authority and no host name is involved on the client side: `pinned_ssl_context`
accepts exactly the server whose certificate has the pinned fingerprint, whatever address it is
reached at. It checks the certificate the moment the TLS handshake completes, before the caller
can send a byte (a token included), so httpx (anyio) and websockets (asyncio), which both take an
`ssl.SSLContext`, honour it alike; the handshake itself proves the server holds the certificate's
key. A wrong certificate is a `PinMismatch` naming both fingerprints and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import ipaddress
import logging
import os
import re
import socket
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from witengine.errors import WitError
from witengine.security.files import keep_private

log = logging.getLogger(__name__)

PREFIX = "sha256:"
VALID_DAYS = 3650
FETCH_SECONDS = 10.0
_HEX = re.compile(r"[0-9a-f]{64}")


class TlsError(WitError):
    """A certificate, key or fingerprint cannot be used; the message names which and why."""


@dataclass(frozen=True)
class TlsIdentity:
    """The hub's certificate and key files, and the certificate's fingerprint."""

    cert_path: Path
    key_path: Path
    fingerprint: str


class PinMismatch(ssl.SSLCertVerificationError):
    """The server presented a certificate other than the pinned one."""

    def __init__(self, message: str, *, url: str, presented: str, pinned: str) -> None:
        super().__init__(message)
        self.url = url
        self.presented = presented
        self.pinned = pinned

    def __str__(self) -> str:
        return str(self.args[0])


# ------------------------------------------------------------------ fingerprints


def fingerprint_of(certificate: bytes | str) -> str:
    """`sha256:<hex>` of a certificate given as PEM (text or bytes) or DER bytes."""
    data = certificate.encode() if isinstance(certificate, str) else certificate
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        except ValueError as error:
            raise TlsError(f"not a PEM certificate: {error}") from None
    return PREFIX + hashlib.sha256(data).hexdigest()


def parse_fingerprint(text: str) -> str:
    """A fingerprint in the one form witengine uses, from `sha256:<hex>`, bare hex, or the
    colon-separated form of `openssl x509 -fingerprint -sha256` (any case)."""
    cleaned = text.strip().lower()
    for prefix in ("sha256 fingerprint=", "sha256:", "sha256="):
        cleaned = cleaned.removeprefix(prefix)
    cleaned = cleaned.replace(":", "")
    if not _HEX.fullmatch(cleaned):
        raise TlsError(
            f"{text.strip()!r} is not a certificate fingerprint: expected sha256: followed by "
            "64 hex digits (as `wit hub --show-fingerprint` prints it)"
        )
    return PREFIX + cleaned


# ------------------------------------------------------------------ the hub's certificate


def ensure_certificate(data_dir: Path, *, names: Sequence[str] = ()) -> TlsIdentity:
    """The hub's certificate in `<data_dir>/tls/`: read, or made the first time (with `names`,
    host names or addresses, added to the usual ones)."""
    folder = data_dir / "tls"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if cert_path.exists() and not key_path.exists():
        raise TlsError(
            f"the hub's certificate {cert_path} has no key beside it ({key_path}); restore the "
            f"key, or remove {cert_path} to make a new certificate (nodes and clients pinned to "
            "the old one must then be given the new fingerprint)"
        )
    key = _read_or_make_key(key_path)
    if not cert_path.exists():
        certificate = _self_signed(key, [*_default_names(), *names])
        _write_new(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    pem = cert_path.read_bytes()
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise TlsError(f"the hub's certificate {cert_path} cannot be read: {error}") from None
    if certificate.public_key() != key.public_key():
        raise TlsError(
            f"the hub's certificate {cert_path} is not for the key {key_path}; remove "
            f"{cert_path} to make a new certificate for that key"
        )
    if certificate.not_valid_after_utc < datetime.datetime.now(datetime.UTC):
        expired = certificate.not_valid_after_utc.date()
        log.warning("the hub's certificate %s expired on %s", cert_path, expired)
    return TlsIdentity(cert_path, key_path, fingerprint_of(pem))


def certificate_fingerprint(data_dir: Path) -> str | None:
    """The fingerprint of the hub's certificate in `data_dir`, or None when it has none yet."""
    path = data_dir / "tls" / "cert.pem"
    try:
        return fingerprint_of(path.read_bytes())
    except FileNotFoundError:
        return None


def _read_or_make_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with contextlib.suppress(FileExistsError):  # another hub on this data dir was first
            _write_new(path, pem, 0o600)
            log.info("created the hub's TLS key %s", path)
    keep_private(path)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise TlsError(f"the hub's TLS key {path} cannot be read: {error}") from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise TlsError(f"the hub's TLS key {path} is not an elliptic-curve key")
    return loaded


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a whole file under `path`, or FileExistsError if one is there: written aside, then
    linked into place, so no reader ever sees half a key and two hubs never overwrite each other."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        os.write(descriptor, data)
        os.fsync(descriptor)
        os.close(descriptor)
        os.link(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            os.close(descriptor)
        Path(temporary).unlink(missing_ok=True)


def _default_names() -> list[str]:
    names = ["localhost", "127.0.0.1", "::1"]
    host = socket.gethostname()
    names += [host, f"{host}.local"]
    with contextlib.suppress(OSError):
        fqdn = socket.getfqdn()
        names.append(fqdn)
    names += _network_addresses()
    return names


def _network_addresses() -> list[str]:
    """This machine's addresses on its networks (link-local ones left out)."""
    import psutil

    found = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            with contextlib.suppress(ValueError):
                address = ipaddress.ip_address(entry.address.split("%")[0])
                if not address.is_link_local:
                    found.append(str(address))
    return found


def _self_signed(key: ec.EllipticCurvePrivateKey, names: Iterable[str]) -> x509.Certificate:
    dns: dict[str, None] = {}
    ips: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, None] = {}
    for name in names:
        try:
            ips[ipaddress.ip_address(name)] = None
        except ValueError:
            if name and name.isascii():
                dns[name.lower()] = None
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"witengine hub {socket.gethostname()}"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "witengine"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    alternative = [x509.DNSName(n) for n in dns] + [x509.IPAddress(a) for a in ips]
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))  # clocks of a farm disagree a little
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


# ------------------------------------------------------------------ pins


def read_pin(path: Path) -> str | None:
    """The fingerprint saved in a pin file, or None when there is none (TlsError if garbled)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return parse_fingerprint(text)
    except TlsError as error:
        raise TlsError(f"the pin file {path} is damaged ({error}); remove it") from None


def write_pin(path: Path, fingerprint: str) -> None:
    """Save a fingerprint as the pin of a hub (replacing the file as a whole)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(parse_fingerprint(fingerprint) + "\n")
    Path(temporary).replace(path)


def pin_path(folder: Path, url: str) -> Path:
    """Where a client keeps the pin of the hub at `url`: one file per host and port."""
    parts = urlsplit(url)
    host = (parts.hostname or "hub").lower().replace(":", "_")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return folder / f"{host}-{port}.sha256"


class _PinnedContext(ssl.SSLContext):
    """A client context that accepts exactly the server certificate with one fingerprint."""

    pin: str
    url: str
    who: str
    pin_file: Path | None
    remember: bool

    def check(self, der: bytes | None) -> None:
        presented = PREFIX + hashlib.sha256(der).hexdigest() if der else "no certificate"
        if presented != self.pin:
            raise PinMismatch(
                f"the hub at {self.url or 'this address'} presented certificate {presented}, "
                f"but {self.who} is pinned to {self.pin}; {self._remedy()}",
                url=self.url,
                presented=presented,
                pinned=self.pin,
            )
        if self.remember and self.pin_file is not None:
            with contextlib.suppress(OSError, TlsError):  # a pin not saved is asked for again
                if read_pin(self.pin_file) != self.pin:
                    write_pin(self.pin_file, self.pin)
                    log.info("pinned the hub at %s to %s in %s", self.url, self.pin, self.pin_file)

    def _remedy(self) -> str:
        if self.pin_file is not None and not self.remember:
            return f"if the hub's certificate was replaced on purpose, remove {self.pin_file}"
        return (
            "check the fingerprint given (--fingerprint, WIT_FINGERPRINT or the join token) "
            "against what `wit hub --show-fingerprint` prints on the hub's machine"
        )


class _PinnedObject(ssl.SSLObject):
    """A TLS connection over memory buffers (asyncio, anyio) that checks the pin on handshake."""

    def do_handshake(self) -> None:
        super().do_handshake()
        context = self.context
        assert isinstance(context, _PinnedContext)
        context.check(self.getpeercert(binary_form=True))


class _PinnedSocket(ssl.SSLSocket):
    """A blocking TLS socket (httpx's sync client) that checks the pin on handshake."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        context = self.context
        assert isinstance(context, _PinnedContext)
        context.check(self.getpeercert(binary_form=True))


def pinned_ssl_context(
    fingerprint: str,
    *,
    url: str = "",
    pin_file: Path | None = None,
    remember: bool = False,
    who: str = "this machine",
) -> ssl.SSLContext:
    """A client context that accepts only a server whose certificate has `fingerprint`.

    `url` and `who` go into the `PinMismatch` message; `pin_file` is where the pin was read
    from, or, with `remember`, where it is saved after the first handshake that matches it.
    """
    context = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The pin, checked after the handshake, decides; there is no authority to check against.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.sslobject_class = _PinnedObject
    context.sslsocket_class = _PinnedSocket
    context.pin = parse_fingerprint(fingerprint)
    context.url = url
    context.who = who
    context.pin_file = pin_file
    context.remember = remember
    return context


def pin_failure(error: BaseException | None) -> PinMismatch | None:
    """The PinMismatch behind an error (httpx and websockets wrap it), if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, PinMismatch):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def untrusted_certificate(error: BaseException | None) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind an error, pin or authority, if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ssl.SSLCertVerificationError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


async def fetch_fingerprint(url: str, timeout: float = FETCH_SECONDS) -> str:
    """The fingerprint of the certificate the server at an https URL presents, unverified: to
    show it, never to trust it."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise TlsError(f"{url!r} is not an https:// URL")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    host, port = parts.hostname, parts.port or 443
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    except (OSError, TimeoutError) as error:
        raise TlsError(f"cannot reach {url}: {error or 'timed out'}") from None
    try:
        tls: Any = writer.get_extra_info("ssl_object")
        der: bytes | None = tls.getpeercert(binary_form=True) if tls is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not der:
        raise TlsError(f"{url} presented no certificate")
    return fingerprint_of(der)
