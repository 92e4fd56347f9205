"""The wire contract between client, hub and node: versioned pydantic models, no behaviour.

Every message that crosses a process boundary is one of these models, validated on the way in.
The HTTP API lives under `/api/v1`; nodes speak the `NodeMessage` / `HubMessage` unions as JSON
text frames over one WebSocket. Anything that is not valid here is refused at the door.
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple

from pydantic import Field

from witengine.protocol.base import (
    MAX_INT64,
    MAX_NAME_LENGTH,
    Answer,
    Count,
    FileName,
    Json,
    Label,
    Model,
    PoolName,
    Positive,
    Text,
)
from witengine.protocol.events import JobEvent, parse_event
from witengine.protocol.exchange import Bid
from witengine.protocol.states import (
    DEFAULT_POOL,
    Availability,
    JobStatus,
    NodeState,
    PoolTier,
)

PROTOCOL_VERSION = 2  # 2: a batch's tasks and results are arrays
API_PREFIX = "/api/v1"
MAX_SCRIPT_CHARS = 1_000_000
# The close code of a node that is stopping (WebSocket's "going away"): the hub gives its
# unfinished items to other nodes at once instead of waiting for it to come back.
NODE_LEAVING = 1001
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class BlobRef(Model):
    """A file by content: what a client uploaded or a job produced."""

    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)]
    size: Count
    name: FileName = ""


class PluginInfo(Model):
    name: Annotated[str, Field(max_length=100)]
    version: Annotated[str, Field(max_length=50)]


class GpuInfo(Model):
    vendor: str
    name: str
    memory_bytes: Count | None = None
    driver: str | None = None


class Capabilities(Model):
    """What a node's machine is and has."""

    os: str
    os_version: str = ""
    arch: str
    cpu_model: str = ""
    cores: Annotated[int, Field(ge=1, le=1_000_000)]
    ram_bytes: Count
    gpus: list[GpuInfo] = []
    software: dict[
        str, str
    ] = {}  # e.g. {"blender": "3.4.1", "ffmpeg": "5.1.6", "python": "3.11.7"}


# ----------------------------------------------------------------- node <-> hub


class ResultKey(Model):
    map_id: str
    index: Count
    attempt: Positive


class NodeStatus(Model):
    """A node's availability under its owner's policy: in its hello, and again whenever it changes.

    A node without a policy is always available. `window_seconds` is relative (seconds from
    when the node sent it), so that the node's and the hub's clocks need not agree."""

    kind: Literal["status"] = "status"
    availability: Availability = Availability.AVAILABLE
    reason: Annotated[str, Field(max_length=1000)] = ""  # in words, for people: why it is so
    # Seconds until its current window of work closes; None: no end in sight.
    window_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    # The effective policy, setting -> value as written (`idle-after` -> "15m"), for people.
    policy: dict[str, str] = {}
    # The share (0 to 1) of each hour of the week its windows allow, Monday 00:00 UTC first:
    # 168 numbers, or none when it has no policy (always available).
    week: Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(max_length=168)] = []


class NodeHello(Model):
    """The first frame a node sends: who it is and what it can run."""

    kind: Literal["hello"] = "hello"
    protocol: int = PROTOCOL_VERSION
    node_id: str | None = None  # known after the first connection; kept across reconnects
    name: Annotated[str, Field(min_length=1, max_length=100)]
    slots: Annotated[int, Field(ge=1, le=1024)] = 1
    capabilities: Capabilities
    plugins: list[PluginInfo] = []
    activities: list[str] = []
    # Activities of its plugins this node cannot run, each with what it lacks, in words.
    unmet: dict[str, list[str]] = {}
    # Tasks this node still holds from before a reconnect, by batch: the hub gives their leases
    # back instead of running them again elsewhere.
    holding: dict[str, list[ResultKey]] = {}
    status: NodeStatus = NodeStatus()  # its availability as it connects
    # Where the node serves its own status page (`wit node --status-port`), for the dashboard's
    # link; None: it serves none.
    status_url: Annotated[str, Field(max_length=500, pattern=r"^https?://")] | None = None
    # Whether it holds its owner's account key (`wit node --account`) and signs a receipt for
    # each results upload of a paid batch (its trades are marked unsigned when it does not).
    receipts: bool = False


class Welcome(Model):
    kind: Literal["welcome"] = "welcome"
    node_id: str
    heartbeat_seconds: float
    lease_seconds: float


class TaskSpec(NamedTuple):
    """One item of a map, as a node runs it; on the wire an array, `[map_id, index, attempt,
    args]` (see `TaskResult`)."""

    map_id: str
    index: Count  # type: ignore[assignment]  # the item's place, not tuple.index
    attempt: Positive
    args: list[Json]


class Assign(Model):
    """A batch of tasks of one activity for one node, under a lease."""

    kind: Literal["assign"] = "assign"
    batch_id: str
    job_id: str
    activity: str
    tasks: list[TaskSpec]
    lease_seconds: float


class CancelBatch(Model):
    kind: Literal["cancel"] = "cancel"
    batch_id: str
    reason: str = ""


class TrustNotice(Model):
    """The hub's verification caught the node's results wrong: it gets no more of the activity's
    work ("*": of any), and what it returned unverified is run again elsewhere."""

    kind: Literal["trust"] = "trust"
    activity: str
    state: str  # the node's trust state for it now, as `wit nodes --reputation` shows it
    reason: str = ""


class Ack(Model):
    """The hub has durably stored these results (or fenced them off); the node may forget them."""

    kind: Literal["ack"] = "ack"
    results: list[tuple[str, int, int]]  # (map_id, index, attempt): compact, one per result


class TaskResult(NamedTuple):
    """One item's result, as a node sends it back; on the wire an array, `[map_id, index,
    attempt, ok, value, error, seconds, final]` (the last four may be left out).

    Items of a batch are arrays rather than objects: checked with their message in one pass
    (an array longer than this, or a field of the wrong type, is refused as a model's would
    be), they cost a node and the hub a fifth of what an object each did, which counted for a
    farm of tiny items."""

    map_id: str
    index: Count  # type: ignore[assignment]  # the item's place, not tuple.index
    attempt: Positive
    ok: bool
    value: Json = None
    error: Text | None = None
    seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    # The failure is the hub's, not the item's or the node's (it had no room for the item's
    # file): trying the item again, here or on another node, cannot mend it.
    final: bool = False


class Receipt(Model):
    """The owner's signature of a results upload of a paid batch (`witengine.security.receipts`):
    its account, timestamp, nonce and Ed25519 signature (base64)."""

    account: Annotated[str, Field(max_length=100)]
    timestamp: int
    nonce: Annotated[str, Field(max_length=64)]
    signature: Annotated[str, Field(max_length=200)]


class Results(Model):
    kind: Literal["results"] = "results"
    batch_id: str
    results: list[TaskResult]
    # Signed by the node's owner with its account key, when the node holds it (`wit node
    # --account`); the hub requires it of such a node's paid batches.
    receipt: Receipt | None = None


class BatchFinished(Model):
    kind: Literal["batch_finished"] = "batch_finished"
    batch_id: str
    error: Text | None = None  # the batch could not run at all (e.g. its runner died)
    # The node gave the items it had not finished back unrun (its owner needs the machine, or
    # its window closed): the hub gives them to other nodes first, without waiting for a lease.
    handed_back: bool = False


class Heartbeat(Model):
    kind: Literal["heartbeat"] = "heartbeat"
    batches: list[str] = []


class BenchmarkReport(Model):
    """A node's rate for one activity, from the activity's benchmark: `rate` units per second."""

    kind: Literal["benchmark"] = "benchmark"
    activity: str
    plugin: str
    plugin_version: str
    unit: Annotated[str, Field(max_length=100)]
    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    elapsed: Annotated[float, Field(ge=0, allow_inf_nan=False)]  # seconds measured
    iterations: Positive


HubMessage = Annotated[
    Welcome | Assign | CancelBatch | Ack | TrustNotice, Field(discriminator="kind")
]
NodeMessage = Annotated[
    Results | BatchFinished | Heartbeat | BenchmarkReport | NodeStatus, Field(discriminator="kind")
]


# --------------------------------------------------------------------- job API


class SubmitJob(Model):
    """A job as a client submits it: the script and its parameters as text, files as blobs."""

    # The hub's limits (script_chars, parameters, parameter_chars, files_per_parameter,
    # file_name_chars) bound these; they are settings, so not part of the schema.
    script: Text
    filename: Label = "job.wit"  # a path as the client knows it: shown in diagnostics only
    parameters: dict[Text, Text] = {}
    files: dict[Text, BlobRef | list[BlobRef]] = {}
    # Only this node (by name) gets the job's work (`wit take --node`); while the hub runs.
    node: Label | None = None
    # The pools whose nodes may run its maps (`wit run --pools`), unless a map's own
    # ProcessingOptions name others; None: the trusted pools only.
    pools: Annotated[list[PoolName], Field(min_length=1, max_length=100)] | None = None
    # A bid on the exchange: the job's maps run on sellers' nodes and are paid for from the
    # account that signs the request (X-Wit-* headers; see docs/exchange.md). None: unpaid.
    bid: Bid | None = None
    # Its rank among the paying account's own jobs on the exchange: higher first (fair share
    # between accounts comes before it; see docs/exchange.md). A job not on the market: none.
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0


class Progress(Answer):
    done: int = 0
    total: int = 0


class JobSummary(Answer):
    id: str
    name: str
    status: JobStatus
    error: str | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    rerun_of: str | None = None  # the failed or cancelled job this one runs again
    progress: Progress = Progress()
    # Seconds its running maps still need, predicted by the scheduler's rate model (None: not
    # running a map, paused, or no node able to run it).
    eta_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    # Why it waits, when it does for a reason people can act on (its bid meets no ask).
    waiting: str | None = None


class JobDetail(JobSummary):
    script: str
    filename: str
    parameters: dict[str, str] = {}
    files: dict[str, BlobRef | list[BlobRef]] = {}
    variables: dict[str, Json] | None = None
    types: dict[str, str] = {}  # the declared type of each variable
    pools: list[str] | None = None  # the pools it may use (None: the trusted pools only)


class MapSummary(Answer):
    """One of a job's maps (a `Grid.ForEach`, numbered from 1 in the order the job reached
    them): its activity and how many items it has."""

    seq: int
    activity: str
    count: int


class ItemResult(Answer):
    """A committed item of a map: its result (a file's blob reference among its fields, for an
    activity that makes files), or the error it failed with."""

    index: int
    value: Json = None
    error: str | None = None


class JobItems(Answer):
    """A page of the items one map of a job has committed, by index, while it runs or after:
    ask again with `after=next_after` for the next page; `next_after` is None when the page
    held every item committed so far past `after`."""

    job_id: str
    maps: list[MapSummary]
    map: int
    items: list[ItemResult]
    next_after: int | None = None


class NodeRate(Answer):
    """A node's benchmark rate for one activity, as the hub keeps it."""

    activity: str
    unit: str
    rate: float  # units per second
    elapsed: float
    iterations: int
    plugin_version: str
    measured_at: float  # seconds since the epoch, when the hub received it


class NodeReputation(Answer):
    """A node's record for one activity from the verification of its results: its trust state
    (new: every result verified; reliable: a share of them; blocked: caught wrong)."""

    activity: str
    state: str
    accepted: int = 0  # results found right
    rejected: int = 0  # results found wrong
    spot_passed: int = 0
    spot_failed: int = 0
    streak: int = 0  # results in a row that agreed with others
    changed_at: float = 0.0  # seconds since the epoch


class NodeSummary(Answer):
    id: str
    name: str
    state: NodeState
    reason: str = ""  # why it is in that state, in words, when its policy says ("" otherwise)
    policy: dict[str, str] = {}  # its owner policy, setting -> value; empty: always available
    slots: int
    capabilities: Capabilities
    plugins: list[PluginInfo] = []
    running: int = 0
    done: int = 0
    last_seen: float
    rates: list[NodeRate] = []
    unmet: dict[str, list[str]] = {}  # activities it cannot run, and why
    status_url: str | None = None  # where it serves its own page (wit node --status-port)
    reputation: list[NodeReputation] = []  # per activity, once its results were verified
    pool: str = DEFAULT_POOL  # the pool it belongs to, and that pool's tier
    tier: PoolTier = PoolTier.TRUSTED
    owner: str = ""  # who answers for its results; "": the node itself


class CheckedParameter(Answer):
    name: str
    type: str


class CheckResult(Answer):
    """A script that checked: its job's name and parameters."""

    name: str
    parameters: list[CheckedParameter]


class BlobStored(Answer):
    """The answer to an upload: whether the bytes were new to the hub."""

    sha256: str
    stored: bool
    size: int | None = None  # given when stored


class NodeForgotten(Answer):
    """A node removed from the farm, and the credentials of it that were revoked with it."""

    id: str
    name: str
    revoked: list[str]


class NodeDrain(Answer):
    """Whether a node is drained: it finishes what it holds and gets no new batches."""

    id: str
    drained: bool


class CheckDiagnostic(Answer):
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    hint: str | None = None


class ErrorBody(Answer):
    """What every 4xx answer carries: a reason, and for scripts the located diagnostics."""

    detail: str
    diagnostics: list[CheckDiagnostic] = []


__all__ = [
    "API_PREFIX",
    "MAX_INT64",
    "MAX_NAME_LENGTH",
    "MAX_SCRIPT_CHARS",
    "NODE_LEAVING",
    "PROTOCOL_VERSION",
    "SHA256_PATTERN",
    "Ack",
    "Answer",
    "Assign",
    "Availability",
    "BatchFinished",
    "BenchmarkReport",
    "BlobRef",
    "BlobStored",
    "CancelBatch",
    "Capabilities",
    "CheckDiagnostic",
    "CheckResult",
    "CheckedParameter",
    "Count",
    "ErrorBody",
    "FileName",
    "GpuInfo",
    "Heartbeat",
    "HubMessage",
    "ItemResult",
    "JobDetail",
    "JobEvent",
    "JobItems",
    "JobStatus",
    "JobSummary",
    "Json",
    "Label",
    "MapSummary",
    "Model",
    "NodeDrain",
    "NodeForgotten",
    "NodeHello",
    "NodeMessage",
    "NodeRate",
    "NodeReputation",
    "NodeState",
    "NodeStatus",
    "NodeSummary",
    "PluginInfo",
    "Positive",
    "Progress",
    "ResultKey",
    "Results",
    "SubmitJob",
    "TaskResult",
    "TaskSpec",
    "Text",
    "TrustNotice",
    "Welcome",
    "parse_event",
]
