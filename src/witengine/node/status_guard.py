"""Who may see a node's own page and press its buttons: pure checks of a request's peer and
headers, made before the page answers.

- **Host.** Every request must name the page by an address it serves under (`allowed_hosts`):
  a page of another site that makes the browser resolve its own name to 127.0.0.1 (DNS
  rebinding) names that site, and is refused before it can read anything.
- **State changes** (pause, resume) are POSTs that must carry the page's per-process secret
  (`csrf`, written into the page, never sent elsewhere), and come from the page itself: an
  `Origin`, when the browser sends one, that is the page's own, and no `Sec-Fetch-Site` other
  than `same-origin` or `none`. Another local page can neither read the secret nor post with
  the page's origin.
- **Peers.** A request from this machine (a loopback peer) is its owner's: no token. A page
  opened to the LAN (`--status-host`) answers other machines only with a ticket the hub signed
  for this node (`witengine.security.tickets`), checked with the hub's key the node pinned.

It does no I/O and reads no clock: the caller passes the time in.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class Refusal:
    """A request the page does not answer: its status and why, in words."""

    status: int
    reason: str


def is_loopback(address: str | None) -> bool:
    """Whether a peer's address is this machine's (127.0.0.0/8, ::1, an IPv4-mapped loopback)."""
    if not address:
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(parsed, "ipv4_mapped", None)
    return bool(parsed.is_loopback or (mapped is not None and mapped.is_loopback))


def allowed_hosts(port: int, names: Iterable[str]) -> frozenset[str]:
    """The `Host` headers the page answers: its loopback names and `names` (its LAN address,
    the machine's host name), each with the port."""
    hosts = {f"{name}:{port}" for name in (*LOOPBACK_NAMES, *names) if name}
    return frozenset(host.lower() for host in hosts)


def check_host(host: str | None, allowed: frozenset[str]) -> Refusal | None:
    if host is None or host.lower() not in allowed:
        return Refusal(421, f"this page does not answer for the host {host or '(none)'!r}")
    return None


def check_state_change(
    headers: Mapping[str, str], form: Mapping[str, str], secret: str
) -> Refusal | None:
    """A pause or resume: from the page itself, with its secret."""
    origin = headers.get("origin")
    host = headers.get("host", "")
    if origin is not None and origin != "null":
        parts = urlsplit(origin)
        if parts.netloc.lower() != host.lower():
            return Refusal(403, "cross-site request refused: it did not come from this page")
    elif origin == "null":
        return Refusal(403, "cross-site request refused: it did not come from this page")
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return Refusal(403, "cross-site request refused: it did not come from this page")
    given = form.get("csrf", "")
    if not given or not hmac.compare_digest(given.encode(), secret.encode()):
        return Refusal(403, "the page's form is stale or forged: open the page again")
    return None
