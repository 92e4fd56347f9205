"""Settings of a hub process: flags and `WIT_*` variables, gathered once and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
    max_blob_bytes: int = 50 * 1024**3
    advertise: bool = True  # over mDNS
    tls_fingerprint: str | None = None  # of its certificate when it serves HTTPS (--tls)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_fingerprint else "http"
