"""A scheduling profile and its scheduling cycle: PreFilter → Filter → PreScore → Score.

A :class:`Profile` is one ``schedulerName`` with its plugins (in order) and score weights.
:meth:`Profile.schedule` runs the synchronous part of a scheduling cycle over the cache and
returns a :class:`ScheduleResult`: the chosen node, or a :class:`Diagnosis` of why none fits
(kube-scheduler's ``FitError``), whose :meth:`Diagnosis.message` is kube-scheduler's text::

    0/5000 nodes are available: 3 Insufficient cpu, 4997 node(s) didn't match Pod's node
    affinity/selector.

**Fast and reference paths.** With ``reference=False`` a plugin's batch form
(``filter_nodes``/``score_nodes``) answers for every node at once; plugins without one, and
every plugin with ``reference=True``, are called per node. Filters run in profile order and
each node keeps the status of the first filter that rejected it, so both paths count the
same reasons.

**Which nodes are scored.** ``percentage_of_nodes_to_score`` (default 100: every feasible
node) bounds how many feasible nodes are scored, taken round-robin from where the previous
cycle stopped; 0 selects kube-scheduler's adaptive formula (50% minus 1% per 125 nodes, at
least 5%, at least 100 nodes). A pod's ``status.nominatedNodeName``, if still feasible, is
chosen without scoring; a single feasible node is chosen without scoring. Ties between the
best-scored nodes are broken by ``rng`` (uniformly), or by the lowest node slot when ``rng``
is None (deterministic, for tests).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from korch import errors
from korch.scheduler import _cache, _podinfo
from korch.scheduler import _framework as fw

__all__ = ("Diagnosis", "Profile", "ScheduleResult", "nodes_to_find")

DEFAULT_SCHEDULER_NAME = "default-scheduler"
_MIN_FEASIBLE = 100
_MIN_PERCENTAGE = 5


def nodes_to_find(node_count: int, percentage: int) -> int:
    """How many feasible nodes to score (kube-scheduler's ``numFeasibleNodesToFind``)."""
    if node_count < _MIN_FEASIBLE or percentage >= 100:
        return node_count
    if percentage <= 0:
        percentage = max(50 - node_count // 125, _MIN_PERCENTAGE)
    return max(node_count * percentage // 100, _MIN_FEASIBLE)


@attrs.define
class Diagnosis:
    """Why no node fits: reason counts, nodes rejected as unresolvable, rejecting plugins."""

    node_count: int
    reasons: Counter[str] = attrs.Factory(Counter)
    pre_filter_message: str = ""
    post_filter_message: str = ""
    unresolvable: frozenset[str] = frozenset()  # node names preemption cannot help
    plugins: set[str] = attrs.Factory(set)
    error: str = ""

    def message(self) -> str:
        """kube-scheduler's FailedScheduling message."""
        if self.error:
            return self.error
        text = f"0/{self.node_count} nodes are available:"
        if self.pre_filter_message:
            text += f" {self.pre_filter_message}."
        else:
            parts = sorted(f"{count} {reason}" for reason, count in self.reasons.items())
            if parts:
                text += f" {', '.join(parts)}."
        if self.post_filter_message:
            text += f" {self.post_filter_message}."
        return text


@attrs.define
class ScheduleResult:
    """A scheduling cycle's outcome: ``node_name`` (empty when none fits) and ``diagnosis``."""

    node_name: str = ""
    evaluated: int = 0
    feasible: int = 0
    state: fw.CycleState | None = None
    diagnosis: Diagnosis | None = None


@attrs.define(eq=False)
class _Shared:
    """Batch results of "static" and "node" scoped plugins for one pod signature."""

    node_version: int
    size: int
    # plugin name -> (cache.change_seq when computed, result over every slot)
    filters: dict[str, tuple[int, fw.FilterResult]] = attrs.Factory(dict)
    scores: dict[str, tuple[int, Any]] = attrs.Factory(dict)
    constant: set[str] = attrs.Factory(set)  # static plugins scoring every node alike


def _points(plugins: Sequence[Any], protocol: type) -> list[Any]:
    return [p for p in plugins if isinstance(p, protocol)]


class Profile:
    """A scheduler profile: ``Profile(plugins, scheduler_name=…, weights=…)``.

    ``plugins`` are plugin objects in the order they run; a plugin takes part in every
    extension point whose method it has. ``weights`` maps plugin names to score weights
    (default 1). See :func:`korch.scheduler.default_profile` for kube-scheduler's defaults.
    """

    def __init__(
        self,
        plugins: Sequence[Any],
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        weights: Mapping[str, int] | None = None,
        percentage_of_nodes_to_score: int = 100,
    ) -> None:
        names = [p.name for p in plugins]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise errors.BadRequest(
                f"plugins listed twice in profile {scheduler_name!r}: {duplicates}"
            )
        if not 0 <= percentage_of_nodes_to_score <= 100:
            raise errors.BadRequest(
                "percentageOfNodesToScore: Invalid value: "
                f"{percentage_of_nodes_to_score}: not in valid range [0-100]"
            )
        self.scheduler_name = scheduler_name
        self.plugins = list(plugins)
        self.weights = {name: (weights or {}).get(name, 1) for name in names}
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.pre_enqueue: list[fw.PreEnqueuePlugin] = _points(plugins, fw.PreEnqueuePlugin)
        sorters = _points(plugins, fw.QueueSortPlugin)
        if len(sorters) > 1:
            raise errors.BadRequest(
                f"profile {scheduler_name!r} has more than one QueueSort plugin"
            )
        self.queue_sort: fw.QueueSortPlugin | None = sorters[0] if sorters else None
        self.pre_filter: list[fw.PreFilterPlugin] = _points(plugins, fw.PreFilterPlugin)
        self.filter: list[Any] = [
            p for p in plugins if isinstance(p, fw.FilterPlugin | fw.BatchFilter)
        ]
        self.post_filter: list[fw.PostFilterPlugin] = _points(plugins, fw.PostFilterPlugin)
        self.pre_score: list[fw.PreScorePlugin] = _points(plugins, fw.PreScorePlugin)
        self.score: list[fw.ScorePlugin] = _points(plugins, fw.ScorePlugin)
        self.reserve: list[fw.ReservePlugin] = _points(plugins, fw.ReservePlugin)
        self.permit: list[fw.PermitPlugin] = _points(plugins, fw.PermitPlugin)
        self.pre_bind: list[fw.PreBindPlugin] = _points(plugins, fw.PreBindPlugin)
        self.bind: list[fw.BindPlugin] = _points(plugins, fw.BindPlugin)
        self.post_bind: list[fw.PostBindPlugin] = _points(plugins, fw.PostBindPlugin)
        # protocol checks are slow: decide once which plugins have a batch form
        self._batch_filter = {p.name for p in self.filter if isinstance(p, fw.BatchFilter)}
        self._batch_score = {p.name for p in self.score if isinstance(p, fw.BatchScore)}
        self._plain_filter = {p.name for p in self.filter if isinstance(p, fw.FilterPlugin)}
        self._next_start = 0
        self._memo: dict[Any, _Shared] = {}

    def plugin(self, name: str) -> Any:
        """The plugin called ``name``; raises NotFound."""
        for p in self.plugins:
            if p.name == name:
                return p
        raise errors.NotFound(f"profile {self.scheduler_name!r} has no plugin {name!r}")

    def __repr__(self) -> str:
        return f"Profile({self.scheduler_name!r}, {[p.name for p in self.plugins]})"

    # -- the scheduling cycle ------------------------------------------------------------

    def schedule(
        self,
        pod: _podinfo.PodInfo,
        cache: _cache.Cache,
        *,
        reference: bool = False,
        rng: random.Random | None = None,
    ) -> ScheduleResult:
        """Choose a node for ``pod`` (see the module docstring). Never raises for a plugin's
        failure: an exception in a plugin becomes ``diagnosis.error``."""
        state = fw.CycleState(reference=reference)
        diagnosis = Diagnosis(cache.node_count)
        try:
            return self._schedule(state, pod, cache, diagnosis, rng)
        except errors.KorchError as exc:
            diagnosis.error = f"running the scheduling cycle: {exc}"
            return ScheduleResult(state=state, diagnosis=diagnosis)

    def _schedule(
        self,
        state: fw.CycleState,
        pod: _podinfo.PodInfo,
        cache: _cache.Cache,
        diagnosis: Diagnosis,
        rng: random.Random | None,
    ) -> ScheduleResult:
        if cache.node_count == 0:
            diagnosis.pre_filter_message = "no nodes available to schedule pods"
            return ScheduleResult(state=state, diagnosis=diagnosis)
        size = cache.size
        alive = cache.valid[:size].copy()
        shared = None if state.reference else self._shared_for(pod, cache)
        state.write("korch.scheduler/shared", shared)
        for p in self.pre_filter:
            result, status = p.pre_filter(state, pod, cache)
            if status.code == fw.Code.SKIP:
                state.skip_filter.add(p.name)
                continue
            if not status.is_success:
                diagnosis.pre_filter_message = status.message
                diagnosis.plugins.add(p.name)
                if status.code == fw.Code.ERROR:
                    diagnosis.error = status.message
                elif status.code == fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                    diagnosis.unresolvable = frozenset(cache.by_name)
                return ScheduleResult(state=state, diagnosis=diagnosis)
            if result is not None and result.node_names is not None:
                wanted = np.zeros(size, dtype=np.bool_)
                for name in result.node_names:
                    if name in cache.by_name:
                        wanted[cache.slot_of(name)] = True
                alive &= wanted
        unresolvable = np.zeros(size, dtype=np.bool_)
        for p in self.filter:
            if p.name in state.skip_filter or not alive.any():
                continue
            if not state.reference and p.name in self._batch_filter:
                batch = self._batch_filter_result(p, state, pod, cache, shared)
                rejected = alive & ~batch.passed
                if rejected.any():
                    diagnosis.plugins.add(p.name)
                    for code, reason, mask in batch.reasons:
                        hit = rejected & mask
                        count = int(hit.sum())
                        if count:
                            diagnosis.reasons[reason] += count
                            if code == fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                                unresolvable |= hit
                    alive &= batch.passed
                continue
            if p.name not in self._plain_filter:
                raise errors.BadRequest(f"plugin {p.name} has only a batch filter_nodes")
            for slot in np.flatnonzero(alive):
                node = cache.nodes[slot]
                assert node is not None
                status = p.filter(state, pod, node)
                if status.is_success:
                    continue
                alive[slot] = False
                diagnosis.plugins.add(p.name)
                for reason in status.reasons:
                    diagnosis.reasons[reason] += 1
                if status.code == fw.Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                    unresolvable[slot] = True
                elif status.code == fw.Code.ERROR:
                    diagnosis.error = status.message
                    return ScheduleResult(state=state, diagnosis=diagnosis)
        feasible = np.flatnonzero(alive)
        if feasible.size == 0:
            diagnosis.unresolvable = frozenset(
                n.name for n in cache.node_infos() if unresolvable[n.slot]
            )
            return ScheduleResult(evaluated=cache.node_count, state=state, diagnosis=diagnosis)
        nominated = pod.pod.status.nominated_node_name
        if nominated and nominated in cache.by_name and alive[cache.slot_of(nominated)]:
            return ScheduleResult(nominated, cache.node_count, int(feasible.size), state)
        feasible = self._bound(feasible, cache)
        if feasible.size == 1:
            node = cache.nodes[int(feasible[0])]
            assert node is not None
            return ScheduleResult(node.name, cache.node_count, 1, state)
        total = self._scores(state, pod, cache, feasible)
        best = np.flatnonzero(total == total.max())
        pick = best[rng.randrange(best.size)] if rng is not None and best.size > 1 else best[0]
        node = cache.nodes[int(feasible[pick])]
        assert node is not None
        return ScheduleResult(node.name, cache.node_count, int(feasible.size), state)

    def fits(self, pod: _podinfo.PodInfo, cache: _cache.Cache, node_name: str) -> fw.Status:
        """Whether ``pod`` passes PreFilter and every Filter on one node, as the cache is
        now (the per-node reference path; used by preemption's dry runs)."""
        state = fw.CycleState(reference=True)
        node = cache.by_name.get(node_name)
        if node is None:
            return fw.Status.unresolvable(f'node "{node_name}" not found')
        for pre in self.pre_filter:
            result, status = pre.pre_filter(state, pod, cache)
            if status.code == fw.Code.SKIP:
                state.skip_filter.add(pre.name)
            elif not status.is_success:
                return status.with_plugin(pre.name)
            elif (
                result is not None
                and result.node_names is not None
                and (node_name not in result.node_names)
            ):
                return fw.Status.unresolvable("node(s) didn't satisfy plugin(s)")
        for p in self.filter:
            if p.name in state.skip_filter:
                continue
            if p.name in self._plain_filter:
                status = p.filter(state, pod, node)
            else:
                batch = p.filter_nodes(state, pod, cache)
                status = fw.SUCCESS if batch.passed[node.slot] else fw.Status.unschedulable()
            if not status.is_success:
                return status.with_plugin(p.name)
        return fw.SUCCESS

    # -- work shared by equivalent pods ---------------------------------------------------

    def _shared_for(self, pod: _podinfo.PodInfo, cache: _cache.Cache) -> _Shared:
        """The batch results of earlier pods with this signature, while no node changed."""
        shared = self._memo.get(pod.signature)
        if shared is not None and (
            shared.node_version == cache.node_version and shared.size == cache.size
        ):
            return shared
        if len(self._memo) >= 256:
            self._memo.pop(next(iter(self._memo)))
        shared = _Shared(cache.node_version, cache.size)
        self._memo[pod.signature] = shared
        return shared

    def _batch_filter_result(
        self,
        p: Any,
        state: fw.CycleState,
        pod: _podinfo.PodInfo,
        cache: _cache.Cache,
        shared: _Shared | None,
    ) -> fw.FilterResult:
        scope = getattr(p, "batch_scope", "cluster")
        if shared is None or scope not in ("static", "node"):
            result: fw.FilterResult = p.filter_nodes(state, pod, cache)
            return result
        seq = cache.change_seq
        found = shared.filters.get(p.name)
        dirty = None
        if found is not None and scope == "node":
            dirty = cache.dirty_since(found[0])
            if dirty is None:
                found = None
        if found is None:
            fresh = p.filter_nodes(state, pod, cache)
            copy = fw.FilterResult(
                fresh.passed.copy(), tuple((c, r, m.copy()) for c, r, m in fresh.reasons)
            )
            shared.filters[p.name] = (seq, copy)
            return copy
        if dirty:
            refreshed = self._refresh_filter(p, state, pod, cache, found[1], sorted(set(dirty)))
            shared.filters[p.name] = (seq, refreshed)
            return refreshed
        return found[1]

    @staticmethod
    def _refresh_filter(
        p: Any,
        state: fw.CycleState,
        pod: _podinfo.PodInfo,
        cache: _cache.Cache,
        found: fw.FilterResult,
        dirty: list[int],
    ) -> fw.FilterResult:
        """Re-evaluate the ``dirty`` slots with the plugin's per-node filter."""
        reasons = {reason: (code, mask) for code, reason, mask in found.reasons}
        for slot in dirty:
            node = cache.nodes[slot]
            status = p.filter(state, pod, node) if node is not None else fw.SUCCESS
            found.passed[slot] = status.is_success
            for _code, mask in reasons.values():
                mask[slot] = False
            for reason in status.reasons:
                if reason not in reasons:
                    reasons[reason] = (status.code, np.zeros(cache.size, dtype=np.bool_))
                reasons[reason][1][slot] = True
        return fw.FilterResult(
            found.passed, tuple((code, r, mask) for r, (code, mask) in reasons.items())
        )

    def _batch_scores(
        self,
        p: Any,
        state: fw.CycleState,
        pod: _podinfo.PodInfo,
        cache: _cache.Cache,
        feasible: Any,
    ) -> Any:
        shared: _Shared | None = state.get("korch.scheduler/shared")
        scope = getattr(p, "batch_scope", "cluster")
        if shared is None or scope not in ("static", "node"):
            return np.array(p.score_nodes(state, pod, cache, feasible), dtype=np.int64)
        seq = cache.change_seq
        found = shared.scores.get(p.name)
        dirty = None
        if found is not None and scope == "node":
            dirty = cache.dirty_since(found[0])
            if dirty is None:
                found = None
        if found is None:
            full = np.array(p.score_nodes(state, pod, cache, np.arange(cache.size)), dtype=np.int64)
            if scope == "static":
                valid = full[cache.valid[: cache.size]]
                if valid.size and valid.min() == valid.max():
                    # equal raw scores normalise to equal scores: the plugin cannot change
                    # which node wins, so later cycles skip it
                    shared.constant.add(p.name)
        else:
            full = found[1]
            for slot in set(dirty or ()):
                node = cache.nodes[slot]
                if node is not None:
                    full[slot] = p.score(state, pod, node)
        shared.scores[p.name] = (seq, full)
        return full[feasible]

    def _bound(self, feasible: Any, cache: _cache.Cache) -> Any:
        """At most ``nodes_to_find`` feasible nodes, round-robin from the last stop."""
        wanted = nodes_to_find(cache.node_count, self.percentage_of_nodes_to_score)
        if feasible.size <= wanted:
            return feasible
        size = cache.size
        start = self._next_start % size
        rotated = np.concatenate([feasible[feasible >= start], feasible[feasible < start]])
        chosen = rotated[:wanted]
        self._next_start = (int(chosen[-1]) + 1) % size
        return np.sort(chosen)

    def _scores(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache, feasible: Any
    ) -> Any:
        for pre in self.pre_score:
            status = pre.pre_score(state, pod, cache, feasible)
            if status.code == fw.Code.SKIP:
                state.skip_score.add(pre.name)
            elif not status.is_success:
                raise errors.InternalError(f"PreScore plugin {pre.name}: {status.message}")
        total = np.zeros(feasible.size, dtype=np.int64)
        shared: _Shared | None = state.get("korch.scheduler/shared")
        for p in self.score:
            if p.name in state.skip_score or (shared is not None and p.name in shared.constant):
                continue
            if not state.reference and p.name in self._batch_score:
                raw = self._batch_scores(p, state, pod, cache, feasible)
            else:
                nodes = cache.nodes
                raw = np.array([p.score(state, pod, nodes[s]) for s in feasible], dtype=np.int64)
            p.normalize_score(state, pod, raw)
            total += raw * self.weights[p.name]
        return total
