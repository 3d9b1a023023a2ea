"""The scheduling framework: extension points, statuses, cycle state and cluster events.

As in kube-scheduler (``framework/interface.go``), a plugin is an object with a ``name`` that
implements one or more extension-point Protocols; a profile lists which plugins run at which
point, in order, with score weights. One Protocol per extension point:

========================  ======================================================================
PreEnqueue                may the pod enter the active queue at all (SchedulingGates)
QueueSort                 ``less(a, b)``: the order of the active queue (PrioritySort)
PreFilter                 per-pod precomputation; may reject the pod or narrow the nodes
Filter                    ``filter(state, pod, node)``: may the pod run on this node
PostFilter                after every node was rejected (DefaultPreemption)
PreScore                  per-pod precomputation for scoring; may ``Skip``
Score                     ``score(state, pod, node)`` in 0..100, then ``normalize_score``
Reserve                   ``reserve``/``unreserve``: claim and release per-node state
Permit                    allow, reject, or ``Wait`` (with a timeout) before binding
PreBind, Bind, PostBind   the binding cycle, run asynchronously after the pod is assumed
========================  ======================================================================

**The fast path.** ``filter`` and ``score`` are the plain per-node reference: they read one
:class:`~korch.scheduler.NodeInfo`. A plugin may also implement :class:`BatchFilter` /
:class:`BatchScore`, which answer for every node at once from the cache's numpy columns. The
framework uses the batch form when present and falls back to calling the per-node form in a
loop (so third-party plugins need only the simple form). ``CycleState.reference`` forces the
per-node path everywhere; a property test checks both make the same decisions.

**Statuses are values.** Unschedulable is not an error: every hook returns a :class:`Status`.
``Status.plugin`` names the plugin that produced it; the queue uses it to decide which cluster
events may make the pod schedulable again (:meth:`EnqueueExtensions.events_to_register`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from korch.scheduler import _cache, _podinfo

__all__ = (
    "MAX_NODE_SCORE",
    "ActionType",
    "BatchFilter",
    "BatchScore",
    "BindPlugin",
    "ClusterEvent",
    "Code",
    "CycleState",
    "EnqueueExtensions",
    "EventResource",
    "FilterPlugin",
    "FilterResult",
    "PermitPlugin",
    "Plugin",
    "PostBindPlugin",
    "PostFilterPlugin",
    "PostFilterResult",
    "PreBindPlugin",
    "PreEnqueuePlugin",
    "PreFilterPlugin",
    "PreFilterResult",
    "PreScorePlugin",
    "QueueSortPlugin",
    "ReservePlugin",
    "ScorePlugin",
    "Status",
)

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


class Code(enum.IntEnum):
    """The outcome of a plugin hook (kube-scheduler's status codes)."""

    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5
    PENDING = 6


@attrs.frozen
class Status:
    """What a hook decided: a :class:`Code`, the reasons, and the plugin that said so.

    ``Status()`` is success. Reasons are the short phrases kube-scheduler counts in its
    ``0/5000 nodes are available: 3 Insufficient cpu.`` message.
    """

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(Code.UNSCHEDULABLE, reasons, plugin)

    @classmethod
    def unresolvable(cls, *reasons: str, plugin: str = "") -> Status:
        """``UnschedulableAndUnresolvable``: preempting pods would not help either."""
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons, plugin)

    @classmethod
    def error(cls, message: str, *, plugin: str = "") -> Status:
        return cls(Code.ERROR, (message,), plugin)

    @property
    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    @property
    def is_rejected(self) -> bool:
        """Unschedulable or UnschedulableAndUnresolvable (or Pending)."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> Status:
        return self if self.plugin else attrs.evolve(self, plugin=plugin)


SUCCESS = Status()


class CycleState:
    """Per-pod scratch space shared by the plugins of one scheduling cycle.

    Plugins store what PreFilter/PreScore computed under their own name
    (``state.write("NodeResourcesFit", data)``) and read it back in Filter/Score.
    ``reference`` is True when the framework runs the plain per-node implementations.
    """

    __slots__ = ("_data", "reference", "skip_filter", "skip_score")

    def __init__(self, *, reference: bool = False) -> None:
        self._data: dict[str, Any] = {}
        self.reference = reference
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str) -> Any:
        """The value stored under ``key``; raises KeyError if PreFilter/PreScore did not run."""
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)


# -- cluster events (what may make a rejected pod schedulable) -------------------------------


class EventResource(enum.StrEnum):
    POD = "Pod"
    ASSIGNED_POD = "AssignedPod"
    UNSCHEDULED_POD = "UnscheduledPod"
    NODE = "Node"
    PERSISTENT_VOLUME = "PersistentVolume"
    PERSISTENT_VOLUME_CLAIM = "PersistentVolumeClaim"
    WILDCARD = "*"


class ActionType(enum.IntFlag):
    ADD = 1
    DELETE = 2
    UPDATE_NODE_ALLOCATABLE = 4
    UPDATE_NODE_LABEL = 8
    UPDATE_NODE_TAINT = 16
    UPDATE_NODE_CONDITION = 32
    UPDATE_POD_LABEL = 64
    UPDATE_POD_SCALE_DOWN = 128
    UPDATE_POD_TOLERATIONS = 256
    UPDATE_POD_SCHEDULING_GATES_ELIMINATED = 512
    UPDATE = (
        UPDATE_NODE_ALLOCATABLE
        | UPDATE_NODE_LABEL
        | UPDATE_NODE_TAINT
        | UPDATE_NODE_CONDITION
        | UPDATE_POD_LABEL
        | UPDATE_POD_SCALE_DOWN
        | UPDATE_POD_TOLERATIONS
        | UPDATE_POD_SCHEDULING_GATES_ELIMINATED
    )
    ALL = ADD | DELETE | UPDATE


@attrs.frozen
class ClusterEvent:
    """A change in the cluster: ``ClusterEvent(EventResource.NODE, ActionType.ADD)``."""

    resource: EventResource
    action: ActionType

    def matches(self, incoming: ClusterEvent) -> bool:
        """Whether a registered event covers ``incoming`` (resources equal or wildcard,
        actions overlapping). A registered ``Pod`` event covers pods on nodes
        (``AssignedPod``), as kube-scheduler's queueing hints for Pod events do; pending pods
        (``UnscheduledPod``) must be registered for explicitly."""
        resources = {incoming.resource}
        if incoming.resource is EventResource.ASSIGNED_POD:
            resources.add(EventResource.POD)
        if self.resource is not EventResource.WILDCARD and self.resource not in resources:
            return False
        return bool(self.action & incoming.action)


# -- results --------------------------------------------------------------------------------


@attrs.frozen
class PreFilterResult:
    """Narrows the nodes worth filtering (``None``: all nodes)."""

    node_names: frozenset[str] | None = None


@attrs.frozen
class PostFilterResult:
    """The node the pod was nominated to (after preemption), if any."""

    nominated_node_name: str = ""


@attrs.frozen
class FilterResult:
    """The batch form of Filter: ``passed[i]`` for node slot ``i``, and for the rejected
    nodes the reasons, as ``(code, reason, mask)`` (a node may carry several reasons)."""

    passed: BoolArray
    reasons: tuple[tuple[Code, str, BoolArray], ...] = ()


# -- extension points ------------------------------------------------------------------------


@runtime_checkable
class Plugin(Protocol):
    """Every plugin has a unique name (``"NodeResourcesFit"``)."""

    @property
    def name(self) -> str: ...


@runtime_checkable
class PreEnqueuePlugin(Plugin, Protocol):
    def pre_enqueue(self, pod: _podinfo.PodInfo) -> Status:
        """Success lets the pod into the active queue; anything else keeps it gated."""
        ...


@runtime_checkable
class QueueSortPlugin(Plugin, Protocol):
    def less(self, a: _podinfo.QueuedPodInfo, b: _podinfo.QueuedPodInfo) -> bool:
        """Whether ``a`` is scheduled before ``b``."""
        ...


@runtime_checkable
class EnqueueExtensions(Plugin, Protocol):
    def events_to_register(self) -> Sequence[ClusterEvent]:
        """Cluster events that may make a pod this plugin rejected schedulable."""
        ...


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(
        self, state: CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> tuple[PreFilterResult | None, Status]:
        """Precompute per-pod data; ``Skip`` skips this plugin's Filter."""
        ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> Status:
        """Whether ``pod`` fits ``node`` (the plain per-node reference)."""
        ...


@runtime_checkable
class BatchFilter(Plugin, Protocol):
    def filter_nodes(
        self, state: CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> FilterResult:
        """Filter every node slot at once (must agree with :meth:`FilterPlugin.filter`)."""
        ...


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    async def post_filter(
        self,
        state: CycleState,
        pod: _podinfo.PodInfo,
        cache: _cache.Cache,
        statuses: dict[str, Status],
    ) -> tuple[PostFilterResult | None, Status]:
        """Called when no node fits; ``statuses`` maps node names to their rejection."""
        ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    def pre_score(
        self, state: CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: IntArray
    ) -> Status:
        """Precompute per-pod scoring data over the ``feasible`` node slots; may ``Skip``."""
        ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> int:
        """The node's raw score (the plain per-node reference)."""
        ...

    def normalize_score(self, state: CycleState, pod: _podinfo.PodInfo, scores: IntArray) -> None:
        """Rescale raw scores of the feasible nodes into 0..100, in place."""
        ...


@runtime_checkable
class BatchScore(Plugin, Protocol):
    def score_nodes(
        self, state: CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: IntArray
    ) -> IntArray:
        """Raw scores of the ``feasible`` node slots at once (must agree with ``score``)."""
        ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: _podinfo.PodInfo, node_name: str) -> Status: ...

    def unreserve(self, state: CycleState, pod: _podinfo.PodInfo, node_name: str) -> None: ...


@runtime_checkable
class PermitPlugin(Plugin, Protocol):
    def permit(
        self, state: CycleState, pod: _podinfo.PodInfo, node_name: str
    ) -> tuple[Status, float]:
        """Success, a rejection, or ``Wait`` with a timeout in seconds."""
        ...


@runtime_checkable
class PreBindPlugin(Plugin, Protocol):
    async def pre_bind(
        self, state: CycleState, pod: _podinfo.PodInfo, node_name: str
    ) -> Status: ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    async def bind(self, state: CycleState, pod: _podinfo.PodInfo, node_name: str) -> Status:
        """Bind the pod; ``Skip`` passes to the next Bind plugin."""
        ...


@runtime_checkable
class PostBindPlugin(Plugin, Protocol):
    async def post_bind(self, state: CycleState, pod: _podinfo.PodInfo, node_name: str) -> None: ...


def default_normalize(scores: IntArray, *, reverse: bool = False) -> None:
    """kube-scheduler's ``DefaultNormalizeScore``: scale to 0..100 by the maximum, in place."""
    if scores.size == 0:
        return
    top = int(scores.max())
    if top == 0:
        if reverse:
            scores[:] = MAX_NODE_SCORE
        return
    scores *= MAX_NODE_SCORE
    scores //= top
    if reverse:
        np.subtract(MAX_NODE_SCORE, scores, out=scores)
