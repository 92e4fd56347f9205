"""The owner's console on a node (`wit node --account NAME`): the account's balance and
statement, its earnings per day, its own jobs as a buyer, and a form to pay another account.

It asks the hub with the node's credential, and signs each request with the account's key,
which this process loaded from the owner's config folder and never sends anywhere: only
signatures leave the machine (`witengine.client.signed_headers`, as `wit account` signs).
The page is the status page's (`status_page`), answered to this machine's own users only.

`console_view` is pure: it turns the hub's statement into what the page shows. The page's parts
are the sections of `SECTIONS`, in order; the exchange's asks, mandates and trades join them as
sections of their own when the hub has them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from witengine.client import TRANSFER_PATH, signed_headers, transfer_request
from witengine.errors import WitError
from witengine.protocol.exchange import Balance, TransactionLine
from witengine.security.accounts import AccountKey

# The console's sections, in page order: (id, title). A template `console_ID.html` draws each.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("balance", "Balance"),
    ("earnings", "Earnings per day"),
    ("jobs", "Your jobs as a buyer"),
    ("transfer", "Pay another account"),
    ("statement", "Statement"),
)
ESCROW_PREFIX = "escrow:"  # a job's escrow account: escrow:JOB


class ConsoleError(WitError):
    """The hub did not answer the console's request, or refused it; the message says why."""


@dataclass(frozen=True)
class DayEarnings:
    day: str  # YYYY-MM-DD, UTC
    earned: int  # milli-credits paid for work (settlements to the account)
    received: int  # other credits in: grants, transfers from others, refunds
    spent: int  # credits out: transfers, escrow reserved for its jobs (positive)


@dataclass(frozen=True)
class BuyerJob:
    job_id: str
    reserved: int  # milli-credits held in the job's escrow
    refunded: int  # given back
    first_at: float
    last_at: float

    @property
    def net(self) -> int:
        """What the job took: paid to its sellers, or held in its escrow still."""
        return self.reserved - self.refunded


@dataclass(frozen=True)
class ConsoleView:
    account: str
    balance: int
    state: str
    lines: list[TransactionLine]  # newest first
    earnings: list[DayEarnings]  # newest day first
    jobs: list[BuyerJob]  # newest first


def _mine(line: TransactionLine, account: str) -> int:
    return sum(e.amount for e in line.entries if e.account == account)


def _day(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d")


def earnings_per_day(lines: Sequence[TransactionLine], account: str) -> list[DayEarnings]:
    """Each day's movements of the account (UTC days, newest first): what work earned it (its
    settlements), what else came in, and what went out."""
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in lines:
        amount = _mine(line, account)
        totals = days[_day(line.at)]
        if amount < 0:
            totals[2] -= amount
        elif line.kind == "settle":
            totals[0] += amount
        else:
            totals[1] += amount
    return [DayEarnings(day, *totals) for day, totals in sorted(days.items(), reverse=True)]


def buyer_jobs(lines: Sequence[TransactionLine], account: str) -> list[BuyerJob]:
    """The account's jobs as a buyer, from its statement: the escrow each reserved and what
    came back (newest first)."""
    jobs: dict[str, list[float]] = {}
    for line in lines:
        if line.kind not in ("reserve", "refund"):
            continue  # a settlement into the account is a sale: another's job paid for work
        mine = _mine(line, account)
        for entry in line.entries:
            if not entry.account.startswith(ESCROW_PREFIX):
                continue
            job = jobs.setdefault(entry.account.removeprefix(ESCROW_PREFIX), [0, 0, line.at, 0])
            job[0 if line.kind == "reserve" else 1] += abs(mine)
            job[3] = line.at
    found = [
        BuyerJob(job_id, int(reserved), int(refunded), first, last)
        for job_id, (reserved, refunded, first, last) in jobs.items()
    ]
    return sorted(found, key=lambda job: job.last_at, reverse=True)


def console_view(balance: Balance, lines: Sequence[TransactionLine]) -> ConsoleView:
    account = balance.account
    return ConsoleView(
        account,
        balance.balance,
        balance.state,
        list(reversed(lines)),
        earnings_per_day(lines, account),
        buyer_jobs(lines, account),
    )


class OwnerConsole:
    """The console's requests to the hub, signed by the owner's key in this process."""

    def __init__(self, key: AccountKey, hub: Callable[[], httpx.AsyncClient]) -> None:
        """`hub`: the node's current client of the hub's API (its credential, its pin)."""
        self.key = key
        self.hub = hub

    @property
    def account(self) -> str:
        return self.key.name

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        headers = signed_headers(self.key, "GET", path)
        try:
            response = await self.hub().get(path, params=params, headers=headers)
        except httpx.HTTPError as error:
            raise ConsoleError(f"the hub could not be reached: {error}") from None
        _check(response)
        return response

    async def view(self) -> ConsoleView:
        """The account as the hub's ledger has it now."""
        name = self.account
        balance = Balance.model_validate((await self._get(f"/accounts/{name}/balance")).json())
        answer = await self._get("/ledger", {"account": name, "limit": "10000"})
        lines = [TransactionLine.model_validate(line) for line in answer.json()]
        return console_view(balance, lines)

    async def transfer(self, to: str, amount: int, memo: str) -> TransactionLine:
        """Pay `amount` milli-credits to `to`, signed here by the owner's key."""
        body, headers = transfer_request(self.key, to, amount, memo)
        try:
            response = await self.hub().post(TRANSFER_PATH, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise ConsoleError(f"the hub could not be reached: {error}") from None
        _check(response)
        return TransactionLine.model_validate(response.json())


def _check(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if not isinstance(detail, str):
        detail = response.text[:300] or response.reason_phrase
    raise ConsoleError(f"the hub answered {response.status_code}: {detail}")
