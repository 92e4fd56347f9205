"""`wit hub` and `wit node`, and what every command that talks to a hub shares: its options and
how it reaches the hub (`open_hub`). The commands that ask a running hub are in `manage`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from witengine.cli.folder_options import (
    JobsOption,
    PollOption,
    SettleOption,
    WatchOption,
    watch_settings,
)
from witengine.cli.page_options import AccountOption, StatusHostOption, StatusPortOption
from witengine.cli.policy_options import (
    HoursOption,
    IdleAfterOption,
    IdleSourceOption,
    MaxCoresOption,
    MaxLoadOption,
    MaxMemoryOption,
    OnBatteryOption,
    PolicyFileOption,
    PriorityOption,
    ResumeAfterOption,
    ShowPolicyOption,
    VacateAfterOption,
    capped,
    read_policy,
    report_policy,
)
from witengine.lifetime import collect_garbage_rarely

if TYPE_CHECKING:
    from collections.abc import Iterator

    from witengine.client import HubAccess, HubClient
    from witengine.discovery import Advert
    from witengine.security.tls import TlsIdentity

T = TypeVar("T")

HubOption = Annotated[
    str | None,
    typer.Option(
        "--hub",
        help="The hub's URL (default: $WIT_HUB, else the one hub found on the local network "
        "over mDNS).",
        show_default=False,
    ),
]


FingerprintOption = Annotated[
    str | None,
    typer.Option(
        "--fingerprint",
        envvar="WIT_FINGERPRINT",
        help="The fingerprint of the hub's certificate (sha256:…, as `wit hub --tls` prints it); "
        "saved after the first contact that matches, so it is needed only once per hub.",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="WIT_TOKEN",
        help="A token for the hub (wit token create). Without it, for a hub on this machine, "
        "the admin token in its data folder (as `wit hub --data-dir` or WIT_DATA_DIR named "
        "it) when this user can read it.",
        show_default=False,
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        envvar="WIT_INSECURE",
        help="Allow sending the token over plain HTTP to another machine (a trusted network).",
    ),
]


DISCOVER_SECONDS = 3.0  # how long a command looks for a hub over mDNS when none is named


@functools.cache
def _hubs_on_the_network() -> list[Advert]:
    """Every hub that answers over mDNS, asked once per command. In a thread of its own: the
    commands open their hub from within their own event loop."""
    from concurrent.futures import ThreadPoolExecutor

    from witengine.discovery import browse

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(browse(DISCOVER_SECONDS))).result()


def hub_url(hub: str | None) -> str:
    """The hub a command asks: `--hub`, else WIT_HUB, else the one hub that answers on the
    local network over mDNS (said on stderr); exit 2 when none or several answer."""
    url = hub or os.environ.get("WIT_HUB")
    return url if url else _the_one_hub(_hubs_on_the_network())


def _the_one_hub(found: list[Advert]) -> str:
    """The one hub of those that answered over mDNS (said on stderr); exit 2 when none or
    several answered, listing them."""
    if len(found) == 1:
        print(
            f"wit: using the hub {found[0].name} at {found[0].url} (found over mDNS)",
            file=sys.stderr,
        )
        return found[0].url
    if not found:
        print(
            "no hub given, and none answered on the local network: pass --hub URL or set WIT_HUB",
            file=sys.stderr,
        )
    else:
        listed = "".join(f"\n  {advert.url}  {advert.name}" for advert in found)
        print(
            f"{len(found)} hubs answered on the local network; pass --hub URL (or set WIT_HUB) "
            f"to choose one:{listed}",
            file=sys.stderr,
        )
    raise typer.Exit(2)


DEFAULT_HUB_DATA = Path("~/.local/share/witengine/hub")
TOOL_PLUGIN = "tool"  # the plugin whose tool jobs run programs and scripts a job sends
DATA_DIR_VARIABLE = "WIT_DATA_DIR"  # a hub's data folder, for `wit hub` and the commands


def default_data_dir() -> Path:
    """The hub data folder when none is named: WIT_DATA_DIR, else the default."""
    return Path(os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_HUB_DATA).expanduser()


def _data_dir_note(port: int) -> Path:
    from witengine.settings import Settings

    return Settings.from_env().hub_notes_dir / str(port)


def hub_data_dir(url: str) -> Path:
    """The data folder of the hub at `url`, on this machine: the one it noted when it started
    listening on that port (`wit hub --data-dir`), else WIT_DATA_DIR, else the default. A note
    left by a hub that is gone (killed outright, it could not remove it) is not read."""
    from urllib.parse import urlsplit

    import psutil

    port = urlsplit(url).port
    try:
        folder, _, pid = _data_dir_note(port).read_text().partition("\n") if port else ("", "", "")
    except OSError:
        folder, pid = "", ""
    if pid.strip().isdigit() and not psutil.pid_exists(int(pid)):
        folder = ""
    return Path(folder.strip()) if folder.strip() else default_data_dir()


@contextlib.contextmanager
def _noting_data_dir(port: int, data_dir: Path) -> Iterator[None]:
    """While a hub listens on `port`: a note of its data folder, so that commands on this
    machine asking it find its admin token without being told where it is (`hub_data_dir`)."""
    note = _data_dir_note(port)
    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(f"{data_dir.resolve()}\n{os.getpid()}\n")
    except OSError as error:  # commands then need WIT_DATA_DIR or --token: worth a word
        logging.getLogger(__name__).warning("cannot note the hub's data folder: %s", error)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if note.read_text().partition("\n")[0] == str(data_dir.resolve()):  # not a later hub's
                note.unlink()


def resolve_token(url: str, token: str | None) -> str | None:
    """The token to send: `--token`/WIT_TOKEN, else, for a hub on this machine, the admin token
    its first start wrote to its data folder (`hub_data_dir`), if this user may read it."""
    from witengine.security.connect import is_loopback
    from witengine.security.files import read_private

    token = token or os.environ.get("WIT_TOKEN") or None
    if token is None and is_loopback(url):
        token = read_private(hub_data_dir(url) / "admin.token")
    return token


def hub_access(
    hub: str | None,
    fingerprint: str | None = None,
    insecure: bool = False,
    token: str | None = None,
) -> HubAccess:
    """How to reach the hub of `--hub`/WIT_HUB: with the token of `--token`/WIT_TOKEN (see
    `resolve_token`), checked against `fingerprint` or this machine's saved pin for that hub."""
    from witengine.client import HubAccess
    from witengine.security.tls import pin_path
    from witengine.settings import Settings

    url = hub_url(hub)
    return HubAccess(
        url,
        token=resolve_token(url, token),
        fingerprint=fingerprint,
        insecure=insecure,
        pin_file=pin_path(Settings.from_env().pin_dir, url),
    )


def open_hub(
    hub: str | None,
    fingerprint: str | None = None,
    insecure: bool = False,
    token: str | None = None,
) -> HubClient:
    """A `HubClient` for the hub of `--hub`/WIT_HUB (see `hub_access`)."""
    return hub_access(hub, fingerprint, insecure, token).client()


def ask_hub(
    command: str,
    hub: str | None,
    fingerprint: str | None,
    insecure: bool,
    token: str | None,
    question: Callable[[HubClient], Awaitable[T]],
) -> T:
    """One request to the hub (`question` asks it of the client), its answer returned; a hub's
    error ends `wit COMMAND` with its message (exit 1)."""
    from witengine.client import HubError

    async def ask() -> T:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await question(client)

    try:
        return asyncio.run(ask())
    except HubError as error:
        print(f"wit {command}: {error}", file=sys.stderr)
        raise typer.Exit(1) from None


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _dask_executor(text: str | None) -> str | None:
    """`--executor`'s address, checked before the hub starts; exit 2 naming the form to use."""
    from witengine.engines.dask_executor import DaskError, scheduler_address

    if text is None:
        return None
    if not text.startswith("dask://"):
        print(
            f"wit hub: --executor: '{text}' is not an executor this hub knows: write "
            "dask://HOST:PORT for a Dask cluster's scheduler",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    try:
        scheduler_address(text)
    except DaskError as error:
        print(f"wit hub: --executor: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    return text


def hub(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 7310,
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir",
            envvar=DATA_DIR_VARIABLE,
            help="Where the hub keeps jobs, results and files (and admin.token, which commands "
            "on this machine read).",
        ),
    ] = DEFAULT_HUB_DATA,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="WIT_STORE",
            metavar="URL",
            help="Keep jobs, results, nodes and tokens in this PostgreSQL database "
            "(postgresql://USER@HOST/DB; ?pool_max=N sizes its pool of connections) rather than "
            "in SQLite in the data folder (docs/farm.md, outgrowing one hub).",
            show_default=False,
        ),
    ] = None,
    advertise: Annotated[
        bool, typer.Option("--advertise/--no-advertise", help="Announce the hub over mDNS.")
    ] = True,
    lease: Annotated[float, typer.Option(help="Seconds a batch is leased to a node.")] = 30.0,
    heartbeat: Annotated[float, typer.Option(help="Seconds between node heartbeats.")] = 5.0,
    grace: Annotated[
        float, typer.Option(help="Seconds a disconnected node may take to come back.")
    ] = 5.0,
    no_node_wait: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds a job waits for a connected node that can run its activity before it "
            "fails.",
        ),
    ] = 30.0,
    limit: Annotated[
        list[str] | None,
        typer.Option(
            "--limit",
            metavar="NAME=VALUE",
            help="Change one of the hub's limits (docs/security.md), such as "
            "script_chars=2000000, map_items=5000000 or max_blob_bytes=200GiB. Repeatable.",
            show_default=False,
        ),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Serve HTTPS and WSS with the hub's own certificate (made in DATA-DIR/tls/ on "
            "the first start); nodes and clients pin its fingerprint.",
        ),
    ] = False,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Listen on a non-loopback address without --tls: tokens and jobs cross the "
            "network in clear text. Only on a network you trust.",
        ),
    ] = False,
    trusted_proxies: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            metavar="ADDRESS",
            help="A reverse proxy (an IP address or network, such as 10.0.0.5 or 10.0.0.0/24) "
            "whose X-Forwarded-For names the client, for the audit log and the throttle of "
            "failed sign-ins. Repeatable; by default the hub believes no one's.",
            show_default=False,
        ),
    ] = None,
    approve_lan: Annotated[
        bool,
        typer.Option(
            "--approve-lan",
            help="Let nodes on the local network (private, link-local and loopback addresses) "
            "ask to join without a token; each waits as pending until an admin approves it "
            "(wit nodes --approve NAME, or the dashboard's Nodes page).",
        ),
    ] = False,
    show_fingerprint: Annotated[
        bool,
        typer.Option(
            "--show-fingerprint",
            help="Print the fingerprint of the hub's certificate (making it if need be) and exit.",
        ),
    ] = False,
    listen_fd: Annotated[
        int | None,
        typer.Option(
            "--listen-fd",
            hidden=True,
            help="Serve on this inherited, listening socket instead of binding HOST:PORT (for "
            "the embedded farm, which knows the address before the hub has started).",
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            metavar="dask://HOST:PORT",
            help="Run every job's maps on this Dask cluster instead of on nodes (see "
            "docs/farm.md).",
            show_default=False,
        ),
    ] = None,
    watch: WatchOption = None,
    settle: SettleOption = 2.0,
    poll: PollOption = 1.0,
    jobs: JobsOption = 4,
    parent: Annotated[
        str | None,
        typer.Option(
            "--parent",
            metavar="URL",
            help="Be also one node of this parent hub, which then plans with this hub's nodes "
            "together (docs/farm.md, many sites); enrol with --token.",
            show_default=False,
        ),
    ] = None,
    parent_token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="WIT_PARENT_TOKEN",
            help="With --parent: a join token of the parent hub (wit token create --role node "
            "there); once enrolled the hub keeps its credential in DATA-DIR/parent/.",
            show_default=False,
        ),
    ] = None,
    parent_share: Annotated[
        str,
        typer.Option(
            "--parent-share",
            metavar="SHARE",
            help="With --parent: the share of this hub's nodes offered to the parent, a "
            "fraction (0.5) or a percentage (50%), or either followed by nights to offer them "
            "only in the office's nights and weekends (nights, 50% nights).",
        ),
    ] = "1",
    exchange_fee: Annotated[
        str,
        typer.Option(
            "--exchange-fee",
            metavar="RATE",
            help="The share of each trade's price paid to the exchange's fee account "
            "(exchange:fees) rather than the seller: a percentage (2%) or a fraction (0.02), "
            "at most 50% (docs/exchange.md).",
        ),
    ] = "0%",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a hub: it stores jobs, runs them and hands their tasks to nodes."""
    import uvicorn

    from witengine.hub.limits import Limits, with_limits
    from witengine.hub.serving import server_config, tcp_listener, trusted_proxy
    from witengine.hub.settings import HubSettings

    _logging(verbose)
    collect_garbage_rarely()
    if show_fingerprint:
        print(_certificate(data_dir.expanduser(), host).fingerprint)
        return
    try:
        limits, max_blob_bytes = with_limits(Limits(), HubSettings.max_blob_bytes, limit or [])
    except ValueError as error:
        print(f"wit hub: --limit: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    executor = _dask_executor(executor)
    site = _parent(parent, parent_token, parent_share)
    fee = _exchange_fee(exchange_fee)
    try:
        proxies = tuple(trusted_proxy(proxy) for proxy in trusted_proxies or [])
    except ValueError as error:
        print(f"wit hub: --trusted-proxy: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    try:
        listener = (
            tcp_listener((host, port), reuse_port=False)
            if listen_fd is None
            else _inherited_listener(listen_fd)
        )
    except OSError as error:
        where = f"{host}:{port}" if listen_fd is None else f"file descriptor {listen_fd}"
        taken = port and listen_fd is None
        hint = "; is another hub running there? choose another --port" if taken else ""
        reason = os.strerror(error.errno) if error.errno else str(error)
        print(f"wit hub: cannot listen on {where}: {reason}{hint}", file=sys.stderr)
        raise typer.Exit(2) from None
    if listen_fd is not None:
        host = listener.getsockname()[0]
    if not tls and not insecure and not _is_loopback_host(host):
        print(
            f"wit hub: refusing to listen on {host} without TLS: tokens, jobs and results would "
            "cross the network in clear text. Add --tls (the hub makes its own certificate), "
            "or --insecure if this network is trusted",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    identity = _certificate(data_dir.expanduser(), host) if tls else None
    actual = listener.getsockname()[1]
    settings = HubSettings(
        data_dir=data_dir.expanduser(),
        host=host,
        port=actual,
        lease_seconds=lease,
        heartbeat_seconds=heartbeat,
        grace_seconds=grace,
        no_node_seconds=no_node_wait,
        max_blob_bytes=max_blob_bytes,
        limits=limits,
        advertise=advertise,
        tls_fingerprint=identity.fingerprint if identity else None,
        trusted_proxies=proxies,
        approve_lan=approve_lan,
        store=store or None,
        executor=executor,
        exchange_fee=fee,
    )
    app = _hub_app(settings)
    config = server_config(
        app,
        settings,
        ssl_certfile=identity.cert_path if identity else None,
        ssl_keyfile=identity.key_path if identity else None,
    )
    server = uvicorn.Server(config)
    everywhere = host in ("0.0.0.0", "", "::")
    shown = "127.0.0.1" if everywhere else host
    scheme = settings.scheme
    print(
        f"witengine hub listening on {scheme}://{shown}:{actual} (data in {settings.data_dir})",
        flush=True,
    )
    if everywhere:
        print(f"other machines reach it at {scheme}://{_lan_address()}:{actual}", flush=True)
    if identity is not None:
        print(f"certificate fingerprint {identity.fingerprint}", flush=True)
    if approve_lan:
        print(
            "nodes on the local network may ask to join without a token; approve each with "
            "wit nodes --approve NAME",
            flush=True,
        )
    made = app.state.hub.admin_token
    if made is not None:  # the first start: shown this once, and kept in admin.token (mode 600)
        print(f"admin token (also in {settings.data_dir / 'admin.token'}): {made}", flush=True)
    with contextlib.ExitStack() as stack:
        if listen_fd is None:  # an embedded farm's hub: its command has the token already
            stack.enter_context(_noting_data_dir(actual, settings.data_dir))
        folders = _watched(watch)
        if site is not None:
            _serve_as_site(server, listener, app, site, settings, shown)
            return
        if folders:
            access = _own_access(settings, shown, identity.fingerprint if identity else None)
            options = watch_settings(settle, poll, jobs)
            asyncio.run(_serve_and_watch(server, listener, access, folders, options))
            return
        asyncio.run(server.serve(sockets=[listener]))


def _watched(watch: Sequence[Path] | None) -> list[Path]:
    """`--watch`'s folders; exits with a usage error when one is not a folder."""
    folders = list(watch or [])
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        print(f"wit hub: --watch: not a folder: {', '.join(missing)}", file=sys.stderr)
        raise typer.Exit(2)
    return folders


def _exchange_fee(text: str) -> int:
    """`--exchange-fee` read as basis points; exits with a usage error for a rate that is none."""
    from witengine.hub.exchange.fees import parse_fee

    try:
        return parse_fee(text)
    except ValueError as error:
        print(f"wit hub: --exchange-fee: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


def _parent(parent: str | None, token: str | None, share: str) -> tuple[str, str, Any] | None:
    """`--parent`, `--token` and `--parent-share` read: None without a parent; exits with a
    usage error for one of the first two without the other, or a share that is none."""
    from witengine.site.share import parent_share

    if (parent is None) != (token is None):
        print("wit hub: --parent and --token go together", file=sys.stderr)
        raise typer.Exit(2)
    if parent is None or token is None:
        return None
    try:
        return parent, token, parent_share(share)
    except ValueError as error:
        print(f"wit hub: --parent-share: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


def _serve_as_site(
    server: Any, listener: Any, app: Any, site: tuple[str, str, Any], settings: Any, shown: str
) -> None:
    """Serve the hub as a site of the parent hub; exits 1 when the parent refuses it."""
    from witengine.site.enrolment import ParentSettings
    from witengine.site.serving import serve_with_parent

    parent, token, share = site
    where = ParentSettings(
        url=parent,
        token=token,
        name=f"site {socket.gethostname()}:{settings.port}",
        folder=settings.data_dir / "parent",
        share=share,
        status_url=f"{settings.scheme}://{shown}:{settings.port}/",
    )
    when = " in the office's nights" if share.hours else ""
    print(f"a site of the parent hub {parent} (offering it {share.share:.0%} of its nodes{when})")
    refused = asyncio.run(serve_with_parent(server, listener, app.state.hub, where))
    if refused is not None:
        print(f"wit hub: {refused}", file=sys.stderr)
        raise typer.Exit(1)


def _hub_app(settings: Any) -> Any:
    """The hub's app, its store opened (and named, when it is not SQLite in the data folder)."""
    from witengine.errors import StoreUnavailable
    from witengine.hub.app import create_app
    from witengine.hub.store.opening import describe

    try:
        app = create_app(settings)
    except StoreUnavailable as error:
        print(f"wit hub: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    if settings.store:
        print(f"store: {describe(settings.store, settings.data_dir)}", flush=True)
    return app


def _own_access(settings: Any, host: str, fingerprint: str | None) -> HubAccess:
    """How the hub's own watchers reach it: on loopback, as its admin."""
    from witengine.client import HubAccess
    from witengine.security.files import read_private

    address = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    token = read_private(settings.data_dir / "admin.token")
    url = f"{settings.scheme}://{address}:{settings.port}"
    return HubAccess(url, token=token, fingerprint=fingerprint)


async def _serve_and_watch(
    server: Any, listener: Any, access: HubAccess, folders: list[Path], options: Any
) -> None:
    """Serve, and once serving, watch the folders; the watchers end with the server."""
    from witengine.folders.watcher import watch as watch_folders

    serving = asyncio.ensure_future(server.serve(sockets=[listener]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    watching = asyncio.ensure_future(watch_folders(access, folders, options))
    print(f"watching {', '.join(str(f) for f in folders)} for job files", flush=True)
    try:
        await serving
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watching


def _inherited_listener(fd: int) -> socket.socket:
    """The listening TCP socket a parent process handed over as file descriptor `fd`."""
    listener = socket.socket(fileno=fd)
    if (
        listener.type != socket.SOCK_STREAM
        or listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 1
    ):
        listener.detach()
        raise OSError(f"file descriptor {fd} is not a listening TCP socket")
    return listener


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _certificate(data_dir: Path, host: str) -> TlsIdentity:
    """The hub's TLS certificate (made the first time, naming `host` too); exit 2 if unusable."""
    from witengine.security.tls import TlsError, ensure_certificate

    names = [] if host in ("0.0.0.0", "", "::") else [host]
    try:
        return ensure_certificate(data_dir, names=names)
    except (TlsError, OSError) as error:
        print(f"wit hub: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


def _lan_address() -> str:
    """This machine's address on its network (no packet is sent), else its host name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a documentation address: only the route is used
            address: str = probe.getsockname()[0]
            return address
        except OSError:
            return socket.gethostname()


def node(
    ctx: typer.Context,
    hub: HubOption = None,
    name: Annotated[str | None, typer.Option(help="Name shown on the hub.")] = None,
    slots: Annotated[int, typer.Option(help="Batches to run at once.")] = 1,
    threads: Annotated[
        int | None,
        typer.Option(help="Cores one batch may use (Blender's -t) [default: cores / slots]."),
    ] = None,
    cache_dir: Annotated[
        Path, typer.Option("--cache-dir", help="Where this node keeps files and work.")
    ] = Path("~/.cache/witengine/node"),
    max_backoff: Annotated[
        float, typer.Option(help="Longest wait, in seconds, between tries to reach the hub.")
    ] = 10.0,
    discover_seconds: Annotated[
        float, typer.Option(help="How long to look for a hub over mDNS without --hub.")
    ] = 10.0,
    trust_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-key",
            help="A publisher's Ed25519 public key (PEM file) whose plugin bundles this node "
            "installs, besides the hub's own key pinned on first contact. Repeatable.",
            show_default=False,
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="Synthetic speed for tests and benchmarks: Compute.Work (only) runs this many "
            "times as fast, its benchmark too.",
        ),
    ] = 1.0,
    bench: Annotated[
        bool,
        typer.Option(
            "--bench/--no-bench",
            help="Measure the rates of this node's activities in idle time (at low priority).",
        ),
    ] = True,
    bench_seconds: Annotated[
        float, typer.Option(min=0.0, help="The least time one benchmark measures for.")
    ] = 1.5,
    tool_jobs: Annotated[
        bool,
        typer.Option(
            "--tool-jobs/--no-tool-jobs",
            help="Run tool jobs (Tool.Python, Tool.Run …: programs and scripts a job sends); "
            "--no-tool-jobs keeps them off this node, whatever tools it has.",
        ),
    ] = True,
    bench_error: Annotated[
        float,
        typer.Option(
            min=-0.99,
            help="For testing and benchmarking the scheduler only: report benchmark rates "
            "multiplied by 1 + this (0.3: 30 % too high). The cached rates stay true.",
        ),
    ] = 0.0,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="WIT_TOKEN",
            help="A join token (wit token create --role node): presented once to enrol this "
            "node, which then keeps its own credential in --cache-dir. Not needed afterwards.",
            show_default=False,
        ),
    ] = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    policy_file: PolicyFileOption = None,
    hours: HoursOption = None,
    idle_after: IdleAfterOption = None,
    resume_after: ResumeAfterOption = None,
    vacate_after: VacateAfterOption = None,
    max_load: MaxLoadOption = None,
    on_battery: OnBatteryOption = None,
    max_cores: MaxCoresOption = None,
    max_memory: MaxMemoryOption = None,
    priority: PriorityOption = None,
    idle_source: IdleSourceOption = None,
    show_policy: ShowPolicyOption = False,
    status_port: StatusPortOption = None,
    status_host: StatusHostOption = "127.0.0.1",
    account: AccountOption = None,
) -> None:
    """Run a node: it connects out to a hub and does the work it is given."""
    if ctx.invoked_subcommand is not None:
        return  # `wit node install-service`: these options are its to carry
    from witengine.errors import PluginError
    from witengine.lifetime import until_stopped
    from witengine.node.agent import Agent, NodeBusy
    from witengine.node.enrol import NodeRefused
    from witengine.node.probe import probe_capabilities, software
    from witengine.node.settings import NodeSettings
    from witengine.node.status_page import PageUnavailable
    from witengine.plugins.detection import Tool, hidden_tools, tools_to_look_for
    from witengine.plugins.registry import build_library, discover
    from witengine.protocol import PluginInfo
    from witengine.security.connect import InsecureTransport
    from witengine.settings import Settings

    _logging(verbose)
    # The owner policy is read first: a bad one stops the node before it looks for a hub.
    policy = read_policy(
        policy_file,
        {
            "hours": hours,
            "idle-after": idle_after,
            "resume-after": resume_after,
            "vacate-after": vacate_after,
            "max-load": max_load,
            "on-battery": on_battery,
            "max-cores": max_cores,
            "max-memory": max_memory,
            "priority": priority,
            "idle-source": idle_source,
        },
    )
    if show_policy:
        report_policy(policy, policy_file)
        return
    account_key = None
    if account is not None:  # the owner's key too: its passphrase asked for now, not later
        from witengine.cli.accounts import load_key

        account_key = load_key(account, "node --account")
        if status_port is None:
            status_port = 0  # the console is a page of the node's own: on any free port
    collect_garbage_rarely()
    url = hub or os.environ.get("WIT_HUB")
    if not url:
        from witengine.discovery import find_hub

        pin = _node_pin(fingerprint, token, cache_dir.expanduser())
        print(
            f"looking for a hub on the local network for {discover_seconds:g} s…", file=sys.stderr
        )
        if pin is None:  # any hub may be the one: as for other commands, only one may answer
            from witengine.discovery import browse

            url = _the_one_hub(asyncio.run(browse(discover_seconds)))
        else:
            url = asyncio.run(find_hub(discover_seconds, fingerprint=pin))
        if url is None:
            print(f"no hub with certificate {pin} found; pass --hub URL", file=sys.stderr)
            raise typer.Exit(2)
    plugins = discover()
    if not tool_jobs:  # without the tool plugin it offers none of its activities
        plugins = [plugin for plugin in plugins if plugin.name != TOOL_PLUGIN]
    # Program versions are the machine's: kept in its cache, not in this node's folder.
    remember = Settings.from_env().cache_dir / "software.json"
    tools = tools_to_look_for(tool for plugin in plugins for tool in plugin.tools)
    hidden = hidden_tools(os.environ)
    capabilities = probe_capabilities(remember=remember, tools=tools, hidden=hidden)

    def look_for(declared: Sequence[Tool]) -> dict[str, str]:
        """Every tool, those of plugins the node installs from its hub too."""
        return software(
            remember=remember, tools=tools_to_look_for([*tools, *declared]), hidden=hidden
        )

    capabilities, threads = capped(policy, capabilities, threads, slots)
    settings = NodeSettings(
        hub_url=url,
        name=name or socket.gethostname(),
        slots=slots,
        cache_dir=cache_dir.expanduser(),
        plugin_refs=tuple(p.ref for p in plugins),
        max_backoff=max_backoff,
        threads=threads,
        trust_keys=tuple(path.expanduser() for path in trust_key or ()),
        speed=speed,
        benchmarks=bench,
        bench_seconds=bench_seconds,
        bench_error=bench_error,
        token=token,
        fingerprint=fingerprint,
        insecure=insecure,
        policy=policy,
        status_port=status_port,
        status_host=status_host,
    )
    try:
        agent = Agent(
            settings,
            build_library(plugins),
            [PluginInfo(name=p.name, version=p.version) for p in plugins],
            capabilities,
            look_for=look_for,
            account_key=account_key,
        )
    except PluginError as error:
        print(f"wit node: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(f"witengine node {settings.name} working for {url}", file=sys.stderr, flush=True)
    try:
        # SIGTERM (a service manager's stop) or Ctrl-C: the node stops its batches and tells
        # the hub it is leaving, which gives its items to other nodes at once.
        if asyncio.run(until_stopped(agent.run())):
            print(f"witengine node {settings.name} stopped", file=sys.stderr)
    except (NodeBusy, NodeRefused, InsecureTransport, PageUnavailable) as error:
        print(f"wit node: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


def _node_pin(fingerprint: str | None, token: str | None, cache_dir: Path) -> str | None:
    """The certificate a node is pinned to before it knows its hub's address: `--fingerprint`,
    else its join token's, else its credential's; only that hub's mDNS advert is taken."""
    from witengine.node.enrol import CREDENTIAL_FILE, load_credential
    from witengine.security.tls import TlsError, parse_fingerprint
    from witengine.security.tokens import TokenError, parse_token

    try:
        if fingerprint:
            return parse_fingerprint(fingerprint)
        if token:
            with contextlib.suppress(TokenError):
                carried = parse_token(token).fingerprint
                if carried:
                    return parse_fingerprint(carried)
        credential = load_credential(cache_dir / CREDENTIAL_FILE)
        kept = credential.fingerprint if credential is not None else None
        return parse_fingerprint(kept) if kept else None
    except TlsError as error:
        print(f"wit node: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
