"""Wire models of pools and trust tiers (`/api/v1/pools`, `/nodes/{id}/place`): which pool
each node belongs to, and how far that pool is trusted. Admins only."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from witengine.protocol.base import Answer, Model, PoolName
from witengine.protocol.states import PoolTier

OwnerName = Annotated[str, Field(max_length=200)]


class NewPool(Model):
    """A pool to add (`wit pools add NAME`); untrusted unless said otherwise."""

    name: PoolName
    tier: PoolTier = PoolTier.UNTRUSTED


class PoolChange(Model):
    """A pool's new tier (`wit pools tier NAME TIER`)."""

    tier: PoolTier


class PoolInfo(Answer):
    """A pool as listed, with the number of nodes in it."""

    name: str
    tier: PoolTier
    nodes: int = 0
    builtin: bool = False  # `default`: always there, always trusted
    created_at: float = 0.0


class NodePlacement(Model):
    """A node moved to another pool, or given another owner (`wit nodes --pool`): a field left
    out stays as it is; an owner of "" makes the node its own owner again."""

    pool: PoolName | None = None
    owner: OwnerName | None = None


class NodePlaced(Answer):
    """Where a node now stands."""

    id: str
    name: str
    pool: str
    tier: PoolTier
    owner: str = ""
