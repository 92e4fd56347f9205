"""The owner's console on a node (`wit node --account NAME`): the account's balance and
statement, its earnings per day, its own jobs as a buyer, a form to pay another account, its
asks and mandates on the exchange (add, pause, resume, remove) and the trades its machines are
doing and have done.

It asks the hub with the node's credential, and signs each request with the account's key,
which this process loaded from the owner's config folder and never sends anywhere: only
signatures leave the machine (`witengine.client.signed_headers`, as `wit account` signs).
The page is the status page's (`status_page`), answered to this machine's own users only.

`console_view` is pure: it turns the hub's statement into what the page shows. The page's parts
are the sections of `SECTIONS`, in order. `OwnerConsole.act` carries out the page's forms on
the exchange: each a request signed here, as `wit ask` and `wit mandate` sign theirs.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import httpx
from pydantic import BaseModel, ValidationError

from witengine.client import TRANSFER_PATH, signed_headers, transfer_request
from witengine.credits import credits, parse_credits
from witengine.errors import WitError
from witengine.protocol.base import first_problem
from witengine.protocol.exchange import (
    AskInfo,
    Balance,
    MandateInfo,
    NewAsk,
    NewMandate,
    TradeInfo,
    TransactionLine,
)
from witengine.security.accounts import AccountKey

# The console's sections, in page order: (id, title). A template `console_ID.html` draws each.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("balance", "Balance"),
    ("earnings", "Earnings per day"),
    ("jobs", "Your jobs as a buyer"),
    ("transfer", "Pay another account"),
    ("asks", "Your asks"),
    ("mandates", "Your mandates"),
    ("trades", "Your machines' trades"),
    ("statement", "Statement"),
)
TRADES_SHOWN = 200  # the newest trades of the account's machines the console lists
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
    asks: list[AskInfo] = field(default_factory=list)  # oldest first
    mandates: list[MandateInfo] = field(default_factory=list)  # oldest first
    trades: list[TradeInfo] = field(default_factory=list)  # sold by its machines, newest first
    market: bool = True  # the hub keeps an exchange (asks, mandates, trades)


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
        view = console_view(balance, lines)
        mine = {"account": name}
        try:
            asks = (await self._get("/asks", mine)).json()
            mandates = (await self._get("/mandates", mine)).json()
            trades = (await self._get("/trades", {**mine, "limit": str(TRADES_SHOWN)})).json()
        except NoMarket:
            return replace(view, market=False)
        return replace(
            view,
            asks=[AskInfo.model_validate(a) for a in asks],
            mandates=[MandateInfo.model_validate(m) for m in mandates],
            trades=[t for t in map(TradeInfo.model_validate, trades) if t.seller == name],
        )

    async def act(self, action: str, form: dict[str, str]) -> str:
        """Carry out one of the console's exchange forms, signed here; what was done, in
        words. ConsoleError says why not (a bad field, or the hub's refusal)."""
        try:
            if action == "ask":
                ask = NewAsk(
                    activity=form.get("activity", "").strip(),
                    price=_price(form.get("price", "")),
                    hours=form.get("hours", "").strip(),
                )
                made = AskInfo.model_validate(await self._send("POST", "/asks", ask))
                return f"Ask {made.id} made: {made.activity} at {credits(made.price)} a unit."
            if action == "mandate":
                rule = NewMandate.model_validate(_mandate_fields(form))
                made_rule = MandateInfo.model_validate(await self._send("POST", "/mandates", rule))
                return f"Mandate {made_rule.id} made ({made_rule.side})."
        except (ValueError, ValidationError) as error:
            raise ConsoleError(first_problem(error)) from None
        target = form.get("id", "").strip()
        if not target:
            raise ConsoleError("which one? (no id)")
        if action == "ask-remove":
            await self._send("DELETE", f"/asks/{target}")
            return f"Ask {target} withdrawn."
        if action in ("pause", "resume"):
            await self._send("POST", f"/mandates/{target}/{action}")
            return f"Mandate {target} {'paused' if action == 'pause' else 'active again'}."
        if action == "mandate-remove":
            await self._send("DELETE", f"/mandates/{target}")
            return f"Mandate {target} withdrawn."
        raise ConsoleError(f"no such action: {action[:40]}")

    async def _send(self, method: str, path: str, body: BaseModel | None = None) -> object:
        content = body.model_dump_json().encode() if body is not None else b""
        headers = {**signed_headers(self.key, method, path, content)}
        headers["content-type"] = "application/json"
        try:
            response = await self.hub().request(method, path, content=content, headers=headers)
        except httpx.HTTPError as error:
            raise ConsoleError(f"the hub could not be reached: {error}") from None
        _check(response)
        return response.json() if response.content else None

    async def transfer(self, to: str, amount: int, memo: str) -> TransactionLine:
        """Pay `amount` milli-credits to `to`, signed here by the owner's key."""
        body, headers = transfer_request(self.key, to, amount, memo)
        try:
            response = await self.hub().post(TRANSFER_PATH, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise ConsoleError(f"the hub could not be reached: {error}") from None
        _check(response)
        return TransactionLine.model_validate(response.json())


class NoMarket(ConsoleError):
    """The hub keeps no exchange: no asks, mandates nor trades to show."""


def _price(text: str) -> int:
    """Milli-credits of a price in credits ('0.5'; zero is a price)."""
    if text.strip() in ("0", "0.0"):
        return 0
    try:
        return parse_credits(text)
    except ValueError as error:
        raise ValueError(f"price: {error}") from None


def _mandate_fields(form: dict[str, str]) -> dict[str, object]:
    """A mandate's fields from the console's form (NewMandate refuses those of the other side)."""
    fields: dict[str, object] = {
        "side": form.get("side", "").strip(),
        "activity": form.get("activity", "").strip(),
        "price": _price(form.get("price", "")),
        "hours": form.get("hours", "").strip(),
        "node": form.get("node", "").strip(),
    }
    daily = form.get("daily", "").strip()
    if daily not in ("", "0"):
        try:
            fields["daily"] = parse_credits(daily)
        except ValueError as error:
            raise ValueError(f"daily: {error}") from None
    return fields


def _check(response: httpx.Response) -> None:
    if (
        response.status_code == 404
        and "/asks" in str(response.request.url.path)
        and (response.request.method == "GET")
    ):
        raise NoMarket("this hub keeps no exchange")
    if response.is_success:
        return
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if not isinstance(detail, str):
        detail = response.text[:300] or response.reason_phrase
    raise ConsoleError(f"the hub answered {response.status_code}: {detail}")
