"""The dispatcher package: maps in flight, node links, leases and results, and the farm's one
read model. Everything outside it uses `Dispatcher` (the commands) and `FarmView` (the reads)."""

from witengine.hub.dispatch.dispatcher import Dispatcher
from witengine.hub.dispatch.links import Placement
from witengine.hub.dispatch.maps import Estimator, Requirer, no_requirements, uniform_estimate
from witengine.hub.dispatch.records import Comparer, ExactComparer, Json
from witengine.hub.dispatch.state import DispatchTimes
from witengine.hub.dispatch.view import FarmView, MapInfo, NodeFacts, node_state, state_reason

__all__ = [
    "Comparer",
    "DispatchTimes",
    "Dispatcher",
    "Estimator",
    "ExactComparer",
    "FarmView",
    "Json",
    "MapInfo",
    "NodeFacts",
    "Placement",
    "Requirer",
    "no_requirements",
    "node_state",
    "state_reason",
    "uniform_estimate",
]
