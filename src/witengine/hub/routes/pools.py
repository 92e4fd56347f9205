"""Pool routes: list pools with their nodes' counts, add one, change its tier, and move a node
to another pool or give it another owner. Admins only (the gate's policy names none of them);
every change goes into the audit log, and reaches the connected nodes at once."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request, status

from witengine.hub.auth.gate import AuthGate
from witengine.hub.dispatch import Dispatcher, Placement
from witengine.hub.store.base import NodeRecord, PoolRecord, Store
from witengine.protocol import ErrorBody
from witengine.protocol.pools import NewPool, NodePlaced, NodePlacement, PoolChange, PoolInfo
from witengine.protocol.states import DEFAULT_POOL, PoolTier

WallClock = Callable[[], float]


def placement_of(store: Store, pool: str, owner: str) -> Placement:
    """A node's place as the dispatcher needs it: a pool the hub does not have (never made
    by the hub itself) counts as untrusted."""
    found = store.get_pool(pool)
    return Placement(pool, found is not None and found.trusted, owner)


def pool_router(dispatcher: Dispatcher, store: Store, wall: WallClock, gate: AuthGate) -> APIRouter:
    router = APIRouter(tags=["pools"])

    def info(pool: PoolRecord, nodes: list[NodeRecord]) -> PoolInfo:
        return PoolInfo(
            name=pool.name,
            tier=pool.tier,
            nodes=sum(1 for node in nodes if node.pool == pool.name),
            builtin=pool.name == DEFAULT_POOL,
            created_at=pool.created_at,
        )

    def known(name: str, request: Request, action: str) -> PoolRecord:
        pool = store.get_pool(name)
        if pool is None:
            gate.audit(request, action, "unknown pool", name[:40])
            pools = ", ".join(p.name for p in store.list_pools())
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no pool named {name!r} (pools: {pools})"
            )
        return pool

    @router.get("/pools", response_model=list[PoolInfo])
    async def list_pools() -> list[PoolInfo]:
        """Every pool, `default` first, with the number of nodes in each."""
        nodes = store.list_nodes()
        return [info(pool, nodes) for pool in store.list_pools()]

    @router.post(
        "/pools",
        response_model=PoolInfo,
        status_code=status.HTTP_201_CREATED,
        responses={409: {"model": ErrorBody}},
    )
    async def add_pool(body: NewPool, request: Request) -> PoolInfo:
        """Add a pool (untrusted unless said otherwise)."""
        if store.get_pool(body.name) is not None:
            gate.audit(request, "pool.add", "exists", body.name)
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"pool {body.name!r} exists; change its tier with wit pools tier {body.name} TIER",
            )
        store.put_pool(PoolRecord(body.name, body.tier, wall()))
        gate.audit(request, "pool.add", "ok", f"{body.name} ({body.tier.value})")
        pool = store.get_pool(body.name)
        assert pool is not None
        return info(pool, [])

    @router.patch(
        "/pools/{name}",
        response_model=PoolInfo,
        responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    )
    async def change_pool(name: str, body: PoolChange, request: Request) -> PoolInfo:
        """Change a pool's tier: its connected nodes are trusted, or not, from now on."""
        pool = known(name, request, "pool.tier")
        if name == DEFAULT_POOL and body.tier is not PoolTier.TRUSTED:
            gate.audit(request, "pool.tier", "refused: the default pool", body.tier.value)
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "the default pool is always trusted; put untrusted nodes in a pool of their own "
                "(wit pools add volunteers; then wit nodes --pool volunteers NODE)",
            )
        store.put_pool(PoolRecord(name, body.tier, pool.created_at))
        dispatcher.retier(name, body.tier is PoolTier.TRUSTED)
        gate.audit(request, "pool.tier", "ok", f"{name}: {pool.tier.value} -> {body.tier.value}")
        changed = store.get_pool(name)
        assert changed is not None
        return info(changed, store.list_nodes())

    @router.post(
        "/nodes/{node_id}/place",
        response_model=NodePlaced,
        responses={404: {"model": ErrorBody}},
    )
    async def place_node(node_id: str, body: NodePlacement, request: Request) -> NodePlaced:
        """Move a node to another pool, or give it another owner ("": its own): the maps of
        the pools it left give it no new work (what it holds it finishes)."""
        record = store.get_node(node_id)
        if record is None:
            gate.audit(request, "node.place", "unknown node", node_id[:40])
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no node {node_id} has connected to this hub"
            )
        if body.pool is not None:
            known(body.pool, request, "node.place")
        store.place_node(node_id, pool=body.pool, owner=body.owner)
        placed = store.get_node(node_id)
        assert placed is not None
        placement = placement_of(store, placed.pool, placed.owner)
        dispatcher.place(node_id, placement)
        was = f"{record.pool}, owner {record.owner or '(itself)'}"
        now = f"{placed.pool}, owner {placed.owner or '(itself)'}"
        gate.audit(request, "node.place", "ok", f"{node_id} {record.name!r}: {was} -> {now}")
        return NodePlaced(
            id=node_id,
            name=placed.name,
            pool=placed.pool,
            tier=PoolTier.TRUSTED if placement.trusted else PoolTier.UNTRUSTED,
            owner=placed.owner,
        )

    return router
