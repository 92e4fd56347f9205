"""The watcher: lists a watched folder, claims complete job files and runs them on a hub.

A shell around intake.py, records.py and rules.py: it polls the folder every `poll_seconds`
(polling works the same on local disks, network shares and synced folders, where change
notifications are unreliable), claims a file through the hub's blackboard (compare-and-set) and
then by renaming it into `running/NAME/` (on one file system a rename succeeds once: the loser's
fails), runs it as `wit run --out running/NAME` would, and moves the folder to `done/NAME/` or
`failed/NAME/` (with `error.txt`). It talks to the hub only through its API (`HubClient`), so the
same code runs inside `wit hub --watch` and as `wit watch`.

On start, a folder left in `running/` by a watcher that is gone (killed, its machine restarted)
is taken up again: the job it had submitted is followed if the hub still has it, else the file
runs again. No file is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from witengine.clock import Clock, SystemClock
from witengine.errors import WitError
from witengine.folders import intake, records, rules
from witengine.folders.intake import Sighting, Stat
from witengine.folders.records import Claim, FileRecord, FileState
from witengine.lang.errors import ScriptError
from witengine.plugins.requirements import Requirements, unmet
from witengine.protocol.states import JobStatus, NodeState

if TYPE_CHECKING:
    from witengine.client import HubAccess, HubClient
    from witengine.plugins.api import JobFile
    from witengine.protocol import NodeSummary
    from witengine.runtime.library import Library

log = logging.getLogger(__name__)

RUNNING, DONE, FAILED = "running", "done", "failed"
ERROR_FILE = "error.txt"
RESULTS_FILE = "results.json"
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_JOBS = 4


@dataclass(frozen=True)
class WatchSettings:
    """How a watcher watches: the settle time, how often it looks, how many files it runs at
    once."""

    settle_seconds: float = intake.DEFAULT_SETTLE_SECONDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    jobs: int = DEFAULT_JOBS


def folder_label(folder: Path) -> str:
    """How the farm names a watched folder: its own name, the same on every machine that
    syncs it (`~/Sync/renders` and `D:\\Sync\\renders` are both `renders`)."""
    return folder.resolve().name or "root"


def owner_name() -> str:
    """This watcher: its machine and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str) -> bool:
    """Whether the watcher named `owner` still runs; an owner on another machine is taken to."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return bool(owner)
    if int(pid) == os.getpid():
        return False  # this process's own, from before: it has just started
    import psutil

    return bool(psutil.pid_exists(int(pid)))


class Watcher:
    """Watches one folder for one hub, until cancelled."""

    def __init__(
        self,
        access: HubAccess,
        folder: Path,
        *,
        library: Library,
        plugin_rules: dict[str, JobFile],
        settings: WatchSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.access = access
        self.folder = folder.resolve()
        self.label = folder_label(folder)
        self.library = library
        self.rules = plugin_rules
        self.settings = settings or WatchSettings()
        self.clock = clock or SystemClock()
        self.owner = owner_name()
        self._seen: dict[str, Sighting] = {}
        self._active: set[str] = set()  # files this watcher runs now
        self._waiting: set[str] = set()  # files this watcher listed as waiting
        self._digests: dict[tuple[str, Stat], str] = {}

    async def run(self) -> None:
        """Watch until cancelled; a failed look is logged and tried again."""
        for name in (RUNNING, DONE, FAILED):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        async with self.access.client() as client, asyncio.TaskGroup() as group:
            await self._resume(client, group)
            said = False
            while True:
                try:
                    await self.look(client, group)
                    said = False
                except (WitError, OSError) as error:
                    if not said:  # once until a look succeeds again
                        log.warning("watching %s: %s", self.folder, error)
                    said = True
                except Exception:  # a bug in one look must not end the watching
                    if not said:
                        log.exception("watching %s: a look failed", self.folder)
                    said = True
                await self.clock.sleep(self.settings.poll_seconds)

    # ------------------------------------------------------------------ one look

    async def look(self, client: HubClient, group: asyncio.TaskGroup) -> None:
        """List the folder once; take, or list as waiting, every complete job file."""
        listing = await asyncio.to_thread(_listing, self.folder)
        self._seen, complete = intake.settle(
            self._seen, listing, self.clock.now(), self.settings.settle_seconds
        )
        files = intake.job_files(complete, listing, rules.extensions(self.rules))
        files = [name for name in files if name not in self._active]
        for name in sorted(self._waiting - set(listing)):  # taken away while it waited
            await self._forget_waiting(client, name)
        if not files:
            return
        nodes = [n for n in await client.nodes() if n.state is not NodeState.OFFLINE]
        for name in files:
            await self._consider(client, group, name, listing[name], nodes)

    async def _consider(
        self,
        client: HubClient,
        group: asyncio.TaskGroup,
        name: str,
        stat: Stat,
        nodes: list[NodeSummary],
    ) -> None:
        path = self.folder / name
        digest = self._digests.get((name, stat))
        if digest is None:
            digest = await asyncio.to_thread(_digest, path)
            self._digests[(name, stat)] = digest
        needs, problem = self._needs(path)
        key = records.file_key(self.label, name)
        record, version = await _read_record(client, key)
        take = await _read_value(client, records.take_key(self.label, name))
        able = [n.name for n in nodes if _can_run(n, needs)]
        free = len(self._active) < self.settings.jobs
        runnable = take is not None or problem is not None or (bool(able) and free)
        fresh = FileRecord(
            self.label, name, digest, FileState.WAITING, needs, path=str(self.folder)
        )
        decision = records.decide(record, digest, runnable)
        if decision is Claim.LEAVE:
            return
        if decision is Claim.WAIT:
            lacking = [] if able or not nodes else _lacking(needs, nodes)
            reason = records.reason_to_wait(lacking, len(nodes), len(self._active))
            update = records.waiting(record, replace(fresh, reason=reason))
            if update is not None:
                await _write(client, key, update, version)
            self._waiting.add(name)
            return
        self._waiting.discard(name)
        claimed = replace(fresh, state=FileState.RUNNING, owner=self.owner)
        if not await _write(client, key, claimed, version):
            return  # another watcher of this hub claimed it first
        self._active.add(name)
        group.create_task(self._run_file(client, name, claimed, take, problem))

    async def _forget_waiting(self, client: HubClient, name: str) -> None:
        """Remove the record of a waiting file that left the folder (unless another watcher
        has taken it meanwhile)."""
        self._waiting.discard(name)
        key = records.file_key(self.label, name)
        record, version = await _read_record(client, key)
        if record is not None and record.state is FileState.WAITING and version is not None:
            from witengine.client import HubError

            with contextlib.suppress(HubError):
                await client.board_delete(key, if_version=version)

    def _needs(self, path: Path) -> tuple[tuple[str, ...], str | None]:
        """What the file's job needs of a node, or what is wrong with it (the file then fails
        at once: no node could run it any better)."""
        try:
            job = rules.job_for(path, self.rules)
            checked = rules.check_job(job, self.library)
        except ScriptError as error:
            return (), error.render()
        except WitError as error:
            return (), str(error)
        return rules.needs(checked, self.library), None

    # ------------------------------------------------------------------ one file

    async def _run_file(
        self,
        client: HubClient,
        name: str,
        record: FileRecord,
        take: Any,
        problem: str | None,
    ) -> None:
        try:
            where = await asyncio.to_thread(self._move_in, name)
            if where is None:  # another hub's watcher renamed it first
                await _delete(client, records.file_key(self.label, name))
                return
            if isinstance(take, dict) and take.get("fail"):
                problem = f"failed by an admin: {take.get('reason') or 'wit take --fail'}"
            await self._finish(client, where, name, record, take, problem)
        except Exception:
            log.exception("watching %s: running %s failed", self.folder, name)
        finally:
            self._active.discard(name)

    def _move_in(self, name: str) -> Path | None:
        """Rename the file (and its .params) into running/NAME/; None if it is gone."""
        while True:  # another watcher may make the same folder meanwhile: then the next
            taken = {p.name for p in (self.folder / RUNNING).iterdir()}
            where = self.folder / RUNNING / intake.free_name(taken, intake.stem_of(name))
            try:
                where.mkdir()
                break
            except FileExistsError:
                continue
        try:
            (self.folder / name).rename(where / name)
        except FileNotFoundError:
            where.rmdir()
            return None
        params = intake.params_name(name)
        with contextlib.suppress(FileNotFoundError):
            (self.folder / params).rename(where / params)
        return where

    async def _finish(
        self,
        client: HubClient,
        where: Path,
        name: str,
        record: FileRecord,
        take: Any,
        problem: str | None,
        job_id: str | None = None,
    ) -> None:
        """Run (or follow) the file's job in `where`, then move `where` to done/ or failed/."""
        key = records.file_key(self.label, name)
        error = problem
        texts: dict[str, str] = {}
        if error is None:
            node = take.get("node") if isinstance(take, dict) else None
            pinned = node if isinstance(node, str) else None
            error, texts = await self._run_job(client, where, name, record, key, job_id, pinned)
        await asyncio.to_thread(_write_texts, where, texts)
        state = FileState.FAILED if error is not None else FileState.DONE
        if error is not None:
            await asyncio.to_thread((where / ERROR_FILE).write_text, error + "\n", "utf-8")
        target = await asyncio.to_thread(_move_out, where, self.folder / state.value)
        ended = replace(record, state=state, error=error, path=str(self.folder))
        await _write(client, key, ended, ANY_VERSION)
        if take is not None:
            await _delete(client, records.take_key(self.label, name))
        log.info("%s: %s, in %s", name, state.value, target)

    async def _run_job(
        self,
        client: HubClient,
        where: Path,
        name: str,
        record: FileRecord,
        key: str,
        job_id: str | None,
        node: str | None = None,
    ) -> tuple[str | None, dict[str, str]]:
        """The job's error as `wit run` prints it (None when it completed) and the text files
        its rule writes."""
        from witengine.api import fetch_results, run_on_hub

        submitted: list[str] = []

        def note(_client: HubClient, new_id: str) -> None:
            submitted.append(new_id)
            running = replace(record, job=new_id)
            asyncio.get_running_loop().create_task(_write(client, key, running, ANY_VERSION))

        try:
            job = rules.job_for(where / name, self.rules)
            if job_id is not None:
                async for _event in client.events(job_id):
                    pass
                result = await fetch_results(client, await client.job(job_id), self.library, where)
            else:
                result = await run_on_hub(
                    self.access,
                    job.filename,  # errors name the file as it lies beside error.txt
                    job.parameters,
                    out_dir=where,
                    on_submitted=note,
                    library=self.library,
                    source=job.source,
                    node=node,
                )
        except ScriptError as error:
            return error.render(), {}
        except WitError as error:
            return str(error), {}
        texts = {
            file: value
            for file, variable in job.texts.items()
            if isinstance(value := result.variables.get(variable), str)
        }
        if result.status is JobStatus.COMPLETED:
            return None, texts
        return f"{result.status.value}: {result.error}", texts

    # ------------------------------------------------------------------ crash safety

    async def _resume(self, client: HubClient, group: asyncio.TaskGroup) -> None:
        """Take up folders left in running/ by a watcher that is gone."""
        extensions = rules.extensions(self.rules)
        for where in sorted((self.folder / RUNNING).iterdir()):
            if not where.is_dir():
                continue
            found = [
                p.name
                for p in where.iterdir()
                if p.is_file() and intake.extension_of(p.name) in extensions
            ]
            if not found:
                continue
            name = found[0]
            key = records.file_key(self.label, name)
            record, version = await _read_record(client, key)
            running = record is not None and record.state is FileState.RUNNING
            if running and record is not None and _owner_alive(record.owner):
                continue
            digest = await asyncio.to_thread(_digest, where / name)
            needs, problem = self._needs(where / name)
            mine = FileRecord(
                self.label, name, digest, FileState.RUNNING, needs, owner=self.owner,
                path=str(self.folder), job=record.job if record is not None else None,
            )  # fmt: skip
            if not await _write(client, key, mine, version):
                continue
            job_id = await _job_still_there(client, mine.job)
            self._active.add(name)
            log.info("%s: taken up again from %s", name, where)
            group.create_task(self._resume_file(client, where, name, mine, problem, job_id))

    async def _resume_file(
        self,
        client: HubClient,
        where: Path,
        name: str,
        record: FileRecord,
        problem: str | None,
        job_id: str | None,
    ) -> None:
        try:
            await self._finish(client, where, name, record, None, problem, job_id)
        except Exception:
            log.exception("watching %s: taking up %s again failed", self.folder, name)
        finally:
            self._active.discard(name)


# ---------------------------------------------------------------------- helpers


def _listing(folder: Path) -> dict[str, Stat]:
    """The folder's regular files (not those in its subfolders): name -> size and mtime."""
    found: dict[str, Stat] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):  # gone meanwhile
                if entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    found[entry.name] = Stat(stat.st_size, stat.st_mtime_ns)
    return found


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _can_run(node: NodeSummary, needs: tuple[str, ...]) -> bool:
    if node.state in (NodeState.DRAINED, NodeState.DRAINING):
        return False
    return not unmet(Requirements(software=needs), node.capabilities) if needs else True


def _lacking(needs: tuple[str, ...], nodes: list[NodeSummary]) -> list[str]:
    """The programs no node has."""
    return [need for need in needs if not any(_can_run(n, (need,)) for n in nodes)]


def _repoint(results: Path, before: Path, after: Path) -> None:
    """Make the file paths in results.json name the files where they are now."""
    try:
        data = json.loads(results.read_text("utf-8"))
    except (OSError, ValueError):
        return
    old = str(before)

    def moved(value: Any) -> Any:
        if isinstance(value, dict):
            path = value.get("path")
            if isinstance(path, str) and "blob" in value and path.startswith(old):
                value = {**value, "path": str(after) + path[len(old) :]}
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        return value

    partial = results.with_name(f".{results.name}.part")
    partial.write_text(json.dumps(moved(data), indent=2) + "\n")
    partial.replace(results)


def _write_texts(where: Path, texts: dict[str, str]) -> None:
    for file, text in texts.items():
        (where / file).write_text(text, "utf-8")


def _move_out(where: Path, into: Path) -> Path:
    """Move `where` into `into` under a free name, its results.json already naming the files
    where they will be, so that whoever sees the folder land reads the whole file."""
    into.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in into.iterdir()}
    target = into / intake.free_name(taken, where.name)
    _repoint(where / RESULTS_FILE, where, target)
    where.rename(target)
    return target


async def _read_value(client: HubClient, key: str) -> Any:
    from witengine.client import HubError

    try:
        value = await client.board_get(key)
    except HubError as error:
        if error.status == 404:
            return None
        raise
    return None if value.deleted else value.value


async def _read_record(client: HubClient, key: str) -> tuple[FileRecord | None, int | None]:
    from witengine.client import HubError

    try:
        value = await client.board_get(key)
    except HubError as error:
        if error.status == 404:
            return None, None
        raise
    if value.deleted:
        return None, value.version
    record = FileRecord.from_json(value.value)
    return record, value.version


ANY_VERSION = -1


async def _write(client: HubClient, key: str, record: FileRecord, version: int | None) -> bool:
    """Write the record over `version` (None: only if the key has no value; ANY_VERSION:
    whatever is there); False when another watcher wrote it first."""
    from witengine.client import HubError

    try:
        if version == ANY_VERSION:
            await client.board_set(key, record.to_json())
        elif version is None:
            await client.board_set(key, record.to_json(), create=True)
        else:
            await client.board_set(key, record.to_json(), if_version=version)
    except HubError as error:
        if error.status == 412:
            return False
        raise
    return True


async def _delete(client: HubClient, key: str) -> None:
    from witengine.client import HubError

    with contextlib.suppress(HubError):
        await client.board_delete(key)


async def _job_still_there(client: HubClient, job_id: str | None) -> str | None:
    from witengine.client import HubError

    if job_id is None:
        return None
    try:
        await client.job(job_id)
    except HubError:
        return None
    return job_id


async def watch(
    access: HubAccess,
    folders: list[Path],
    settings: WatchSettings | None = None,
    *,
    library: Library | None = None,
) -> None:
    """Watch every folder for the hub at `access`, until cancelled."""
    from witengine.plugins.registry import build_library, discover

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    plugins = discover()
    library = library or build_library(plugins)
    declared = rules.declared_rules(plugins)
    async with asyncio.TaskGroup() as group:
        for folder in folders:
            watcher = Watcher(
                access, folder, library=library, plugin_rules=declared, settings=settings
            )
            group.create_task(watcher.run())
