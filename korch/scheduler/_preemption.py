"""DefaultPreemption: when no node fits, evict lower-priority pods to make room.

The PostFilter kube-scheduler runs, step by step:

1. **Eligibility.** A pod with ``preemptionPolicy: Never`` does not preempt. A pod already
   nominated to a node where a lower-priority pod is terminating waits for it instead.
2. **Candidates.** Only nodes rejected as *Unschedulable* (not UnschedulableAndUnresolvable:
   a taint, a selector, a missing label — things evicting pods cannot fix) are tried. On
   each, every pod of lower priority is removed (in the cache, for the dry run); if the pod
   then fits, the victims are *reprieved* one by one — those whose eviction would violate a
   PodDisruptionBudget first, then by descending priority — keeping every pod whose return
   still lets the preemptor fit.
   Dry runs stop once ``max(10 % of the nodes, 100)`` candidates are found (kube-scheduler's
   ``minCandidateNodesPercentage``/``minCandidateNodesAbsolute``), from a random node on.
3. **Choice** among candidates (kube-scheduler's order): fewest PDB violations, then the
   lowest highest-victim priority, the smallest sum of victim priorities, the fewest victims,
   then the first node.
4. **Action.** The victims are deleted through the Client (reason in a ``Preempted`` event),
   lower-priority pods nominated to that node lose their nomination, and the preemptor's
   ``status.nominatedNodeName`` is set. It is retried when the victims' deletion events
   arrive, and the nominated node is taken without scoring if it fits.

PodDisruptionBudgets are listed through the Client at each preemption; a victim matching a
budget with ``status.disruptionsAllowed`` spent counts as a violation (the budget's allowance
is decremented per chosen victim). Nominated pods are not yet counted against their
nominated node when other pods are filtered (kube-scheduler does).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs

from korch import errors
from korch.api import _core_pod, _misc, _selector
from korch.scheduler import _cache, _plugins_node, _podinfo
from korch.scheduler import _framework as fw

__all__ = ("DefaultPreemption",)

log = logging.getLogger("korch.scheduler")
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@attrs.frozen
class _Candidate:
    node: str
    victims: tuple[_podinfo.PodInfo, ...]
    violations: int


class DefaultPreemption(_plugins_node.PluginBase):
    """PostFilter (see the module docstring). ``handle.extra["scheduler"]`` supplies the
    profile used for dry runs and the client used for deletions."""

    name = "DefaultPreemption"

    def __init__(
        self,
        handle: Any,
        *,
        min_candidate_nodes_percentage: int = 10,
        min_candidate_nodes_absolute: int = 100,
    ) -> None:
        self.handle = handle
        self.min_candidate_nodes_percentage = min_candidate_nodes_percentage
        self.min_candidate_nodes_absolute = min_candidate_nodes_absolute

    async def post_filter(
        self,
        state: fw.CycleState,
        pod: _podinfo.PodInfo,
        cache: _cache.Cache,
        statuses: dict[str, fw.Status],
    ) -> tuple[fw.PostFilterResult | None, fw.Status]:
        scheduler = self.handle.extra.get("scheduler")
        if scheduler is None:
            return None, fw.Status.unschedulable("preemption needs a running scheduler")
        if pod.pod.spec.preemption_policy == "Never":
            return None, fw.Status.unresolvable("not eligible due to preemptionPolicy=Never.")
        if self._waiting_for_victims(pod, cache):
            return None, fw.Status.unresolvable("not eligible: victims are still terminating")
        profile = scheduler._profile_for(pod.pod)
        budgets = await self._budgets(scheduler.client, pod.namespace)
        candidates: list[_Candidate] = []
        reasons: dict[str, int] = {}
        nodes = list(cache.node_infos())
        # as kube-scheduler: dry-run until max(10 % of the nodes, 100) candidates are found,
        # starting at a random node so that successive preemptions spread out
        wanted = max(
            len(nodes) * self.min_candidate_nodes_percentage // 100,
            self.min_candidate_nodes_absolute,
        )
        offset = scheduler.rng.randrange(len(nodes)) if scheduler.rng and nodes else 0
        for node in nodes[offset:] + nodes[:offset]:
            if len(candidates) >= wanted:
                break
            if node.name in statuses:  # rejected as unresolvable
                reasons[NOT_HELPFUL] = reasons.get(NOT_HELPFUL, 0) + 1
                continue
            candidate = self._dry_run(profile, pod, cache, node, budgets)
            if candidate is None:
                reasons[NO_VICTIMS] = reasons.get(NO_VICTIMS, 0) + 1
            else:
                candidates.append(candidate)
        if not candidates:
            detail = ", ".join(sorted(f"{n} {r}" for r, n in reasons.items()))
            message = f"preemption: 0/{cache.node_count} nodes are available: {detail}"
            return None, fw.Status.unschedulable(message, plugin=self.name)
        best = min(
            candidates,
            key=lambda c: (
                c.violations,
                max(v.priority for v in c.victims),
                sum(v.priority for v in c.victims),
                len(c.victims),
            ),
        )
        await self._evict(scheduler, pod, best, cache)
        return fw.PostFilterResult(best.node), fw.SUCCESS

    @staticmethod
    def _waiting_for_victims(pod: _podinfo.PodInfo, cache: _cache.Cache) -> bool:
        nominated = pod.pod.status.nominated_node_name
        node = cache.by_name.get(nominated) if nominated else None
        return node is not None and any(
            p.terminating and p.priority < pod.priority for p in node.pods.values()
        )

    @staticmethod
    async def _budgets(client: Any, namespace: str) -> list[list[Any]]:
        try:
            listed = await client.list(_misc.PodDisruptionBudget, namespace=namespace)
        except errors.APIError as exc:
            log.info("listing PodDisruptionBudgets for preemption: %s", exc)
            return []
        budgets = []
        for pdb in listed.items:
            if pdb.spec.selector is None:
                continue
            selector = _selector.label_selector_as_selector(pdb.spec.selector)
            budgets.append([selector, pdb.status.disruptions_allowed])
        return budgets

    def _dry_run(
        self,
        profile: Any,
        pod: _podinfo.PodInfo,
        cache: _cache.Cache,
        node: _cache.NodeInfo,
        budgets: Sequence[list[Any]],
    ) -> _Candidate | None:
        lower = [p for p in node.pods.values() if p.priority < pod.priority]
        if not lower:
            return None
        assumed = set(cache.assumed)
        for victim in lower:
            cache.remove_pod(victim.key)
        try:
            if not profile.fits(pod, cache, node.name).is_success:
                return None
            allowed = [b[1] for b in budgets]

            def violates(p: _podinfo.PodInfo) -> bool:
                hit = False
                for i, (selector, _) in enumerate(budgets):
                    if selector.matches(p.labels):
                        allowed[i] -= 1
                        hit = hit or allowed[i] < 0
                return hit

            flagged = [(violates(p), p) for p in sorted(lower, key=lambda p: -p.priority)]
            ordered = [p for bad, p in flagged if bad] + [p for bad, p in flagged if not bad]
            victims, violations = [], 0
            for p in ordered:
                cache.add_pod(p, node.name)
                if profile.fits(pod, cache, node.name).is_success:
                    continue  # reprieved
                cache.remove_pod(p.key)
                victims.append(p)
                violations += any(bad for bad, q in flagged if q is p)
            return _Candidate(node.name, tuple(victims), violations) if victims else None
        finally:
            for victim in lower:
                if victim.key not in cache.pods:
                    cache.add_pod(victim, node.name)
            cache.assumed |= assumed & set(cache.pods)

    async def _evict(
        self, scheduler: Any, pod: _podinfo.PodInfo, best: _Candidate, cache: _cache.Cache
    ) -> None:
        client = scheduler.client
        for victim in best.victims:
            meta = victim.pod.metadata
            try:
                await client.record_event(
                    victim.pod,
                    "Preempted",
                    f"Preempted by pod {pod.pod.metadata.uid} on node {best.node}",
                    "Normal",
                )
                await client.delete(_core_pod.Pod, meta.name, namespace=meta.namespace)
            except errors.NotFound:
                continue
            except errors.APIError as exc:
                log.warning("preempting %s: %s", victim.key, exc)
        for other in scheduler.queue.nominated(best.node):
            if other.priority < pod.priority and other.key != pod.key:
                await _set_nominated(client, other.pod, "")
        await _set_nominated(client, pod.pod, best.node)


async def _set_nominated(client: Any, pod: _core_pod.Pod, node: str) -> None:
    meta = pod.metadata
    try:
        await client.patch_status(
            _core_pod.Pod,
            meta.name,
            {"status": {"nominatedNodeName": node or None}},
            namespace=meta.namespace,
            type="merge",
        )
    except errors.APIError as exc:
        log.info("setting nominatedNodeName of %s/%s: %s", meta.namespace, meta.name, exc)
