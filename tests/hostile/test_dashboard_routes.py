"""Hostile input (issue 15): the dashboard's routes keep the hub's rules. Its script check
applies the hub's limits as the API does, and the API's pages load for whoever may open them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from witengine.hub.limits import Limits
from witengine.protocol import API_PREFIX
from witengine.security.tokens import Role

if TYPE_CHECKING:
    from tests.hostile.conftest import HostileHub

pytestmark = pytest.mark.timeout(60)
DASHBOARD = {"X-Wit-Dashboard": "1"}


@pytest.mark.parametrize("hostile_hub", [{"limits": Limits(script_chars=100)}], indirect=True)
async def test_the_dashboards_script_check_applies_the_hubs_script_limit(
    hostile_hub: HostileHub,
) -> None:
    script = "Job:Long() { Int:x = 1; }" + " " * 200
    said = (
        f"the script is {len(script):,} characters, over the hub's limit "
        "limits.script_chars = 100 characters"
    )
    async with hostile_hub.client(hostile_hub.issue(Role.VIEWER)) as viewer:
        api = await viewer.post(f"{API_PREFIX}/check", json={"script": script})
        page = await viewer.post("/submit/check", json={"script": script}, headers=DASHBOARD)
        short = await viewer.post(
            "/submit/check", json={"script": script.strip()}, headers=DASHBOARD
        )
    assert (api.status_code, api.json()["detail"]) == (413, said)
    assert (page.status_code, page.json()["detail"]) == (413, said)
    assert short.status_code == 200 and short.json()["ok"] is True


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SUBMITTER, Role.ADMIN])
async def test_whoever_may_open_the_api_docs_may_load_the_description_they_show(
    hostile_hub: HostileHub, role: Role
) -> None:
    token = hostile_hub.admin if role is Role.ADMIN else hostile_hub.issue(role)
    async with hostile_hub.client(token) as reader:
        docs = await reader.get("/docs")
        assert docs.status_code == 200
        assert "/openapi.json" in docs.text  # what the page loads
        described = await reader.get("/openapi.json")
    assert described.status_code == 200, described.text
    assert described.json()["info"]["title"] == "witengine hub"
    async with hostile_hub.client(hostile_hub.issue(Role.JOIN)) as joining:
        assert (await joining.get("/docs")).status_code == 403
        assert (await joining.get("/openapi.json")).status_code == 403
