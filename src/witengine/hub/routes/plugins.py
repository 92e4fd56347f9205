"""Plugin routes: the signed bundles nodes install. `GET /plugins`,
`GET /plugins/{name}/{version}/bundle` and `GET /keys/signing`."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse

from witengine.hub.auth.gate import AuthGate
from witengine.hub.bundles import BundleShelf
from witengine.protocol import ErrorBody
from witengine.protocol.bundles import PluginBundle, SigningKey


def plugin_router(shelf: BundleShelf, gate: AuthGate) -> APIRouter:
    router = APIRouter(tags=["plugins"])

    @router.get("/plugins", response_model=list[PluginBundle])
    async def list_bundles() -> list[PluginBundle]:
        """Every plugin bundle the hub serves, with its sha256 and signature."""
        return shelf.listing()

    @router.get(
        "/plugins/{name}/{version}/bundle",
        responses={404: {"model": ErrorBody}},
        response_class=FileResponse,
    )
    async def get_bundle(name: str, version: str, request: Request) -> FileResponse:
        """A plugin bundle's bytes (a zip); check them against the listing before use."""
        path = shelf.path(name, version)
        if path is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no bundle of plugin {name} {version}")
        gate.audit(request, "plugin.fetch", "ok", f"{name} {version}")
        return FileResponse(path, media_type="application/zip", filename=path.name)

    @router.get("/keys/signing", response_model=SigningKey)
    async def signing_key() -> SigningKey:
        """The public key the hub signs plugin bundles with."""
        return shelf.signing_key()

    return router
