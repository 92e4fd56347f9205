"""Hostile input (issue 15): signing in. Bad tokens from an address slow that address's guesses
without turning away a valid token from it; a client's `X-Forwarded-For` is believed only from a
proxy the hub was told to trust."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from witengine.hub.auth.throttle import FailedAuthThrottle
from witengine.hub.serving import trusted_proxy
from witengine.protocol import API_PREFIX
from witengine.security.tokens import Role

if TYPE_CHECKING:
    from tests.hostile.conftest import HostileHub

pytestmark = pytest.mark.timeout(60)


class Noting(FailedAuthThrottle):
    """The gate's throttle, noting the wait it gives each key (None: refused, 429)."""

    def __init__(self, **options: float) -> None:
        super().__init__(**options)
        self.waits: list[tuple[str, float | None]] = []

    def wait_before_check(self, key: str, now: float) -> float | None:
        wait = super().wait_before_check(key, now)
        self.waits.append((key, wait))
        return wait


async def audited_failures(hub: HostileHub) -> list[dict[str, Any]]:
    async with hub.client(hub.admin) as admin:
        lines = (await admin.get(f"{API_PREFIX}/audit", params={"limit": 100})).json()
    return [line for line in lines if line["action"] == "auth.failed"]


async def test_a_burst_of_bad_tokens_does_not_lock_out_a_valid_token_from_the_same_address(
    hostile_hub: HostileHub,
) -> None:
    # A short queue, so that a burst fills it in a moment.
    throttle = hostile_hub.app_gate.throttle = Noting(first=0.05, cap=0.2, max_queue=0.6)
    guessed = hostile_hub.issue(Role.VIEWER)[:-3] + "BBB"  # a real token's id, a wrong secret
    admin_token = hostile_hub.admin
    bad = [guessed, "nonsense", "wit-admin.tok_000000000000.AAAA"] * 20
    async with hostile_hub.client() as guesser, hostile_hub.client(hostile_hub.admin) as admin:
        burst = [
            asyncio.ensure_future(
                guesser.get(f"{API_PREFIX}/jobs", headers={"Authorization": f"Bearer {token}"})
            )
            for token in bad
        ]
        for answered in asyncio.as_completed(burst):
            if (await answered).status_code == 429:
                break  # the address's queue is full
        else:
            raise AssertionError(
                f"the burst was never turned away: {[(await a).status_code for a in burst]}"
            )
        answer = await admin.get(f"{API_PREFIX}/jobs")  # while the bad ones still queue
        statuses = {answer.status_code for answer in await asyncio.gather(*burst)}
    assert answer.status_code == 200, answer.text
    book = hostile_hub.hub.book
    admin_waits = [wait for key, wait in throttle.waits if key.endswith(book.named_id(admin_token))]
    assert admin_waits == [0.0], "not queued behind the bad ones either"
    guessed_waits = [wait for key, wait in throttle.waits if key.endswith(book.named_id(guessed))]
    assert None in guessed_waits and max(w or 0 for w in guessed_waits) > 0, guessed_waits
    assert statuses == {401, 429}, statuses
    async with hostile_hub.client() as guesser:  # the guesses themselves are still turned away
        again = await guesser.get(
            f"{API_PREFIX}/jobs", headers={"Authorization": f"Bearer {guessed}"}
        )
    assert again.status_code in (401, 429)


async def test_a_direct_clients_forwarded_address_is_not_believed(
    hostile_hub: HostileHub,
) -> None:
    bad = hostile_hub.issue(Role.VIEWER)[:-3] + "BBB"
    throttle = hostile_hub.app_gate.throttle = Noting()
    async with hostile_hub.client(bad) as guesser:
        for n in range(4):
            forged = {"X-Forwarded-For": f"203.0.113.{n}"}  # a new address each time
            assert (await guesser.get(f"{API_PREFIX}/jobs", headers=forged)).status_code == 401
    failures = await audited_failures(hostile_hub)
    assert [line["address"] for line in failures] == ["127.0.0.1"] * 4
    # One address: each guess waited for the one before, the 4th 200 ms before its check.
    named = hostile_hub.hub.book.named_id(bad)
    guesses = [(key, wait) for key, wait in throttle.waits if key.endswith(f" {named}")]
    assert [key for key, _ in guesses] == [f"127.0.0.1 {named}"] * 4
    assert [wait for _, wait in guesses] == pytest.approx([0.0, 0.05, 0.1, 0.2], abs=1e-3)


@pytest.mark.parametrize("hostile_hub", [{"trusted_proxies": ("127.0.0.1",)}], indirect=True)
async def test_a_trusted_proxys_forwarded_address_is_the_clients(hostile_hub: HostileHub) -> None:
    bad = hostile_hub.issue(Role.VIEWER)[:-3] + "BBB"
    async with hostile_hub.client(bad) as behind:
        forwarded = {"X-Forwarded-For": "203.0.113.7"}
        assert (await behind.get(f"{API_PREFIX}/jobs", headers=forwarded)).status_code == 401
    assert [line["address"] for line in await audited_failures(hostile_hub)] == ["203.0.113.7"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [("10.0.0.5", "10.0.0.5"), ("10.0.0.9/24", "10.0.0.0/24"), (" ::1 ", "::1")],
)
def test_a_trusted_proxy_is_an_address_or_a_network(given: str, kept: str) -> None:
    assert trusted_proxy(given) == kept


def test_a_trusted_proxy_named_by_host_name_stops_the_hub_before_it_listens(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "witengine", "hub", "--port", "0", "--trusted-proxy", "proxy.lan"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "WIT_DATA_DIR": str(tmp_path / "hub")},
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        "wit hub: --trusted-proxy: 'proxy.lan' is not an IP address or network"
    ), done.stderr


async def test_a_sign_in_link_opened_from_another_site_asks_before_signing_in(
    hostile_hub: HostileHub,
) -> None:
    theirs = hostile_hub.hub.book.issue(Role.VIEWER, label="the other site's")
    link = f"/jobs?view=all&token={theirs.text}"
    async with hostile_hub.client(follow_redirects=False) as browser:
        for came_from in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {}):
            asked = await browser.get(link, headers=came_from)
            assert asked.status_code == 200, (came_from, asked.status_code)
            assert "set-cookie" not in asked.headers, came_from
            assert "Sign in to this witengine hub?" in asked.text
            assert f"{theirs.record.id} (viewer) labelled" in asked.text
            assert 'action="/signin"' in asked.text and 'value="/jobs?view=all"' in asked.text
            assert "form-action 'self'" in asked.headers["content-security-policy"]
        # The page's own form, posted from the hub's page, signs in.
        confirmed = await browser.post(
            "/signin",
            data={"token": theirs.text, "next": "/jobs?view=all"},
            headers={"Origin": hostile_hub.root, "Sec-Fetch-Site": "same-origin"},
        )
        assert confirmed.status_code == 303 and confirmed.headers["location"] == "/jobs?view=all"
        assert "wit_session=" in confirmed.headers["set-cookie"]
        # Another site's own form cannot do it for the visitor.
        forged = await browser.post(
            "/signin",
            data={"token": theirs.text, "next": "/"},
            headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert forged.status_code == 403 and "set-cookie" not in forged.headers


@pytest.mark.parametrize("came_from", ["none", "same-origin"])
async def test_a_sign_in_link_opened_directly_signs_in_at_once(
    hostile_hub: HostileHub, came_from: str
) -> None:
    """`wit run` prints such a link; the browser opening it from a terminal says `none`."""
    async with hostile_hub.client(follow_redirects=False) as browser:
        opened = await browser.get(
            f"/?token={hostile_hub.admin}", headers={"Sec-Fetch-Site": came_from}
        )
    assert opened.status_code == 303 and opened.headers["location"] == "/"
    assert "wit_session=" in opened.headers["set-cookie"]
