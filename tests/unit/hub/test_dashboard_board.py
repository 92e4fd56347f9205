"""The dashboard's Board page over real HTTP: its keys with versions, values and writers, values
escaped (a value is anyone's text), narrowed by a prefix, open to viewers, and live: its stream
sends the table again when a key changes."""

from __future__ import annotations

import asyncio
import json

import httpx
from httpx_sse import aconnect_sse
from tests.unit.hub.conftest import LiveHub

from witengine.security.tokens import Role


def site(live: LiveHub, token: str | None = None) -> httpx.AsyncClient:
    root = live.url.removesuffix("/api/v1")
    return httpx.AsyncClient(base_url=root, headers=live.headers(token or live.token), timeout=10)


async def test_the_board_page_lists_keys_escaped_and_by_prefix(live_hub: LiveHub) -> None:
    await live_hub.client.put("/board/shots/010", json={"value": "<script>alert(1)</script>"})
    await live_hub.client.put("/board/notes", json={"value": {"a": 1}})
    viewer = live_hub.issue(Role.VIEWER)
    async with site(live_hub, viewer) as client:
        page = await client.get("/board")
        assert page.status_code == 200
        html = page.text
        assert "<h1>Board</h1>" in html and 'href="/board" aria-current="page"' in html
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert 'data-key="shots/010"' in html and 'data-key="notes"' in html
        assert "admin tok_" in html
        narrowed = (await client.get("/board", params={"prefix": "shots/"})).text
        assert 'data-key="shots/010"' in narrowed and 'data-key="notes"' not in narrowed
        fragment = await client.get("/board", params={"fragment": "table"})
        assert fragment.text.lstrip().startswith('<div class="scroll">')
        empty = (await client.get("/board", params={"prefix": "none/"})).text
        assert "No keys starting with <code>none/</code>" in empty


async def test_the_board_pages_stream_sends_the_table_again_when_a_key_changes(
    live_hub: LiveHub,
) -> None:
    await live_hub.client.put("/board/k", json={"value": 1})
    async with (
        site(live_hub) as client,
        asyncio.timeout(20),
        aconnect_sse(client, "GET", "/stream", params={"view": "board"}) as source,
    ):
        tables = 0
        async for event in source.aiter_sse():
            if event.event != "swap":
                continue
            swapped = json.loads(event.data)
            assert swapped["id"] == "board-table"
            tables += 1
            if tables == 1:
                assert '<td class="num">1</td>' in swapped["html"]
                await live_hub.client.put("/board/k", json={"value": 2})
            else:
                assert '<td class="num">2</td>' in swapped["html"]
                break
