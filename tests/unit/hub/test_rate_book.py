"""The hub's rate book: rates count only for what a node offers, at the plugin version it runs;
stale ones are forgotten when the node connects again; the scheduler reads them by activity."""

from __future__ import annotations

from witengine.hub.rates import RateBook
from witengine.hub.store.base import RateRecord
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import BenchmarkReport, Capabilities, NodeHello, PluginInfo

MACHINE = Capabilities(os="Linux", arch="x86_64", cores=2, ram_bytes=2**33)


def hello(activities: list[str], version: str = "1.0") -> NodeHello:
    return NodeHello(
        name="box",
        capabilities=MACHINE,
        plugins=[PluginInfo(name="compute", version=version)],
        activities=activities,
    )


def report(activity: str, rate: float, version: str = "1.0", unit: str = "u@1") -> BenchmarkReport:
    return BenchmarkReport(
        activity=activity,
        plugin="compute",
        plugin_version=version,
        unit=unit,
        rate=rate,
        elapsed=1.5,
        iterations=9,
    )


def test_rates_are_stored_and_read_by_activity_for_the_scheduler() -> None:
    store = MemoryStore()
    book = RateBook(store)
    seen: list[RateRecord] = []
    book.subscribe(seen.append)
    book.node_joined("node_a", hello(["Compute.Work", "Compute.Hash"]))
    book.node_joined("node_b", hello(["Compute.Work"]))
    book.record("node_a", report("Compute.Work", 400.0), at=10.0)
    book.record("node_b", report("Compute.Work", 200.0), at=11.0)
    book.record("node_a", report("Compute.Hash", 9e6, unit="bytes@1"), at=12.0)
    assert book.rates_for("Compute.Work") == {"node_a": 400.0, "node_b": 200.0}
    assert book.rates_for("Compute.Hash", unit="bytes@1") == {"node_a": 9e6}
    assert book.rates_for("Compute.Hash", unit="bytes@2") == {}
    assert [(r.node_id, r.activity, r.rate) for r in seen] == [
        ("node_a", "Compute.Work", 400.0),
        ("node_b", "Compute.Work", 200.0),
        ("node_a", "Compute.Hash", 9e6),
    ]
    assert [r.activity for r in book.of_node("node_a")] == ["Compute.Hash", "Compute.Work"]
    assert RateBook(store).rates_for("Compute.Work") == {"node_a": 400.0, "node_b": 200.0}


def test_a_rate_for_an_activity_or_version_the_node_does_not_offer_is_ignored() -> None:
    book = RateBook(MemoryStore())
    assert book.record("node_a", report("Compute.Work", 400.0), at=1.0) is None, "not joined"
    book.node_joined("node_a", hello(["Compute.Work"]))
    assert book.record("node_a", report("Render.Frame", 3.0), at=1.0) is None
    assert book.record("node_a", report("Compute.Work", 3.0, version="0.9"), at=1.0) is None
    assert book.rates_for("Render.Frame") == {} and book.rates_for("Compute.Work") == {}


def test_a_node_back_with_another_plugin_version_or_fewer_activities_loses_stale_rates() -> None:
    store = MemoryStore()
    book = RateBook(store)
    book.node_joined("node_a", hello(["Compute.Work", "Compute.Hash"]))
    book.record("node_a", report("Compute.Work", 400.0), at=1.0)
    book.record("node_a", report("Compute.Hash", 9e6), at=1.0)
    book.node_joined("node_a", hello(["Compute.Work"]))  # it lost what Hash requires
    assert book.rates_for("Compute.Hash") == {}
    assert book.rates_for("Compute.Work") == {"node_a": 400.0}
    book.node_joined("node_a", hello(["Compute.Work"], version="1.1"))
    assert book.rates_for("Compute.Work") == {}
    assert store.list_rates() == []


def test_a_new_unit_for_an_activity_replaces_the_old_one() -> None:
    book = RateBook(MemoryStore())
    book.node_joined("node_a", hello(["Compute.Work"]))
    book.record("node_a", report("Compute.Work", 400.0, unit="u@1"), at=1.0)
    book.record("node_a", report("Compute.Work", 4.0, unit="u@2"), at=2.0)
    assert [(r.unit, r.rate) for r in book.of_node("node_a")] == [("u@2", 4.0)]
