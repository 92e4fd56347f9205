"""What a site offers its parent as one node: its online nodes taken together."""

from __future__ import annotations

import pytest

from witengine.protocol import Capabilities, GpuInfo, NodeHello, PluginInfo
from witengine.site.offer import NodeRates, site_offer

COMPUTE = PluginInfo(name="compute", version="1.0")


def _hello(
    name: str,
    slots: int = 1,
    *,
    cores: int = 4,
    software: dict[str, str] | None = None,
    activities: tuple[str, ...] = ("Compute.Work",),
    plugins: tuple[PluginInfo, ...] = (COMPUTE,),
    gpus: tuple[GpuInfo, ...] = (),
) -> NodeHello:
    return NodeHello(
        name=name,
        slots=slots,
        capabilities=Capabilities(
            os="linux",
            arch="x86_64",
            cores=cores,
            ram_bytes=8 << 30,
            gpus=list(gpus),
            software=software or {},
        ),
        plugins=list(plugins),
        activities=list(activities),
    )


def _rate(node_id: str, rate: float, version: str = "1.0") -> NodeRates:
    return NodeRates(node_id, "Compute.Work", "compute-units@1", rate, 1.0, 10, "compute", version)


def test_a_site_without_an_online_node_offers_nothing() -> None:
    assert site_offer([], []) is None


def test_a_site_offers_its_nodes_slots_capabilities_and_activities_together() -> None:
    gpu = GpuInfo(vendor="nvidia", name="RTX")
    offer = site_offer(
        [
            ("n1", _hello("a", 2, cores=4, software={"blender": "3.4.1"}, gpus=(gpu,))),
            (
                "n2",
                _hello(
                    "b",
                    1,
                    cores=8,
                    software={"blender": "3.10.0", "ffmpeg": "5.1"},
                    activities=("Compute.Work", "Render.Frame"),
                ),
            ),
        ],
        [],
    )
    assert offer is not None
    assert offer.slots == 3
    assert offer.capabilities.cores == 12
    assert offer.capabilities.ram_bytes == 16 << 30
    assert offer.capabilities.os == "linux"
    assert offer.capabilities.gpus == [gpu]
    assert offer.capabilities.software == {"blender": "3.10.0", "ffmpeg": "5.1"}
    assert offer.activities == ("Compute.Work", "Render.Frame")
    assert offer.plugins == (COMPUTE,)


def test_a_sites_rate_per_slot_times_its_slots_is_its_nodes_rates_summed() -> None:
    nodes = [("n1", _hello("a", 2)), ("n2", _hello("b", 1))]
    offer = site_offer(nodes, [_rate("n1", 10.0), _rate("n2", 40.0), _rate("gone", 99.0)])
    assert offer is not None
    (report,) = offer.rates
    assert report.rate * offer.slots == pytest.approx(2 * 10.0 + 40.0)
    assert report.activity == "Compute.Work" and report.unit == "compute-units@1"


def test_a_rate_of_another_plugin_version_than_the_site_offers_is_left_out() -> None:
    old = PluginInfo(name="compute", version="0.9")
    nodes = [("n1", _hello("a")), ("n2", _hello("b")), ("n3", _hello("c", plugins=(old,)))]
    offer = site_offer(nodes, [_rate("n1", 10.0), _rate("n3", 50.0, version="0.9")])
    assert offer is not None
    assert offer.plugins == (COMPUTE,)  # what most of its nodes run
    (report,) = offer.rates
    assert report.rate * offer.slots == pytest.approx(10.0)


@pytest.mark.parametrize(("share", "slots", "together"), [(0.5, 2, 15.0), (0.1, 1, 3.0)])
def test_the_parents_share_scales_the_slots_and_the_rates_offered(
    share: float, slots: int, together: float
) -> None:
    nodes = [("n1", _hello("a", 2)), ("n2", _hello("b", 2))]
    offer = site_offer(nodes, [_rate("n1", 10.0), _rate("n2", 5.0)], share)
    assert offer is not None
    assert offer.slots == slots
    assert offer.rates[0].rate * offer.slots == pytest.approx(together)  # of 30 together


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        site_offer([("n1", _hello("a"))], [], share)


def test_a_changed_rate_is_the_same_node_but_a_changed_slot_count_is_not() -> None:
    one = site_offer([("n1", _hello("a"))], [_rate("n1", 10.0)])
    faster = site_offer([("n1", _hello("a"))], [_rate("n1", 20.0)])
    more = site_offer([("n1", _hello("a")), ("n2", _hello("b"))], [_rate("n1", 10.0)])
    assert one is not None and faster is not None and more is not None
    assert one.same_node(faster) and one.rates != faster.rates
    assert not one.same_node(more)
