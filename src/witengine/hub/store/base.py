"""The `Store` interface: jobs, maps and their tasks, results, events, nodes and their rates.

One contract, two implementations (`MemoryStore`, `SqliteStore`) that pass the same test suite.
The store never reads a clock: times are passed in. Every write is durable when the call returns,
so the hub may acknowledge what it has stored.

A *map* is one execution of a `Grid.ForEach` or `Grid.Delegate` within a job, numbered by `seq`
in the order the interpreter reached it. A *task* is one item of a map. Results are committed
exactly once: a result counts only for the task's current attempt and only if the task has none.
Each task counts the commits it took (`commit_counts`), so that a second one shows even when it
wrote the same value again.
A job re-run after it failed or was cancelled starts with copies of its source's maps, holding
only their successful results (`reuse_results`); it then runs as a job resumed after a restart.

The *blackboard* is a set of keys, each with its versions: a write (or a delete, which is a
version too: a tombstone) is taken only when the key is at the version the writer expects
(compare-and-set, in one transaction), and is numbered farm-wide (`seq`) so that a stream of
changes can resume. A key keeps its last `keep` versions; at most `max_keys` keys are held, and a
new key past that takes the place of the key deleted longest ago, if any.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from witengine.errors import BoardConflict
from witengine.hub.store.ledger import Entry, LedgerTransaction
from witengine.protocol.states import DEFAULT_POOL, JobStatus, PoolTier

Json = Any


class TaskState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class JobRecord:
    id: str
    name: str
    script: str
    filename: str
    parameters: dict[str, str]
    files: dict[str, Json]  # parameter name -> blob ref(s) as JSON
    status: JobStatus
    created_at: float
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    variables: dict[str, Json] | None = None
    owner: str | None = None  # id of the token that submitted it
    rerun_of: str | None = None  # the failed or cancelled job this one runs again
    progress: tuple[int, int] | None = None  # items done and in all, as the job ended
    # The pools whose nodes may run its maps (`wit run --pools`); None: the trusted pools only.
    pools: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MapRecord:
    id: str
    job_id: str
    seq: int
    activity: str
    digest: str  # sha256 of the activity and every item's arguments
    count: int
    options: Json = None


@dataclass(frozen=True)
class MapState:
    """A map as stored: its record, the committed results and every task's current attempt."""

    record: MapRecord
    results: dict[int, Json] = field(default_factory=dict)
    attempts: dict[int, int] = field(
        default_factory=dict
    )  # index -> current attempt (0: never sent)
    failures: dict[int, str] = field(default_factory=dict)  # index -> error, for FAILED tasks


class Commit(NamedTuple):
    """One result offered for commit (a tuple: one is made for every result, and a frozen
    dataclass costs several times as much to make)."""

    index: int  # type: ignore[assignment]  # the item's place, not tuple.index
    attempt: int
    value: Json = None
    error: str | None = None  # set: the task failed for good with this error


@dataclass(frozen=True)
class NodeRecord:
    id: str
    name: str
    info: Json  # the node's hello: capabilities, plugins, activities, slots
    first_seen: float
    last_seen: float
    pool: str = DEFAULT_POOL  # the pool it belongs to (see PoolRecord)
    owner: str = ""  # who answers for its results; "": the node itself


@dataclass(frozen=True)
class PoolRecord:
    """A pool of nodes, and its tier."""

    name: str
    tier: PoolTier
    created_at: float = 0.0

    @property
    def trusted(self) -> bool:
        return self.tier is PoolTier.TRUSTED


BUILTIN_POOL = PoolRecord(DEFAULT_POOL, PoolTier.TRUSTED)


@dataclass(frozen=True)
class RateRecord:
    """A node's benchmark rate for one activity, in the activity's unit per second."""

    node_id: str
    activity: str
    unit: str
    rate: float
    elapsed: float  # seconds the benchmark measured
    iterations: int
    plugin: str
    plugin_version: str
    measured_at: float  # seconds since the epoch, when the hub received it


@dataclass(frozen=True)
class ReputationRecord:
    """A node's record for one activity, from the verification of its results (see
    `scheduling.verification`): kept across hub restarts, so a node caught wrong stays blocked."""

    node_id: str
    activity: str
    state: str  # a witengine.scheduling.verification.TrustState value
    streak: int  # answers in a row that agreed with others
    accepted: int
    rejected: int
    spot_passed: int
    spot_failed: int
    changed_at: float  # seconds since the epoch, when it last changed


@dataclass(frozen=True)
class TokenRecord:
    """A token as the hub keeps it: never its secret, only the secret's SHA-256."""

    id: str
    role: str  # a witengine.security.tokens.Role value
    label: str
    secret_hash: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used: float | None = None
    node_id: str | None = None  # node credentials: the node it names
    created_by: str | None = None  # id of the token that made it (None: made on the data dir)
    max_uses: int | None = None  # join tokens: nodes it may enrol (None: unlimited)
    uses: int = 0
    # Join tokens, and the node credentials they give: the pool a node it enrols joins and
    # its owner (None: the default pool; the node is its own owner).
    pool: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class JoinRecord:
    """A node that asked to join without a token (`wit hub --approve-lan`), known by its public
    key, and where it stands (an `Admission` value): remembered whatever the answer, so that a
    refused or revoked node is refused again."""

    fingerprint: str  # sha256:<hex> of its public key: one record per key
    node_id: str  # the id it has on the farm once approved
    public_key: str  # base64 of its raw Ed25519 public key
    name: str
    address: str  # the client address it last asked from
    machine: Json  # its Capabilities, as it described them
    state: str  # a witengine.protocol.states.Admission value
    asked_at: float  # when it first asked
    seen_at: float  # when it last asked
    decided_at: float | None = None
    decided_by: str | None = None  # id of the admin's token that decided


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log: who did what to what, from where, and how it ended."""

    at: float
    action: str  # e.g. token.create, token.revoke, auth.failed, node.enrol, job.submit
    outcome: str  # ok, refused, failed, ...
    actor_id: str | None = None  # token id
    actor_role: str | None = None
    address: str = ""
    target: str = ""
    seq: int = 0  # given by the store, in order of appending


@dataclass(frozen=True)
class AccountRecord:
    """An account of the exchange: its name and the public key its requests are signed with."""

    name: str
    public_key: str  # base64 of its raw Ed25519 public key
    state: str  # pending (until an admin approves) or active
    created_at: float
    created_by: str | None = None  # id of the token that registered it
    approved_at: float | None = None
    approved_by: str | None = None  # id of the token that approved it (or registered it active)


@dataclass(frozen=True)
class SignedRecord:
    """A signed request the hub took: kept whole (its body as sent), so that anyone can check
    its signature again with the account's public key; its nonce is never taken twice."""

    account: str
    nonce: str
    timestamp: int
    method: str
    path: str
    body: str
    signature: str  # base64
    at: float  # when the hub took it


@dataclass(frozen=True)
class BoardEntry:
    """One version of a key of the blackboard; `deleted` marks a tombstone (its value None)."""

    key: str
    version: int  # 1, 2, … per key, never reused while the key's history is kept
    value: Json
    writer: str  # who wrote it: "admin tok_…", "job job_…", "node node_…", "hub"
    at: float  # seconds since the epoch
    seq: int  # the change's number farm-wide, given by the store
    deleted: bool = False


class BoardWrite(NamedTuple):
    """A write offered to the blackboard. `expect`: None writes whatever the key holds; 0 only
    when the key has no value (new, or deleted); N only when its current version is N;
    `ANY_VERSION` only when it has a value, at whatever version."""

    key: str
    value: Json
    writer: str
    at: float
    expect: int | None = None
    deleted: bool = False


ANY_VERSION = -1  # BoardWrite.expect: the key has a value, whatever its version


def board_next_version(current: BoardEntry | None, write: BoardWrite) -> int:
    """The version `write` gives its key, whose current version is `current`; BoardConflict
    when the key is not where the write expects it. One rule for both stores."""
    live = current is not None and not current.deleted
    at = current.version if current is not None and live else None
    name = write.key
    if write.deleted and not live:
        raise BoardConflict(f"key {name!r} has no value to delete", None)
    if write.expect == 0 and live:
        raise BoardConflict(f"key {name!r} has a value already (version {at})", at)
    if write.expect == ANY_VERSION and not live:
        raise BoardConflict(f"key {name!r} has no value", None)
    if write.expect is not None and write.expect > 0 and at != write.expect:
        now = f"is at version {at}" if at is not None else "has no value"
        raise BoardConflict(f"key {name!r} {now}, not at version {write.expect}", at)
    return current.version + 1 if current is not None else 1


def board_full(held: int, max_keys: int) -> str:
    """What BoardFull says."""
    return (
        f"the blackboard holds {held:,} keys, the hub's limit limits.board_keys = {max_keys:,}, "
        "and none of them is deleted: delete keys no longer needed (wit board delete KEY)"
    )


def reused_map_id(job_id: str, seq: int) -> str:
    """The id of the copy of map `seq` a re-run job is given: derived, so stores need no
    randomness."""
    return "map_" + hashlib.sha256(f"{job_id}/{seq}".encode()).hexdigest()[:16]


def sent_runs(attempts: Sequence[tuple[int, int]], span: int) -> list[tuple[int, int, int]]:
    """(first index, last index, attempt) of each run of consecutive items sent under one
    attempt, cut where a span of `span` items ends: the runs holding an item then start in its
    span. How the SQL stores keep the attempts items were sent under, a row a run."""
    cut = []
    for first, last, attempt in _runs(attempts):
        start = first
        while start <= last:
            end = min(last, start - start % span + span - 1)
            cut.append((start, end, attempt))
            start = end + 1
    return cut


def _runs(attempts: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int, int]]:
    """(first index, last index, attempt) of each run of consecutive items under one attempt."""
    run: list[int] | None = None
    for index, attempt in attempts:
        if run is not None and index == run[1] + 1 and attempt == run[2]:
            run[1] = index
            continue
        if run is not None:
            yield run[0], run[1], run[2]
        run = [index, index, attempt]
    if run is not None:
        yield run[0], run[1], run[2]


def map_count(items: Sequence[Sequence[Json]], count: int | None) -> int:
    """The number of items of a map being created: `count`, of which `items` are the first."""
    if count is None:
        return len(items)
    if count < len(items):
        raise ValueError(f"a map of {count} items cannot be created with its first {len(items)}")
    return count


class Store(Protocol):
    """Durable hub state. Implementations: MemoryStore (tests), SqliteStore (default)."""

    # jobs
    def add_job(self, job: JobRecord) -> None: ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def list_jobs(self, limit: int = 100) -> list[JobRecord]:
        """Newest first, without their variables (None): a list shows none of them, and a
        finished job's may be megabytes (`get_job` has them)."""
        ...

    def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs queued, running or paused, oldest first: the ones to resume after a restart."""
        ...

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
        """Set the status; `running` sets started_at once, an ending status sets finished_at."""
        ...

    # events
    def append_events(self, job_id: str, events: Sequence[Json]) -> int:
        """Store events in order; return the sequence number of the last one (first is 1)."""
        ...

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[tuple[int, Json]]:
        """Events with a sequence number above `after`, in order."""
        ...

    # maps and tasks
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
        """The map `seq` of a job: created with its tasks, or the stored one with its results.

        When a stored map has another digest (the job took another path this time), or lacks
        some of its tasks (the hub stopped while they were being added), it and its tasks are
        replaced by the new one; `map_id` is used only when a map is created. A map of `count`
        items may be created with its first `items` only, and the others added in order with
        `add_tasks`: one write of a million tasks would hold up the hub for seconds.
        """
        ...

    def add_tasks(self, map_id: str, first: int, items: Sequence[Sequence[Json]]) -> None:
        """Add the pending tasks `first`, `first + 1`, … of a map created with fewer items
        than its count."""
        ...

    def map_args(self, map_id: str, indices: Sequence[int]) -> dict[int, list[Json]]:
        """The arguments of some tasks; indices the map lacks are left out."""
        ...

    def set_attempts(self, map_id: str, attempts: Sequence[tuple[int, int]]) -> None:
        """Record (index, attempt) for tasks being sent out, so that fencing survives a restart."""
        ...

    def commit(self, map_id: str, commits: Sequence[Commit]) -> list[int]:
        """Commit results; return the indices accepted, in the order given.

        A commit is accepted when its task is still pending and `attempt` is the task's current
        attempt. Accepted commits are durable when this returns; the others change nothing.
        """
        ...

    def map_results(self, map_id: str) -> dict[int, Json]: ...

    def job_maps(self, job_id: str) -> list[MapRecord]:
        """The job's maps as stored so far, by sequence number."""
        ...

    def map_items(
        self, map_id: str, after: int = -1, limit: int = 100
    ) -> list[tuple[int, Json, str | None]]:
        """The map's committed items with an index above `after`, by index, at most `limit`:
        (index, result, None), or (index, None, error) for a failed one. A page reads its own
        rows only, however many the map has (a client follows a running job with it)."""
        ...

    def commit_counts(self, map_id: str) -> dict[int, int]:
        """How many commits (result or failure) each task of the map took: 0 or 1, never more;
        a task whose result a re-run reused counts its one."""
        ...

    def reuse_results(self, job_id: str, source_job_id: str) -> int:
        """Give a job with no maps yet copies of another job's maps (same sequence numbers,
        digests and items; ids from `reused_map_id`) holding only their successful results:
        failed and unfinished tasks are pending, never sent. Returns the results reused."""
        ...

    # nodes
    def upsert_node(self, node: NodeRecord) -> None:
        """Add a node or update its name, info and last_seen (first_seen, pool and owner are
        kept: `place_node` changes those)."""
        ...

    def get_node(self, node_id: str) -> NodeRecord | None: ...

    def list_nodes(self) -> list[NodeRecord]: ...

    def forget_node(self, node_id: str) -> bool:
        """Remove a node's record and its rates; False when there was none."""
        ...

    def place_node(
        self, node_id: str, *, pool: str | None = None, owner: str | None = None
    ) -> bool:
        """Move a node to another pool, or give it another owner (None: unchanged); False when
        there is no node of that id. `upsert_node` keeps both when it updates a node."""
        ...

    # pools
    def put_pool(self, pool: PoolRecord) -> None:
        """Add a pool, or set the tier of the pool of that name (its created_at is kept)."""
        ...

    def get_pool(self, name: str) -> PoolRecord | None:
        """A pool by name; the built-in `default` pool is always found."""
        ...

    def list_pools(self) -> list[PoolRecord]:
        """Every pool, `default` first, then by name."""
        ...

    # benchmark rates
    def put_rate(self, rate: RateRecord) -> None:
        """Keep a rate, replacing the one for the same (node, activity, unit)."""
        ...

    def list_rates(self) -> list[RateRecord]:
        """Every rate, ordered by node, activity and unit."""
        ...

    def delete_rates(self, node_id: str, keys: Sequence[tuple[str, str]]) -> None:
        """Forget a node's rates for these (activity, unit) pairs; unknown pairs are ignored."""
        ...

    # reputation
    def put_reputation(self, record: ReputationRecord) -> None:
        """Keep a node's record for an activity, replacing the one before."""
        ...

    def list_reputation(self, node_id: str | None = None) -> list[ReputationRecord]:
        """Every node's records (or one node's), ordered by node and activity."""
        ...

    # tokens
    def add_token(self, token: TokenRecord) -> None: ...

    def get_token(self, token_id: str) -> TokenRecord | None: ...

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, oldest first."""
        ...

    def revoke_token(self, token_id: str, at: float) -> bool:
        """Revoke a token; False when there is none or it was revoked already."""
        ...

    def touch_token(self, token_id: str, at: float) -> None:
        """Record a use of the token (last_used)."""
        ...

    def use_token(self, token_id: str) -> bool:
        """Count one use of a token with a bound on its uses; False when none is left."""
        ...

    # nodes that asked to join without a token
    def put_join(self, record: JoinRecord) -> None:
        """Keep a node's ask and its state, replacing the record of the same key."""
        ...

    def get_join(self, fingerprint: str) -> JoinRecord | None: ...

    def list_joins(self) -> list[JoinRecord]:
        """Every node that asked, in the order they first asked."""
        ...

    def forget_join(self, node_id: str) -> bool:
        """Forget the ask of a node (it may ask afresh); False when there was none."""
        ...

    # audit log
    def append_audit(self, record: AuditRecord) -> int:
        """Append one line; return its sequence number (first is 1). Lines never change."""
        ...

    def audit(self, limit: int = 100, before: int | None = None) -> list[AuditRecord]:
        """The newest lines first, below sequence number `before` when given."""
        ...

    # accounts and signed requests
    def add_account(self, account: AccountRecord) -> bool:
        """Keep a new account; False when one of that name exists."""
        ...

    def get_account(self, name: str) -> AccountRecord | None: ...

    def list_accounts(self) -> list[AccountRecord]:
        """Every account, by name."""
        ...

    def approve_account(self, name: str, at: float, by: str | None) -> bool:
        """Make a pending account active; False when there is no pending account of that name."""
        ...

    def keep_signed(self, record: SignedRecord) -> bool:
        """Keep a signed request; False (and nothing kept) when its account used its nonce
        before. Kept requests never change."""
        ...

    def signed_requests(self, account: str | None = None) -> list[SignedRecord]:
        """The signed requests kept (of one account), in the order they were taken."""
        ...

    # the credit ledger (see witengine.hub.store.ledger)
    def post(
        self, kind: str, entries: Sequence[Entry], *, at: float, actor: str, memo: str = ""
    ) -> LedgerTransaction:
        """Append a balanced transaction, chained to the last, and apply it to the balances, in
        one store transaction: Overdrawn (nothing written) when an account other than `mint`
        would go below zero; Unbalanced when the entries do not sum to zero."""
        ...

    def balance(self, account: str) -> int:
        """An account's balance in milli-credits (0 for an account with no entries)."""
        ...

    def balances(self) -> dict[str, int]:
        """Every balance the store keeps, by account."""
        ...

    def transactions(
        self, *, account: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LedgerTransaction]:
        """Transactions numbered above `after` (those with an entry of `account`), in order."""
        ...

    # blackboard
    def board_write(self, write: BoardWrite, *, keep: int, max_keys: int) -> BoardEntry:
        """Take a write (or a delete) as the key's next version and return it.

        BoardConflict (naming the current version) when the key is not at `expect`, and for a
        delete of a key with no value; BoardFull when the key is new and `max_keys` keys are
        held, none of them deleted. The key then keeps its last `keep` versions."""
        ...

    def board_get(self, key: str) -> BoardEntry | None:
        """The key's current version (a tombstone when deleted); None when none is kept."""
        ...

    def board_list(self, prefix: str = "", limit: int = 1000) -> list[BoardEntry]:
        """The current version of each key with a value whose name starts with `prefix`, in
        the order of their names."""
        ...

    def board_history(self, key: str, limit: int = 100) -> list[BoardEntry]:
        """The key's kept versions, newest first."""
        ...

    def board_changes(self, after: int = 0, limit: int = 1000) -> list[BoardEntry]:
        """Versions kept with a farm-wide number above `after`, in order."""
        ...

    def close(self) -> None: ...
