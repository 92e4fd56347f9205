"""The owner's console on a node's page: what it makes of a statement (earnings per day, jobs
bought), and, against a real hub on 127.0.0.1 read with a node's credential, the page itself:
the balance and statement read with requests signed by the account's key, a payment made from
its form and signed there, asks and mandates made, paused, resumed and withdrawn from its forms,
the trades its machines sold, a bad field refused in words, and the page closed to other
machines and to forms without the page's secret."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from witengine.client import signed_headers
from witengine.hub.store.market import TradeRecord
from witengine.node.console import (
    SECTIONS,
    DayEarnings,
    OwnerConsole,
    buyer_jobs,
    earnings_per_day,
)
from witengine.node.journal import Journal
from witengine.node.owner import for_node
from witengine.node.settings import NodeSettings
from witengine.node.status_page import NodeShown, StatusPage
from witengine.protocol import API_PREFIX, Capabilities
from witengine.protocol.exchange import EntryLine, TransactionLine
from witengine.security.accounts import AccountKey
from witengine.security.tokens import Role
from witengine.testing.clock import FakeClock
from witengine.testing.served import ServedHub, served_hub

DAY = 86_400.0
MONDAY = dt.datetime(2026, 11, 30, tzinfo=dt.UTC).timestamp()


def line(
    seq: int, kind: str, at: float, *entries: tuple[str, int], memo: str = ""
) -> TransactionLine:
    return TransactionLine(
        seq=seq,
        kind=kind,
        at=at,
        actor="hub",
        memo=memo,
        entries=[EntryLine(account=a, amount=n) for a, n in entries],
        previous="0" * 64,
        hash=f"{seq:064x}",
    )


STATEMENT = [
    line(1, "grant", MONDAY + 60, ("mint", -10_000), ("ann", 10_000)),
    line(2, "reserve", MONDAY + 120, ("ann", -4_000), ("escrow:job_a", 4_000), memo="job job_a"),
    line(
        3,
        "settle",
        MONDAY + 3_600,
        ("escrow:job_z", -2_600),
        ("ann", 2_500),
        ("exchange:fees", 100),
    ),
    line(4, "refund", MONDAY + DAY + 10, ("escrow:job_a", -1_500), ("ann", 1_500)),
    line(5, "settle", MONDAY + DAY + 20, ("escrow:job_y", -700), ("ann", 700)),
    line(6, "transfer", MONDAY + DAY + 30, ("ann", -200), ("bob", 200)),
]


def test_earnings_per_day_part_work_from_other_credits_and_spending() -> None:
    assert earnings_per_day(STATEMENT, "ann") == [
        DayEarnings("2026-12-01", earned=700, received=1_500, spent=200),
        DayEarnings("2026-11-30", earned=2_500, received=10_000, spent=4_000),
    ]


def test_the_accounts_jobs_as_a_buyer_come_from_its_escrow_entries() -> None:
    (job,) = buyer_jobs(STATEMENT, "ann")  # job_z and job_y were others' jobs, paying ann
    assert (job.job_id, job.reserved, job.refunded, job.net) == ("job_a", 4_000, 1_500, 2_500)
    assert (job.first_at, job.last_at) == (MONDAY + 120, MONDAY + DAY + 10)


@dataclass
class Console:
    served: ServedHub
    page: StatusPage
    key: AccountKey

    def client(self, peer: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.page.app, client=(peer, 50000))
        return httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{self.page.port}")

    async def balance(self, name: str) -> int:
        async with self.admin() as admin:
            answer = await admin.get(f"/accounts/{name}/balance")
        return int(answer.json()["balance"])

    def admin(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.served.admin_token}"}
        return httpx.AsyncClient(base_url=self.served.root + API_PREFIX, headers=headers)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    ann, bob = AccountKey.make("ann"), AccountKey.make("bob")
    async with served_hub(tmp_path / "hub") as served:
        headers = {"Authorization": f"Bearer {served.admin_token}"}
        async with httpx.AsyncClient(base_url=served.root + API_PREFIX, headers=headers) as admin:
            for key in (ann, bob):
                body = {"name": key.name, "public_key": key.public_key}
                assert (await admin.post("/accounts", json=body)).status_code == 201
            await admin.post("/accounts/ann/grant", json={"amount": 20_000, "memo": "welcome"})
        credential = served.hub.book.issue(Role.NODE, node_id="node_desk", label="desk").text
        hub = httpx.AsyncClient(
            base_url=served.root + API_PREFIX, headers={"Authorization": f"Bearer {credential}"}
        )
        settings = NodeSettings(hub_url=served.root, name="desk", cache_dir=tmp_path, status_port=0)
        journal = Journal()

        def shown() -> NodeShown:
            return NodeShown(
                "desk",
                "node_desk",
                served.root,
                True,
                1,
                Capabilities(os="linux", arch="x86_64", cores=2, ram_bytes=2**30),
                [],
                [],
                journal,
                False,
            )

        page = StatusPage(
            settings,
            for_node(None, None, FakeClock()),  # type: ignore[arg-type]  # the page's buttons are not used
            shown,
            console=OwnerConsole(ann, lambda: hub),
        )
        page.listen()
        try:
            yield Console(served, page, ann)
        finally:
            await hub.aclose()
            assert page.listener is not None
            page.listener.close()


def secret(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


async def test_the_console_shows_the_account_read_with_its_signature(console: Console) -> None:
    async with console.client() as client:
        html = (await client.get("/console")).text
        status = (await client.get("/")).text
    assert '<a href="/console">Account</a>' in status
    assert "<h1>Account ann</h1>" in html and "20.000 credits" in html
    for section, _title in SECTIONS:
        assert f'id="console-{section}"' in html
    assert '<td class="num running">20.000</td>' in html and "welcome" in html
    assert '<tr data-day="' in html and "None: your account has bought no work" in html
    # Every read was signed by ann's key; none of them was kept as a move of value.
    async with console.admin() as admin:
        assert (await admin.get("/accounts/ann/signed")).json() == []
        audit = (await admin.get("/audit", params={"limit": 20})).json()
    assert not [a for a in audit if a["action"] == "signature.refused"]


async def test_a_payment_from_the_console_is_signed_there_and_moves_credits(
    console: Console,
) -> None:
    async with console.client() as client:
        form = secret((await client.get("/console")).text)
        origin = {"origin": f"http://127.0.0.1:{console.page.port}"}
        paid = await client.post(
            "/console/transfer",
            data={"csrf": form, "to": "bob", "amount": "2.5", "memo": "for the render"},
            headers=origin,
        )
        assert paid.status_code == 303
        after = await client.get(paid.headers["location"])
        assert "Paid 2.500 credits to bob (transaction 2)." in after.text
        assert "17.500 credits" in after.text
        bad = await client.post(
            "/console/transfer", data={"csrf": form, "to": "bob", "amount": "2.5555"}
        )
        assert bad.status_code == 400 and "credits have at most three decimals" in bad.text
        broke = await client.post(
            "/console/transfer", data={"csrf": form, "to": "bob", "amount": "1000"}
        )
        assert broke.status_code == 400 and "the hub answered 409" in broke.text
        forged = await client.post(
            "/console/transfer", data={"csrf": "guess", "to": "bob", "amount": "1"}
        )
        assert forged.status_code == 403
    async with console.client(peer="192.168.1.20") as other:
        assert (await other.get("/console")).status_code == 403
    assert await console.balance("bob") == 2_500
    async with console.admin() as admin:
        kept, refused = (await admin.get("/accounts/ann/signed")).json()  # 409: kept, unmoved
    assert kept["path"] == "/api/v1/ledger/transfers" and '"memo":"for the render"' in kept["body"]
    assert '"amount":1000000' in refused["body"]


async def test_the_console_says_why_when_the_hub_cannot_be_read(console: Console) -> None:
    gone = httpx.AsyncClient(base_url="http://127.0.0.1:9/api/v1")  # nothing listens on port 9
    assert console.page.console is not None
    console.page.console.hub = lambda: gone
    async with console.client() as client, gone:
        html = (await client.get("/console")).text
    assert "The account cannot be read now: the hub could not be reached" in html
    assert 'id="console-balance"' not in html


async def test_asks_and_mandates_are_made_paused_and_withdrawn_from_the_console(
    console: Console,
) -> None:
    origin = {"origin": f"http://127.0.0.1:{console.page.port}"}
    async with console.client() as client:
        form = secret((await client.get("/console")).text)

        async def post(action: str, **fields: str) -> httpx.Response:
            return await client.post(
                f"/console/{action}", data={"csrf": form, **fields}, headers=origin
            )

        made = await post("ask", activity="Compute.Work", price="1.5", hours="22-06")
        assert made.status_code == 303, made.text
        page = (await client.get(made.headers["location"])).text
        assert "Ask ask_" in page and "made: Compute.Work at 1.500 a unit." in page
        ask_id = re.findall(r'data-ask="(ask_[0-9a-f]+)"', page)[0]
        sell = await post("mandate", side="sell", activity="render", price="3", node="desk")
        buy = await post("mandate", side="buy", activity="", price="4", daily="500")
        assert sell.status_code == buy.status_code == 303
        page = (await client.get("/console")).text
        sell_id, buy_id = re.findall(r'data-mandate="(man_[0-9a-f]+)"', page)
        assert "500.000 a UTC day; 0.000 spent today" in page
        paused = await post("pause", id=sell_id)
        assert paused.status_code == 303
        page = (await client.get("/console")).text
        assert f'data-mandate="{sell_id}" data-state="paused"' in page
        assert (await post("resume", id=sell_id)).status_code == 303
        assert (await post("mandate-remove", id=buy_id)).status_code == 303
        assert (await post("ask-remove", id=ask_id)).status_code == 303
        page = (await client.get("/console")).text
        assert f'data-mandate="{sell_id}" data-state="active"' in page
        assert buy_id not in page and 'id="no-asks"' in page

        bad = await post("mandate", side="buy", price="4", hours="22-06")
        assert bad.status_code == 400 and "hours are a sell mandate&#39;s" in bad.text
        negative = await post("ask", activity="render", price="-1")
        assert negative.status_code == 400 and "price" in negative.text
        unknown = await post("pause", id="man_nothing")
        assert unknown.status_code == 400 and "the hub answered 404" in unknown.text
        forged = await client.post("/console/ask", data={"csrf": "guess", "price": "1"})
        assert forged.status_code == 403
    async with console.admin() as admin:
        asks = (await admin.get("/asks")).json()
        mandates = (await admin.get("/mandates")).json()
        audit = [(a["action"], a["outcome"]) for a in (await admin.get("/audit")).json()]
    assert asks == [] and [(m["id"], m["account"]) for m in mandates] == [(sell_id, "ann")]
    assert ("mandate.pause", "ok") in audit and ("ask.remove", "ok") in audit


async def test_the_console_lists_the_trades_its_machines_sold_and_a_node_reads_no_other(
    console: Console,
) -> None:
    store = console.served.hub.store
    for number, seller in ((1, "ann"), (2, "bob"), (3, "ann")):
        store.put_trade(  # type: ignore[attr-defined]
            TradeRecord(
                f"batch_{number}", "job_1", "map_1", "node_desk", "desk", seller, "cy",
                "Compute.Work", 1000, 2000, 4, 4.0, accepted=4 if number == 1 else 0,
                paid=4000 if number == 1 else 0, state="settled" if number == 1 else "open",
                created_at=float(number), updated_at=float(number),
            )
        )  # fmt: skip
    async with console.client() as client:
        page = (await client.get("/console")).text
    assert re.findall(r'data-trade="(batch_\d)" data-state="(\w+)"', page) == [
        ("batch_3", "open"),
        ("batch_1", "settled"),
    ]
    assert '<td class="state">doing</td>' in page and '<td class="num paid">4.000</td>' in page
    # The node's credential reads only the account that signed: not another's, nor all.
    assert console.page.console is not None
    hub = console.page.console.hub()
    for params in ({"account": "bob"}, {}):
        headers = signed_headers(console.key, "GET", "/trades")
        refused = await hub.get("/trades", params=params, headers=headers)
        assert refused.status_code == 403, refused.text
