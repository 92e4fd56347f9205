"""`GET /nodes/{node_id}/own-page`: the dashboard's link to a node's own page (`wit node
--status-port`). It sends the browser on to the page the node said it serves, with a ticket the
hub signs for the signed-in person's role (`witengine.security.tickets`): an admin's opens the
page with its Pause and Resume buttons, anyone else's to read. The token itself never reaches the
node."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import RedirectResponse

from witengine.hub.auth.gate import principal_of
from witengine.hub.store.base import Store
from witengine.protocol import NodeHello
from witengine.security.tickets import make_ticket


def node_page_router(store: Store, key: Ed25519PrivateKey, wall: Callable[[], float]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/nodes/{node_id}/own-page")
    async def own_page(node_id: str, request: Request) -> RedirectResponse:
        record = store.get_node(node_id)
        url = NodeHello.model_validate(record.info).status_url if record else None
        if record is None or url is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "this node serves no page of its own")
        ticket = make_ticket(key, node_id, principal_of(request).role, wall())
        return RedirectResponse(
            f"{url}?{urlencode({'ticket': ticket})}",
            status_code=303,
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )

    return router
