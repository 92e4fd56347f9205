"""Results from untrusted nodes, verified by the dispatcher before they are committed: replicas
to other owners, a quorum, trusted nodes that settle an item, adaptive replication, spot checks,
and what happens to a node caught wrong. Fake node links over the dispatcher's API, an
in-memory store, a FakeClock; each node answers by a rule (honest, random, copying, colluding).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import replace

import pytest
from tests.unit.hub.test_dispatcher import ACTIVITY, QUEUED, Link, hello, request

from witengine.errors import NoCompatibleNode
from witengine.hub.dispatch import Dispatcher
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import Assign, BatchFinished, Results, TaskResult, TrustNotice
from witengine.runtime.executor import ItemFailed, MapRequest
from witengine.runtime.values import ProcessingOptions
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.verification import TrustState, VerificationSettings
from witengine.testing.clock import FakeClock

Answer = Callable[[int], object]  # item index -> the value a node returns
SETTINGS = SchedulerSettings(min_lease=10.0, duplicate_limit=0.0)
NO_SPOTS = VerificationSettings(spot_check_share=0.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def truth(index: int) -> str:
    return f"right{index}"


def farm(
    store: MemoryStore,
    clock: FakeClock,
    verification: VerificationSettings = NO_SPOTS,
    **knobs: float,
) -> Dispatcher:
    return Dispatcher(
        store,
        clock,
        scheduler=SETTINGS,
        lease_seconds=10.0,
        no_node_seconds=5.0,
        verification=verification,
        seed=11,
        **knobs,
    )


class Node:
    """A fake node: its link, and the rule by which it answers."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        name: str,
        answer: Answer = truth,
        *,
        owner: str = "",
        trusted: bool = False,
    ) -> None:
        self.link = Link()
        self.answer = answer
        self.id = dispatcher.connect(hello(name), self.link.send)
        node = dispatcher._state.nodes[self.id]  # what the pools will set from its token
        node.trusted, node.owner = trusted, owner

    def run(self, dispatcher: Dispatcher) -> None:
        """Answer every batch given since last time, then end it."""
        for assign in self.link.fresh():
            dispatcher.handle(self.id, self.results(assign))
            dispatcher.handle(self.id, BatchFinished(batch_id=assign.batch_id))

    def results(self, assign: Assign) -> Results:
        answers = [
            TaskResult(t.map_id, t.index, t.attempt, True, self.answer(t.index))
            for t in assign.tasks
        ]
        return Results(batch_id=assign.batch_id, results=answers)

    def notices(self) -> list[TrustNotice]:
        return [m for m in self.link.inbox if isinstance(m, TrustNotice)]


def pooled(count: int, options: ProcessingOptions | None = None) -> MapRequest:
    """A map of `count` items that may use the default pool, where the fake nodes are, trusted
    or not: a map that names no pools uses the trusted pools only."""
    return request(count, replace(options or ProcessingOptions(), pools=("default",)))


async def run_map(
    dispatcher: Dispatcher, count: int, *nodes: Node, options: ProcessingOptions | None = None
) -> list[object]:
    task = asyncio.ensure_future(
        dispatcher.run_map("job_1", 1, pooled(count, options), lambda done, total: None)
    )
    for _ in range(300):  # bounded: every round settles items or ends the map
        await asyncio.sleep(0)
        if task.done():
            break
        dispatcher.expire()
        dispatcher.dispatch()
        for node in nodes:
            node.run(dispatcher)
        for _ in range(3):  # the comparisons run as tasks
            await asyncio.sleep(0)
    assert task.done(), "the map did not end"
    return await task


def trust(dispatcher: Dispatcher, node: Node) -> TrustState:
    return dispatcher.view.trust(node.id, ACTIVITY).state


def commits_once(store: MemoryStore) -> None:
    (map_id,) = store.maps
    assert set(store.commit_counts(map_id).values()) == {1}, "an item committed twice"


# ---------------------------------------------------------------- the quorum


async def test_honest_untrusted_nodes_of_two_owners_verify_each_other(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = farm(store, clock)
    a, b = Node(dispatcher, "a", owner="alice"), Node(dispatcher, "b", owner="bob")
    assert await run_map(dispatcher, 12, a, b) == [truth(i) for i in range(12)]
    commits_once(store)
    both = sorted(t.index for n in (a, b) for x in n.link.assigns() for t in x.tasks)
    assert both == sorted(2 * list(range(12))), "every item computed twice, once per owner"
    assert trust(dispatcher, a) is TrustState.RELIABLE  # 12 answers in a row agreed
    costs = dispatcher.view.verification_costs()
    assert (costs.verified, costs.replicas, costs.unchecked, costs.caught) == (12, 12, 0, 0)


async def test_a_random_cheater_is_outvoted_blocked_told_and_nothing_of_it_is_committed(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = farm(store, clock)
    noise = random.Random(3)
    nodes = [
        Node(dispatcher, "a", owner="alice"),
        Node(dispatcher, "b", owner="bob"),
        Node(dispatcher, "cheat", lambda i: noise.random(), owner="mallory"),
    ]
    assert await run_map(dispatcher, 20, *nodes) == [truth(i) for i in range(20)]
    commits_once(store)
    cheat = nodes[2]
    assert trust(dispatcher, cheat) is TrustState.BLOCKED
    (notice,) = cheat.notices()
    assert notice.activity == ACTIVITY and notice.state == "blocked"
    record = dispatcher.view.trust(cheat.id, ACTIVITY)
    assert record.rejected == 1 and record.accepted == 0
    default = frozenset(("default",))
    planned = dispatcher._state.candidates(ACTIVITY, "job_2", None, default)
    assert cheat.id not in {c.id for c in planned}, "a later map would count on the cheater"
    assert dispatcher.view.held_for_verification() == (0, 0), "nothing left held"


async def test_a_node_copying_another_items_result_is_caught(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = farm(store, clock)
    nodes = [
        Node(dispatcher, "a", owner="alice"),
        Node(dispatcher, "b", owner="bob"),
        Node(dispatcher, "copier", lambda i: truth(0), owner="mallory"),
    ]
    assert await run_map(dispatcher, 10, *nodes) == [truth(i) for i in range(10)]
    assert trust(dispatcher, nodes[2]) is TrustState.BLOCKED


async def test_two_colluding_nodes_of_one_owner_never_verify_each_other(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = farm(store, clock)
    m1 = Node(dispatcher, "m1", lambda i: "forged", owner="mallory")
    m2 = Node(dispatcher, "m2", lambda i: "forged", owner="mallory")
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, pooled(4), lambda d, t: None))
    for _ in range(20):
        await asyncio.sleep(0)
        dispatcher.dispatch()
        m1.run(dispatcher)
        m2.run(dispatcher)
    assert not task.done() and not store.map_results(next(iter(store.maps)))
    honest = [Node(dispatcher, "a", owner="alice"), Node(dispatcher, "b", owner="bob")]
    for _ in range(100):
        await asyncio.sleep(0)
        if task.done():
            break
        dispatcher.dispatch()
        for node in (m1, m2, *honest):
            node.run(dispatcher)
    assert await task == [truth(i) for i in range(4)]
    assert trust(dispatcher, m1) is TrustState.BLOCKED
    assert trust(dispatcher, m2) is TrustState.BLOCKED


async def test_a_trusted_node_settles_an_item_alone(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = farm(store, clock)
    liar = Node(dispatcher, "liar", lambda i: "wrong", owner="mallory")
    studio = Node(dispatcher, "studio", trusted=True)
    assert await run_map(dispatcher, 6, liar, studio) == [truth(i) for i in range(6)]
    assert trust(dispatcher, liar) is TrustState.BLOCKED
    commits_once(store)


async def test_an_item_fails_when_too_many_nodes_disagree(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = farm(store, clock)
    nodes = [
        Node(dispatcher, name, (lambda k: lambda i: f"{k}{i}")(name), owner=name) for name in "abcd"
    ]
    with pytest.raises(ItemFailed, match="4 nodes disagree"):
        await run_map(dispatcher, 1, *nodes)


async def test_a_replica_with_no_other_owner_connected_fails_the_map_naming_it(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = farm(store, clock)
    alone = Node(dispatcher, "alone", owner="alice")
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, pooled(2), lambda d, t: None))
    for _ in range(5):
        await asyncio.sleep(0)
        dispatcher.dispatch()
        alone.run(dispatcher)
        await asyncio.sleep(0)
        clock.advance(3.0)
        dispatcher.expire()
    with pytest.raises(NoCompatibleNode, match=r"another owner's node.*alice"):
        await task


async def test_an_activity_without_a_comparer_gets_no_untrusted_node(
    store: MemoryStore, clock: FakeClock
) -> None:
    class Blind:
        def can_compare(self, activity: str) -> bool:
            return False

        async def agree(self, activity: str, first: object, second: object) -> bool:
            raise AssertionError("never asked")

    dispatcher = farm(store, clock, compare=Blind())  # type: ignore[arg-type]
    volunteer = Node(dispatcher, "volunteer", owner="alice")
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, pooled(2), lambda d, t: None))
    for _ in range(4):
        await asyncio.sleep(0)
        dispatcher.dispatch()
        clock.advance(3.0)
        dispatcher.expire()
    assert not volunteer.link.assigns()
    with pytest.raises(NoCompatibleNode, match="no way to compare"):
        await task


# ------------------------------------------------------ adaptive replication


async def test_a_reliable_node_is_checked_less_and_its_unchecked_results_wait(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = farm(store, clock, VerificationSettings(reliable_after=3, spot_check_share=0.0))
    a, b = Node(dispatcher, "a", owner="alice"), Node(dispatcher, "b", owner="bob")
    # One item a batch: each answer is checked or not by what the node's record was then.
    assert await run_map(dispatcher, 60, a, b, options=QUEUED) == [truth(i) for i in range(60)]
    computed = sum(len(x.tasks) for n in (a, b) for x in n.link.assigns())
    assert computed < 60 * 1.5, f"{computed} copies computed: reliable nodes were not trusted"
    costs = dispatcher.view.verification_costs()
    assert costs.verified + costs.unchecked == 60 and costs.replicas == computed - 60
    commits_once(store)


async def test_a_reliable_node_caught_wrong_has_its_unchecked_results_run_again(
    store: MemoryStore, clock: FakeClock
) -> None:
    settings = VerificationSettings(reliable_after=2, replicate_share=0.3, spot_check_share=0.0)
    dispatcher = farm(store, clock, settings)
    turned = {"yes": False}

    def sly(index: int) -> str:  # right until it has earned trust, then wrong
        return "wrong" if turned["yes"] else truth(index)

    sly_node = Node(dispatcher, "sly", sly, owner="mallory")
    a, b = Node(dispatcher, "a", owner="alice"), Node(dispatcher, "b", owner="bob")
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, pooled(40), lambda d, t: None))
    for _ in range(300):
        await asyncio.sleep(0)
        if task.done():
            break
        if trust(dispatcher, sly_node) is TrustState.RELIABLE:
            turned["yes"] = True
        dispatcher.dispatch()
        for node in (sly_node, a, b):
            node.run(dispatcher)
        for _ in range(3):
            await asyncio.sleep(0)
    assert turned["yes"], "the sly node never became reliable"
    assert await task == [truth(i) for i in range(40)]
    assert trust(dispatcher, sly_node) is TrustState.BLOCKED
    commits_once(store)


async def test_a_reliable_node_in_a_disagreement_nobody_settles_has_its_held_results_verified(
    store: MemoryStore, clock: FakeClock
) -> None:
    """Rita, reliable, returns two items of one map unchecked; while that map still waits, an
    item of another map fails with her answer and Tom's apart: her two results are sent to Tom
    to verify rather than committed when their map ends."""
    settings = VerificationSettings(
        reliable_after=1, replicate_share=0.0, replicate_floor=0.0, max_answers=2,
        spot_check_share=0.0,
    )  # fmt: skip
    dispatcher = farm(store, clock, settings)
    rita, sam = Node(dispatcher, "r", owner="rita"), Node(dispatcher, "s", owner="sam")
    await run_map(dispatcher, 2, rita, sam, options=QUEUED)
    assert trust(dispatcher, rita) is TrustState.RELIABLE
    dispatcher.disconnect(sam.id)

    def start(job_id: str, count: int) -> asyncio.Future[list[object]]:
        request = pooled(count, QUEUED)
        return asyncio.ensure_future(dispatcher.run_map(job_id, 1, request, lambda d, t: None))

    async def turn(*nodes: Node) -> None:
        await asyncio.sleep(0)
        dispatcher.dispatch()
        for node in nodes:
            node.run(dispatcher)
        for _ in range(5):  # the comparisons run as tasks
            await asyncio.sleep(0)

    held = start("job_held", 3)
    await turn(rita)  # items 0 and 1 (a batch each), accepted unchecked and held; 2 waits
    assert not held.done()
    dispatcher.drain(rita.id)
    disputed = start("job_disputed", 1)
    tom = Node(dispatcher, "t", lambda i: "tom's" if i == 0 else truth(i), owner="tom")
    await turn(tom)  # item 2 of the held map and the disputed item: each to be verified
    dispatcher.drain(rita.id, False)
    rita.answer = lambda i: "rita's" if i == 0 else truth(i)
    dispatcher.dispatch()
    for assign in sorted(rita.link.fresh(), key=lambda a: a.job_id != "job_disputed"):
        dispatcher.handle(rita.id, rita.results(assign))  # the dispute first, then item 2
        dispatcher.handle(rita.id, BatchFinished(batch_id=assign.batch_id))
        for _ in range(5):
            await asyncio.sleep(0)
    with pytest.raises(ItemFailed, match="2 nodes disagree"):
        await disputed
    tom.answer = truth
    for _ in range(20):
        if held.done():
            break
        await turn(rita, tom)
    assert held.done(), "the held map never ended: its reopened items went to nobody"
    assert await held == [truth(i) for i in range(3)]
    checked = sorted(t.index for a in tom.link.assigns() if a.job_id == "job_held" for t in a.tasks)
    assert checked == [0, 1, 2], "what she had returned unchecked was committed unverified"


# --------------------------------------------------------------- spot checks


async def test_a_node_wrong_on_a_spot_check_is_blocked_from_everything(
    store: MemoryStore, clock: FakeClock
) -> None:
    settings = VerificationSettings(spot_check_share=1.0)
    dispatcher = farm(store, clock, settings)
    studio = Node(dispatcher, "studio", trusted=True)
    spots: list[int] = []

    def wrong_on_known(index: int) -> str:
        return "guess" if index in spots else truth(index)

    sneaky = Node(dispatcher, "sneaky", wrong_on_known, owner="mallory")
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, pooled(30), lambda d, t: None))
    for _ in range(200):
        await asyncio.sleep(0)
        if task.done():
            break
        dispatcher.dispatch()
        studio.run(dispatcher)
        for assign in sneaky.link.assigns()[sneaky.link.seen :]:
            spots.extend(i for i in (t.index for t in assign.tasks) if i in store_results(store))
        sneaky.run(dispatcher)
        for _ in range(3):
            await asyncio.sleep(0)
    assert await task == [truth(i) for i in range(30)]
    assert spots, "no spot check was sent"
    view = dispatcher.view
    assert view.trust(sneaky.id, "Render.Frame").state is TrustState.BLOCKED, "from everything"
    assert view.trust(sneaky.id, ACTIVITY).spot_failed == 1
    assert [n.activity for n in sneaky.notices()] == ["*"]


def store_results(store: MemoryStore) -> dict[int, object]:
    (map_id,) = store.maps
    return store.map_results(map_id)


async def test_a_result_an_untrusted_node_kept_across_a_hub_restart_runs_again(
    store: MemoryStore, clock: FakeClock
) -> None:
    before = farm(store, clock)
    volunteer = Node(before, "a", owner="alice")
    task = asyncio.ensure_future(
        before.run_map("job_1", 1, pooled(2, QUEUED), lambda done, total: None)
    )
    await asyncio.sleep(0)
    before.dispatch()
    _, second = volunteer.link.assigns()
    task.cancel()  # the hub stops while the node finishes `second`, its result kept
    with pytest.raises(asyncio.CancelledError):
        await task
    after = farm(store, clock)
    resumed = asyncio.ensure_future(
        after.run_map("job_1", 1, pooled(2, QUEUED), lambda done, total: None)
    )
    await asyncio.sleep(0)
    back = Link()
    after.connect(hello("a", node_id=volunteer.id), back.send)
    after._state.nodes[volunteer.id].trusted = False
    after.handle(volunteer.id, volunteer.results(second))
    assert store_results(store) == {}, "an unverified result was committed"
    assert back.acked(), "acknowledged all the same: the node may forget it"
    resumed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await resumed


async def test_an_untrusted_node_cannot_fail_a_map_at_once(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = farm(store, clock)
    liar = Node(dispatcher, "liar", owner="mallory")
    task = asyncio.ensure_future(
        dispatcher.run_map("job_1", 1, pooled(1, QUEUED), lambda done, total: None)
    )
    await asyncio.sleep(0)
    dispatcher.dispatch()
    (assign,) = liar.link.fresh()
    (spec,) = assign.tasks
    final = TaskResult(spec.map_id, spec.index, spec.attempt, False, error="no room", final=True)
    dispatcher.handle(liar.id, Results(batch_id=assign.batch_id, results=[final]))
    await asyncio.sleep(0)
    assert not task.done(), "an untrusted node's 'final' failure ended the map"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
