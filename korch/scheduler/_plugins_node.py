"""Default plugins that look at one node at a time: PrioritySort, SchedulingGates,
NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts and ImageLocality.

Each has the plain per-node ``filter``/``score`` and a batch form over the cache's columns.
Batch forms evaluate a label requirement once per *distinct value* of the label and index
the answer by the node's value code, so a node selector costs a few array operations
whatever the number of nodes; results that depend only on node objects are memoised per
pod signature until a node changes (:meth:`korch.scheduler.Cache.memo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from korch.api import _core_node, _scheduling_terms
from korch.scheduler import _cache, _podinfo
from korch.scheduler import _framework as fw

__all__ = (
    "ImageLocality",
    "NodeAffinity",
    "NodeName",
    "NodePorts",
    "NodeUnschedulable",
    "PrioritySort",
    "SchedulingGates",
    "TaintToleration",
)

_NODE_EVENT = fw.EventResource.NODE
_ADD, _DELETE = fw.ActionType.ADD, fw.ActionType.DELETE


class PluginBase:
    """Shared defaults: a class-level ``name`` and no registered events."""

    name: ClassVar[str] = ""
    # what a batch result depends on, so equivalent pods can share it: "static" (node
    # objects only: reused until a node changes), "node" (a node and its own pods: nodes
    # whose pods changed are re-evaluated one by one) or "cluster" (recomputed every cycle)
    batch_scope: ClassVar[str] = "cluster"

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PrioritySort(PluginBase):
    """QueueSort: higher ``spec.priority`` first, then earlier queue entry."""

    name = "PrioritySort"

    def less(self, a: _podinfo.QueuedPodInfo, b: _podinfo.QueuedPodInfo) -> bool:
        pa, pb = a.info.priority, b.info.priority
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)


class SchedulingGates(PluginBase):
    """PreEnqueue: a pod with ``spec.schedulingGates`` waits outside the active queue."""

    name = "SchedulingGates"

    def pre_enqueue(self, pod: _podinfo.PodInfo) -> fw.Status:
        gates = [g.name for g in pod.pod.spec.scheduling_gates]
        if not gates:
            return fw.SUCCESS
        return fw.Status.unresolvable(
            f"waiting for scheduling gates: [{' '.join(gates)}]", plugin=self.name
        )

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (
            fw.ClusterEvent(
                fw.EventResource.POD, fw.ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED
            ),
        )


_UNSCHEDULABLE_TAINT = _core_node.Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")


class NodeUnschedulable(PluginBase):
    """Filter: nodes with ``spec.unschedulable`` unless the pod tolerates their taint."""

    name = "NodeUnschedulable"
    batch_scope = "static"
    REASON = "node(s) were unschedulable"

    def _tolerated(self, pod: _podinfo.PodInfo) -> bool:
        return _scheduling_terms.tolerations_tolerate_taint(pod.tolerations, _UNSCHEDULABLE_TAINT)

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        if node.unschedulable and not self._tolerated(pod):
            return fw.Status.unresolvable(self.REASON, plugin=self.name)
        return fw.SUCCESS

    def filter_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> fw.FilterResult:
        bad = cache.unschedulable[: cache.size]
        if self._tolerated(pod) or not bad.any():
            return fw.FilterResult(np.ones(cache.size, dtype=np.bool_))
        return fw.FilterResult(~bad, ((fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, self.REASON, bad),))

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (fw.ClusterEvent(_NODE_EVENT, _ADD | fw.ActionType.UPDATE_NODE_TAINT),)


class NodeName(PluginBase):
    """Filter: a pod that names a node (``spec.nodeName``) fits only that node."""

    name = "NodeName"
    batch_scope = "static"
    REASON = "node(s) didn't match the requested node name"

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        wanted = pod.pod.spec.node_name
        if wanted and wanted != node.name:
            return fw.Status.unresolvable(self.REASON, plugin=self.name)
        return fw.SUCCESS

    def filter_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> fw.FilterResult:
        wanted = pod.pod.spec.node_name
        passed = np.ones(cache.size, dtype=np.bool_)
        if not wanted:
            return fw.FilterResult(passed)
        passed[:] = False
        if wanted in cache.by_name:
            passed[cache.slot_of(wanted)] = True
        return fw.FilterResult(
            passed, ((fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, self.REASON, ~passed),)
        )

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (fw.ClusterEvent(_NODE_EVENT, _ADD),)


def _taint_reason(taint: Any) -> str:
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


class TaintToleration(PluginBase):
    """Filter: NoSchedule/NoExecute taints must be tolerated. Score (weight 3): fewer
    untolerated PreferNoSchedule taints is better (normalised, reversed)."""

    name = "TaintToleration"
    batch_scope = "static"

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        taint = _scheduling_terms.find_untolerated_taint(node.taints, pod.tolerations)
        if taint is None:
            return fw.SUCCESS
        return fw.Status.unresolvable(_taint_reason(taint), plugin=self.name)

    @staticmethod
    def _groups(cache: _cache.Cache) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
        def compute() -> tuple[np.ndarray, list[tuple[Any, ...]]]:
            ids = np.zeros(cache.size, dtype=np.int64)
            groups: dict[tuple[Any, ...], int] = {(): 0}
            for node in cache.node_infos():
                ids[node.slot] = groups.setdefault(node.taints, len(groups))
            return ids, list(groups)

        result: tuple[np.ndarray, list[tuple[Any, ...]]] = cache.memo("taint-groups", compute)
        return result

    def filter_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> fw.FilterResult:
        ids, groups = self._groups(cache)
        if len(groups) == 1:
            return fw.FilterResult(np.ones(cache.size, dtype=np.bool_))
        untolerated = [
            _scheduling_terms.find_untolerated_taint(taints, pod.tolerations) for taints in groups
        ]
        ok = np.array([t is None for t in untolerated], dtype=np.bool_)
        passed = ok[ids]
        reasons: dict[str, list[int]] = {}
        for group, taint in enumerate(untolerated):
            if taint is not None:
                reasons.setdefault(_taint_reason(taint), []).append(group)
        return fw.FilterResult(
            passed,
            tuple(
                (fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reason, np.isin(ids, members))
                for reason, members in reasons.items()
            ),
        )

    @staticmethod
    def _preferable(pod: _podinfo.PodInfo) -> list[Any]:
        return [t for t in pod.tolerations if not t.effect or t.effect == "PreferNoSchedule"]

    @staticmethod
    def _count(taints: Sequence[Any], tolerations: list[Any]) -> int:
        return sum(
            1
            for taint in taints
            if taint.effect == "PreferNoSchedule"
            and not _scheduling_terms.tolerations_tolerate_taint(tolerations, taint)
        )

    def score(self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> int:
        return self._count(node.taints, self._preferable(pod))

    def score_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> Any:
        ids, groups = self._groups(cache)
        if len(groups) == 1:
            return np.zeros(len(feasible), dtype=np.int64)
        tolerations = self._preferable(pod)
        per_group = np.array([self._count(t, tolerations) for t in groups], dtype=np.int64)
        return per_group[ids[feasible]]

    def normalize_score(self, state: fw.CycleState, pod: _podinfo.PodInfo, scores: Any) -> None:
        fw.default_normalize(scores, reverse=True)

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (fw.ClusterEvent(_NODE_EVENT, _ADD | fw.ActionType.UPDATE_NODE_TAINT),)


# -- node affinity -----------------------------------------------------------------------


def requirement_mask(cache: _cache.Cache, requirement: Any) -> np.ndarray:
    """Per slot, whether the node's labels satisfy one label requirement (evaluated once
    per distinct value of the label)."""
    codes, values = cache.label_column(requirement.key)
    key = requirement.key
    answers = [requirement.matches({key: v}) for v in values]
    answers.append(requirement.matches({}))  # code -1: no such label
    return np.array(answers, dtype=np.bool_)[codes]


def term_mask(cache: _cache.Cache, term: _scheduling_terms.CompiledNodeSelectorTerm) -> np.ndarray:
    """Per slot, whether a node matches one compiled node selector term."""
    size = cache.size
    if term.error is not None or (term.labels is None and term.fields is None):
        return np.zeros(size, dtype=np.bool_)
    mask = np.ones(size, dtype=np.bool_)
    if term.labels is not None:
        for requirement in term.labels.requirements:
            mask &= requirement_mask(cache, requirement)
    if term.fields is not None:
        for _field, operator, value in term.fields.requirements:
            named = np.zeros(size, dtype=np.bool_)
            if value in cache.by_name:
                named[cache.slot_of(value)] = True
            mask &= named if operator == "=" else ~named
    return mask


def required_affinity_mask(cache: _cache.Cache, pod: _podinfo.PodInfo) -> np.ndarray:
    """Per slot, whether a node fits the pod's nodeSelector and required node affinity
    (memoised per pod signature until a node changes)."""

    def compute() -> np.ndarray:
        mask = np.ones(cache.size, dtype=np.bool_)
        for key, value in pod.node_selector.items():
            codes, values = cache.label_column(key)
            wanted = values.index(value) if value in values else -2
            mask &= codes == wanted
        if pod.required_node_affinity is not None:
            any_term = np.zeros(cache.size, dtype=np.bool_)
            for term in pod.required_node_affinity.terms:
                any_term |= term_mask(cache, term)
            mask &= any_term
        return mask

    if not pod.node_selector and pod.required_node_affinity is None:
        return np.ones(cache.size, dtype=np.bool_)
    result: np.ndarray = cache.memo(("node-affinity", pod.signature), compute)
    return result


def node_fits_affinity(pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> bool:
    """The plain per-node check of nodeSelector and required node affinity."""
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return False
    return pod.required_node_affinity is None or pod.required_node_affinity.matches(
        node.labels, _scheduling_terms.node_fields(node.name)
    )


class NodeAffinity(PluginBase):
    """Filter: ``spec.nodeSelector`` and required node affinity. Score (weight 2): the
    summed weights of matching preferred terms, normalised by the maximum."""

    name = "NodeAffinity"
    batch_scope = "static"
    REASON = "node(s) didn't match Pod's node affinity/selector"

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        if node_fits_affinity(pod, node):
            return fw.SUCCESS
        return fw.Status.unresolvable(self.REASON, plugin=self.name)

    def filter_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> fw.FilterResult:
        passed = required_affinity_mask(cache, pod)
        return fw.FilterResult(
            passed, ((fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, self.REASON, ~passed),)
        )

    def score(self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> int:
        fields = _scheduling_terms.node_fields(node.name)
        return sum(
            w for w, term in pod.preferred_node_affinity if term.matches(node.labels, fields)
        )

    def score_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> Any:
        if not pod.preferred_node_affinity:
            return np.zeros(len(feasible), dtype=np.int64)

        def compute() -> np.ndarray:
            total = np.zeros(cache.size, dtype=np.int64)
            for weight, term in pod.preferred_node_affinity:
                total += weight * term_mask(cache, term)
            return total

        scores: np.ndarray = cache.memo(("preferred-affinity", pod.signature), compute)
        return scores[feasible]

    def normalize_score(self, state: fw.CycleState, pod: _podinfo.PodInfo, scores: Any) -> None:
        fw.default_normalize(scores)

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (fw.ClusterEvent(_NODE_EVENT, _ADD | fw.ActionType.UPDATE_NODE_LABEL),)


# -- ports and images ------------------------------------------------------------------------


def _ports_conflict(wanted: tuple[str, str, int], used: dict[tuple[str, str, int], int]) -> bool:
    ip, protocol, port = wanted
    for used_ip, used_protocol, used_port in used:
        same_port = used_port == port and used_protocol == protocol
        if same_port and (ip == used_ip or "0.0.0.0" in (ip, used_ip)):
            return True
    return False


class NodePorts(PluginBase):
    """Filter: the pod's host ports (protocol, port; 0.0.0.0 meaning every IP) must be free."""

    name = "NodePorts"
    batch_scope = "node"
    REASON = "node(s) didn't have free ports for the requested pod ports"

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        if any(_ports_conflict(p, node.used_ports) for p in pod.host_ports):
            return fw.Status.unschedulable(self.REASON, plugin=self.name)
        return fw.SUCCESS

    def filter_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> fw.FilterResult:
        passed = np.ones(cache.size, dtype=np.bool_)
        if not pod.host_ports:
            return fw.FilterResult(passed)
        for node in cache.node_infos():
            if node.used_ports and any(_ports_conflict(p, node.used_ports) for p in pod.host_ports):
                passed[node.slot] = False
        return fw.FilterResult(passed, ((fw.Code.UNSCHEDULABLE, self.REASON, ~passed),))

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (
            fw.ClusterEvent(fw.EventResource.POD, _DELETE),
            fw.ClusterEvent(_NODE_EVENT, _ADD),
        )


_MB = 1024 * 1024
_MIN_THRESHOLD = 23 * _MB
_MAX_CONTAINER_THRESHOLD = 1000 * _MB


class ImageLocality(PluginBase):
    """Score (weight 1): nodes that already have the pod's images, by image size scaled
    by how widely the image is spread (kube-scheduler's thresholds: 23 MB to 1000 MB per
    container)."""

    name = "ImageLocality"
    batch_scope = "static"

    def _spread(self, cache: _cache.Cache, image: str) -> tuple[np.ndarray, int]:
        def compute() -> tuple[np.ndarray, int]:
            sizes = np.full(cache.size, -1, dtype=np.int64)
            for node in cache.node_infos():
                sizes[node.slot] = node.images.get(image, -1)
            return sizes, int((sizes >= 0).sum())

        result: tuple[np.ndarray, int] = cache.memo(("image", image), compute)
        return result

    @staticmethod
    def _priority(total: Any, containers: int) -> Any:
        top = _MAX_CONTAINER_THRESHOLD * containers
        clipped = np.clip(total, _MIN_THRESHOLD, top)
        return fw.MAX_NODE_SCORE * (clipped - _MIN_THRESHOLD) // (top - _MIN_THRESHOLD)

    def score(self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> int:
        if not pod.images:
            return 0
        cache: _cache.Cache = state.read(self.name)
        total = 0
        for image in pod.images:
            if image in node.images:
                having = sum(1 for n in cache.node_infos() if image in n.images)
                total += int(node.images[image] * (having / cache.node_count))
        return int(self._priority(np.int64(total), len(pod.images)))

    def pre_score(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> fw.Status:
        state.write(self.name, cache)
        return fw.SUCCESS

    def score_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> Any:
        if not pod.images:
            return np.zeros(len(feasible), dtype=np.int64)
        total = np.zeros(len(feasible), dtype=np.int64)
        for image in pod.images:
            sizes, having = self._spread(cache, image)
            if having <= 0:
                continue
            spread = having / cache.node_count
            picked = sizes[feasible]
            total += np.where(picked >= 0, (picked * spread).astype(np.int64), 0)
        return self._priority(total, len(pod.images))

    def normalize_score(self, state: fw.CycleState, pod: _podinfo.PodInfo, scores: Any) -> None:
        return None
