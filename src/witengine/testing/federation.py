"""A federation of real processes for end-to-end tests: a parent hub and site hubs (`wit hub
--parent`), each site with its own nodes, on 127.0.0.1. Compute.Work is paced by the wall clock
(WIT_WORK_PACE) so that the nodes' speeds are exact on a shared machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from witengine.testing.processes import ProcessFarm, free_port, wait_until

PACE = "100"  # Compute.Work units per second at speed 1
HUB_ARGS = ("--lease", "4", "--heartbeat", "0.5", "--grace", "1")


@dataclass
class Federation:
    """A parent hub and its sites, each a `ProcessFarm` of its own (its hub and its nodes)."""

    root: Path
    parent_args: tuple[str, ...] = HUB_ARGS  # the parent hub's options
    parent_env: dict[str, str] = field(default_factory=dict)  # plugins only it has, say
    parent: ProcessFarm = field(init=False)
    sites: dict[str, ProcessFarm] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parent = ProcessFarm(
            self.root / "parent", free_port(), hub_args=self.parent_args, hub_env=self.parent_env
        )

    def start_parent(self) -> None:
        self.parent.root.mkdir(parents=True)
        self.parent.start_hub()

    def start_site(
        self,
        name: str,
        speeds: tuple[float, ...],
        *hub_args: str,
        parent_url: str | None = None,
    ) -> ProcessFarm:
        """A site hub linked to the parent (at `parent_url`, a proxy's say, when given), with
        one node per speed (named NAME1, NAME2 …), once each node has a Compute.Work rate on
        its site."""
        site = ProcessFarm(
            self.root / name,
            free_port(),
            hub_args=(
                *HUB_ARGS,
                "--parent",
                parent_url or self.parent.url,
                "--token",
                self.parent.join_token(),
                *hub_args,
            ),
            hub_env={"WIT_WORK_PACE": PACE},
        )
        site.root.mkdir(parents=True)
        self.sites[name] = site
        site.start_hub()
        names = {f"{name}{n}" for n in range(1, len(speeds) + 1)}
        for node, speed in zip(sorted(names), speeds, strict=True):
            site.start_node(node, "--speed", repr(speed), env={"WIT_WORK_PACE": PACE})
        if names:
            wait_until(lambda: rated(site, names), 120, f"site {name}'s nodes' rates")
        return site

    def site_of(self, node_name: str) -> str:
        """The site a node of the parent is: its name ends with the site hub's port."""
        return next(n for n, site in self.sites.items() if node_name.endswith(f":{site.port}"))

    def parent_nodes(self) -> dict[str, dict[str, Any]]:
        """The parent's online nodes (the sites), by site name."""
        nodes = self.parent.api("GET", "/nodes").json()
        return {self.site_of(n["name"]): n for n in nodes if n["state"] != "offline"}

    def wait_linked(self) -> None:
        """Every site is online at the parent, with a Compute.Work rate."""
        wait_until(lambda: len(self.parent_nodes()) == len(self.sites), 60, "the sites to link")
        wait_until(lambda: rated(self.parent), 60, "the sites' rates at the parent")

    def stop(self) -> None:
        for site in self.sites.values():
            site.stop()
        self.parent.stop()


def rated(farm: ProcessFarm, names: set[str] | None = None) -> bool:
    """Every online node of the farm (each of `names`, when given) has a Compute.Work rate."""
    nodes = [n for n in farm.api("GET", "/nodes").json() if n["state"] != "offline"]
    if names is not None:
        nodes = [n for n in nodes if n["name"] in names]
        if len(nodes) < len(names):
            return False
    return bool(nodes) and all(
        any(r["activity"] == "Compute.Work" for r in n["rates"]) for n in nodes
    )
