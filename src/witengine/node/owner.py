"""The owner loop: the node's shell around its owner policy.

Every `POLL_SECONDS` it observes the machine, asks the policy's `Governor` what to do, and when
the answer changes tells the agent's work (`Work`) what to do:

- RUN (`thaw`): take work, and thaw what is frozen where it stopped;
- SUSPEND (`freeze`): freeze every running batch's process tree, stop idle benchmarks, take
  nothing new;
- VACATE (`hand_back`): deliver what is finished, kill what is not, hand those batches back to
  the hub.

It reports the node's availability to the hub (`NodeStatus`): available when running, suspended
while it holds frozen work, unavailable otherwise, with the policy's reason and the seconds left
in the current window; again when the availability or the reason changes (not a reason's figures:
"input 3 s ago" is the same reason a second later), when the window's end moves, and every
`REPORT_SECONDS` (so the hub's idea of the window stays fresh).

Its owner may pause the node at the node's own page (`pause`, `resume`): while paused the
policy's decision is overridden (`policy.paused`), so the work is frozen, then handed back after
`vacate_after`, and the hub hears `suspended` or `unavailable`, "paused by its owner at the
node's page". A node without a policy gets a loop too when it serves its page (`for_node`),
whose governor always says run.

It decides nothing itself (that is the `Governor`'s, pure and tested with made-up observations)
and touches no process (that is the agent's and the runner's): it only carries decisions over.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from witengine.clock import Clock, SystemClock
from witengine.node.idle import idle_source
from witengine.node.machine import MachineWatch
from witengine.node.policy import (
    VACATE_AFTER,
    Action,
    Decision,
    Governor,
    Observation,
    Policy,
    paused,
)
from witengine.protocol import NodeStatus
from witengine.protocol.states import Availability

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25  # how often the machine is looked at: input suspends work within this
REPORT_SECONDS = 60.0  # the status goes to the hub at least this often
WINDOW_DRIFT = 5.0  # seconds the window's end may move before the hub is told at once


class Deciding(Protocol):
    """The policy's `Governor`, as the loop asks it."""

    def decide(self, seen: Observation) -> Decision: ...


class Work(Protocol):
    """What the loop acts on: the agent's batches and benchmarks."""

    def holding(self) -> bool:
        """Whether the node holds any batch of the hub's."""
        ...

    async def thaw(self) -> None:
        """Take work, and thaw what is frozen."""
        ...

    async def freeze(self) -> None:
        """Freeze what runs, keep it, take nothing new."""
        ...

    async def hand_back(self) -> None:
        """Deliver what is finished and hand the rest back; take nothing new."""
        ...

    def report(self, status: NodeStatus) -> None:
        """Send the hub the node's status."""
        ...


class OwnerLoop:
    """Observes, decides and acts, a poll at a time, for the agent's whole life."""

    def __init__(
        self,
        governor: Deciding,
        observe: Callable[[], Observation],
        work: Work,
        clock: Clock,
        *,
        policy: dict[str, str],
        week: Callable[[], list[float]],
        poll_seconds: float = POLL_SECONDS,
        report_seconds: float = REPORT_SECONDS,
        vacate_after: float = VACATE_AFTER,
    ) -> None:
        self.governor = governor
        self.observe = observe
        self.work = work
        self.clock = clock
        self.policy = dict(policy)
        self.week = week
        self.poll_seconds = poll_seconds
        self.report_seconds = report_seconds
        self.vacate_after = vacate_after  # how long a pause keeps work frozen before handing back
        self.paused_at: float | None = None  # when its owner paused it at its page; None: not
        self._stepping = asyncio.Lock()  # a look at a time: the poll's, or a pause's at once
        self.action: Action | None = None  # what the work was last told
        # What the hello says before the first look: nothing is taken until the policy says so.
        self.status = NodeStatus(
            availability=Availability.UNAVAILABLE, reason="starting", policy=self.policy
        )
        self._sent: tuple[float, NodeStatus] | None = None  # the last status told, and when

    @property
    def may_work(self) -> bool:
        return self.action is Action.RUN

    async def run(self) -> None:
        """Poll until cancelled. A look that fails (a defect) is logged and the next one made:
        the node goes on as it was rather than stop working for the farm."""
        failing = False
        while True:
            try:
                await self.step()
                failing = False
            except Exception:
                if not failing:  # once, not four times a second
                    log.exception("owner policy: looking at the machine failed; trying again")
                failing = True
            await self.clock.sleep(self.poll_seconds)

    @property
    def paused(self) -> bool:
        """Whether its owner paused the node at its page."""
        return self.paused_at is not None

    async def pause(self) -> None:
        """Its owner says "not now": freeze what runs, take nothing new, until `resume`."""
        if self.paused_at is None:
            self.paused_at = self.clock.now()
        await self.step()

    async def resume(self) -> None:
        """The pause ends: the policy decides again (at once)."""
        self.paused_at = None
        await self.step()

    async def step(self) -> None:
        """One look at the machine: act on a changed decision, report a changed status."""
        async with self._stepping:
            await self._step()

    async def _step(self) -> None:
        decision = self.governor.decide(self.observe())
        if self.paused_at is not None:
            decision = paused(decision, self.clock.now() - self.paused_at, self.vacate_after)
        if decision.action is not self.action:
            log.info(
                "owner policy: %s%s",
                decision.action.value,
                f" ({decision.reason})" if decision.reason else "",
            )
            self.action = decision.action
            if decision.action is Action.RUN:
                await self.work.thaw()
            elif decision.action is Action.SUSPEND:
                await self.work.freeze()
            else:
                await self.work.hand_back()
        self._status(decision)

    def _status(self, decision: Decision) -> None:
        availability = decision.availability
        if availability is Availability.SUSPENDED and not self.work.holding():
            availability = Availability.UNAVAILABLE  # nothing frozen: simply not working now
        self.status = NodeStatus(
            availability=availability,
            reason=decision.reason,
            window_seconds=decision.window_seconds,
            policy=self.policy,
            week=self.status.week,
        )
        now, sent = self.clock.now(), self._sent
        if sent is None or self._worth_telling(sent[1], self.status, now - sent[0]):
            self.status = self.status.model_copy(update={"week": self.week()})
            self._sent = (now, self.status)
            self.work.report(self.status)

    def _worth_telling(self, before: NodeStatus, now: NodeStatus, since: float) -> bool:
        if now.availability is not before.availability or since >= self.report_seconds:
            return True
        if _shape(now.reason) != _shape(before.reason):
            return True  # another reason, not the same one a second older
        was, left = before.window_seconds, now.window_seconds
        if (was is None) != (left is None):
            return True
        return was is not None and left is not None and abs(was - since - left) > WINDOW_DRIFT


def _shape(reason: str) -> str:
    """A reason without its numbers: "input 3 s ago" and "input 4 s ago" are one reason."""
    return _NUMBERS.sub("#", reason)


_NUMBERS = re.compile(r"\d+(\.\d+)?")


def for_node(policy: Policy | None, work: Work, clock: Clock | None = None) -> OwnerLoop:
    """The loop of a node with `policy`, or of one without that its owner may still pause (it
    looks at nothing: its governor always says run)."""
    if policy is not None:
        return for_policy(policy, work, clock)
    clock = clock or SystemClock()
    return OwnerLoop(Governor(None), _unwatched(clock), work, clock, policy={}, week=list)


def _unwatched(clock: Clock) -> Callable[[], Observation]:
    """Observations of a machine nobody watches: no desktop, no load, on mains."""

    def observe() -> Observation:
        return Observation(datetime.now().astimezone(), clock.now(), None, 0.0, False)

    return observe


def for_policy(policy: Policy, work: Work, clock: Clock | None = None) -> OwnerLoop:
    """The loop that applies `policy` to this machine: its idle source, load and power."""
    clock = clock or SystemClock()
    watch = MachineWatch(idle_source(policy.idle_source), clock)
    return OwnerLoop(
        Governor(policy),
        watch.observe,
        work,
        clock,
        policy=policy.summary(),
        week=lambda: policy.week(watch.zone),
        vacate_after=policy.vacate_after,
    )
