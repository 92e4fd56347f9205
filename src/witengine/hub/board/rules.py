"""The blackboard's rules: which names a key may have and who may write which keys.

Pure: no store, no clock. A key is one to `limits.board_key_chars` characters of
`A-Z a-z 0-9 . _ / -`, in segments split by `/`, none of them empty, `.` or `..` (a key is part
of a URL), and its last segment is not `history` (`GET /board/{key}/history` is the key's
history). Who may write:

| keys | written by |
|---|---|
| `farm/…` | the hub alone: what it publishes of the farm (rates, plans, what each node does) |
| `nodes/<node id>/…` | that node (its own credential), and admins |
| any other | admins, submitters and jobs (`Board.Set`, `Board.Claim`) |

Viewers (and join tokens) read only; every role that may read reads every key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from witengine.security.tokens import Role

FARM_PREFIX = "farm/"  # the hub's own keys
NODES_PREFIX = "nodes/"  # each node's own keys: nodes/<node id>/…
KEY_PATTERN = r"^[A-Za-z0-9._/-]+$"
_KEY = re.compile(KEY_PATTERN)


def key_problem(key: str) -> str | None:
    """What is wrong with a key's name (its length aside, a limit of the hub), None if nothing."""
    if not _KEY.match(key):
        return (
            f"the key {key[:80]!r} has a character a key may not: keys are made of "
            "A-Z a-z 0-9 . _ / -"
        )
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return (
            f"the key {key[:80]!r} has an empty, '.' or '..' part: keys are parts split by '/' "
            "(frames/12, nodes/node_1/plan)"
        )
    if segments[-1] == "history" and len(segments) > 1:
        return f"the key {key[:80]!r} ends in '/history', which names a key's history"
    return None


@dataclass(frozen=True)
class Writer:
    """Who writes to the blackboard: the name each version records, and what decides which keys
    they may write (a token's role and node, a job, or the hub itself)."""

    name: str  # "admin tok_…", "submitter tok_…", "node node_…", "job job_…", "hub"
    role: Role | None = None  # a token's role; None for a job's script or the hub
    node_id: str | None = None  # a node credential's node
    hub: bool = False


HUB = Writer("hub", hub=True)


def token_writer(role: Role, token_id: str, node_id: str | None = None) -> Writer:
    """The writer a request's token makes: a node by its id, anyone else by role and token."""
    if role is Role.NODE and node_id is not None:
        return Writer(f"node {node_id}", role, node_id)
    return Writer(f"{role.value} {token_id}", role, node_id)


def job_writer(job_id: str) -> Writer:
    """A job's script writing (`Board.Set`, `Board.Claim`)."""
    return Writer(f"job {job_id}")


def write_refusal(writer: Writer, key: str) -> str | None:
    """Why `writer` may not write `key`, None when it may."""
    if writer.hub:
        return None if key.startswith(FARM_PREFIX) else f"the hub writes only {FARM_PREFIX} keys"
    role = writer.role
    who = "a job" if role is None else f"a {role.value} token"
    if key.startswith(FARM_PREFIX):
        return f"{who} may not write {key!r}: keys under {FARM_PREFIX} are the hub's own"
    if role in (Role.VIEWER, Role.JOIN):
        return f"{who} reads the blackboard only; writing needs a submitter or admin token"
    owner = _node_of(key)
    if role is Role.NODE:
        if owner is None or owner != writer.node_id:
            return f"a node writes only its own keys, {NODES_PREFIX}{writer.node_id}/…; not {key!r}"
        return None
    if owner is not None and role is not Role.ADMIN:
        return f"{who} may not write {key!r}: keys under {NODES_PREFIX}{owner}/ are that node's"
    return None


def _node_of(key: str) -> str | None:
    """The node whose keys hold `key` (nodes/<id>/…), None outside nodes/."""
    if not key.startswith(NODES_PREFIX):
        return None
    return key[len(NODES_PREFIX) :].partition("/")[0]
