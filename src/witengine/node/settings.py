"""A node's settings: one frozen object built from `wit node`'s flags and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from witengine.node.policy import Policy


@dataclass(frozen=True)
class NodeSettings:
    """How one node runs: its hub, name, slots, cache, plugins, benchmarks and owner policy."""

    hub_url: str
    name: str
    slots: int = 1
    cache_dir: Path = field(default_factory=lambda: Path("~/.cache/witengine/node").expanduser())
    cache_bytes: int = 20 * 1024**3
    plugin_refs: tuple[str, ...] = ()
    max_backoff: float = 10.0
    threads: int | None = None  # cores one batch may keep busy (Blender's -t); None: all
    trust_keys: tuple[Path, ...] = ()  # publisher key files, trusted besides the hub's own
    speed: float = 1.0  # synthetic speed, honoured by Compute.Work only (tests, benchmarks)
    benchmarks: bool = True  # measure activities' rates in idle time
    bench_seconds: float = 1.5  # the least time one benchmark measures for
    bench_idle_seconds: float = 2.0  # idle time before benchmarks start
    bench_error: float = 0.0  # reported rates are off by this fraction (scheduler tests only)
    token: str | None = None  # a join token to enrol with (or a credential to use as is)
    fingerprint: str | None = None  # the hub's certificate, when not from the join token
    insecure: bool = False  # allow a token over plain HTTP to another machine
    # The owner's policy (hours, idle, load, battery, caps); None: a dedicated machine that works
    # whenever it runs. `threads` and the advertised capabilities are already capped by it.
    policy: Policy | None = None
    # The node's own status page (`status_page`): its port (0: any free one; None: no page) and
    # the address it listens on (loopback: this machine's users only; else the LAN, with tickets).
    status_port: int | None = None
    status_host: str = "127.0.0.1"
