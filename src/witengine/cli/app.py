"""The `wit` command: check, format, run and list activities. Logic lives in `witengine.api`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from witengine.cli.exits import EXIT_FAILED, EXIT_TERMINATED, EXIT_USAGE, job_exit
from witengine.cli.farm import FingerprintOption, InsecureOption, TokenOption, hub_access

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from contextlib import AsyncExitStack

    from witengine.client import HubAccess, HubClient
    from witengine.embedded import EmbeddedFarm

app = typer.Typer(
    name="wit",
    help="witengine: run Wit job scripts over a farm of ordinary computers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(wanted: bool) -> None:
    if wanted:
        from witengine import __version__

        print(f"witengine {__version__}")
        raise typer.Exit()


@app.callback()
def _wit(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    """witengine: run Wit job scripts over a farm of ordinary computers."""


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Wit scripts to check.")],
) -> None:
    """Check scripts without running them; exit 0 when clean, 2 with the errors otherwise."""
    from witengine.api import check_file
    from witengine.errors import WitError
    from witengine.lang.errors import ScriptError
    from witengine.plugins.registry import default_library

    library = default_library()
    failed = False
    for path in files:
        try:
            check_file(path, library)
        except ScriptError as error:
            failed = True
            count = len(error.diagnostics)
            print(error.render())
            print(f"{path}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        except WitError as error:
            failed = True
            print(error)
        else:
            print(f"{path}: ok", file=sys.stderr)
    raise typer.Exit(EXIT_USAGE if failed else 0)


@app.command()
def fmt(
    files: Annotated[list[Path], typer.Argument(help="Wit scripts to format in place.")],
    check_only: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if a file is not canonical.")
    ] = False,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print instead of rewriting.")] = False,
) -> None:
    """Rewrite scripts in canonical form (comments are kept)."""
    from witengine.api import format_text, read_script
    from witengine.errors import WitError
    from witengine.lang.errors import ScriptError

    status = 0
    for path in files:
        try:
            source = read_script(path)
            formatted = format_text(source, str(path))
        except ScriptError as error:
            print(error.render(), file=sys.stderr)
            status = EXIT_USAGE
            continue
        except WitError as error:
            print(error, file=sys.stderr)
            status = EXIT_USAGE
            continue
        if stdout:
            sys.stdout.write(formatted)
        elif formatted != source:
            if check_only:
                print(f"{path}: would be reformatted", file=sys.stderr)
                status = max(status, 1)
            else:
                path.write_text(formatted, "utf-8")
                print(f"{path}: formatted", file=sys.stderr)
    raise typer.Exit(status)


@app.command(context_settings={"allow_extra_args": False})
def run(
    file: Annotated[Path, typer.Argument(help="The Wit script to run.")],
    parameters: Annotated[
        list[str] | None,
        typer.Argument(help="Job parameters as name=value (collections: 1,2,3 or [1,2,3])."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for results (default wit-out/<Job>).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: status, error, variables.")
    ] = False,
    hub: Annotated[
        str | None,
        typer.Option(
            "--hub", help="Run on this hub (default: $WIT_HUB, else a farm started here)."
        ),
    ] = None,
    nodes: Annotated[
        int | None,
        typer.Option(
            "--nodes", min=1, help="Nodes of the farm started here (default: one per core)."
        ),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="No hub: run in a process pool inside this command.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="With --local: processes (default: cores)."),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="No hub: run the job's maps on the Dask cluster whose scheduler is at "
            "ADDRESS (tcp://HOST:8786); see docs/farm.md.",
        ),
    ] = None,
    dask_files: Annotated[
        Path | None,
        typer.Option(
            "--dask-files",
            help="With --dask: a folder every Dask worker sees at the same path, for the job's "
            "files (default: files travel as Dask data).",
        ),
    ] = None,
    pools: Annotated[
        str | None,
        typer.Option(
            "--pools",
            help="The pools whose nodes may run the job, e.g. volunteers,default (see wit "
            "pools; a map's ProcessingOptions may name others) [default: the trusted pools].",
            show_default=False,
        ),
    ] = None,
    bid: Annotated[
        str | None,
        typer.Option(
            "--bid",
            help="Buy the job's work on the hub's exchange: the most to pay, in credits a work "
            "unit (needs --account and a hub; see docs/exchange.md).",
        ),
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option(
            "--deadline",
            help="With --bid: when the work should be done, from now (90s, 30m, 2h, 1d): "
            "dearer nodes join when the cheapest cannot make it.",
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="The account that pays and signs the job: at --bid, or without it at the "
            "price of the account's buy mandate on the hub (wit mandate).",
        ),
    ] = None,
    priority: Annotated[
        int,
        typer.Option(
            "--priority",
            min=-1000,
            max=1000,
            help="With --account: this job's rank among the account's own jobs on the "
            "exchange, higher first (default 0).",
        ),
    ] = 0,
    fingerprint: FingerprintOption = None,
    token: TokenOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Run a job and write its results; exit 0 only when it completes.

    Without --hub (and no WIT_HUB), a hub and one node per core start on this machine for the
    length of the command. Ctrl-C cancels the job and waits for it to end (exit 130); a second
    Ctrl-C stops waiting, leaving a hub's job as it is there.
    """
    from witengine.api import check_file
    from witengine.errors import WitError
    from witengine.lang.errors import ScriptError
    from witengine.plugins.registry import default_library
    from witengine.runtime.parameters import check_texts, split_assignments
    from witengine.runtime.values import ConversionError, parse_pools

    if as_json:
        _keep_stdout_for_json()
    url = hub or os.environ.get("WIT_HUB")
    contradiction = _contradiction(hub, url, nodes, local, workers)
    if local and pools is not None:
        contradiction = "--pools chooses a farm's nodes; it cannot go with --local"
    contradiction = contradiction or _dask_contradiction(dask, dask_files, hub, local, nodes, pools)
    contradiction = contradiction or _bid_contradiction(
        bid, deadline, account, url, local or dask is not None
    )
    if priority and account is None:
        contradiction = contradiction or "--priority ranks an account's jobs: it needs --account"
    if contradiction:
        _early_failure(f"wit run: {contradiction}", as_json)
    paying = _paying(bid, deadline, account, priority, as_json) if account is not None else None
    try:
        chosen = parse_pools(pools) if pools is not None else None
        library = default_library()
        checked = check_file(file, library)
        texts = split_assignments(parameters or [])
        check_texts(checked, library, texts)  # before any farm starts: it takes milliseconds
    except ScriptError as error:
        _early_failure(error.render(), as_json)
    except ConversionError as error:
        _early_failure(f"wit run: --pools: {error}", as_json)
    except WitError as error:
        _early_failure(str(error), as_json)
    out_dir = out if out is not None else Path("wit-out") / checked.name
    try:
        if local:
            result = asyncio.run(_run_local(checked, texts, library, out_dir, as_json, workers))
        elif dask is not None:
            from witengine.cli.dask_run import run_on_dask

            result = asyncio.run(
                run_on_dask(checked, texts, library, out_dir, as_json, dask, dask_files)
            )
        else:
            access = hub_access(url, fingerprint, insecure, token) if url else None
            result = asyncio.run(
                _run_farm(file, texts, access, nodes, out_dir, as_json, chosen, paying)
            )
    except WitError as error:
        _early_failure(str(error), as_json)
    _report(result, out_dir, as_json)


def _bid_contradiction(
    bid: str | None, deadline: str | None, account: str | None, url: str | None, local: bool
) -> str | None:
    """What is wrong with `wit run`'s bid options, in words; None if nothing."""
    if bid is None:
        if deadline is not None:
            return "--deadline goes with --bid (a job bought on the exchange)"
        if account is not None and (local or url is None):
            return "--account buys work on a hub's exchange: give the hub with --hub (or WIT_HUB)"
        return None
    if account is None:
        return "--bid needs --account NAME: the account that pays signs the job"
    if local or url is None:
        return "--bid buys work on a hub's exchange: give the hub with --hub (or WIT_HUB)"
    return None


def _paying(
    bid: str | None, deadline: str | None, account: str, priority: int, as_json: bool
) -> Any:
    """The bid (None: the account's buy mandates bid) and the key that signs the job
    (`api.Paying`)."""
    from witengine.api import Paying
    from witengine.cli.accounts import load_key, parse_price
    from witengine.clock import wall_time
    from witengine.protocol.exchange import Bid

    if bid is None:
        return Paying(load_key(account, "run"), None, priority)
    try:
        price = parse_price(bid)
        seconds = parse_seconds(deadline) if deadline is not None else None
    except ValueError as error:
        _early_failure(f"wit run: {error}", as_json)
    at = wall_time() + seconds if seconds is not None else None
    return Paying(load_key(account, "run"), Bid(price=price, deadline=at), priority)


def parse_seconds(text: str) -> float:
    """Seconds of a duration: '90', '90s', '30m', '2h', '1d'; ValueError otherwise."""
    import re

    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if found is None or float(found[1]) <= 0:
        raise ValueError(f"--deadline {text!r}: a duration such as 90s, 30m, 2h or 1d")
    return float(found[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found[2]]


def _contradiction(
    hub: str | None, url: str | None, nodes: int | None, local: bool, workers: int | None
) -> str | None:
    """What is contradictory in `wit run`'s choice of where to run, in words; None if nothing.
    An option that would be ignored is refused, so that what runs is what was asked for."""
    if local and hub:
        return "--local runs the job here without a hub; it cannot go with --hub"
    if local and nodes is not None:
        return "--local runs the job in a process pool, without nodes; it cannot go with --nodes"
    if workers is not None and not local:
        return (
            "--workers sizes the process pool of --local; add --local (or, for the farm "
            "started here, use --nodes)"
        )
    if nodes is not None and hub:
        return "--nodes sizes the farm started here; it cannot go with --hub"
    if nodes is not None and url:
        return (
            f"--nodes sizes the farm started here, but WIT_HUB ({url}) sends the job to a "
            "hub; unset WIT_HUB to start a farm here"
        )
    return None


def _dask_contradiction(
    dask: str | None,
    dask_files: Path | None,
    hub: str | None,
    local: bool,
    nodes: int | None,
    pools: str | None,
) -> str | None:
    """What contradicts --dask (or --dask-files) among `wit run`'s options; None if nothing."""
    if dask is None:
        return "--dask-files goes with --dask; add --dask ADDRESS" if dask_files else None
    others = {"--hub": hub, "--local": local, "--nodes": nodes, "--pools": pools}
    given = [name for name, value in others.items() if value]
    if given:
        return f"--dask runs the job on a Dask cluster; it cannot go with {', '.join(given)}"
    return None


_json_out: Any = None  # stdout as it was, kept for `--json`'s one answer


def _keep_stdout_for_json() -> None:
    """Keep stdout for the one JSON answer: anything else written there (an activity that
    prints, a library's warning, a child process) goes to stderr instead."""
    global _json_out
    sys.stdout.flush()
    _json_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False), file=_json_out or sys.stdout, flush=True)


def _report(result: Any, out_dir: Path, as_json: bool) -> None:
    if as_json:
        _print_json(result.to_json())
    else:
        from witengine.cli.views import result_table

        console = _stderr()
        if result.variables:
            from rich.console import Console

            Console(highlight=False).print(result_table(result.variables, result.types))
        if result.error:
            console.print(f"[bold red]{result.status.value}[/bold red]: {result.error}")
        else:
            console.print(f"[green]{result.status.value}[/green]; results in {out_dir}")
    raise typer.Exit(job_exit(result.status))


def _early_failure(message: str, as_json: bool) -> Any:
    if as_json:
        _print_json({"status": "failed", "error": message, "variables": {}})
    else:
        print(message, file=sys.stderr)
    raise typer.Exit(EXIT_USAGE)


async def _own_farm(stack: AsyncExitStack, count: int, quiet: bool) -> EmbeddedFarm:
    """A hub and `count` nodes on this machine for as long as `stack` lasts, being started."""
    from witengine.embedded import embedded_farm

    if not quiet:
        print(f"starting a hub and {count} node(s) on this machine…", file=sys.stderr)
    farm = await stack.enter_async_context(embedded_farm(count, wait=False))
    if not quiet:
        # Its dashboard, while the command runs: the link signs a browser in with this farm's
        # own admin token, which ends with it.
        print(f"dashboard: {farm.url}/?token={farm.token}", file=sys.stderr)
    return farm


async def _run_farm(
    file: Path,
    texts: dict[str, str],
    access: HubAccess | None,
    nodes: int | None,
    out_dir: Path,
    as_json: bool,
    pools: tuple[str, ...] | None = None,
    paying: Any = None,
) -> Any:
    from contextlib import AsyncExitStack

    from witengine.api import run_on_hub
    from witengine.runtime.local import usable_cores

    url = access.url if access is not None else None
    loop = asyncio.get_running_loop()
    submitted: list[Any] = []  # the hub's client and the job's id, once the hub has the job
    pending: set[asyncio.Task[None]] = set()

    def cancel_job() -> str | None:
        if not submitted:
            return None
        client, job_id = submitted
        pending.add(loop.create_task(_cancel_on_hub(client, job_id)))
        then = f"leave it as it is on {url}" if url else "stop at once"
        return f"cancelling job {job_id} (Ctrl-C again to stop waiting and {then})"

    def stopped() -> str:
        if not submitted:
            return "interrupted before the job was submitted"
        job_id = submitted[1]
        if url is None:
            return f"stopped at once: job {job_id} ended with the farm started here"
        return (
            f"stopped waiting for job {job_id}, left as it is on {url}: follow it with "
            f"`wit job {job_id}`"
        )

    async def follow(hub: HubAccess) -> Any:
        options: dict[str, Any] = {
            "out_dir": out_dir,
            "on_submitted": lambda client, job_id: submitted.extend([client, job_id]),
            "pools": pools,
            "paying": paying,
        }
        if as_json:
            return await run_on_hub(hub, file, texts, **options)
        from witengine.cli.views import RunView

        with RunView(_stderr()) as view:
            return await run_on_hub(hub, file, texts, events=view.event, **options)

    async def go() -> Any:
        if access is not None:
            return await follow(access)
        async with AsyncExitStack() as stack:
            # The job is packed and sent while the farm starts: the hub reads it once it serves.
            farm = await _own_farm(stack, nodes or usable_cores(), quiet=as_json)
            return await farm.run(follow(farm.access))

    try:
        return await _interruptible(go(), cancel_job, stopped, out_dir)
    finally:
        for task in pending:
            task.cancel()


async def _cancel_on_hub(client: HubClient, job_id: str) -> None:
    from witengine.client import HubError

    try:
        await client.act(job_id, "cancel")
    except HubError as error:  # it ended meanwhile, say: its end is followed all the same
        print(f"wit run: {error}", file=sys.stderr)


async def _interruptible(
    work: Coroutine[Any, Any, Any],
    cancel_job: Callable[[], str | None],
    stopped: Callable[[], str],
    out_dir: Path,
) -> Any:
    """Do `work`, a job being run and followed, with `wit run`'s Ctrl-C and SIGTERM.

    The first Ctrl-C cancels the job (`cancel_job` asks for it and says so, or gives None when
    there is no job yet) and waits for it to end, so that it ends as any cancelled job does:
    its results so far in results.json, and a last line `cancelled: …`. The next Ctrl-C (or the
    first, before there is a job) stops waiting: a cancelled result whose error, `stopped()`,
    says what became of the job. SIGTERM stops at once, exit 143, leaving a hub's job as it is.
    """
    from witengine.api import interrupted

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    interrupts = 0
    terminated = False

    def interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        said = cancel_job() if interrupts == 1 else None
        if said is None:
            task.cancel()
        else:
            print(f"\n{said}", file=sys.stderr)

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        return await task
    except asyncio.CancelledError:
        if terminated:
            print(f"wit run: {stopped()}", file=sys.stderr)
            raise typer.Exit(EXIT_TERMINATED) from None
        return interrupted(stopped(), out_dir)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)


async def _run_shown(checked: Any, texts: dict[str, str], as_json: bool, **options: Any) -> Any:
    """A checked job run by `run_checked` with `options`: quiet under --json, else followed on
    stderr."""
    from witengine.api import run_checked

    if as_json:
        return await run_checked(checked, texts, **options)
    from witengine.cli.views import RunView

    with RunView(_stderr()) as view:
        return await run_checked(checked, texts, events=view.event, **options)


async def _run_local(
    checked: Any,
    texts: dict[str, str],
    library: Any,
    out_dir: Path,
    as_json: bool,
    workers: int | None,
) -> Any:
    from witengine.plugins.registry import discover
    from witengine.runtime.blobs import LocalBlobStore
    from witengine.runtime.control import JobControl
    from witengine.runtime.local import LocalExecutor
    from witengine.settings import Settings

    settings = Settings.from_env()
    store = LocalBlobStore(settings.blob_dir)
    refs = [plugin.ref for plugin in discover()]
    control = JobControl()

    def cancel_job() -> str:
        control.cancel()
        return "cancelling the job (Ctrl-C again to stop at once)"

    async def go() -> Any:
        async with LocalExecutor(refs, settings.blob_dir, workers) as executor:
            return await _run_shown(
                checked,
                texts,
                as_json,
                library=library,
                executor=executor,
                store=store,
                out_dir=out_dir,
                control=control,
            )

    return await _interruptible(go(), cancel_job, lambda: "stopped at once", out_dir)


@app.command()
def activities(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List every activity and type that scripts can use, with signatures."""
    from witengine.lang.forms import FORMS
    from witengine.plugins.registry import default_library

    library = default_library()
    if as_json:
        data = {
            "forms": [f.spec.signature() for f in FORMS.values()],
            "activities": [
                {
                    "name": a.name,
                    "signature": a.spec.signature(),
                    "plugin": a.plugin,
                    "placement": a.spec.placement.value,
                    "summary": a.spec.summary,
                }
                for a in library.activities.values()
            ],
            "types": [
                {"name": t.name, "accepts": sorted(t.spec.accepts), "summary": t.spec.summary}
                for t in library.types.values()
            ],
        }
        print(json.dumps(data, indent=2))
        return
    from rich.console import Console

    from witengine.cli.views import activities_tables

    console = Console()
    for table in activities_tables(library):
        console.print(table)


def _register_token_commands() -> None:
    from witengine.cli import pools, tokens

    app.add_typer(tokens.token_app)
    app.command()(tokens.audit)
    app.add_typer(pools.pools_app)


_register_token_commands()


def _register_farm_commands() -> None:
    from witengine.cli import farm, manage, service

    commands = (farm.hub, manage.nodes, manage.jobs, manage.job)
    for command in (*commands, manage.cancel, manage.pause, manage.resume, manage.rerun):
        app.command()(command)
    # `wit node` runs a node; `wit node install-service` makes it a service, carrying the
    # node's flags given before it or after it (those it does not know itself).
    node_app = typer.Typer(name="node", add_completion=False)
    node_app.callback(invoke_without_command=True)(farm.node)
    node_app.command(
        "install-service",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(service.install_service)
    app.add_typer(node_app)


_register_farm_commands()


def _register_simulate_command() -> None:
    from witengine.cli import simulate

    app.command()(simulate.simulate)


_register_simulate_command()


def _register_bench_command() -> None:
    from witengine.cli import bench

    app.command()(bench.bench)


_register_bench_command()


def _register_board_commands() -> None:
    from witengine.cli import board

    app.add_typer(board.board_app)


_register_board_commands()


def _register_folder_commands() -> None:
    from witengine.cli import folders

    for command in (folders.watch, folders.resources, folders.take):
        app.command()(command)


_register_folder_commands()


def _register_addon_commands() -> None:
    from witengine.cli import addon

    app.add_typer(addon.addon_app)


_register_addon_commands()


def _register_exchange_commands() -> None:
    from witengine.cli import accounts, market

    app.add_typer(accounts.account_app)
    app.add_typer(accounts.ledger_app)
    app.add_typer(market.ask_app)
    app.add_typer(market.mandate_app)
    app.command("trades")(market.trades)


_register_exchange_commands()


def main() -> None:
    from witengine.errors import WitError

    try:
        app()
    except WitError as error:  # a mistake named in words (a plugin that cannot load, say)
        print(f"wit: {error}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
