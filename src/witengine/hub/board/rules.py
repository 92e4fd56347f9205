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

from witengine.security.tokens import Role

FARM_PREFIX = "farm/"  # the hub's own keys
NODES_PREFIX = "nodes/"  # each node's own keys: nodes/<node id>/…
KEY_PATTERN = r"^[A-Za-z0-9._/-]+$"
_KEY = re.compile(KEY_PATTERN)
HUB_WRITER = "hub"


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


def writer_of(role: Role, token_id: str, node_id: str | None) -> str:
    """How the blackboard names who wrote a version, for a token of `role`."""
    if role is Role.NODE and node_id is not None:
        return f"node {node_id}"
    return f"{role.value} {token_id}"


def job_writer(job_id: str) -> str:
    return f"job {job_id}"


def write_refusal(role: Role | None, key: str, node_id: str | None = None) -> str | None:
    """Why a writer may not write `key`, None when it may. `role` None: a job's script."""
    who = "a job" if role is None else f"a {role.value} token"
    if key.startswith(FARM_PREFIX):
        return f"{who} may not write {key!r}: keys under {FARM_PREFIX} are the hub's own"
    if role in (Role.VIEWER, Role.JOIN):
        return f"{who} reads the blackboard only; writing needs a submitter or admin token"
    owner = _node_of(key)
    if role is Role.NODE:
        if owner is None or owner != node_id:
            return f"a node writes only its own keys, {NODES_PREFIX}{node_id}/…; not {key!r}"
        return None
    if owner is not None and role is not Role.ADMIN:
        return f"{who} may not write {key!r}: keys under {NODES_PREFIX}{owner}/ are that node's"
    return None


def _node_of(key: str) -> str | None:
    """The node whose keys hold `key` (nodes/<id>/…), None outside nodes/."""
    if not key.startswith(NODES_PREFIX):
        return None
    return key[len(NODES_PREFIX) :].partition("/")[0]
