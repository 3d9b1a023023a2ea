"""korch.scheduler — kube-scheduler's framework, plugins, queue and cache, in Python.

See ``docs/scheduler.md``. In short::

    from korch.scheduler import Scheduler, default_profile
    scheduler = Scheduler(client)                 # kube-scheduler's default profile
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)              # list+watch, schedule, bind until cancelled

Plugins implement one small Protocol per extension point (:mod:`._framework`); profiles
(:class:`Profile`, :func:`build_profile`) pick plugins and weights per ``schedulerName``;
third-party plugins register under the entry-point group ``korch.scheduler.plugins``.
"""

from __future__ import annotations

from korch.scheduler._binding import DefaultBinder
from korch.scheduler._cache import Cache, NodeInfo
from korch.scheduler._coscheduling import Coscheduling
from korch.scheduler._framework import (
    MAX_NODE_SCORE,
    ActionType,
    BatchFilter,
    BatchScore,
    BindPlugin,
    ClusterEvent,
    Code,
    CycleState,
    EnqueueExtensions,
    EventResource,
    FilterPlugin,
    FilterResult,
    PermitPlugin,
    Plugin,
    PostBindPlugin,
    PostFilterPlugin,
    PostFilterResult,
    PreBindPlugin,
    PreEnqueuePlugin,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
    Status,
    default_normalize,
)
from korch.scheduler._plugins_affinity import InterPodAffinity
from korch.scheduler._plugins_node import (
    ImageLocality,
    NodeAffinity,
    NodeName,
    NodePorts,
    NodeUnschedulable,
    PluginBase,
    PrioritySort,
    SchedulingGates,
    TaintToleration,
)
from korch.scheduler._plugins_resources import NodeResourcesBalancedAllocation, NodeResourcesFit
from korch.scheduler._plugins_spread import PodTopologySpread
from korch.scheduler._plugins_volume import VolumeBinding, VolumeZone
from korch.scheduler._podinfo import AffinityTerm, PodInfo, QueuedPodInfo, SpreadConstraint
from korch.scheduler._preemption import DefaultPreemption
from korch.scheduler._profile import Diagnosis, Profile, ScheduleResult, nodes_to_find
from korch.scheduler._queue import SchedulingQueue
from korch.scheduler._registry import (
    DEFAULT_WEIGHTS,
    ENTRY_POINT_GROUP,
    Handle,
    PluginFactory,
    build_profile,
    default_profile,
    plugin_factories,
    register_plugin,
)
from korch.scheduler._scheduler import Scheduler, SchedulerStats
from korch.scheduler._waiting import WaitingPod, WaitingPods

__all__ = (
    "DEFAULT_WEIGHTS",
    "ENTRY_POINT_GROUP",
    "MAX_NODE_SCORE",
    "ActionType",
    "AffinityTerm",
    "BatchFilter",
    "BatchScore",
    "BindPlugin",
    "Cache",
    "ClusterEvent",
    "Code",
    "Coscheduling",
    "CycleState",
    "DefaultBinder",
    "DefaultPreemption",
    "Diagnosis",
    "EnqueueExtensions",
    "EventResource",
    "FilterPlugin",
    "FilterResult",
    "Handle",
    "ImageLocality",
    "InterPodAffinity",
    "NodeAffinity",
    "NodeInfo",
    "NodeName",
    "NodePorts",
    "NodeResourcesBalancedAllocation",
    "NodeResourcesFit",
    "NodeUnschedulable",
    "PermitPlugin",
    "Plugin",
    "PluginBase",
    "PluginFactory",
    "PodInfo",
    "PodTopologySpread",
    "PostBindPlugin",
    "PostFilterPlugin",
    "PostFilterResult",
    "PreBindPlugin",
    "PreEnqueuePlugin",
    "PreFilterPlugin",
    "PreFilterResult",
    "PreScorePlugin",
    "PrioritySort",
    "Profile",
    "QueueSortPlugin",
    "QueuedPodInfo",
    "ReservePlugin",
    "ScheduleResult",
    "Scheduler",
    "SchedulerStats",
    "SchedulingGates",
    "SchedulingQueue",
    "ScorePlugin",
    "SpreadConstraint",
    "Status",
    "TaintToleration",
    "VolumeBinding",
    "VolumeZone",
    "WaitingPod",
    "WaitingPods",
    "build_profile",
    "default_normalize",
    "default_profile",
    "nodes_to_find",
    "plugin_factories",
    "register_plugin",
)
