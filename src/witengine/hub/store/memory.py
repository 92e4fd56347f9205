"""`MemoryStore`: the Store contract in dictionaries, for tests. Nothing survives the process."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from witengine.errors import BoardFull
from witengine.hub.store.base import (
    BUILTIN_POOL,
    AuditRecord,
    BoardEntry,
    BoardWrite,
    Commit,
    JobRecord,
    JoinRecord,
    Json,
    MapRecord,
    MapState,
    NodeRecord,
    PoolRecord,
    RateRecord,
    ReputationRecord,
    TaskState,
    TokenRecord,
    board_full,
    board_next_version,
    map_count,
    reused_map_id,
)
from witengine.hub.store.memory_exchange import ExchangeDicts
from witengine.hub.store.memory_market import MarketDicts
from witengine.protocol.states import JobStatus


@dataclass
class _Task:
    args: list[Json]
    state: TaskState = TaskState.PENDING
    attempt: int = 0
    result: Json = None
    error: str | None = None
    commits: int = 0


@dataclass
class _Map:
    record: MapRecord
    tasks: list[_Task] = field(default_factory=list)


class MemoryStore(ExchangeDicts, MarketDicts):
    def __init__(self) -> None:
        ExchangeDicts.__init__(self)
        MarketDicts.__init__(self)
        self.jobs: dict[str, JobRecord] = {}
        self.job_order: list[str] = []
        self.event_log: dict[str, list[Json]] = {}
        self.maps: dict[str, _Map] = {}
        self.map_by_seq: dict[tuple[str, int], str] = {}
        self.nodes: dict[str, NodeRecord] = {}
        self.rates: dict[tuple[str, str, str], RateRecord] = {}  # (node, activity, unit)
        self.tokens: dict[str, TokenRecord] = {}
        self.reputation: dict[tuple[str, str], ReputationRecord] = {}  # (node, activity)
        self.pools: dict[str, PoolRecord] = {BUILTIN_POOL.name: BUILTIN_POOL}
        self.audit_log: list[AuditRecord] = []
        self.joins: dict[str, JoinRecord] = {}  # fingerprint -> its record
        self.board: dict[str, list[BoardEntry]] = {}  # key -> its kept versions, oldest first
        self.board_seq = 0

    # jobs
    def add_job(self, job: JobRecord) -> None:
        self.jobs[job.id] = job
        self.job_order.append(job.id)

    def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def list_jobs(self, limit: int = 100) -> list[JobRecord]:
        listed = [self.jobs[i] for i in reversed(self.job_order)][:limit]
        return [dataclasses.replace(job, variables=None) for job in listed]

    def unfinished_jobs(self) -> list[JobRecord]:
        return [self.jobs[i] for i in self.job_order if not self.jobs[i].status.ended]

    def update_job(
        self,
        job_id: str,
        *,
        status: JobStatus,
        at: float,
        error: str | None = None,
        variables: dict[str, Json] | None = None,
        progress: tuple[int, int] | None = None,
    ) -> None:
        job = self.jobs[job_id]
        changes: dict[str, object] = {"status": status}
        if status is JobStatus.RUNNING and job.started_at is None:
            changes["started_at"] = at
        if status.ended:
            changes["finished_at"] = at
            changes["error"] = error
        if variables is not None:
            changes["variables"] = copy.deepcopy(variables)
        if progress is not None:
            changes["progress"] = progress
        self.jobs[job_id] = replace(job, **changes)  # type: ignore[arg-type]

    # events
    def append_events(self, job_id: str, events: Sequence[Json]) -> int:
        log = self.event_log.setdefault(job_id, [])
        log.extend(copy.deepcopy(list(events)))
        return len(log)

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[tuple[int, Json]]:
        log = self.event_log.get(job_id, [])
        return [(seq, copy.deepcopy(log[seq - 1])) for seq in range(after + 1, len(log) + 1)][
            :limit
        ]

    # maps
    def open_map(
        self,
        map_id: str,
        job_id: str,
        seq: int,
        activity: str,
        digest: str,
        items: Sequence[Sequence[Json]],
        options: Json = None,
        *,
        count: int | None = None,
    ) -> MapState:
        existing_id = self.map_by_seq.get((job_id, seq))
        if existing_id is not None:
            existing = self.maps[existing_id]
            if existing.record.digest == digest and existing.record.count == len(existing.tasks):
                return self._state(existing)
            del self.maps[existing_id]
        record = MapRecord(map_id, job_id, seq, activity, digest, map_count(items, count), options)
        self.maps[map_id] = _Map(record)
        self.map_by_seq[(job_id, seq)] = map_id
        self.add_tasks(map_id, 0, items)
        return self._state(self.maps[map_id])

    def add_tasks(self, map_id: str, first: int, items: Sequence[Sequence[Json]]) -> None:
        tasks = self.maps[map_id].tasks
        if first != len(tasks):
            raise ValueError(f"map {map_id} has {len(tasks)} tasks: the next is {len(tasks)}")
        tasks.extend(_Task(copy.deepcopy(list(item))) for item in items)

    def _state(self, stored: _Map) -> MapState:
        return MapState(
            stored.record,
            results={
                i: copy.deepcopy(t.result)
                for i, t in enumerate(stored.tasks)
                if t.state is TaskState.DONE
            },
            attempts={i: t.attempt for i, t in enumerate(stored.tasks)},
            failures={
                i: t.error or "" for i, t in enumerate(stored.tasks) if t.state is TaskState.FAILED
            },
        )

    def map_args(self, map_id: str, indices: Sequence[int]) -> dict[int, list[Json]]:
        tasks = self.maps[map_id].tasks
        return {i: copy.deepcopy(tasks[i].args) for i in indices if 0 <= i < len(tasks)}

    def set_attempts(self, map_id: str, attempts: Sequence[tuple[int, int]]) -> None:
        tasks = self.maps[map_id].tasks
        for index, attempt in attempts:
            tasks[index].attempt = attempt

    def commit(self, map_id: str, commits: Sequence[Commit]) -> list[int]:
        stored = self.maps.get(map_id)
        if stored is None:
            return []
        accepted = []
        for commit in commits:
            if not 0 <= commit.index < len(stored.tasks):
                continue
            task = stored.tasks[commit.index]
            if task.state is not TaskState.PENDING or task.attempt != commit.attempt:
                continue
            if commit.error is not None:
                task.state, task.error = TaskState.FAILED, commit.error
            else:
                task.state, task.result = TaskState.DONE, copy.deepcopy(commit.value)
            task.commits += 1
            accepted.append(commit.index)
        return accepted

    def map_results(self, map_id: str) -> dict[int, Json]:
        return self._state(self.maps[map_id]).results

    def job_maps(self, job_id: str) -> list[MapRecord]:
        found = sorted((seq, m) for (j, seq), m in self.map_by_seq.items() if j == job_id)
        return [self.maps[map_id].record for _, map_id in found]

    def map_items(
        self, map_id: str, after: int = -1, limit: int = 100
    ) -> list[tuple[int, Json, str | None]]:
        tasks = self.maps[map_id].tasks if map_id in self.maps else []
        page: list[tuple[int, Json, str | None]] = []
        for index in range(max(after + 1, 0), len(tasks)):
            if len(page) >= limit:
                break
            task = tasks[index]
            if task.state is TaskState.DONE:
                page.append((index, copy.deepcopy(task.result), None))
            elif task.state is TaskState.FAILED:
                page.append((index, None, task.error or ""))
        return page

    def commit_counts(self, map_id: str) -> dict[int, int]:
        return {i: t.commits for i, t in enumerate(self.maps[map_id].tasks)}

    def reuse_results(self, job_id: str, source_job_id: str) -> int:
        reused = 0
        sources = sorted((seq, m) for (j, seq), m in self.map_by_seq.items() if j == source_job_id)
        for seq, source_id in sources:
            source = self.maps[source_id]
            map_id = reused_map_id(job_id, seq)
            record = replace(source.record, id=map_id, job_id=job_id)
            tasks = [
                _Task(copy.deepcopy(t.args), t.state, 0, copy.deepcopy(t.result), commits=1)
                if t.state is TaskState.DONE
                else _Task(copy.deepcopy(t.args))
                for t in source.tasks
            ]
            reused += sum(t.state is TaskState.DONE for t in tasks)
            self.maps[map_id] = _Map(record, tasks)
            self.map_by_seq[(job_id, seq)] = map_id
        return reused

    # nodes
    def upsert_node(self, node: NodeRecord) -> None:
        previous = self.nodes.get(node.id)
        if previous is not None:
            node = replace(
                node, first_seen=previous.first_seen, pool=previous.pool, owner=previous.owner
            )
        self.nodes[node.id] = node

    def get_node(self, node_id: str) -> NodeRecord | None:
        return self.nodes.get(node_id)

    def list_nodes(self) -> list[NodeRecord]:
        return sorted(self.nodes.values(), key=lambda n: n.first_seen)

    def forget_node(self, node_id: str) -> bool:
        for key in [key for key in self.rates if key[0] == node_id]:
            del self.rates[key]
        return self.nodes.pop(node_id, None) is not None

    def place_node(
        self, node_id: str, *, pool: str | None = None, owner: str | None = None
    ) -> bool:
        node = self.nodes.get(node_id)
        if node is None:
            return False
        self.nodes[node_id] = replace(
            node,
            pool=node.pool if pool is None else pool,
            owner=node.owner if owner is None else owner,
        )
        return True

    # pools
    def put_pool(self, pool: PoolRecord) -> None:
        previous = self.pools.get(pool.name)
        self.pools[pool.name] = pool if previous is None else replace(previous, tier=pool.tier)

    def get_pool(self, name: str) -> PoolRecord | None:
        return self.pools.get(name)

    def list_pools(self) -> list[PoolRecord]:
        return sorted(self.pools.values(), key=lambda p: (p.name != BUILTIN_POOL.name, p.name))

    # benchmark rates
    def put_rate(self, rate: RateRecord) -> None:
        self.rates[(rate.node_id, rate.activity, rate.unit)] = rate

    def list_rates(self) -> list[RateRecord]:
        return [self.rates[key] for key in sorted(self.rates)]

    def delete_rates(self, node_id: str, keys: Sequence[tuple[str, str]]) -> None:
        for activity, unit in keys:
            self.rates.pop((node_id, activity, unit), None)

    # reputation
    def put_reputation(self, record: ReputationRecord) -> None:
        self.reputation[(record.node_id, record.activity)] = record

    def list_reputation(self, node_id: str | None = None) -> list[ReputationRecord]:
        keys = sorted(k for k in self.reputation if node_id is None or k[0] == node_id)
        return [self.reputation[key] for key in keys]

    # tokens
    def add_token(self, token: TokenRecord) -> None:
        if token.id in self.tokens:
            raise ValueError(f"token {token.id} exists")
        self.tokens[token.id] = token

    def get_token(self, token_id: str) -> TokenRecord | None:
        return self.tokens.get(token_id)

    def list_tokens(self) -> list[TokenRecord]:
        return sorted(self.tokens.values(), key=lambda t: (t.created_at, t.id))

    def revoke_token(self, token_id: str, at: float) -> bool:
        token = self.tokens.get(token_id)
        if token is None or token.revoked_at is not None:
            return False
        self.tokens[token_id] = replace(token, revoked_at=at)
        return True

    def touch_token(self, token_id: str, at: float) -> None:
        token = self.tokens.get(token_id)
        if token is not None:
            self.tokens[token_id] = replace(token, last_used=at)

    def use_token(self, token_id: str) -> bool:
        token = self.tokens.get(token_id)
        if token is None or (token.max_uses is not None and token.uses >= token.max_uses):
            return False
        self.tokens[token_id] = replace(token, uses=token.uses + 1)
        return True

    # nodes that asked to join without a token
    def put_join(self, record: JoinRecord) -> None:
        self.joins[record.fingerprint] = record

    def get_join(self, fingerprint: str) -> JoinRecord | None:
        return self.joins.get(fingerprint)

    def list_joins(self) -> list[JoinRecord]:
        return sorted(self.joins.values(), key=lambda j: (j.asked_at, j.fingerprint))

    def forget_join(self, node_id: str) -> bool:
        found = [key for key, record in self.joins.items() if record.node_id == node_id]
        for key in found:
            del self.joins[key]
        return bool(found)

    # audit log
    def append_audit(self, record: AuditRecord) -> int:
        seq = len(self.audit_log) + 1
        self.audit_log.append(replace(record, seq=seq))
        return seq

    def audit(self, limit: int = 100, before: int | None = None) -> list[AuditRecord]:
        lines = [r for r in reversed(self.audit_log) if before is None or r.seq < before]
        return lines[:limit]

    # blackboard
    def board_write(self, write: BoardWrite, *, keep: int, max_keys: int) -> BoardEntry:
        versions = self.board.get(write.key)
        version = board_next_version(versions[-1] if versions else None, write)
        if versions is None and len(self.board) >= max_keys:
            deleted = [(v[-1].seq, k) for k, v in self.board.items() if v[-1].deleted]
            if not deleted:
                raise BoardFull(board_full(len(self.board), max_keys))
            del self.board[min(deleted)[1]]
        self.board_seq += 1
        value = None if write.deleted else copy.deepcopy(write.value)
        entry = BoardEntry(
            write.key, version, value, write.writer, write.at, self.board_seq, write.deleted
        )
        versions = self.board.setdefault(write.key, [])
        versions.append(entry)
        del versions[: max(0, len(versions) - keep)]
        return copy.deepcopy(entry)

    def board_get(self, key: str) -> BoardEntry | None:
        versions = self.board.get(key)
        return copy.deepcopy(versions[-1]) if versions else None

    def board_list(self, prefix: str = "", limit: int = 1000) -> list[BoardEntry]:
        held = self.board.items()
        keys = sorted(k for k, v in held if k.startswith(prefix) and not v[-1].deleted)
        return [copy.deepcopy(self.board[k][-1]) for k in keys[:limit]]

    def board_history(self, key: str, limit: int = 100) -> list[BoardEntry]:
        return copy.deepcopy(list(reversed(self.board.get(key, [])))[:limit])

    def board_changes(self, after: int = 0, limit: int = 1000) -> list[BoardEntry]:
        found = sorted(
            (e for versions in self.board.values() for e in versions if e.seq > after),
            key=lambda e: e.seq,
        )
        return copy.deepcopy(found[:limit])

    def close(self) -> None:
        pass
