"""The rows both SQL stores read, and the records made from them: one decoder a table.

`SqliteStore` and `PostgresStore` select the same columns in the same order (named here where
a query names them) and hand each row to these functions; only their SQL differs. Nothing here
opens a database or knows which one a row came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from witengine.hub.store.base import (
    BoardEntry,
    JobRecord,
    JoinRecord,
    MapRecord,
    MapState,
    NodeRecord,
)
from witengine.protocol.states import JobStatus

JOB_COLUMNS = (
    "id, name, script, filename, parameters, files, status, created_at, started_at, "
    "finished_at, error, variables, owner, rerun_of, progress, pools"
)
# A list of jobs shows none of their variables: read as NULL, not sent.
LISTED_JOB_COLUMNS = JOB_COLUMNS.replace("error, variables,", "error, NULL,")
MAP_COLUMNS = "id, job_id, seq, activity, digest, count, options"
BOARD_COLUMNS = "key, version, value, writer, at, seq, deleted"
ASK_COLUMNS = "id, account, activity, price, hours, min_work, created_at, nonce"
MANDATE_COLUMNS = "id, account, side, activity, price, hours, node, daily, state, created_at, nonce"
TRADE_COLUMNS = (
    "id, job_id, map_id, node_id, node_name, seller, buyer, activity, price, bid, items, work, "
    "accepted, rejected, paid, state, created_at, updated_at, ask_id, mandate"
)
SIGNED_COLUMNS = "account, nonce, timestamp, method, path, body, signature, at"

ENDED = tuple(status.value for status in JobStatus if status.ended)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def job_record(row: Sequence[Any]) -> JobRecord:
    """A job from a row of JOB_COLUMNS (or LISTED_JOB_COLUMNS)."""
    progress, pools = _json(row[14]), _json(row[15])
    return JobRecord(
        id=row[0],
        name=row[1],
        script=row[2],
        filename=row[3],
        parameters=json.loads(row[4]),
        files=json.loads(row[5]),
        status=JobStatus(row[6]),
        created_at=row[7],
        started_at=row[8],
        finished_at=row[9],
        error=row[10],
        variables=_json(row[11]),
        owner=row[12],
        rerun_of=row[13],
        progress=None if progress is None else tuple(progress),
        pools=None if pools is None else tuple(pools),
    )


def map_record(row: Sequence[Any]) -> MapRecord:
    """A map from a row of MAP_COLUMNS."""
    map_id, job_id, seq, activity, digest, count, options = row
    return MapRecord(map_id, job_id, seq, activity, digest, count, _json(options))


def map_state(
    row: Sequence[Any], results: Iterable[Sequence[Any]], attempts: dict[int, int]
) -> MapState:
    """A map's state from its row of MAP_COLUMNS and its results' (idx, value, error) rows."""
    done, failures = {}, {}
    for index, value, error in results:
        if error is None:
            done[index] = json.loads(value)
        else:
            failures[index] = error
    return MapState(map_record(row), done, attempts, failures)


def node_record(row: Sequence[Any]) -> NodeRecord:
    """A node from a row of `SELECT * FROM nodes`."""
    return NodeRecord(row[0], row[1], json.loads(row[2]), *row[3:7])


def join_record(row: Sequence[Any]) -> JoinRecord:
    """A request to join from a row of `SELECT * FROM joins`."""
    fingerprint, node_id, public_key, name, address, machine, *decision = row
    return JoinRecord(
        fingerprint, node_id, public_key, name, address, json.loads(machine), *decision
    )


def board_entry(row: Sequence[Any]) -> BoardEntry:
    """A blackboard value from a row of BOARD_COLUMNS."""
    return BoardEntry(row[0], row[1], _json(row[2]), row[3], row[4], row[5], bool(row[6]))
