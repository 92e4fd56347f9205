"""A federated farm in the simulator: the nodes split over sites, each site a hub of its own that
joins a parent hub as one large node.

The parent plans the map over the sites as it plans over nodes, and a site offers itself as a
site hub does (`wit hub --parent`): its slots are its online nodes' slots (one each here), its
rate per slot their rates summed over its slots, so that slots times rate is the sum of its
nodes' rates; the rates are its nodes' benchmarks in its rate model (the slowest known for a
node without one), offered again when it loses a node. The parent gives a site work for each
slot and a batch ahead, as the hub's dispatcher gives every node, and corrects the site's rate
from its results' seconds as it does a node's: each result carries the seconds its item took
on the site's node.

A site re-plans each batch it receives as a map of its own, with its own scheduler (the same
strategy) over its own nodes, which take work from the site's maps oldest first. Each result a
site's map commits goes up to the parent, which commits the first of each item; when the
site's map is done the site tells the parent the batch ended. A node that dies or leaves is the
site's business: the parent hears of it only through the site's offer (a site left with no node
is lost to the parent, its batches put back). A batch the parent drops (another site's copy
finished it first, or its lease ran out) is recalled from its site: its map stops and its
nodes' batches are cancelled.

A message between a site and its parent takes `site_latency` seconds, one between a node and
its site the farm's `latency`. E is against the flat farm's bound: the same nodes, the same
items, no sites.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from witengine.scheduling.core import (
    Candidate,
    Grant,
    MapSchedule,
    Outcome,
    Verdict,
)
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.simulation_loop import (
    FIRST_FREE_KIND,
    EventLoop,
    SimulationError,
    Tally,
    _Node,
)
from witengine.scheduling.simulator import (
    ACTIVITY,
    PLUGIN,
    SimConfig,
    SimReport,
    Simulation,
    build,
)

__all__ = ["FederatedSimulation", "FederationReport", "simulate_federated"]

_GRANT, _DELIVER, _ENDED, _RECALL, _REPORT = range(FIRST_FREE_KIND, FIRST_FREE_KIND + 5)
_AHEAD = 1  # batches a site holds beyond its slots, as the dispatcher gives every node
_IGNORE = Outcome(Verdict.IGNORE)


@dataclass(frozen=True)
class FederationReport:
    """A federated farm's run beside the flat farm's, on the same nodes and items; both
    reports' `bound` is the flat farm's."""

    sites: int
    site_latency: float
    federated: SimReport
    flat: SimReport
    parent_batches: int  # batches the parent gave the sites
    site_items: tuple[int, ...]  # items each site delivered the committed result of

    def to_json(self) -> dict[str, object]:
        figures = self.federated.to_json()
        flat = self.flat
        figures.update(
            sites=self.sites,
            site_latency=self.site_latency,
            parent_batches=self.parent_batches,
            site_items=list(self.site_items),
            flat_makespan=round(flat.makespan, 6),
            flat_efficiency=round(flat.efficiency, 6),
            flat_duplicates=flat.duplicates,
            flat_lost_share=round(flat.lost_share, 6),
            flat_batches=flat.batches,
        )
        return figures


def simulate_federated(
    config: SimConfig, sites: int, *, site_latency: float = 0.05
) -> FederationReport:
    """The farm and map `config` describes, run flat and then split over `sites` sites."""
    if config.untrusted:
        raise ValueError("a federated farm is simulated with trusted nodes only")
    nodes, estimated, true_work = build(config)
    flat = Simulation(
        nodes,
        estimated,
        config.strategy,
        true_work=true_work,
        settings=SchedulerSettings(dispatch_overhead=config.latency),
        latency=config.latency,
        detection_delay=config.detection_delay,
        heartbeat_interval=config.heartbeat_interval,
        tick=config.tick,
        seed=config.seed,
    )
    federated = FederatedSimulation(flat, sites, site_latency=site_latency)
    return FederationReport(
        sites=sites,
        site_latency=site_latency,
        federated=federated.run(seed=config.seed),
        flat=flat.run(seed=config.seed),
        parent_batches=federated.parent_batches,
        site_items=federated.site_items,
    )


class FederatedSimulation(Simulation):
    """The run `flat` describes, on its nodes split over `sites` sites (node k in site
    k % sites)."""

    def __init__(self, flat: Simulation, sites: int, *, site_latency: float = 0.05) -> None:
        super().__init__(
            flat.specs,
            flat.work,
            flat.strategy,
            true_work=flat.true_work,
            settings=flat.scheduler.settings,
            latency=flat.latency,
            detection_delay=flat.detection_delay,
            heartbeat_interval=flat.heartbeat_interval,
            tick=flat.tick,
            horizon=flat.horizon,
            seed=flat.seed,
        )
        if not 1 <= sites <= len(self.specs):
            raise ValueError(f"{sites} sites for {len(self.specs)} nodes: each site needs a node")
        if site_latency < 0:
            raise ValueError("the latency between sites must not be negative")
        if not all(spec.trusted for spec in self.specs) or any(s.shifts for s in self.specs):
            raise ValueError("a federated farm is simulated with trusted nodes without shifts")
        self.sites = sites
        self.site_latency = site_latency
        self.parent_batches = 0
        self.site_items: tuple[int, ...] = ()

    def execute(self) -> tuple[float, Tally, float]:
        """Run the map over the sites to completion and check it: its makespan, what it did,
        and the seconds opening the parent's schedule took."""
        nodes = [_Node(spec, Candidate(spec.id)) for spec in self.specs]
        sites = []
        for number in range(self.sites):
            members = list(range(number, len(nodes), self.sites))
            settings = replace(self.scheduler.settings, batch_prefix=f"site{number}")
            site = _Site(number, f"site_{number:03d}", members, Scheduler(settings))
            for k in members:
                spec = self.specs[k]
                if spec.benchmark is not None:
                    site.scheduler.rates.benchmark(spec.id, ACTIVITY, spec.benchmark)
            site.offered = site.offer([self.specs[k].id for k in members])
            site.slots = site.offered[0]
            sites.append(site)
        parent_settings = replace(
            self.scheduler.settings, dispatch_overhead=self.site_latency, batch_prefix="parent"
        )
        parent = Scheduler(parent_settings)
        for site in sites:
            parent.rates.benchmark(site.id, ACTIVITY, site.offered[1])
        began = time.perf_counter()
        schedule = parent.schedule(
            "job_simulated",
            ACTIVITY,
            PLUGIN,
            self.work,
            self.strategy,
            [site.candidate for site in sites],
            now=0.0,
        )
        setup = time.perf_counter() - began
        count = len(self.work)
        tally = Tally(bytearray(count), bytearray(count))
        farm = _Farm(
            schedule, sites, {spec.id: sites[k % self.sites] for k, spec in enumerate(self.specs)}
        )
        engine = _FederatedLoop(self, farm, nodes, tally, parent)
        makespan = engine.loop() if count else 0.0
        self.parent_batches = engine.parent_batches
        self.site_items = tuple(site.delivered for site in sites)
        self._check(schedule, tally)
        return makespan, tally, setup


@dataclass(frozen=True)
class _Letter:
    """A message between a site and its parent: a grant, a result, a batch ended or recalled,
    or the site's rate."""

    site: _Site
    batch_id: str = ""
    index: int = -1
    grant: Grant | None = None
    seconds: float = 0.0  # a result's: what its item took on its node
    offer: tuple[int, float] = (0, 0.0)  # the site's slots and rate per slot


@dataclass(eq=False)
class _SiteMap:
    """One batch of the parent's, re-planned as a map of the site's."""

    parent_batch: str
    schedule: MapSchedule
    items: tuple[int, ...]  # the site map's item i is the farm's item items[i]
    local: dict[int, int]  # the farm's item -> the site map's
    batches: list[str] = field(default_factory=list)  # node batches it granted


@dataclass(eq=False)
class _Site:
    number: int
    id: str
    nodes: list[int]  # the loop's node numbers
    scheduler: Scheduler
    online: set[int] = field(default_factory=set)  # its nodes it has not lost
    maps: list[_SiteMap] = field(default_factory=list)  # open, oldest first
    held: set[str] = field(default_factory=set)  # the parent's batches out on it, as it counts
    offered: tuple[int, float] = (0, 0.0)  # the slots and rate per slot it last offered
    slots: int = 1  # its slots, as the parent last heard
    gone: bool = False  # no node left: lost to the parent
    delivered: int = 0  # items whose committed result it delivered

    def __post_init__(self) -> None:
        self.online = set(self.nodes)

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.id, slots=self.slots)

    def offer(self, node_ids: Sequence[str]) -> tuple[int, float]:
        """What the site offers with these nodes online: their slots, and their benchmark
        rates in its rate model summed over those slots."""
        rates = self.scheduler.rates
        total = math.fsum(rates.rate(node_id, ACTIVITY) for node_id in node_ids)
        return len(node_ids), total / len(node_ids)


class _Farm(MapSchedule):
    """The schedule the nodes' loop drives: each node's requests, results and batches go to its
    site's maps; done and failed are the parent's map's."""

    def __init__(self, parent: MapSchedule, sites: list[_Site], site_of: dict[str, _Site]):
        self.parent = parent
        self.count = parent.count
        self.strategy = parent.strategy
        self.sites = sites
        self.site_of = site_of  # node id -> its site
        self.map_of: dict[str, _SiteMap] = {}  # node batch id -> the site map that granted it
        self._failure: tuple[int, str] | None = None

    def candidates_changed(self, candidates: Sequence[Candidate], now: float) -> None:
        by_site: dict[int, list[Candidate]] = {site.number: [] for site in self.sites}
        for candidate in candidates:
            by_site[self.site_of[candidate.id].number].append(candidate)
        for site in self.sites:
            for site_map in site.maps:
                site_map.schedule.candidates_changed(by_site[site.number], now)

    def request(self, node: Candidate, now: float) -> Grant | None:
        for site_map in self.site_of[node.id].maps:
            grant = site_map.schedule.request(node, now)
            if grant is not None:
                self.map_of[grant.batch_id] = site_map
                site_map.batches.append(grant.batch_id)
                return replace(grant, indices=tuple(site_map.items[i] for i in grant.indices))
        return None

    def heartbeat(self, batch_id: str, now: float) -> None:
        site_map = self.map_of.get(batch_id)
        if site_map is not None:
            site_map.schedule.heartbeat(batch_id, now)

    def result(
        self,
        batch_id: str,
        index: int,
        *,
        ok: bool,
        now: float,
        seconds: float = 0.0,
        error: str = "",
        final: bool = False,
    ) -> Outcome:
        site_map = self.map_of.get(batch_id)
        if site_map is None:
            return _IGNORE
        outcome = site_map.schedule.result(
            batch_id,
            site_map.local[index],
            ok=ok,
            now=now,
            seconds=seconds,
            error=error,
            final=final,
        )
        self._failed(site_map)
        return outcome

    def batch_ended(self, batch_id: str, now: float) -> None:
        site_map = self.map_of.pop(batch_id, None)
        if site_map is not None:
            site_map.schedule.batch_ended(batch_id, now)

    def node_lost(self, node_id: str, now: float) -> list[str]:
        dropped: list[str] = []
        for site_map in self.site_of[node_id].maps:
            dropped += site_map.schedule.node_lost(node_id, now)
        return dropped

    def expire(self, now: float) -> list[str]:
        expired: list[str] = []
        for site in self.sites:
            for site_map in site.maps:
                expired += site_map.schedule.expire(now)
        return expired

    @property
    def done(self) -> bool:
        return self.parent.done

    @property
    def failure(self) -> tuple[int, str] | None:
        return self.parent.failure or self._failure

    def _failed(self, site_map: _SiteMap) -> None:
        failure = site_map.schedule.failure
        if failure is not None and self._failure is None:
            index, error = failure
            self._failure = (site_map.items[index], error)


class _FederatedLoop(EventLoop):
    """The nodes' event loop, with the sites' traffic to and from the parent."""

    def __init__(
        self,
        sim: FederatedSimulation,
        farm: _Farm,
        nodes: list[_Node],
        tally: Tally,
        parent: Scheduler,
    ) -> None:
        super().__init__(sim, farm, nodes, tally)
        self.farm = farm
        self.parent = farm.parent
        self.parent_rates = parent.rates
        self.site_latency = sim.site_latency
        self.letters: dict[int, _Letter] = {}  # messages on their way, by number
        self.letter = 0
        self.owner_site: dict[str, _Site] = {}  # the parent's batch id -> the site it went to
        self.parent_batches = 0

    def event_handlers(self) -> dict[int, Callable[[int], None]]:
        handlers = super().event_handlers()
        handlers.update(
            {
                _GRANT: self.granted,
                _DELIVER: self.delivered,
                _ENDED: self.site_batch_ended,
                _RECALL: self.recalled,
                _REPORT: self.reported,
            }
        )
        return handlers

    def send(self, kind: int, letter: _Letter) -> None:
        """A message between a site and the parent, there after the latency between sites."""
        self.letter += 1
        self.letters[self.letter] = letter
        self.push(self.now + self.site_latency, kind, self.letter)

    def begin(self) -> None:
        super().begin()
        for site in self.farm.sites:
            self.fill(site)

    # -------------------------------------------------------------- the parent's side

    def fill(self, site: _Site) -> None:
        """The parent gives the site work while it has a free slot or a batch ahead to fill."""
        while not site.gone and len(site.held) < site.slots + _AHEAD:
            grant = self.parent.request(site.candidate, self.now)
            if grant is None:
                return
            self.parent_batches += 1
            site.held.add(grant.batch_id)
            self.owner_site[grant.batch_id] = site
            self.send(_GRANT, _Letter(site, grant.batch_id, grant=grant))

    def delivered(self, number: int) -> None:
        """A site's committed result reached the parent: the first of an item counts."""
        letter = self.letters.pop(number)
        index = letter.index
        outcome = self.parent.result(
            letter.batch_id, index, ok=True, now=self.now, seconds=letter.seconds
        )
        tally = self.tally
        if outcome.verdict is Verdict.COMMIT:
            if tally.committed[index]:
                raise SimulationError(f"item {index} committed twice")
            tally.committed[index] = 1
            tally.last_commit = self.now
            letter.site.delivered += 1
        else:
            tally.lost += self.sim.true_work[index]
        self.drop(outcome.cancel)

    def site_batch_ended(self, number: int) -> None:
        letter = self.letters.pop(number)
        self.parent.batch_ended(letter.batch_id, self.now)
        letter.site.held.discard(letter.batch_id)
        self.fill(letter.site)

    def drop(self, batch_ids: Sequence[str]) -> None:
        """The parent dropped these batches: recall them from their sites, which may take
        other work at once."""
        for batch_id in batch_ids:
            site = self.owner_site[batch_id]
            if batch_id in site.held:
                site.held.discard(batch_id)
                self.send(_RECALL, _Letter(site, batch_id))
                self.fill(site)

    def reported(self, number: int) -> None:
        letter = self.letters.pop(number)
        if letter.site.gone:
            return
        letter.site.slots, rate = letter.offer
        self.parent_rates.benchmark(letter.site.id, ACTIVITY, rate)
        self.parent.candidates_changed(
            [s.candidate for s in self.farm.sites if not s.gone], self.now
        )

    # ---------------------------------------------------------------- a site's side

    def granted(self, number: int) -> None:
        """A batch of the parent's reached its site: the site opens a map of its own for it
        and its idle nodes ask for work."""
        letter = self.letters.pop(number)
        site, grant = letter.site, letter.grant
        assert grant is not None
        if site.gone:
            return
        items = grant.indices
        schedule = site.scheduler.schedule(
            "job_site",
            ACTIVITY,
            PLUGIN,
            [self.sim.work[i] for i in items],
            self.sim.strategy,
            [self.nodes[k].candidate for k in sorted(site.online)],
            now=self.now,
        )
        local = {index: position for position, index in enumerate(items)}
        site.maps.append(_SiteMap(grant.batch_id, schedule, items, local))
        for k in site.nodes:
            if k in self.idle:
                self.ask(k)

    def commit(self, k: int, index: int) -> None:
        """The site's map committed the item: its result goes up; the map done, so is the
        parent's batch."""
        node = self.nodes[k]
        assert node.grant is not None
        site_map = self.farm.map_of[node.grant.batch_id]
        site = self.farm.site_of[node.spec.id]
        seconds = self.now - node.started
        self.send(_DELIVER, _Letter(site, site_map.parent_batch, index, seconds=seconds))
        if site_map.schedule.done and site_map in site.maps:
            site.maps.remove(site_map)
            self.send(_ENDED, _Letter(site, site_map.parent_batch))

    def recalled(self, number: int) -> None:
        """The parent dropped a batch the site runs: its map stops, its nodes' batches are
        cancelled."""
        letter = self.letters.pop(number)
        site = letter.site
        for site_map in site.maps:
            if site_map.parent_batch == letter.batch_id:
                site.maps.remove(site_map)
                for node_batch in site_map.batches:
                    self.cancel(node_batch)
                return

    def lost(self, k: int) -> None:
        """The site noticed its node k is gone: the parent hears the site's new rate."""
        super().lost(k)
        site = self.farm.site_of[self.nodes[k].spec.id]
        site.online.discard(k)
        if not site.online:
            self.site_lost(site)
        else:
            self.report(site)

    def site_lost(self, site: _Site) -> None:
        """A site with no node left leaves the parent, its batches put back (said at once: its
        hub would say so as it goes)."""
        site.gone = True
        site.maps.clear()
        site.held.clear()
        self.parent.node_lost(site.id, self.now)
        self.parent.candidates_changed(
            [s.candidate for s in self.farm.sites if not s.gone], self.now
        )
        for other in self.farm.sites:
            self.fill(other)

    def report(self, site: _Site) -> None:
        """The site offers the parent its slots and rate again when they changed."""
        offer = site.offer([self.nodes[k].spec.id for k in sorted(site.online)])
        if offer != site.offered:
            site.offered = offer
            self.send(_REPORT, _Letter(site, offer=offer))

    def on_tick(self, _: int = -1) -> None:
        if self.now >= self.next_heartbeat:
            for site in self.farm.sites:
                if not site.gone:
                    for batch_id in site.held:
                        self.parent.heartbeat(batch_id, self.now)
        self.drop(self.parent.expire(self.now))
        super().on_tick()
        for site in self.farm.sites:
            self.fill(site)
