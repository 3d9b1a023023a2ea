"""NodeResourcesFit and NodeResourcesBalancedAllocation.

**NodeResourcesFit** filters nodes whose free allocatable resources (allocatable minus the
requests of the pods on the node, assumed pods included) cannot hold the pod's requests —
reasons ``Insufficient cpu``, ``Insufficient memory``, ``Insufficient <resource>`` and, for
the pod count, ``Too many pods``. A request of zero is never insufficient. It scores
(weight 1) with a strategy over weighted resources (default cpu and memory, weight 1 each):

* ``LeastAllocated`` (default): ``(allocatable - requested) * 100 / allocatable``;
* ``MostAllocated``: ``requested * 100 / allocatable`` (requested capped at allocatable);
* ``RequestedToCapacityRatio``: a piecewise-linear ``shape`` of (utilisation %, score 0 to 10).

``requested`` includes the incoming pod; for cpu and memory it uses the *non-zero* requests
(100m and 200Mi for containers that request none), as kube-scheduler does. The node score is
the weight-averaged resource score, integer-divided (rounded for RequestedToCapacityRatio).

**NodeResourcesBalancedAllocation** (weight 1) prefers nodes whose cpu and memory fractions
stay close: ``(1 - std(fractions)) * 100``, with actual (not non-zero) requests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from korch import errors
from korch.scheduler import _cache, _plugins_node, _podinfo
from korch.scheduler import _framework as fw

__all__ = ("NodeResourcesBalancedAllocation", "NodeResourcesFit")

_CPU, _MEMORY = _podinfo.CPU, _podinfo.MEMORY
_STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")


def _insufficient(name: str) -> str:
    return f"Insufficient {name}"


class NodeResourcesFit(_plugins_node.PluginBase):
    """See the module docstring. ``NodeResourcesFit(strategy="MostAllocated",
    resources={"cpu": 1, "memory": 1}, shape=[(0, 10), (100, 0)])``."""

    name = "NodeResourcesFit"
    batch_scope = "node"
    TOO_MANY_PODS = "Too many pods"

    def __init__(
        self,
        *,
        strategy: str = "LeastAllocated",
        resources: dict[str, int] | None = None,
        shape: Sequence[tuple[int, int]] = ((0, 10), (100, 0)),
        ignored_resources: Sequence[str] = (),
    ) -> None:
        if strategy not in _STRATEGIES:
            raise errors.BadRequest(
                f"scoringStrategy.type: Unsupported value: {strategy!r}: supported values: "
                + ", ".join(_STRATEGIES)
            )
        self.strategy = strategy
        self.resources = dict(resources or {_CPU: 1, _MEMORY: 1})
        if any(w <= 0 for w in self.resources.values()):
            raise errors.BadRequest("scoringStrategy.resources: weights must be positive")
        points = sorted(shape)
        if not points:
            raise errors.BadRequest("scoringStrategy.requestedToCapacityRatio.shape: empty")
        self.shape = [(u, s * fw.MAX_NODE_SCORE // 10) for u, s in points]
        self.ignored = frozenset(ignored_resources)

    # -- filter -------------------------------------------------------------------------

    def _requests(self, pod: _podinfo.PodInfo) -> list[tuple[str, int]]:
        return [(n, a) for n, a in pod.requests.items() if a > 0 and n not in self.ignored]

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        reasons = []
        if len(node.pods) + 1 > node.allocatable.get(_podinfo.PODS, 0):
            reasons.append(self.TOO_MANY_PODS)
        for name, amount in self._requests(pod):
            free = node.allocatable.get(name, 0) - node.requested.get(name, 0)
            if amount > free:
                reasons.append(_insufficient(name))
        if reasons:
            return fw.Status.unschedulable(*reasons, plugin=self.name)
        return fw.SUCCESS

    def filter_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> fw.FilterResult:
        size = cache.size
        too_many = cache.pod_count[:size] + 1 > cache.allowed_pods[:size]
        failed = too_many.copy()
        reasons = [(fw.Code.UNSCHEDULABLE, self.TOO_MANY_PODS, too_many)]
        for name, amount in self._requests(pod):
            free = cache.column(cache.allocatable, name) - cache.column(cache.requested, name)
            short = free < amount
            failed |= short
            reasons.append((fw.Code.UNSCHEDULABLE, _insufficient(name), short))
        return fw.FilterResult(~failed, tuple(reasons))

    # -- score --------------------------------------------------------------------------

    def _resource_score(self, requested: Any, allocatable: Any) -> Any:
        """Per-resource score, vectorised (also used with 0-d arrays by the reference)."""
        safe = np.where(allocatable == 0, 1, allocatable)
        if self.strategy == "LeastAllocated":
            score = np.where(requested > allocatable, 0, (allocatable - requested) * 100 // safe)
        elif self.strategy == "MostAllocated":
            score = np.minimum(requested, allocatable) * 100 // safe
        else:
            utilisation = np.where(requested > allocatable, 100, requested * 100 // safe)
            score = self._shape(utilisation)
        return np.where(allocatable == 0, 0, score)

    def _shape(self, utilisation: Any) -> Any:
        points = self.shape
        result = np.full(np.shape(utilisation), points[-1][1], dtype=np.int64)
        for i in range(len(points) - 1, 0, -1):
            (u0, s0), (u1, s1) = points[i - 1], points[i]
            inside = utilisation <= u1
            span = max(u1 - u0, 1)
            result = np.where(inside, s0 + (s1 - s0) * (utilisation - u0) // span, result)
        return np.where(utilisation <= points[0][0], points[0][1], result)

    def _combine(self, per_resource: list[tuple[int, Any, Any]]) -> Any:
        total = weights = None
        for weight, score, allocatable in per_resource:
            counted = allocatable != 0
            if self.strategy == "RequestedToCapacityRatio":
                counted = counted & (score > 0)
            part = np.where(counted, score * weight, 0)
            w = np.where(counted, weight, 0)
            total = part if total is None else total + part
            weights = w if weights is None else weights + w
        assert total is not None and weights is not None
        safe = np.where(weights == 0, 1, weights)
        if self.strategy == "RequestedToCapacityRatio":
            combined = np.floor(total / safe + 0.5).astype(np.int64)  # math.Round for ≥ 0
        else:
            combined = total // safe
        return np.where(weights == 0, 0, combined)

    def _requested(self, name: str, node_non_zero: Any, node_requested: Any, pod: Any) -> Any:
        if name == _CPU:
            return node_non_zero[0] + pod.non_zero_cpu
        if name == _MEMORY:
            return node_non_zero[1] + pod.non_zero_memory
        return node_requested + pod.requests.get(name, 0)

    def _plain_resource_score(self, requested: int, allocatable: int) -> int:
        if allocatable == 0:
            return 0
        if self.strategy == "LeastAllocated":
            return 0 if requested > allocatable else (allocatable - requested) * 100 // allocatable
        if self.strategy == "MostAllocated":
            return min(requested, allocatable) * 100 // allocatable
        utilisation = 100 if requested > allocatable else requested * 100 // allocatable
        points = self.shape
        if utilisation <= points[0][0]:
            return points[0][1]
        for (u0, s0), (u1, s1) in itertools.pairwise(points):
            if utilisation <= u1:
                return s0 + (s1 - s0) * (utilisation - u0) // max(u1 - u0, 1)
        return points[-1][1]

    def score(self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> int:
        total = weights = 0
        for name, weight in self.resources.items():
            allocatable = node.allocatable.get(name, 0)
            if allocatable == 0:
                continue
            if name == _CPU:
                requested = node.non_zero_cpu + pod.non_zero_cpu
            elif name == _MEMORY:
                requested = node.non_zero_memory + pod.non_zero_memory
            else:
                requested = node.requested.get(name, 0) + pod.requests.get(name, 0)
            score = self._plain_resource_score(requested, allocatable)
            if self.strategy == "RequestedToCapacityRatio" and score <= 0:
                continue
            total += score * weight
            weights += weight
        if weights == 0:
            return 0
        if self.strategy == "RequestedToCapacityRatio":
            return math.floor(total / weights + 0.5)
        return total // weights

    def score_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> Any:
        parts = []
        non_zero = (cache.non_zero_cpu[feasible], cache.non_zero_memory[feasible])
        for name, weight in self.resources.items():
            allocatable = cache.column(cache.allocatable, name)[feasible]
            node_requested = cache.column(cache.requested, name)[feasible]
            requested = self._requested(name, non_zero, node_requested, pod)
            parts.append((weight, self._resource_score(requested, allocatable), allocatable))
        return self._combine(parts)

    def normalize_score(self, state: fw.CycleState, pod: _podinfo.PodInfo, scores: Any) -> None:
        return None

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (
            fw.ClusterEvent(fw.EventResource.POD, fw.ActionType.DELETE),
            fw.ClusterEvent(
                fw.EventResource.NODE, fw.ActionType.ADD | fw.ActionType.UPDATE_NODE_ALLOCATABLE
            ),
        )


def _balanced(fractions: list[float]) -> int:
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    else:
        std = 0.0
    return int((1 - std) * fw.MAX_NODE_SCORE)


class NodeResourcesBalancedAllocation(_plugins_node.PluginBase):
    """See the module docstring."""

    name = "NodeResourcesBalancedAllocation"
    batch_scope = "node"

    def __init__(self, *, resources: Sequence[str] = (_CPU, _MEMORY)) -> None:
        self.resources = tuple(resources)

    def score(self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> int:
        fractions = []
        for name in self.resources:
            allocatable = node.allocatable.get(name, 0)
            if allocatable == 0:
                continue
            requested = node.requested.get(name, 0) + pod.requests.get(name, 0)
            fractions.append(min(requested / allocatable, 1.0))
        return _balanced(fractions)

    def score_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> Any:
        fractions = []
        present = []
        for name in self.resources:
            allocatable = cache.column(cache.allocatable, name)[feasible]
            requested = cache.column(cache.requested, name)[feasible] + pod.requests.get(name, 0)
            has = allocatable != 0
            safe = np.where(has, allocatable, 1)
            fractions.append(np.where(has, np.minimum(requested / safe, 1.0), 0.0))
            present.append(has)
        if len(self.resources) == 2 and all(p.all() for p in present):
            std = np.abs((fractions[0] - fractions[1]) / 2)
            return ((1 - std) * fw.MAX_NODE_SCORE).astype(np.int64)
        # general case (a node lacking a resource): per node, as the reference does
        out = np.empty(len(feasible), dtype=np.int64)
        for i in range(len(feasible)):
            fs = [float(f[i]) for f, p in zip(fractions, present, strict=True) if p[i]]
            out[i] = _balanced(fs)
        return out

    def normalize_score(self, state: fw.CycleState, pod: _podinfo.PodInfo, scores: Any) -> None:
        return None

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return ()
