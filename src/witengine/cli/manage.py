"""The commands that ask a running hub: `wit nodes` (and draining, resuming, forgetting one),
`wit jobs`, `wit job`, `wit cancel`, `wit pause`, `wit resume`, `wit rerun`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from witengine.cli.exits import EXIT_CANCELLED, EXIT_OK, job_exit
from witengine.cli.farm import (
    FingerprintOption,
    HubOption,
    InsecureOption,
    TokenOption,
    open_hub,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from witengine.client import HubClient
    from witengine.protocol.states import JobStatus

T = TypeVar("T")

WideOption = Annotated[
    bool,
    typer.Option(
        "--wide", help="Whole ids and every detail, folded over lines where they do not fit."
    ),
]


def nodes(
    node: Annotated[
        str | None,
        typer.Argument(
            metavar="NODE",
            help="With --pool or --owner: the node to move, by name or id.",
            show_default=False,
        ),
    ] = None,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    wide: WideOption = False,
    bench: Annotated[
        bool,
        typer.Option(
            "--bench", help="Show every node's benchmark rates, and what each cannot run."
        ),
    ] = False,
    reputation: Annotated[
        bool,
        typer.Option(
            "--reputation",
            help="Show every node's record per activity from the verification of its results "
            "(untrusted nodes): trust state, results accepted and rejected, spot checks.",
        ),
    ] = False,
    drain: Annotated[
        str | None,
        typer.Option(
            "--drain",
            metavar="NODE",
            help="Drain a node, by name or id: it finishes the batches it holds and is given no "
            "new ones (before maintenance, say).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="NODE",
            help="Give a drained node work again, by name or id.",
            show_default=False,
        ),
    ] = None,
    forget: Annotated[
        str | None,
        typer.Option(
            "--forget",
            metavar="NODE",
            help="Remove a node that is not connected (a retired machine), by name or id: its "
            "record and rates go and its credential is revoked, so it needs a new join token "
            "to come back.",
            show_default=False,
        ),
    ] = None,
    approve: Annotated[
        str | None,
        typer.Option(
            "--approve",
            metavar="NODE",
            help="Let a node that asked to join without a token (wit hub --approve-lan) in, by "
            "name or id; compare its key with the one the node prints first. Lets a refused "
            "or revoked node in again.",
            show_default=False,
        ),
    ] = None,
    refuse: Annotated[
        str | None,
        typer.Option(
            "--refuse",
            metavar="NODE",
            help="Refuse a node waiting for approval, by name or id: it is remembered and "
            "refused when it asks again.",
            show_default=False,
        ),
    ] = None,
    revoke: Annotated[
        str | None,
        typer.Option(
            "--revoke",
            metavar="NODE",
            help="Put a node out, by name or id: its credential is revoked and its link "
            "closed; one that joined without a token is refused when it asks again.",
            show_default=False,
        ),
    ] = None,
    asks: Annotated[
        bool,
        typer.Option(
            "--asks",
            help="List every node that asked to join without a token: pending, approved, "
            "refused and revoked (with --json, as JSON).",
        ),
    ] = False,
    pool: Annotated[
        str | None,
        typer.Option(
            "--pool",
            metavar="POOL",
            help="Move NODE to this pool (see wit pools): jobs that may not use it give it no "
            "new work.",
            show_default=False,
        ),
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner",
            metavar="NAME",
            help="Give NODE this owner; two nodes of one owner never check each other's "
            'results ("" makes the node its own owner again).',
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the hub's nodes: state, pool, hardware, software, work done, benchmark rates, and
    those waiting for approval; or drain, resume, forget, approve, refuse, revoke or move one."""

    async def fetch() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await client.nodes(), await _join_requests(client)

    acts = [
        (name, what)
        for name, what in (
            ("drain", drain),
            ("resume", resume),
            ("forget", forget),
            ("approve", approve),
            ("refuse", refuse),
            ("revoke", revoke),
        )
        if what
    ]
    if len(acts) > 1:
        print(
            "wit nodes: give one of --drain, --resume, --forget, --approve, --refuse and "
            "--revoke at a time",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    if (pool is not None or owner is not None) != (node is not None) or (node and acts):
        print(
            "wit nodes: --pool and --owner move one node: wit nodes --pool POOL NODE "
            "(alone, without --drain and the like)",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    found, asked = _call(fetch())
    if node is not None:
        _place(_one_node(node, found), pool, owner, hub, fingerprint, insecure, token)
        return
    if acts:
        ((name, wanted),) = acts
        if name in ("approve", "refuse"):
            _answer_join(name, _one_node(wanted, asked), hub, fingerprint, insecure, token)
            return
        if name in ("forget", "revoke"):  # a node that only asked is one of these too
            known = {node.id for node in found}
            found = found + [ask for ask in asked if ask.node_id not in known]
        _node_action(name, _one_node(wanted, found), hub, fingerprint, insecure, token)
        return
    if as_json:
        print(json.dumps([n.model_dump() for n in (asked if asks else found)]))
        return
    from rich.console import Console

    from witengine.cli.bench import rates_summary_table, rates_table
    from witengine.cli.views import joins_table, nodes_table, reputation_table

    console = Console()
    if asks:
        console.print(joins_table(asked, "Nodes that asked to join", wide))
        return
    if bench:
        console.print(rates_table(found))
        return
    if reputation:
        console.print(reputation_table(found, wide))
        return
    console.print(nodes_table(found, wide))
    summary = rates_summary_table(found)
    if summary is not None:
        console.print(summary)
    pending = [ask for ask in asked if ask.state == "pending"]
    if pending:
        console.print(joins_table(pending, "Waiting for approval", wide))
        console.print("approve one with: wit nodes --approve NAME (or refuse: --refuse NAME)")


def _place(
    node: Any,
    pool: str | None,
    owner: str | None,
    hub: str | None,
    fingerprint: str | None,
    insecure: bool,
    token: str | None,
) -> None:
    """`wit nodes --pool POOL [--owner NAME] NODE`, and where the node now stands."""

    async def act() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await client.place_node(node.id, pool=pool, owner=owner)

    done = _call(act())
    print(
        f"node {done.name} ({done.id}) is in pool {done.pool} ({done.tier.value}), "
        f"owner {done.owner or '(itself)'}"
    )


async def _join_requests(client: HubClient) -> list[Any]:
    """The nodes that asked to join without a token; none from a hub that knows no such asks."""
    from witengine.client import HubError

    try:
        return list(await client.join_requests())
    except HubError as error:
        if error.status in (403, 404):  # a join token, say, or a hub from before
            return []
        raise


def _answer_join(
    action: str,
    ask: Any,
    hub: str | None,
    fingerprint: str | None,
    insecure: bool,
    token: str | None,
) -> None:
    """`wit nodes --approve/--refuse NODE`, and what the hub said."""
    from witengine.security.node_keys import short_fingerprint

    async def act() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await client.answer_join(ask.node_id, approve=action == "approve")

    done = _call(act())
    key = short_fingerprint(done.fingerprint)
    if action == "approve":
        print(
            f"approved node {done.name} ({done.node_id}, key {key}, {done.address}): it joins "
            "at its next ask"
        )
    else:
        print(f"refused node {done.name} ({done.node_id}, key {key}); it is refused from now on")


def jobs(
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    wide: WideOption = False,
) -> None:
    """List the hub's jobs, newest first: one line each, with short ids (--wide: whole ids and
    errors)."""

    async def fetch() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await client.jobs()

    found = _call(fetch())
    if as_json:
        print(json.dumps([j.model_dump() for j in found]))
        return
    from rich.console import Console

    from witengine.cli.views import jobs_table

    Console().print(jobs_table(found, wide))


def job(
    job_id: Annotated[str, typer.Argument(help="The job's id (job_…).")],
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Download the ended job's results into this folder, as wit run writes them: "
            "its files under their names and results.json.",
            show_default=False,
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Follow the job as wit run does (progress, traces, work by node) until it "
            "ends; exit 0 if it completes, 130 if cancelled, 1 if it fails. Ctrl-C stops "
            "following and leaves the job running.",
        ),
    ] = False,
) -> None:
    """Show one job: status, progress, error and results; follow it (--follow); or download
    its results (--out, after --follow once it ends)."""
    if follow:
        _follow(job_id, hub, fingerprint, insecure, token)
    if out is not None:
        _download(job_id, out, hub, fingerprint, insecure, token)
        return
    if follow:
        return

    async def fetch() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await _on_job(client, job_id, client.job)

    print(json.dumps(_call(fetch()).model_dump(), indent=2))


def _follow(
    job_id: str, hub: str | None, fingerprint: str | None, insecure: bool, token: str | None
) -> None:
    """`wit job JOB-ID --follow`: the job's events from its start, shown as `wit run` shows
    them, until it ends; then its status, and an exit code when it did not complete."""
    from rich.console import Console

    from witengine.cli.views import RunView

    console = Console(stderr=True, highlight=False)

    async def follow() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            detail = await _on_job(client, job_id, client.job)
            with RunView(console) as view:
                async for event in client.events(detail.id):
                    view.event(event)
            return await client.job(detail.id)

    try:
        summary = _call(follow())
    except KeyboardInterrupt:
        print(f"wit job: stopped following job {job_id}; it goes on on the hub", file=sys.stderr)
        raise typer.Exit(EXIT_CANCELLED) from None
    error = f": {summary.error}" if summary.error else ""
    console.print(f"{summary.id}: {summary.status}{error}", soft_wrap=True)
    if job_exit(summary.status) != EXIT_OK:
        raise typer.Exit(job_exit(summary.status))


def _download(
    job_id: str,
    out: Path,
    hub: str | None,
    fingerprint: str | None,
    insecure: bool,
    token: str | None,
) -> None:
    """`wit job JOB-ID --out DIR`: an ended job's results, files and all, into DIR."""
    from witengine.api import fetch_results
    from witengine.errors import WitError
    from witengine.plugins.registry import default_library

    async def fetch() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            detail = await _on_job(client, job_id, client.job)
            if not detail.status.ended:
                return detail.status
            return await fetch_results(client, detail, default_library(), out)

    try:
        result = _call(fetch())
    except WitError as error:  # a type of the job's that this machine's plugins do not know
        print(f"wit job: cannot read job {job_id}'s results here: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if isinstance(result, str):
        print(f"wit job: job {job_id} is {result}; its results come when it ends", file=sys.stderr)
        raise typer.Exit(1)
    print(f"{result.status.value}; results in {out}")


def cancel(
    job_id: Annotated[str, typer.Argument(help="The job's id (job_…).")],
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Cancel a job: its tasks stop on the nodes and late results are ignored."""
    _act(job_id, "cancel", open_hub(hub, fingerprint, insecure, token), until=lambda s: s.ended)


def pause(
    job_id: Annotated[str, typer.Argument(help="The job's id (job_…).")],
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Pause a job where it is: a Grid.ForEach under way gets no new batches (those already on
    nodes finish, and their results are kept) and the script stops before its next statement,
    until the job is resumed."""
    _act(
        job_id,
        "pause",
        open_hub(hub, fingerprint, insecure, token),
        until=lambda s: s.ended or s == "paused",
    )


def resume(
    job_id: Annotated[str, typer.Argument(help="The job's id (job_…).")],
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Resume a paused job where it stopped."""
    _act(
        job_id,
        "resume",
        open_hub(hub, fingerprint, insecure, token),
        until=lambda s: s.ended or s in ("running", "queued"),
    )


def rerun(
    job_id: Annotated[str, typer.Argument(help="The failed or cancelled job's id (job_…).")],
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the new job to end; exit 0 if it completes.")
    ] = False,
) -> None:
    """Run a failed or cancelled job again as a new job: the items it finished keep their
    results, only those that failed or never ran run again."""

    async def go() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            summary = await _on_job(client, job_id, client.rerun)
            print(f"{summary.id}: {summary.status}, a re-run of {summary.rerun_of}", flush=True)
            while wait and not summary.status.ended:
                await asyncio.sleep(0.5)
                summary = await client.job(summary.id)
            return summary

    summary = _call(go())
    if wait:
        print(f"{summary.id}: {summary.status}" + (f": {summary.error}" if summary.error else ""))
        raise typer.Exit(0 if summary.status == "completed" else 1)


def _act(job_id: str, action: str, hub: HubClient, until: Callable[[JobStatus], bool]) -> None:
    """Ask the hub to act on a job; print its status once the action took effect (or 10 s)."""

    async def act() -> Any:
        async with hub as client:
            summary = await _on_job(client, job_id, lambda whole: client.act(whole, action))
            for _ in range(100):
                if until(summary.status):
                    break
                await asyncio.sleep(0.1)
                summary = await client.job(summary.id)
            return summary

    summary = _call(act())
    print(f"{summary.id}: {summary.status}")


async def _on_job(client: HubClient, given: str, call: Callable[[str], Awaitable[T]]) -> T:
    """`call(id)` for the job `given` names: its id, or, as `wit jobs` shows ids, a beginning of
    the id that only one of the hub's last 1,000 jobs has."""
    from witengine.client import HubError

    try:
        return await call(given)
    except HubError as error:
        if error.status != 404:
            raise
        found = [job.id for job in await client.jobs(1000) if job.id.startswith(given)]
        if not found:
            raise
    if len(found) > 1:
        some = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
        raise HubError(f"{len(found)} jobs have ids that begin with {given} ({some}): give more")
    return await call(found[0])


def _one_node(wanted: str, found: list[Any]) -> Any:
    """The node `wanted` names among `found` (nodes, or nodes that asked to join): its id, the
    name of exactly one node, or a beginning of exactly one node's id."""

    def id_of(node: Any) -> str:
        return str(getattr(node, "id", None) or node.node_id)

    matches = (
        [n for n in found if id_of(n) == wanted]
        or [n for n in found if n.name == wanted]
        or [n for n in found if id_of(n).startswith(wanted)]
    )
    if not matches:
        print(f"wit nodes: no node is called or has the id {wanted!r}", file=sys.stderr)
        raise typer.Exit(1)
    if len(matches) > 1:
        ids = ", ".join(f"{id_of(n)} ({n.state})" for n in matches)
        print(
            f"wit nodes: {len(matches)} nodes are called or have ids that begin with {wanted}: "
            f"{ids}; give its id",
            file=sys.stderr,
        )
        raise typer.Exit(1)
    return matches[0]


def _node_action(
    action: str,
    node: Any,
    hub: str | None,
    fingerprint: str | None,
    insecure: bool,
    token: str | None,
) -> None:
    """`wit nodes --drain/--resume/--forget/--revoke NODE`, and what the hub said."""

    node_id = getattr(node, "id", None) or node.node_id

    async def act() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            if action == "forget":
                return await client.forget_node(node_id)
            if action == "revoke":
                return await client.revoke_node(node_id)
            return await client.drain_node(node_id, drained=action == "drain")

    done = _call(act())
    if action == "revoke":
        revoked = ", ".join(done.revoked) or "no credential"
        again = "; refused when it asks again" if done.state == "revoked" else ""
        print(f"revoked node {done.name} ({done.id}): {revoked}{again}")
    elif action == "forget":
        revoked = ", ".join(done.revoked) or "no credential"
        print(f"forgot node {done.name} ({done.id}); revoked {revoked}")
    elif done.drained:
        print(f"drained node {node.name} ({node.id}): it finishes what it holds, gets nothing new")
    else:
        print(f"node {node.name} ({node.id}) takes work again")


def _call(coroutine: Any) -> Any:
    from witengine.client import HubError

    try:
        return asyncio.run(coroutine)
    except HubError as error:
        print(error, file=sys.stderr)
        raise typer.Exit(1) from None
