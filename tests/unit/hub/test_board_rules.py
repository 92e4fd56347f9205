"""The blackboard's rules, table-driven: which names a key may have, and who may write which
keys (the hub its farm/ keys only; a node its own keys; admins, submitters and jobs the rest,
admins a node's keys too; viewers and join tokens nothing)."""

from __future__ import annotations

import pytest

from witengine.hub.board.rules import (
    HUB,
    Writer,
    job_writer,
    key_problem,
    token_writer,
    write_refusal,
)
from witengine.security.tokens import Role

ADMIN = token_writer(Role.ADMIN, "tok_a")
SUBMITTER = token_writer(Role.SUBMITTER, "tok_s")
VIEWER = token_writer(Role.VIEWER, "tok_v")
JOIN = token_writer(Role.JOIN, "tok_j")
NODE = token_writer(Role.NODE, "tok_n", "node_1")
JOB = job_writer("job_1")


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("frames/12", None),
        ("nodes/node_1/plan.v2", None),
        ("history", None),
        ("a b", "has a character a key may not"),
        ("é", "has a character a key may not"),
        ("/a", "has an empty, '.' or '..' part"),
        ("a/", "has an empty, '.' or '..' part"),
        ("a//b", "has an empty, '.' or '..' part"),
        ("a/./b", "has an empty, '.' or '..' part"),
        ("a/../b", "has an empty, '.' or '..' part"),
        ("shots/history", "ends in '/history'"),
    ],
)
def test_a_keys_name_is_taken_or_refused_saying_why(key: str, problem: str | None) -> None:
    found = key_problem(key)
    assert found is None if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("writer", "key", "allowed"),
    [
        (HUB, "farm/rates/node_1", True),
        (HUB, "shots/1", False),
        (ADMIN, "farm/rates/node_1", False),
        (ADMIN, "shots/1", True),
        (ADMIN, "nodes/node_1/plan", True),
        (SUBMITTER, "shots/1", True),
        (SUBMITTER, "nodes/node_1/plan", False),
        (SUBMITTER, "nodes/node_1", False),
        (JOB, "shots/1", True),
        (JOB, "nodes/node_1/plan", False),
        (JOB, "farm/jobs/job_1/plan", False),
        (NODE, "nodes/node_1/plan", True),
        (NODE, "nodes/node_1", True),
        (NODE, "nodes/node_2/plan", False),
        (NODE, "nodes/node_10/plan", False),
        (NODE, "shots/1", False),
        (VIEWER, "shots/1", False),
        (JOIN, "shots/1", False),
    ],
)
def test_who_may_write_which_keys(writer: Writer, key: str, allowed: bool) -> None:
    assert (write_refusal(writer, key) is None) is allowed


def test_writers_are_named_by_role_and_token_or_by_node_or_job() -> None:
    assert (ADMIN.name, NODE.name, JOB.name, HUB.name) == (
        "admin tok_a",
        "node node_1",
        "job job_1",
        "hub",
    )
    refusal = write_refusal(NODE, "shots/1")
    assert refusal == "a node writes only its own keys, nodes/node_1/…; not 'shots/1'"
