"""The blackboard's messages: a value to write, and a key's version as the hub answers it."""

from __future__ import annotations

from witengine.protocol.base import Answer, Json, Model


class BoardPut(Model):
    """A value to write to a key: any JSON (the hub's limits bound its size)."""

    value: Json = None


class BoardValue(Answer):
    """One version of a key: its value (null for a deletion), who wrote it and when."""

    key: str
    version: int  # 1, 2, … per key; the answer's ETag
    value: Json = None
    deleted: bool = False  # this version deleted the key
    writer: str  # "admin tok_…", "submitter tok_…", "node node_…", "job job_…", "hub"
    at: float  # seconds since the epoch
    seq: int  # the change's number farm-wide: the stream's event id
