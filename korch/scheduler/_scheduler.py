"""The Scheduler: watches pods and nodes through a Client, schedules, binds.

``Scheduler(client, profiles=[default_profile()], clock=…)``; ``await scheduler.run()`` works
until cancelled:

1. list+watch Nodes and Pods (:mod:`korch.scheduler._informer`). Nodes and assigned pods
   feed the :class:`~korch.scheduler.Cache`; pending pods whose ``spec.schedulerName`` names
   one of the profiles (empty means ``default-scheduler``) feed the
   :class:`~korch.scheduler.SchedulingQueue`. Each change is also a cluster event that may
   move unschedulable pods (terminal pods — Succeeded/Failed — free their node's resources).
2. The scheduling loop pops a pod and runs its profile's cycle synchronously (no await:
   the cache is its snapshot). A chosen node gets the pod *assumed* (counted at once),
   Reserve and Permit run, and the binding cycle — waiting on Permit, PreBind, Bind
   (``pods/binding`` through the Client), PostBind — runs in its own task, so the loop
   goes on with the next pod.
3. A pod no node fits runs PostFilter (preemption), goes back to the queue (unschedulable,
   waiting for an event its rejecting plugins registered for), gets a ``Warning
   FailedScheduling`` event with kube-scheduler's message and a ``PodScheduled=False``
   condition (reason ``Unschedulable``). A failed binding forgets the assumed pod and
   retries after backoff.

``stats`` counts attempts, bound pods and failures and keeps each attempt's duration (from
pop to the end of the binding call), for benchmarks.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc
import attrs

from korch import errors
from korch.api import _core_node, _core_pod, _core_volume
from korch.clock import Clock, SystemClock
from korch.scheduler import (
    _binding,
    _cache,
    _informer,
    _podinfo,
    _profile,
    _queue,
    _registry,
    _waiting,
)
from korch.scheduler import _framework as fw

__all__ = ("Scheduler", "SchedulerStats")

log = logging.getLogger("korch.scheduler")
_TERMINAL = ("Succeeded", "Failed")


@attrs.define
class SchedulerStats:
    """Counters and per-attempt durations (seconds) for monitoring and benchmarks."""

    attempts: int = 0
    scheduled: int = 0
    unschedulable: int = 0
    errors: int = 0
    attempt_seconds: list[float] = attrs.Factory(list)
    bound_at: list[float] = attrs.Factory(list)  # clock.monotonic() of each binding
    cycle_seconds: float = 0.0  # CPU-clock time spent in scheduling cycles (filter + score)
    background: int = 0  # binding cycles and failure records still running


class Scheduler:
    """See the module docstring.

    Args:
        client: any :class:`korch.client.Client`.
        profiles: the profiles by ``schedulerName`` (default: kube-scheduler's default
            profile, built with this scheduler's client and cache).
        clock: time for backoff and timestamps.
        rng: tie-breaking between equally scored nodes; ``None`` picks the lowest slot.
        reference: run every plugin's plain per-node implementation (slow; for checks).
        record_failures: write FailedScheduling events and PodScheduled=False conditions.
    """

    def __init__(
        self,
        client: Any,
        *,
        profiles: Sequence[_profile.Profile] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        reference: bool = False,
        record_failures: bool = True,
        cache: _cache.Cache | None = None,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        self.cache = cache or _cache.Cache()
        self.handle = _registry.Handle(client=client, cache=self.cache, clock=self.clock)
        self.handle.extra["scheduler"] = self
        if profiles is None:
            profiles = [_registry.default_profile(handle=self.handle)]
        if not profiles:
            raise errors.BadRequest("a scheduler needs at least one profile")
        self.profiles = {p.scheduler_name: p for p in profiles}
        for profile in profiles:  # profiles built offline: bind through this client, and
            for plugin in profile.plugins:  # plugins with a handle see this scheduler
                if isinstance(plugin, _binding.DefaultBinder) and plugin.client is None:
                    plugin.client = client
                handle = getattr(plugin, "handle", None)
                if isinstance(handle, _registry.Handle):
                    handle.extra.setdefault("scheduler", self)
                    handle.client = handle.client or client
        if len(self.profiles) != len(profiles):
            raise errors.BadRequest("two profiles have the same schedulerName")
        first = profiles[0]
        for p in profiles:
            if (p.queue_sort is None) != (first.queue_sort is None) or (
                p.queue_sort is not None
                and first.queue_sort is not None
                and p.queue_sort.name != first.queue_sort.name
            ):
                raise errors.BadRequest("every profile must use the same QueueSort plugin")
        events: dict[str, Sequence[fw.ClusterEvent]] = {}
        for p in profiles:
            events.update(_queue.merge_events(p.plugins))
        self.queue = _queue.SchedulingQueue(
            clock=self.clock,
            less=first.queue_sort.less if first.queue_sort is not None else None,
            pre_enqueue=self._pre_enqueue,
            events=events,
        )
        self.rng = rng
        self.reference = reference
        self.record_failures = record_failures
        self.stats = SchedulerStats()
        self.waiting = _waiting.WaitingPods()
        self._tasks: anyio.abc.TaskGroup | None = None
        self.synced = anyio.Event()
        self.pods: _informer.ListWatch | None = None  # every pod the scheduler has seen
        self.claims: _informer.ListWatch | None = None  # PersistentVolumeClaims
        self.volumes: _informer.ListWatch | None = None  # PersistentVolumes

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """List+watch, then schedule until cancelled."""
        nodes = _informer.ListWatch(
            self.client,
            _core_node.Node,
            on_add=self._node_added,
            on_update=self._node_updated,
            on_delete=self._node_deleted,
            clock=self.clock,
        )
        pods = self.pods = _informer.ListWatch(
            self.client,
            _core_pod.Pod,
            on_add=self._pod_added,
            on_update=self._pod_updated,
            on_delete=self._pod_deleted,
            clock=self.clock,
        )
        storage = []
        for kind, resource in (
            (_core_volume.PersistentVolumeClaim, fw.EventResource.PERSISTENT_VOLUME_CLAIM),
            (_core_volume.PersistentVolume, fw.EventResource.PERSISTENT_VOLUME),
        ):

            def changed(*objects: Any, resource: fw.EventResource = resource) -> None:
                self._event(resource, fw.ActionType.ADD | fw.ActionType.UPDATE)

            storage.append(
                _informer.ListWatch(
                    self.client,
                    kind,
                    on_add=changed,
                    on_update=changed,
                    on_delete=lambda obj: None,
                    clock=self.clock,
                )
            )
        self.claims, self.volumes = storage
        try:
            async with anyio.create_task_group() as group:
                self._tasks = group
                for informer in storage:
                    group.start_soon(informer.run)
                group.start_soon(nodes.run)
                await nodes.synced.wait()
                group.start_soon(pods.run)
                await pods.synced.wait()
                self.synced.set()
                group.start_soon(self.queue.run)
                group.start_soon(self._loop)
        finally:
            self._tasks = None
            self.queue.close()

    async def _loop(self) -> None:
        while True:
            item = await self.queue.pop()
            await self.schedule_one(item)
            await anyio.lowlevel.checkpoint()

    # -- one pod -----------------------------------------------------------------------------

    def _profile_for(self, pod: _core_pod.Pod) -> _profile.Profile | None:
        return self.profiles.get(pod.spec.scheduler_name or _profile.DEFAULT_SCHEDULER_NAME)

    def _pre_enqueue(self, info: _podinfo.PodInfo) -> fw.Status:
        profile = self._profile_for(info.pod)
        for p in profile.pre_enqueue if profile is not None else ():
            status = p.pre_enqueue(info)
            if not status.is_success:
                return status.with_plugin(p.name)
        return fw.SUCCESS

    async def schedule_one(self, item: _podinfo.QueuedPodInfo) -> None:
        """One scheduling cycle for a popped pod (the binding cycle runs in a task)."""
        info = item.info
        profile = self._profile_for(info.pod)
        self.cache.release_nomination(info.key)
        if profile is None or info.key in self.cache.pods:
            self.queue.done(info.key)
            return
        started = self.clock.monotonic()
        self.stats.attempts += 1
        tick = time.perf_counter()
        result = profile.schedule(info, self.cache, reference=self.reference, rng=self.rng)
        self.stats.cycle_seconds += time.perf_counter() - tick
        if not result.node_name:
            await self._failed(item, profile, result)
            return
        node_name = result.node_name
        state = result.state or fw.CycleState()
        self.cache.assume_pod(info, node_name)
        status = self._reserve(profile, state, info, node_name)
        if status.is_success:
            status, timeout = self._permit(profile, state, info, node_name)
        if not status.is_success and status.code != fw.Code.WAIT:
            self._unreserve(profile, state, info, node_name)
            self.cache.forget_pod(info.key)
            diagnosis = _profile.Diagnosis(self.cache.node_count, error=status.message)
            diagnosis.plugins.add(status.plugin)
            await self._failed(item, profile, _profile.ScheduleResult(diagnosis=diagnosis))
            return
        self.queue.done(info.key)
        waiter = None
        if status.code == fw.Code.WAIT:
            waiter = self.waiting.add(info, node_name, timeout, self.clock, status.plugin)
        coroutine = self._binding_cycle(item, profile, state, node_name, started, waiter)
        await self._background(coroutine)

    async def _background(self, coroutine: Any) -> None:
        """Run ``coroutine`` in the scheduler's task group (inline when not running)."""
        self.stats.background += 1

        async def run() -> None:
            try:
                await coroutine
            finally:
                self.stats.background -= 1

        if self._tasks is not None:
            self._tasks.start_soon(run)
        else:
            await run()

    def _reserve(
        self, profile: _profile.Profile, state: fw.CycleState, info: _podinfo.PodInfo, node: str
    ) -> fw.Status:
        for p in profile.reserve:
            status = p.reserve(state, info, node)
            if not status.is_success:
                return status.with_plugin(p.name)
        return fw.SUCCESS

    def _unreserve(
        self, profile: _profile.Profile, state: fw.CycleState, info: _podinfo.PodInfo, node: str
    ) -> None:
        for p in reversed(profile.reserve):
            p.unreserve(state, info, node)

    def _permit(
        self, profile: _profile.Profile, state: fw.CycleState, info: _podinfo.PodInfo, node: str
    ) -> tuple[fw.Status, float]:
        waits: dict[str, float] = {}
        for p in profile.permit:
            status, timeout = p.permit(state, info, node)
            if status.code == fw.Code.WAIT:
                waits[p.name] = timeout
            elif not status.is_success:
                return status.with_plugin(p.name), 0.0
        if waits:
            return fw.Status(fw.Code.WAIT, plugin=",".join(waits)), min(waits.values())
        return fw.SUCCESS, 0.0

    async def _binding_cycle(
        self,
        item: _podinfo.QueuedPodInfo,
        profile: _profile.Profile,
        state: fw.CycleState,
        node: str,
        started: float,
        waiter: _waiting.WaitingPod | None,
    ) -> None:
        info = item.info
        status = fw.SUCCESS
        if waiter is not None:
            status = await waiter.wait()
            self.waiting.discard(info.key)
        if status.is_success:
            status = await self._bind_plugins(profile, state, info, node)
        if not status.is_success:
            self._unreserve(profile, state, info, node)
            self.cache.forget_pod(info.key)
            if status.code == fw.Code.ERROR:
                self.stats.errors += 1
            diagnosis = _profile.Diagnosis(self.cache.node_count, error=status.message)
            if status.plugin:
                diagnosis.plugins.add(status.plugin)
            self.queue.move_on_event(
                fw.ClusterEvent(fw.EventResource.ASSIGNED_POD, fw.ActionType.DELETE)
            )
            if info.key in self.queue:
                return
            await self._failed(
                item, profile, _profile.ScheduleResult(diagnosis=diagnosis), backoff=True
            )
            return
        now = self.clock.monotonic()
        self.stats.scheduled += 1
        self.stats.attempt_seconds.append(now - started)
        self.stats.bound_at.append(now)
        for p in profile.post_bind:
            await p.post_bind(state, info, node)

    async def _bind_plugins(
        self, profile: _profile.Profile, state: fw.CycleState, info: _podinfo.PodInfo, node: str
    ) -> fw.Status:
        for pre in profile.pre_bind:
            status: fw.Status = await pre.pre_bind(state, info, node)
            if not status.is_success:
                return status.with_plugin(pre.name)
        for binder in profile.bind:
            status = await binder.bind(state, info, node)
            if status.code == fw.Code.SKIP:
                continue
            return status.with_plugin(binder.name)
        return fw.Status.error("no Bind plugin bound the pod")

    async def _failed(
        self,
        item: _podinfo.QueuedPodInfo,
        profile: _profile.Profile,
        result: Any,
        *,
        backoff: bool = False,
    ) -> None:
        diagnosis: _profile.Diagnosis = result.diagnosis
        nominated = ""
        if not diagnosis.error and profile.post_filter and result.state is not None:
            statuses = {name: fw.Status.unresolvable() for name in diagnosis.unresolvable}
            for p in profile.post_filter:
                outcome, status = await p.post_filter(result.state, item.info, self.cache, statuses)
                if status.is_success and outcome is not None:
                    nominated = outcome.nominated_node_name
                    if nominated:
                        self.cache.nominate_pod(item.info, nominated)
                    break
                if status.message:
                    diagnosis.post_filter_message = status.message
        if diagnosis.error:
            self.stats.errors += 1
        else:
            self.stats.unschedulable += 1
        self.queue.requeue(
            item, diagnosis.plugins, backoff=backoff or bool(diagnosis.error) or bool(nominated)
        )
        if self.record_failures:
            message = diagnosis.message()
            await self._background(self._record_failure(item.info.pod, message, nominated))

    async def _record_failure(self, pod: _core_pod.Pod, message: str, nominated: str) -> None:
        meta = pod.metadata
        try:
            await self.client.record_event(pod, "FailedScheduling", message, "Warning")
            status: dict[str, Any] = {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": message,
                    }
                ]
            }
            if nominated:
                status["nominatedNodeName"] = nominated
            await self.client.patch_status(
                _core_pod.Pod,
                meta.name,
                {"status": status},
                namespace=meta.namespace,
                type="strategic",
            )
        except errors.APIError as exc:
            log.info(
                "recording the scheduling failure of %s/%s: %s", meta.namespace, meta.name, exc
            )

    # -- informer handlers -------------------------------------------------------------------

    def _pod_added(self, pod: _core_pod.Pod) -> None:
        self._pod_updated(None, pod)

    def _pod_updated(self, old: _core_pod.Pod | None, pod: _core_pod.Pod) -> None:
        key = _podinfo.pod_key(pod)
        if pod.spec.node_name:
            self.queue.delete(key)
            if pod.status.phase in _TERMINAL:
                if self.cache.remove_pod(key) is not None:
                    self._event(fw.EventResource.ASSIGNED_POD, fw.ActionType.DELETE)
                return
            if key in self.cache.assumed and self.cache.node_of(key) == pod.spec.node_name:
                self.cache.assumed.discard(key)  # the binding we made, confirmed
                return
            info = self._info(pod)
            if info is None:
                return
            self.cache.add_pod(info, pod.spec.node_name)
            action = (
                fw.ActionType.ADD
                if old is None or not old.spec.node_name
                else (
                    fw.ActionType.UPDATE_POD_LABEL
                    if old.metadata.labels != pod.metadata.labels
                    else fw.ActionType.UPDATE_POD_SCALE_DOWN
                )
            )
            self._event(fw.EventResource.ASSIGNED_POD, action)
            return
        if (
            pod.metadata.deletion_timestamp is not None
            or pod.status.phase in _TERMINAL
            or self._profile_for(pod) is None
        ):
            self.queue.delete(key)
            self.cache.release_nomination(key)
            return
        info = self._info(pod)
        if info is None:
            return
        if old is None:
            self.queue.add(info)
            self._event(fw.EventResource.UNSCHEDULED_POD, fw.ActionType.ADD)
        else:
            # as kube-scheduler's isPodUpdated: a change of status (our own FailedScheduling
            # condition, say) or resourceVersion alone does not make a pod worth retrying
            relevant = (
                old.spec != pod.spec
                or old.metadata.labels != pod.metadata.labels
                or old.metadata.annotations != pod.metadata.annotations
            )
            self.queue.update(info, retry=relevant)

    def _pod_deleted(self, pod: _core_pod.Pod) -> None:
        key = _podinfo.pod_key(pod)
        self.queue.delete(key)
        self.waiting.reject(key, "pod deleted")
        if self.cache.remove_pod(key) is not None:
            self._event(fw.EventResource.ASSIGNED_POD, fw.ActionType.DELETE)

    def _info(self, pod: _core_pod.Pod) -> _podinfo.PodInfo | None:
        try:
            return _podinfo.PodInfo.of(pod)
        except errors.KorchError as exc:
            log.warning("ignoring pod %s: %s", _podinfo.pod_key(pod), exc)
            return None

    def _node_added(self, node: _core_node.Node) -> None:
        self.cache.add_node(node)
        self._event(fw.EventResource.NODE, fw.ActionType.ADD)

    def _node_updated(self, old: _core_node.Node, node: _core_node.Node) -> None:
        self.cache.add_node(node)
        action = fw.ActionType(0)
        if old.status.allocatable != node.status.allocatable:
            action |= fw.ActionType.UPDATE_NODE_ALLOCATABLE
        if old.metadata.labels != node.metadata.labels:
            action |= fw.ActionType.UPDATE_NODE_LABEL
        if old.spec.taints != node.spec.taints or old.spec.unschedulable != node.spec.unschedulable:
            action |= fw.ActionType.UPDATE_NODE_TAINT
        if old.status.conditions != node.status.conditions:
            action |= fw.ActionType.UPDATE_NODE_CONDITION
        if action:
            self._event(fw.EventResource.NODE, action)

    def _node_deleted(self, node: _core_node.Node) -> None:
        self.cache.remove_node(node.metadata.name)
        self._event(fw.EventResource.NODE, fw.ActionType.DELETE)

    def _event(self, resource: fw.EventResource, action: fw.ActionType) -> None:
        self.queue.move_on_event(fw.ClusterEvent(resource, action))
