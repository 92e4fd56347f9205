"""The Python API: check, format and run Wit scripts; everything the `wit` command does.

from witengine import api
result = asyncio.run(api.run_file("examples/primes.wit", {"n": "2000"}))
print(result.status, result.variables["count"])
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from witengine.errors import ParameterError, WitError
from witengine.filenames import inside, safe_name
from witengine.lang.checker import CheckedJob, check_source
from witengine.lang.errors import ScriptError
from witengine.lang.parser import parse
from witengine.lang.printer import format_source
from witengine.lang.types import WitType
from witengine.plugins.registry import default_library, discover
from witengine.protocol.events import EventSink
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import Blob, LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.runtime.control import JobControl
from witengine.runtime.executor import Executor
from witengine.runtime.interpreter import Interpreter, JobOutcome
from witengine.runtime.library import Json, Library
from witengine.runtime.parameters import check_texts, files_named, read_parameters
from witengine.settings import Settings

if TYPE_CHECKING:
    # The hub client and the process pool load only for the commands that use them, so that
    # `wit check` and `wit fmt` start fast.
    from witengine.client import HubAccess, HubClient
    from witengine.protocol import JobDetail
    from witengine.protocol.exchange import Bid
    from witengine.security.accounts import AccountKey

DOWNLOADS = 8  # a job's files fetched at once


@dataclass(frozen=True)
class Paying:
    """A job's bid on a hub's exchange, and the key of the account that pays and signs it
    (no bid: the account's buy mandates on the hub bid for it)."""

    key: AccountKey
    bid: Bid | None
    priority: int = 0  # among the account's own jobs on the exchange: higher first


@dataclass(frozen=True)
class JobResult:
    """How a job ended, with its top-level variables as JSON (files as `{"blob", "path"}`)."""

    status: JobStatus
    error: str | None
    variables: dict[str, Json] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "error": self.error, "variables": self.variables}


def read_script(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        raise WitError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise WitError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise WitError(f"{path}: cannot read: {error.strerror or error}") from None


def check_file(path: Path, library: Library | None = None) -> CheckedJob:
    """Parse and check a script file; ScriptError lists every problem."""
    return check_source(read_script(path), library or default_library(), str(path))


def format_text(source: str, filename: str = "<script>") -> str:
    """The canonical text of a script, comments kept; ScriptError on a syntax error."""
    return format_source(source, parse(source, filename))


async def run_checked(
    checked: CheckedJob,
    parameters: Mapping[str, str],
    *,
    library: Library,
    executor: Executor,
    store: LocalBlobStore,
    out_dir: Path | None = None,
    events: EventSink | None = None,
    control: JobControl | None = None,
) -> JobResult:
    """Run a checked job with text parameters; export result files into `out_dir`."""
    arguments = read_parameters(checked, library, parameters, store)
    with tempfile.TemporaryDirectory(prefix="wit-job-") as scratch:
        context = ActivityContext(store, Path(scratch))
        interpreter = Interpreter(
            checked, library, executor, events=events, context=context, control=control
        )
        outcome = await interpreter.run(arguments)
    return export(outcome, library, store, out_dir)


async def run_file(
    path: Path | str,
    parameters: Mapping[str, str] | None = None,
    *,
    out_dir: Path | None = None,
    events: EventSink | None = None,
    settings: Settings | None = None,
    workers: int | None = None,
) -> JobResult:
    """Check and run a script on this machine's cores; ScriptError or ParameterError before it
    starts, a JobResult after."""
    from witengine.runtime.local import LocalExecutor

    settings = settings or Settings.from_env()
    library = default_library()
    checked = check_file(Path(path), library)
    store = LocalBlobStore(settings.blob_dir)
    refs = [plugin.ref for plugin in discover()]
    async with LocalExecutor(refs, settings.blob_dir, workers) as executor:
        return await run_checked(
            checked,
            parameters or {},
            library=library,
            executor=executor,
            store=store,
            out_dir=out_dir,
            events=events,
        )


def export(
    outcome: JobOutcome, library: Library, store: LocalBlobStore, out_dir: Path | None
) -> JobResult:
    """The outcome as JSON; each file is copied into `out_dir` and named by its path there."""
    variables, files = plan_export(outcome.variables, outcome.types, library, out_dir)
    for blob, target in files:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.path(blob), target)
    return _result(outcome.status, outcome.error, variables, outcome.types, out_dir)


def interrupted(reason: str, out_dir: Path | None) -> JobResult:
    """The result of a job its caller stopped waiting for (or never submitted): cancelled, for
    `reason`, with no variables; written to `out_dir` as any result is."""
    return _result(JobStatus.CANCELLED, reason, {}, {}, out_dir)


def _result(
    status: JobStatus,
    error: str | None,
    variables: dict[str, Json],
    types: Mapping[str, WitType],
    out_dir: Path | None,
) -> JobResult:
    result = JobResult(status, error, variables, {n: str(t) for n, t in types.items()})
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def plan_export(
    values: Mapping[str, Any], types: Mapping[str, WitType], library: Library, out_dir: Path | None
) -> tuple[dict[str, Json], list[tuple[Blob, Path]]]:
    """Variables as JSON, files as `{"blob", "path"}`, and which blob goes to which path."""
    exporter = _Exporter(out_dir)
    variables = {
        name: exporter.value(value, types[name], name, library) for name, value in values.items()
    }
    return variables, exporter.files


class _Exporter:
    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self.used: set[Path] = set()
        self.files: list[tuple[Blob, Path]] = []

    def value(self, value: Any, type_: WitType, name: str, library: Library) -> Json:
        if isinstance(value, Blob):
            return self.blob(value, name)
        if isinstance(value, list) and _holds_blobs(value):
            element = type_.element or WitType("Object")
            return [
                self.value(item, element, f"{name}/{index:04d}", library)
                for index, item in enumerate(value)
            ]
        return library.encode(value, type_)

    def blob(self, blob: Blob, name: str) -> Json:
        data: dict[str, Json] = {"blob": blob.sha256, "size": blob.size, "name": blob.name}
        if self.out_dir is None:
            data["path"] = None
            return data
        folder, _, stem = name.rpartition("/")
        file = safe_name(blob.name) if blob.name else safe_name(stem)
        if Path(folder, file) in self.used:
            file = f"{safe_name(stem)}-{file}"
        # The name came from the hub: it may only ever land inside the output folder.
        target = inside(self.out_dir, Path(folder, file))
        self.used.add(Path(folder, file))
        self.files.append((blob, target))
        data["path"] = str(target)
        return data


def _holds_blobs(items: list[Any]) -> bool:
    return any(isinstance(i, Blob) or (isinstance(i, list) and _holds_blobs(i)) for i in items)


# ----------------------------------------------------------------- on a hub


async def run_on_hub(
    hub: str | HubAccess,
    path: Path | str,
    parameters: Mapping[str, str] | None = None,
    *,
    out_dir: Path | None = None,
    events: EventSink | None = None,
    on_submitted: Callable[[HubClient, str], None] | None = None,
    library: Library | None = None,
    source: str | None = None,
    node: str | None = None,
    pools: Sequence[str] | None = None,
    paying: Paying | None = None,
) -> JobResult:
    """Check a script here, send it (and its files) to a hub, follow it, fetch its results.

    `events` gets the job's events, with the farm's extras (such as `nodes` on progress events:
    items and seconds per node). `hub` is its URL, or a `HubAccess` with the token and
    certificate pin to reach it with. With `source`, that is the script, and `path` only names
    it (a job a plugin declares for a file, which has no file of its own); with `node`, only
    the node of that name gets the job's work; with `pools`, the nodes of those pools may run
    it (without, those of the trusted pools); with `paying`, it bids on the hub's exchange,
    signed by the account that pays.
    """
    library = library or default_library()
    if source is None:
        checked = check_file(Path(path), library)
    else:
        checked = check_source(source, library, str(path))
    texts = dict(parameters or {})
    check_texts(checked, library, texts)  # before a file is read: `n=abc` fails at once
    with tempfile.TemporaryDirectory(prefix="wit-submit-") as scratch:
        # Before any upload: a wrong text or a scene missing a texture fails fast.
        named = await asyncio.to_thread(files_named, checked, library, texts, Path(scratch))
        return await _submit_and_follow(
            hub,
            path,
            checked,
            texts,
            named,
            events,
            on_submitted,
            library,
            out_dir,
            node,
            pools,
            paying,
        )


async def _submit_and_follow(
    hub: str | HubAccess,
    path: Path | str,
    checked: CheckedJob,
    texts: dict[str, str],
    named: dict[str, list[Path]],
    events: EventSink | None,
    on_submitted: Callable[[HubClient, str], None] | None,
    library: Library,
    out_dir: Path | None,
    node: str | None = None,
    pools: Sequence[str] | None = None,
    paying: Paying | None = None,
) -> JobResult:
    from witengine.client import HubAccess, HubError
    from witengine.protocol import BlobRef, SubmitJob

    access = hub if isinstance(hub, HubAccess) else HubAccess(hub)
    async with access.client() as client:
        files: dict[str, BlobRef | list[BlobRef]] = {}
        for name, local in named.items():  # the text stays; the hub reads it with these files
            files[name] = [await client.upload(path) for path in local]
        for param in checked.parameters:
            if param.name in texts and _is_blob_type(param.type):
                text = texts.pop(param.name)
                paths = [p.strip() for p in text.split(",") if p.strip()]
                if param.type.element is None and len(paths) != 1:
                    raise ParameterError(f"parameter '{param.name}' ({param.type}): give one file")
                try:
                    refs = [await client.upload(Path(p).expanduser()) for p in paths]
                except OSError as error:
                    reason = f"cannot read '{error.filename}': {error.strerror or error}"
                    raise ParameterError(
                        f"parameter '{param.name}' ({param.type}): {reason}"
                    ) from None
                files[param.name] = refs if param.type.element is not None else refs[0]
        try:
            summary = await client.submit(
                SubmitJob(
                    script=checked.source,
                    filename=str(path),
                    parameters=texts,
                    files=files,
                    node=node,
                    pools=list(pools) if pools is not None else None,
                    bid=paying.bid if paying is not None else None,
                    priority=paying.priority if paying is not None else 0,
                ),
                signer=paying.key if paying is not None else None,
            )
        except HubError as error:
            if error.status == 400:
                raise ParameterError(str(error)) from None
            raise
        if on_submitted is not None:
            on_submitted(client, summary.id)
        async for event in client.events(summary.id):
            if events is not None:
                events(event)
        detail = await client.job(summary.id)
        return await fetch_results(client, detail, library, out_dir)


async def fetch_results(
    client: HubClient, detail: JobDetail, library: Library, out_dir: Path | None
) -> JobResult:
    """A finished job's variables, with its files downloaded into `out_dir`."""
    types = {name: library.resolve(type_name) for name, type_name in detail.types.items()}
    values = {
        name: library.decode(data, types[name]) for name, data in (detail.variables or {}).items()
    }
    variables, files = plan_export(values, types, library, out_dir)
    await _download_all(client, files)
    return _result(JobStatus(detail.status), detail.error, variables, types, out_dir)


async def _download_all(client: HubClient, files: Sequence[tuple[Blob, Path]]) -> None:
    """Download the files DOWNLOADS at a time: one at a time, a job's many small frames spent
    more time on round trips than on bytes."""
    gate = asyncio.Semaphore(DOWNLOADS)

    async def one(blob: Blob, target: Path) -> None:
        async with gate:
            await client.download(blob.sha256, target)

    last = {target: blob for blob, target in files}  # one writer per file: the last one named
    async with asyncio.TaskGroup() as group:
        for target, blob in last.items():
            group.create_task(one(blob, target))


def _is_blob_type(type_: WitType) -> bool:
    return type_.name == "Blob" or (type_.element is not None and type_.element.name == "Blob")


__all__ = [
    "JobResult",
    "ParameterError",
    "ScriptError",
    "check_file",
    "export",
    "fetch_results",
    "format_text",
    "interrupted",
    "read_script",
    "run_checked",
    "run_file",
    "run_on_hub",
]
