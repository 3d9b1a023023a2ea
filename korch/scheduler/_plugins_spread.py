"""PodTopologySpread: keep matching pods evenly spread over topology domains.

Kubernetes' rules, as implemented here (both paths):

* **Filter** (``whenUnsatisfiable: DoNotSchedule``). Per constraint, the *eligible* nodes are
  those carrying every hard constraint's topology key and passing the constraint's inclusion
  policies (``nodeAffinityPolicy: Honor`` — the default — requires the pod's nodeSelector and
  required node affinity; ``nodeTaintsPolicy: Honor`` requires tolerated NoSchedule/NoExecute
  taints; the default ``Ignore`` does not). Each eligible node's domain counts the pods on it
  in the pod's namespace, not terminating, that match the constraint's selector. A node
  without the key is rejected as unresolvable (``(missing required label)``); otherwise
  ``count(domain) + (1 if the pod matches its own selector) - min`` must not exceed
  ``maxSkew``, where ``min`` is the smallest count over eligible domains — or 0 when there
  are fewer eligible domains than ``minDomains``.
* **Score** (weight 2, ``ScheduleAnyway``). Over the feasible nodes, each soft constraint
  gives ``count * log(domains + 2) + (maxSkew - 1)`` (for ``kubernetes.io/hostname`` the
  count is the node's own matching pods, and ``domains`` the number of feasible nodes);
  nodes lacking a key are ignored (score 0). Normalised so the fewest matching pods scores
  100: ``100 * (max + min - s) // max``.
* **Default constraints.** A pod with no constraints of its own gets the system defaults
  (hostname maxSkew 3, zone maxSkew 5, both ScheduleAnyway) with a selector built from the
  Services, ReplicaSets and StatefulSets selecting it (``default_selector``); without such
  a selector no default constraint applies.

The batch path keeps a per-node count of matching pods as an incremental cache index
(:meth:`korch.scheduler.Cache.count_index`) and sums domains with ``numpy.bincount``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from korch.api import _scheduling_terms, _selector
from korch.scheduler import _cache, _plugins_node, _podinfo
from korch.scheduler import _framework as fw

__all__ = ("PodTopologySpread",)

REASON = "node(s) didn't match pod topology spread constraints"
REASON_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
SYSTEM_DEFAULTS = ((_podinfo.HOSTNAME_LABEL, 3), (_podinfo.ZONE_LABEL, 5))


def _matcher(namespace: str, selector: _selector.Selector) -> Callable[[_podinfo.PodInfo], int]:
    def predicate(info: _podinfo.PodInfo) -> int:
        return int(
            info.namespace == namespace and not info.terminating and selector.matches(info.labels)
        )

    return predicate


def _count_on(node: _cache.NodeInfo, namespace: str, selector: _selector.Selector) -> int:
    return sum(_matcher(namespace, selector)(p) for p in node.pods.values())


def _included(c: _podinfo.SpreadConstraint, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> bool:
    if c.honor_node_affinity and not _plugins_node.node_fits_affinity(pod, node):
        return False
    return not (
        c.honor_node_taints
        and _scheduling_terms.find_untolerated_taint(node.taints, pod.tolerations) is not None
    )


@attrs.frozen
class _FilterState:
    constraints: tuple[_podinfo.SpreadConstraint, ...]
    counts: tuple[dict[str, int], ...]  # reference: domain value -> matching pods
    minimum: tuple[int, ...]


class PodTopologySpread(_plugins_node.PluginBase):
    """See the module docstring."""

    name = "PodTopologySpread"

    def __init__(
        self,
        *,
        default_selector: Callable[[_podinfo.PodInfo], _selector.Selector | None] | None = None,
        system_defaulting: bool = True,
    ) -> None:
        self.default_selector = default_selector
        self.system_defaulting = system_defaulting

    def constraints(self, pod: _podinfo.PodInfo) -> tuple[_podinfo.SpreadConstraint, ...]:
        if pod.spread_constraints:
            return pod.spread_constraints
        if not self.system_defaulting or self.default_selector is None:
            return ()
        selector = self.default_selector(pod)
        if selector is None or selector.is_empty():
            return ()
        return tuple(
            _podinfo.SpreadConstraint(skew, key, False, selector, 1, True, False)
            for key, skew in SYSTEM_DEFAULTS
        )

    # -- filter ---------------------------------------------------------------------------

    def pre_filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> tuple[fw.PreFilterResult | None, fw.Status]:
        hard = tuple(c for c in self.constraints(pod) if c.hard)
        if not hard:
            return None, fw.Status(fw.Code.SKIP)
        if state.reference:
            keys = [c.topology_key for c in hard]
            counts: list[dict[str, int]] = [{} for _ in hard]
            for node in cache.node_infos():
                if not all(k in node.labels for k in keys):
                    continue
                for i, c in enumerate(hard):
                    if not _included(c, pod, node):
                        continue
                    value = node.labels[c.topology_key]
                    counts[i][value] = counts[i].get(value, 0) + _count_on(
                        node, pod.namespace, c.selector
                    )
            minimum = tuple(
                min(d.values()) if len(d) >= c.min_domains else 0
                for d, c in zip(counts, hard, strict=True)
            )
            state.write(self.name, _FilterState(hard, tuple(counts), minimum))
        else:
            state.write(self.name, hard)
        return None, fw.SUCCESS

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        s: _FilterState = state.read(self.name)
        for c, counts, minimum in zip(s.constraints, s.counts, s.minimum, strict=True):
            value = node.labels.get(c.topology_key)
            if value is None:
                return fw.Status.unresolvable(REASON_LABEL, plugin=self.name)
            own = int(c.selector.matches(pod.labels))
            if counts.get(value, 0) + own - minimum > c.max_skew:
                return fw.Status.unschedulable(REASON, plugin=self.name)
        return fw.SUCCESS

    def _eligible(
        self, cache: _cache.Cache, pod: _podinfo.PodInfo, c: _podinfo.SpreadConstraint, keys: Any
    ) -> np.ndarray:
        mask = cache.valid[: cache.size].copy()
        for key in keys:
            mask &= cache.label_column(key)[0] >= 0
        if c.honor_node_affinity:
            mask &= _plugins_node.required_affinity_mask(cache, pod)
        if c.honor_node_taints:
            for node in cache.node_infos():
                if mask[node.slot] and _scheduling_terms.find_untolerated_taint(
                    node.taints, pod.tolerations
                ):
                    mask[node.slot] = False
        return mask

    def _node_side(
        self,
        cache: _cache.Cache,
        pod: _podinfo.PodInfo,
        c: _podinfo.SpreadConstraint,
        keys: Any,
    ) -> tuple[Any, Any, Any, Any, Any]:
        """What depends on node objects only, memoised until a node changes: (eligible
        mask, their domain codes, domain present, node codes, node has the key)."""

        def compute() -> tuple[Any, Any, Any, Any, Any]:
            eligible = self._eligible(cache, pod, c, keys)
            codes, values = cache.label_column(c.topology_key)
            picked = codes[eligible]
            present = np.bincount(picked, minlength=len(values)) > 0
            return eligible, picked, present, np.where(codes >= 0, codes, 0), codes >= 0

        key = ("spread-nodes", pod.signature, c, tuple(keys))
        result: tuple[Any, Any, Any, Any, Any] = cache.memo(key, compute)
        return result

    def filter_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> fw.FilterResult:
        hard: tuple[_podinfo.SpreadConstraint, ...] = state.read(self.name)
        keys = [c.topology_key for c in hard]
        size = cache.size
        missing = np.zeros(size, dtype=np.bool_)
        skewed = np.zeros(size, dtype=np.bool_)
        for c in hard:  # like the reference, the first failing constraint gives the reason
            eligible, picked, present, safe_codes, has = self._node_side(cache, pod, c, keys)
            matching = cache.count_index(
                ("spread", pod.namespace, c.selector), _matcher(pod.namespace, c.selector)
            )
            per_domain = np.bincount(
                picked, weights=matching[eligible], minlength=len(present)
            ).astype(np.int64)
            domains = int(present.sum())
            minimum = int(per_domain[present].min()) if domains >= c.min_domains else 0
            own = int(c.selector.matches(pod.labels))
            counts = per_domain[safe_codes] if len(per_domain) else np.zeros(size, np.int64)
            undecided = ~(missing | skewed)
            skewed |= undecided & has & (counts + own - minimum > c.max_skew)
            missing |= undecided & ~has
        return fw.FilterResult(
            ~(missing | skewed),
            (
                (fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON_LABEL, missing),
                (fw.Code.UNSCHEDULABLE, REASON, skewed),
            ),
        )

    # -- score ----------------------------------------------------------------------------

    def pre_score(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> fw.Status:
        soft = tuple(c for c in self.constraints(pod) if not c.hard)
        if not soft:
            return fw.Status(fw.Code.SKIP)
        require_all = bool(pod.spread_constraints)
        keys = [c.topology_key for c in soft]
        if state.reference:
            nodes = [cache.nodes[i] for i in feasible]
            ignored = {
                n.name for n in nodes if n and require_all and not all(k in n.labels for k in keys)
            }
            kept = [n for n in nodes if n is not None and n.name not in ignored]
            weights: list[float] = []
            domains: list[dict[str, int]] = []
            for c in soft:
                if c.topology_key == _podinfo.HOSTNAME_LABEL:
                    size = len(kept)
                    domains.append({})
                else:
                    found = {n.labels.get(c.topology_key, "") for n in kept}
                    size = len(found)
                    domains.append(dict.fromkeys(found, 0))
                weights.append(math.log(size + 2))
            for node in cache.node_infos():
                if require_all and not all(k in node.labels for k in keys):
                    continue
                for c, d in zip(soft, domains, strict=True):
                    if c.topology_key == _podinfo.HOSTNAME_LABEL or not _included(c, pod, node):
                        continue
                    value = node.labels.get(c.topology_key, "")
                    if value in d:
                        d[value] += _count_on(node, pod.namespace, c.selector)
            state.write(self.name + "/score", (soft, weights, domains, ignored))
            return fw.SUCCESS
        valid = cache.valid[: cache.size]
        has_all = valid.copy()
        for key in keys:
            has_all &= cache.label_column(key)[0] >= 0
        kept_mask = np.zeros(cache.size, dtype=np.bool_)
        kept_mask[feasible] = True
        if require_all:
            kept_mask &= has_all
        counted_nodes = has_all if require_all else valid
        per_constraint = []
        for c in soft:
            codes, values = cache.label_column(c.topology_key)
            matching = cache.count_index(
                ("spread", pod.namespace, c.selector), _matcher(pod.namespace, c.selector)
            )
            if c.topology_key == _podinfo.HOSTNAME_LABEL:
                weight = math.log(int(kept_mask.sum()) + 2)
                per_constraint.append((c, weight, codes, matching))
                continue
            kept_codes = codes[kept_mask]
            # domains among kept feasible nodes; a node without the label is the "" domain
            domain_present = np.zeros(len(values) + 1, dtype=np.bool_)
            domain_present[kept_codes] = True  # -1 lands on the last entry ("")
            weight = math.log(int(domain_present.sum()) + 2)
            counted = counted_nodes.copy()
            if c.honor_node_affinity:
                counted &= _plugins_node.required_affinity_mask(cache, pod)
            if c.honor_node_taints:
                counted &= self._eligible(cache, pod, c, ())
            per_domain = np.bincount(
                codes[counted & (codes >= 0)],
                weights=matching[counted & (codes >= 0)],
                minlength=len(values),
            ).astype(np.int64)
            per_domain = np.where(domain_present[: len(values)], per_domain, 0)
            per_constraint.append((c, weight, codes, per_domain))
        state.write(self.name + "/score", (per_constraint, kept_mask))
        return fw.SUCCESS

    def score(self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo) -> int:
        soft, weights, domains, ignored = state.read(self.name + "/score")
        if node.name in ignored:
            return -1
        total = 0.0
        for c, weight, d in zip(soft, weights, domains, strict=True):
            value = node.labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == _podinfo.HOSTNAME_LABEL:
                count = _count_on(node, pod.namespace, c.selector)
            else:
                count = d.get(value, 0)
            total += count * weight + (c.max_skew - 1)
        return math.floor(total + 0.5)  # Go's math.Round for scores ≥ 0

    def score_nodes(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> Any:
        per_constraint, kept_mask = state.read(self.name + "/score")
        total = np.zeros(len(feasible), dtype=np.float64)
        for c, weight, codes, counts in per_constraint:
            node_codes = codes[feasible]
            has = node_codes >= 0
            if c.topology_key == _podinfo.HOSTNAME_LABEL:
                count = counts[feasible]
            else:
                count = counts[np.where(has, node_codes, 0)] if len(counts) else 0
            total += np.where(has, count * weight + (c.max_skew - 1), 0.0)
        # Go's math.Round: half away from zero (scores are ≥ 0)
        rounded = np.floor(total + 0.5).astype(np.int64)
        return np.where(kept_mask[feasible], rounded, -1)

    def normalize_score(self, state: fw.CycleState, pod: _podinfo.PodInfo, scores: Any) -> None:
        ignored = scores < 0
        kept = scores[~ignored]
        if kept.size == 0:
            scores[:] = 0
            return
        low, high = int(kept.min()), int(kept.max())
        if high == 0:
            scores[:] = fw.MAX_NODE_SCORE
        else:
            scores[:] = fw.MAX_NODE_SCORE * (high + low - scores) // high
        scores[ignored] = 0

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (
            fw.ClusterEvent(fw.EventResource.POD, fw.ActionType.ALL),
            fw.ClusterEvent(
                fw.EventResource.NODE,
                fw.ActionType.ADD | fw.ActionType.DELETE | fw.ActionType.UPDATE_NODE_LABEL,
            ),
        )
