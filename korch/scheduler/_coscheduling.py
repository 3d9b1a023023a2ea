"""Coscheduling: a group of pods is placed all together or not at all (gang scheduling).

Pods join a group with the labels of the scheduler-plugins project's lightweight
coscheduling: ``pod-group.scheduling.sigs.k8s.io/name`` and
``pod-group.scheduling.sigs.k8s.io/min-available`` (the group's ``minMember``; the largest
value among the members counts).

* **PreFilter** rejects (unresolvable, so no preemption) a member while fewer than
  ``minMember`` pods of its group exist: ``pod group <name> has 2 pods, fewer than
  minMember 3``. A new member is a Pod ADD event, which re-tries the others.
* **Permit** lets a member through once ``minMember`` members are assumed or bound;
  until then it *waits* (holding its node's resources, as every assumed pod does) for
  ``permit_timeout`` seconds (default 60). The member that completes the group allows the
  waiting ones.
* **Unreserve** — a member that timed out or failed rejects every other waiting member of
  its group, so a partial group never keeps resources; they all go back to the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from korch.scheduler import _cache, _plugins_node, _podinfo
from korch.scheduler import _framework as fw

__all__ = ("GROUP_LABEL", "MIN_AVAILABLE_LABEL", "Coscheduling")

GROUP_LABEL = "pod-group.scheduling.sigs.k8s.io/name"
MIN_AVAILABLE_LABEL = "pod-group.scheduling.sigs.k8s.io/min-available"


def _group(pod: _podinfo.PodInfo) -> tuple[str, int] | None:
    name = pod.labels.get(GROUP_LABEL)
    if not name:
        return None
    try:
        minimum = int(pod.labels.get(MIN_AVAILABLE_LABEL, "1"))
    except ValueError:
        minimum = 1
    return f"{pod.namespace}/{name}", max(minimum, 1)


class Coscheduling(_plugins_node.PluginBase):
    """See the module docstring. Needs ``handle.extra["scheduler"]`` (set when the
    Scheduler builds the profile, or by hand)."""

    name = "Coscheduling"

    def __init__(self, handle: Any, *, permit_timeout: float = 60.0) -> None:
        self.handle = handle
        self.permit_timeout = permit_timeout

    def _scheduler(self) -> Any:
        return self.handle.extra.get("scheduler")

    def _members(self, group: str) -> list[Any]:
        """Every known, not finished, not deleting pod of ``group``."""
        scheduler = self._scheduler()
        if scheduler is None or scheduler.pods is None:
            return []
        namespace, name = group.split("/", 1)
        return [
            p
            for p in scheduler.pods.known.values()
            if p.metadata.namespace == namespace
            and p.metadata.labels.get(GROUP_LABEL) == name
            and p.metadata.deletion_timestamp is None
            and p.status.phase not in ("Succeeded", "Failed")
        ]

    def pre_filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> tuple[fw.PreFilterResult | None, fw.Status]:
        found = _group(pod)
        if found is None:
            return None, fw.Status(fw.Code.SKIP)
        group, minimum = found
        count = len(self._members(group))
        if count < minimum:
            return None, fw.Status.unresolvable(
                f"pod group {group.split('/', 1)[1]} has {count} pods, fewer than minMember "
                f"{minimum}",
                plugin=self.name,
            )
        return None, fw.SUCCESS

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        return fw.SUCCESS

    def permit(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node_name: str
    ) -> tuple[fw.Status, float]:
        found = _group(pod)
        scheduler = self._scheduler()
        if found is None or scheduler is None:
            return fw.SUCCESS, 0.0
        group, minimum = found
        namespace, name = group.split("/", 1)
        placed = [
            info
            for info, _node in scheduler.cache.pods.values()
            if info.namespace == namespace
            and info.labels.get(GROUP_LABEL) == name
            and info.key not in scheduler.cache.nominated
        ]
        if len(placed) < minimum:
            return fw.Status(fw.Code.WAIT, plugin=self.name), self.permit_timeout
        for waiting in scheduler.waiting:
            if _group(waiting.info) == found:
                scheduler.waiting.allow(waiting.info.key, self.name)
        return fw.SUCCESS, 0.0

    def reserve(self, state: fw.CycleState, pod: _podinfo.PodInfo, node_name: str) -> fw.Status:
        return fw.SUCCESS

    def unreserve(self, state: fw.CycleState, pod: _podinfo.PodInfo, node_name: str) -> None:
        found = _group(pod)
        scheduler = self._scheduler()
        if found is None or scheduler is None:
            return
        for waiting in scheduler.waiting:
            if waiting.info.key != pod.key and _group(waiting.info) == found:
                scheduler.waiting.reject(
                    waiting.info.key, f"pod group member {pod.key} was rejected", self.name
                )

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return (fw.ClusterEvent(fw.EventResource.UNSCHEDULED_POD, fw.ActionType.ADD),)
