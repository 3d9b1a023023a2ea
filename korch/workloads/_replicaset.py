"""The ReplicaSet (and ReplicationController) controller: keep ``replicas`` pods running.

Rules, as kube-controller-manager's ``replicaset`` controller:

* **claim** — pods in the set's namespace matching its selector are *adopted* (a
  controller ownerReference is added) unless another controller owns them or they are
  being deleted; pods the set controls that no longer match are *released*.
* **active pods** are owned pods not Succeeded/Failed and not being deleted; only they count.
* **too few** — pods are created from the template in **slow-start batches** of 1, 2, 4, …
  (:func:`slow_start_batches`); a failing batch stops the round, so a broken template (a
  quota, an admission webhook) costs one failed create, not hundreds. At most
  :data:`BURST_REPLICAS` pods are created or deleted per reconcile.
* **too many** — pods are deleted in :func:`deletion_order`: unassigned before assigned,
  Pending before Unknown before Running, not ready before ready, pods doubled up on a node
  with more of the set's pods first, ready for a shorter time first, more container restarts
  first, newer first.
* **status** — ``replicas`` (active pods), ``fullyLabeledReplicas`` (pods carrying every
  template label), ``readyReplicas``, ``availableReplicas`` (ready for ``minReadySeconds``),
  ``observedGeneration``; the reconcile requeues when a ready pod will become available.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

import anyio
import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _apps, _core_other, _core_pod, _selector
from korch.client import Client
from korch.workloads import _common, _expectations

__all__ = (
    "BURST_REPLICAS",
    "ReplicaSetReconciler",
    "ReplicaSetStatusCounts",
    "deletion_order",
    "replica_set_status",
    "slow_start_batches",
)

logger = logging.getLogger(__name__)

BURST_REPLICAS: Final = 500
_PHASE_RANK: Final = {"Pending": 0, "Unknown": 1, "Running": 2}


def slow_start_batches(count: int, initial: int = 1) -> list[int]:
    """Batch sizes for creating ``count`` pods: 1, 2, 4, … (the last one what is left).

    >>> slow_start_batches(10)
    [1, 2, 4, 3]
    """
    batches = []
    batch = max(1, initial)
    remaining = count
    while remaining > 0:
        size = min(batch, remaining)
        batches.append(size)
        remaining -= size
        batch *= 2
    return batches


async def slow_start(count: int, create: Callable[[], Awaitable[object]]) -> int:
    """Run ``create`` ``count`` times in slow-start batches; stop after a failing batch.

    The creates of one batch run concurrently (as Kubernetes' goroutines do); the next
    batch starts when the whole batch is done.

    Returns:
        How many creates succeeded.

    Raises:
        korch.errors.KorchError: the first error of the failing batch (after it finished).
    """
    done = 0
    failures: list[errors.KorchError] = []

    async def one() -> None:
        nonlocal done
        try:
            await create()
        except errors.KorchError as exc:
            failures.append(exc)
        else:
            done += 1

    for size in slow_start_batches(count):
        async with anyio.create_task_group() as group:
            for _ in range(size):
                group.start_soon(one)
        if failures:
            raise failures[0]
    return done


def _max_restarts(pod: _core_pod.Pod) -> int:
    return max((s.restart_count for s in pod.status.container_statuses), default=0)


def deletion_order(
    pods: Sequence[_core_pod.Pod], related: Iterable[_core_pod.Pod] = ()
) -> list[_core_pod.Pod]:
    """``pods`` sorted so the ones to delete first come first (``ActivePodsWithRanks``).

    ``related`` are active pods of the same owner (default: ``pods``); a pod whose node holds
    more of them ranks earlier (spread the survivors). See the module docstring for the
    whole order.
    """
    colocated = collections.Counter(
        p.spec.node_name for p in (related or pods) if p.spec.node_name and _common.is_pod_active(p)
    )

    def key(pod: _core_pod.Pod) -> tuple[Any, ...]:
        ready_at = _common.ready_since(pod)
        created = pod.metadata.creation_timestamp
        return (
            bool(pod.spec.node_name),
            _PHASE_RANK.get(pod.status.phase, 3),
            _common.is_pod_ready(pod),
            -colocated.get(pod.spec.node_name, 0) if pod.spec.node_name else 0,
            # ready for a shorter time first: a later transition sorts earlier
            -_common.to_seconds(ready_at) if ready_at else 0.0,
            -_max_restarts(pod),
            -_common.to_seconds(created) if created else 0.0,
        )

    return sorted(pods, key=key)


@attrs.frozen
class ReplicaSetStatusCounts:
    """The counted part of a ReplicaSet's (or ReplicationController's) status."""

    replicas: int
    fully_labeled_replicas: int
    ready_replicas: int
    available_replicas: int


def replica_set_status(
    pods: Iterable[_core_pod.Pod],
    template_labels: dict[str, str],
    min_ready_seconds: int,
    now: float,
) -> ReplicaSetStatusCounts:
    """Count ``pods`` (the set's active pods) as ``calculateStatus`` does."""
    replicas = labeled = ready = available = 0
    for pod in pods:
        replicas += 1
        labels = pod.metadata.labels
        if all(labels.get(k) == v for k, v in template_labels.items()):
            labeled += 1
        if _common.is_pod_ready(pod):
            ready += 1
            if _common.is_pod_available(pod, min_ready_seconds, now):
                available += 1
    return ReplicaSetStatusCounts(replicas, labeled, ready, available)


def _selector_of(owner: Any) -> _selector.Selector:
    selector = owner.spec.selector
    if isinstance(selector, dict):  # ReplicationController: a map
        return _selector.selector_from_set(selector) if selector else _selector.Selector.nothing()
    return _selector.label_selector_as_selector(selector)


class ReplicaSetReconciler:
    """Reconciles one ReplicaSet (or, with ``kind=ReplicationController``, one RC) per key.

    Args:
        client: writes pods and status.
        reader: reads the set and its namespace's pods (default: live reads via ``client``).
        clock: the time ``minReadySeconds`` is measured on.
        kind: :class:`~korch.api.ReplicaSet` or :class:`~korch.api.ReplicationController`.
    """

    def __init__(
        self,
        client: Client,
        *,
        reader: _common.Reader | None = None,
        clock: clock_module.Clock | None = None,
        kind: type[Any] = _apps.ReplicaSet,
    ) -> None:
        if kind not in (_apps.ReplicaSet, _core_other.ReplicationController):
            raise errors.BadRequest(f"ReplicaSetReconciler cannot manage {kind.__name__}")
        self.client = client
        self.reader = reader or _common.ClientReader(client)
        self.clock = clock or clock_module.SystemClock()
        self.kind = kind
        self.expectations = _expectations.Expectations(self.clock)

    async def reconcile(self, key: str) -> _common.Result:
        """Bring the set named by ``key`` to its desired replicas and write its status."""
        namespace, name = _common.split_key(key)
        owner = await self.reader.get(self.kind, name, namespace=namespace)
        if owner is None:
            self.expectations.forget(key)
            return _common.Result()
        selector = _selector_of(owner)
        candidates = await self.reader.list(_core_pod.Pod, namespace=namespace)
        claimed = _common.claim(owner, selector, candidates)
        for pod in claimed.release:
            await _common.release(self.client, owner, pod)
        owned = list(claimed.owned)
        for pod in claimed.adopt:
            try:
                owned.append(await _common.adopt(self.client, owner, pod))
            except (errors.NotFound, errors.Conflict):
                continue  # gone or changed meanwhile: the next round sees it again
        active = [p for p in owned if _common.is_pod_active(p)]
        failure: errors.KorchError | None = None
        settled = self.expectations.satisfied(key, candidates)
        if owner.metadata.deletion_timestamp is None and settled:
            try:
                active = await self._manage(key, owner, active)
            except errors.KorchError as exc:
                failure = exc
        await self._write_status(owner, active, owned, failure)
        if failure is not None:
            raise failure
        now = self.clock.time()
        wait = _common.available_in(active, owner.spec.min_ready_seconds, now)
        return _common.Result(wait)

    async def _manage(
        self, key: str, owner: Any, active: list[_core_pod.Pod]
    ) -> list[_core_pod.Pod]:
        desired = owner.spec.replicas if owner.spec.replicas is not None else 1
        diff = len(active) - desired
        if diff < 0:
            template = owner.spec.template or _core_pod.PodTemplateSpec()
            prefix = _common.generate_name_prefix(owner.metadata.name)
            created: list[_core_pod.Pod] = []

            async def create() -> None:
                pod = _common.pod_from_template(template, owner, generate_name=prefix)
                created.append(await self.client.create(pod))

            try:
                await slow_start(min(-diff, BURST_REPLICAS), create)
            finally:
                active = active + created
                self.expectations.expect(key, created=[p.metadata.name for p in created])
        elif diff > 0:
            doomed = deletion_order(active)[: min(diff, BURST_REPLICAS)]
            for pod in doomed:
                with contextlib.suppress(errors.NotFound):
                    await self.client.delete(
                        _core_pod.Pod, pod.metadata.name, namespace=pod.metadata.namespace
                    )
            gone = {p.metadata.uid for p in doomed}
            self.expectations.expect(key, deleted=gone)
            active = [p for p in active if p.metadata.uid not in gone]
        return active

    async def _write_status(
        self,
        owner: Any,
        active: list[_core_pod.Pod],
        owned: list[_core_pod.Pod],
        failure: errors.KorchError | None,
    ) -> None:
        template = owner.spec.template or _core_pod.PodTemplateSpec()
        counts = replica_set_status(
            active, template.metadata.labels, owner.spec.min_ready_seconds, self.clock.time()
        )
        conditions = [c for c in owner.status.conditions if c.type != "ReplicaFailure"]
        if failure is not None:
            conditions.append(self._failure_condition(owner, failure))
        status = attrs.evolve(
            owner.status,
            replicas=counts.replicas,
            fully_labeled_replicas=counts.fully_labeled_replicas,
            ready_replicas=counts.ready_replicas,
            available_replicas=counts.available_replicas,
            observed_generation=owner.metadata.generation,
            conditions=conditions,
        )
        if self.kind is _apps.ReplicaSet:
            terminating = sum(1 for p in owned if p.metadata.deletion_timestamp is not None)
            status = attrs.evolve(status, terminating_replicas=terminating or None)
        if status == owner.status:
            return
        with contextlib.suppress(errors.NotFound):  # deleted meanwhile: nothing to report
            await self.client.update_status(attrs.evolve(owner, status=status))

    def _failure_condition(self, owner: Any, failure: errors.KorchError) -> Any:
        cls = (
            _apps.ReplicaSetCondition
            if self.kind is _apps.ReplicaSet
            else _core_other.ReplicationControllerCondition
        )
        return cls(
            type="ReplicaFailure",
            status="True",
            reason="FailedCreate",
            message=str(failure),
            last_transition_time=_common.to_datetime(self.clock.time()),
        )
