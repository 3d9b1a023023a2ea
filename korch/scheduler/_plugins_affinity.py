"""InterPodAffinity: place pods near, or away from, other pods (kube-scheduler's rules).

Counts are per *topology pair* (``topologyKey``, the node's value for it):

* **Filter**, in this order: (1) every required affinity term of the pod needs the node to
  carry its topology key and a pod matching *all* the pod's affinity terms in the node's
  domain — unless no such pod exists anywhere and the pod matches its own terms (the first
  pod of a group), which only needs the keys (``node(s) didn't match pod affinity rules``,
  unresolvable); (2) no pod matching one of the pod's required anti-affinity terms in the
  node's domain for that term (``node(s) didn't match pod anti-affinity rules``); (3) no
  existing pod whose required anti-affinity term matches this pod in the node's domain for
  that term (``node(s) didn't satisfy existing pods anti-affinity rules``).
* **Score** (weight 2): per topology pair, plus the weight for each existing pod matching
  one of the pod's preferred affinity terms, minus it for preferred anti-affinity, plus
  ``hardPodAffinityWeight`` (1) for each existing pod whose *required* affinity term matches
  this pod, plus or minus the weight of existing pods' preferred (anti-)affinity terms
  matching this pod. A node scores the sum over its pairs, normalised to
  ``100 * (s - min) / (max - min)`` (all 0 when max == min).

The batch path reads two incremental cache indexes: per-node counts of pods matching a term
(:meth:`~korch.scheduler.Cache.count_index`) and per-node weights of the terms existing pods
carry (``Cache.terms``), and sums domains with ``numpy.bincount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from korch.scheduler import _cache, _plugins_node, _podinfo
from korch.scheduler import _framework as fw

__all__ = ("InterPodAffinity",)

REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"

Pair = tuple[str, str]


def _bump(counts: dict[Pair, int], node: _cache.NodeInfo, key: str, value: int) -> None:
    label = node.labels.get(key)
    if label is not None and value:
        pair = (key, label)
        counts[pair] = counts.get(pair, 0) + value


def _domain_sum(cache: _cache.Cache, key: str, weights: Any) -> tuple[Any, Any]:
    """(per slot: the node's domain code, per domain: summed weights)."""
    codes, values = cache.label_column(key)
    has = codes >= 0
    per_domain = np.bincount(codes[has], weights=weights[has], minlength=len(values))
    return codes, per_domain.astype(np.int64)


def _per_node(codes: Any, per_domain: Any) -> Any:
    """Each slot's domain total (0 for nodes without the key)."""
    if len(per_domain) == 0:
        return np.zeros(len(codes), dtype=np.int64)
    return np.where(codes >= 0, per_domain[np.where(codes >= 0, codes, 0)], 0)


def _matches_all(terms: Sequence[_podinfo.AffinityTerm], pod: _podinfo.PodInfo) -> bool:
    return all(t.matches(pod.namespace, pod.labels) for t in terms)


class InterPodAffinity(_plugins_node.PluginBase):
    """See the module docstring."""

    name = "InterPodAffinity"

    def __init__(self, *, hard_pod_affinity_weight: int = 1) -> None:
        self.hard_pod_affinity_weight = hard_pod_affinity_weight

    # -- filter (reference) -----------------------------------------------------------------

    def pre_filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> tuple[fw.PreFilterResult | None, fw.Status]:
        if not (pod.required_affinity or pod.required_anti_affinity or cache.terms):
            return None, fw.Status(fw.Code.SKIP)
        if not state.reference:
            return None, fw.SUCCESS
        existing: dict[Pair, int] = {}
        affinity: dict[Pair, int] = {}
        anti: dict[Pair, int] = {}
        for node in cache.node_infos():
            for other in node.pods.values():
                for t in other.required_anti_affinity:
                    if t.matches(pod.namespace, pod.labels):
                        _bump(existing, node, t.topology_key, 1)
                if pod.required_affinity and _matches_all(pod.required_affinity, other):
                    for t in pod.required_affinity:
                        _bump(affinity, node, t.topology_key, 1)
                for t in pod.required_anti_affinity:
                    if t.matches(other.namespace, other.labels):
                        _bump(anti, node, t.topology_key, 1)
        state.write(self.name, (existing, affinity, anti))
        return None, fw.SUCCESS

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        existing, affinity, anti = state.read(self.name)
        labels = node.labels
        exist = True
        for t in pod.required_affinity:
            value = labels.get(t.topology_key)
            if value is None:
                return fw.Status.unresolvable(REASON_AFFINITY, plugin=self.name)
            if affinity.get((t.topology_key, value), 0) <= 0:
                exist = False
        if not exist and not (not affinity and _matches_all(pod.required_affinity, pod)):
            return fw.Status.unresolvable(REASON_AFFINITY, plugin=self.name)
        for t in pod.required_anti_affinity:
            value = labels.get(t.topology_key)
            if value is not None and anti.get((t.topology_key, value), 0) > 0:
                return fw.Status.unschedulable(REASON_ANTI, plugin=self.name)
        if any(existing.get(pair, 0) > 0 for pair in labels.items()):
            return fw.Status.unschedulable(REASON_EXISTING, plugin=self.name)
        return fw.SUCCESS

    # -- filter (batch) ----------------------------------------------------------------------

    def _matching(self, cache: _cache.Cache, term: _podinfo.AffinityTerm) -> Any:
        return cache.count_index(("term", term), lambda p: int(term.matches(p.namespace, p.labels)))

    def filter_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> fw.FilterResult:
        size = cache.size
        no_affinity = np.zeros(size, dtype=np.bool_)
        if pod.required_affinity:
            terms = pod.required_affinity
            matching = cache.count_index(
                ("all-terms", terms), lambda p: int(_matches_all(terms, p))
            )
            has_all = np.ones(size, dtype=np.bool_)
            exist = np.ones(size, dtype=np.bool_)
            anywhere = False
            for t in terms:
                codes, per_domain = _domain_sum(cache, t.topology_key, matching)
                has_all &= codes >= 0
                exist &= _per_node(codes, per_domain) > 0
                anywhere = anywhere or bool(per_domain.any())
            if not anywhere and _matches_all(terms, pod):
                exist[:] = True
            no_affinity = ~(has_all & exist)
        anti = np.zeros(size, dtype=np.bool_)
        for t in pod.required_anti_affinity:
            codes, per_domain = _domain_sum(cache, t.topology_key, self._matching(cache, t))
            anti |= _per_node(codes, per_domain) > 0
        anti &= ~no_affinity
        existing = np.zeros(size, dtype=np.bool_)
        for (kind, t), weights in cache.terms.items():
            if kind == "anti" and t.matches(pod.namespace, pod.labels):
                codes, per_domain = _domain_sum(cache, t.topology_key, weights[:size])
                existing |= _per_node(codes, per_domain) > 0
        existing &= ~(no_affinity | anti)
        return fw.FilterResult(
            ~(no_affinity | anti | existing),
            (
                (fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON_AFFINITY, no_affinity),
                (fw.Code.UNSCHEDULABLE, REASON_ANTI, anti),
                (fw.Code.UNSCHEDULABLE, REASON_EXISTING, existing),
            ),
        )

    # -- score -------------------------------------------------------------------------------

    def pre_score(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> fw.Status:
        preferred = pod.preferred_affinity or pod.preferred_anti_affinity
        if not preferred and not cache.affinity_pods:
            return fw.Status(fw.Code.SKIP)
        if not state.reference:
            return fw.SUCCESS
        scores: dict[Pair, int] = {}
        hard = self.hard_pod_affinity_weight
        for node in cache.node_infos():
            for other in node.pods.values():
                for w, t in pod.preferred_affinity:
                    if t.matches(other.namespace, other.labels):
                        _bump(scores, node, t.topology_key, w)
                for w, t in pod.preferred_anti_affinity:
                    if t.matches(other.namespace, other.labels):
                        _bump(scores, node, t.topology_key, -w)
                for t in other.required_affinity:
                    if hard > 0 and t.matches(pod.namespace, pod.labels):
                        _bump(scores, node, t.topology_key, hard)
                for w, t in other.preferred_affinity:
                    if t.matches(pod.namespace, pod.labels):
                        _bump(scores, node, t.topology_key, w)
                for w, t in other.preferred_anti_affinity:
                    if t.matches(pod.namespace, pod.labels):
                        _bump(scores, node, t.topology_key, -w)
        state.write(self.name + "/score", scores)
        return fw.SUCCESS

    def score(self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> int:
        scores: dict[Pair, int] = state.read(self.name + "/score")
        return sum(scores.get(pair, 0) for pair in node.labels.items())

    def score_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> Any:
        size = cache.size
        total = np.zeros(size, dtype=np.int64)

        def add(key: str, weights: Any, factor: int) -> None:
            codes, per_domain = _domain_sum(cache, key, weights)
            total[:] += factor * _per_node(codes, per_domain)

        for w, t in pod.preferred_affinity:
            add(t.topology_key, self._matching(cache, t), w)
        for w, t in pod.preferred_anti_affinity:
            add(t.topology_key, self._matching(cache, t), -w)
        hard = self.hard_pod_affinity_weight
        factors = {"affinity": hard, "preferred": 1, "preferred-anti": -1}
        for (kind, t), weights in cache.terms.items():
            factor = factors.get(kind, 0)
            if factor and t.matches(pod.namespace, pod.labels):
                add(t.topology_key, weights[:size], factor)
        return total[feasible]

    def normalize_score(self, state: fw.CycleState, pod: _podinfo.PodInfo, scores: Any) -> None:
        if scores.size == 0:
            return
        low, high = int(scores.min()), int(scores.max())
        if high - low > 0:
            scaled = fw.MAX_NODE_SCORE * ((scores - low) / (high - low))
            scores[:] = scaled.astype(np.int64)
        else:
            scores[:] = 0

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (
            fw.ClusterEvent(fw.EventResource.POD, fw.ActionType.ALL),
            fw.ClusterEvent(
                fw.EventResource.NODE, fw.ActionType.ADD | fw.ActionType.UPDATE_NODE_LABEL
            ),
        )
