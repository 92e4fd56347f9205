"""Settings of a hub process: flags and `WIT_*` variables, gathered once and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from witengine.hub.limits import Limits


@dataclass(frozen=True)
class HubSettings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 7310
    name: str = "witengine hub"
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    grace_seconds: float = 5.0
    no_node_seconds: float = 30.0
    max_blob_bytes: int = 50 * 1024**3  # one uploaded file
    limits: Limits = field(default_factory=Limits)  # sizes of requests, jobs and messages
    advertise: bool = True  # over mDNS
    tls_fingerprint: str | None = None  # of its certificate when it serves HTTPS (--tls)
    # Addresses or networks of reverse proxies whose X-Forwarded-For names the client (none: the
    # client is the peer of the connection, whatever it sends).
    trusted_proxies: tuple[str, ...] = ()
    # Nodes on the local network may ask to join without a token, and wait for an admin's
    # approval (wit hub --approve-lan; hub/auth/lan.py says which addresses count).
    approve_lan: bool = False
    # Where it keeps its state: a postgresql:// URL (hub/store/opening.py), or None for SQLite
    # in data_dir (its blobs, keys and admin token are in data_dir whatever the store).
    store: str | None = None
    # Seconds between the hub's passes publishing the farm's facts on the blackboard (farm/…).
    board_facts_seconds: float = 2.0
    # Where jobs' maps run instead of the hub's nodes: a Dask scheduler, dask://HOST:PORT
    # (wit hub --executor). None: on the nodes.
    executor: str | None = None
    # The exchange's fee in basis points (wit hub --exchange-fee): the share of each trade's
    # settlement paid to exchange:fees rather than the seller (hub/exchange/fees.py).
    exchange_fee: int = 0

    @property
    def scheme(self) -> str:
        return "https" if self.tls_fingerprint else "http"
