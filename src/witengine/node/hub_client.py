"""The node's HTTP side of the hub: downloading inputs and uploading outputs, by digest."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from witengine.protocol import API_PREFIX
from witengine.runtime.blobs import Blob, BlobError
from witengine.security.connect import trusted_authorities

CHUNK = 1 << 20


class HubStorageFull(BlobError):
    """The hub has no room for a file: no node can mend that by trying again."""


class HubFiles:
    def __init__(
        self,
        hub_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        headers: dict[str, str] | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        """`headers` carry the node's credential, `verify` its pin of the hub's certificate
        (both from `witengine.security.connect.transport_options`; without a pin, the
        authorities this machine trusts)."""
        self.client = httpx.AsyncClient(
            base_url=hub_url.rstrip("/") + API_PREFIX,
            timeout=httpx.Timeout(30.0, read=300.0),
            transport=transport,
            headers=headers,
            verify=verify or trusted_authorities(),
        )
        self.uploaded: set[str] = set()

    async def download(self, sha256: str, target: Path) -> None:
        """Write the blob's bytes to `target` (the caller checks the digest)."""
        async with self.client.stream("GET", f"/blobs/{sha256}") as response:
            if response.status_code != 200:
                raise BlobError(f"the hub answered {response.status_code} for blob {sha256}")
            with target.open("wb") as handle:
                async for chunk in response.aiter_bytes(CHUNK):
                    handle.write(chunk)

    async def upload(self, blob: Blob, path: Path) -> None:
        """Send the blob unless the hub has it already."""
        if blob.sha256 in self.uploaded:
            return
        head = await self.client.head(f"/blobs/{blob.sha256}")
        if head.status_code != 200:

            async def body() -> AsyncIterator[bytes]:
                with path.open("rb") as handle:
                    while chunk := handle.read(CHUNK):
                        yield chunk

            response = await self.client.put(f"/blobs/{blob.sha256}", content=body())
            if response.status_code == httpx.codes.INSUFFICIENT_STORAGE:
                raise HubStorageFull(_detail(response))
            if response.status_code not in (200, 201):
                raise BlobError(f"the hub refused blob {blob.sha256}: {response.text}")
        self.uploaded.add(blob.sha256)

    async def aclose(self) -> None:
        await self.client.aclose()


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"the hub answered {response.status_code}: {response.text[:200]}"
