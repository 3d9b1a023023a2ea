"""The disruption controller: PodDisruptionBudget status, and the eviction check.

One reconcile of a PodDisruptionBudget (kube-controller-manager's ``disruption``
controller):

* **pods** — the pods in its namespace matching its selector;
* **expected pods** and **desired healthy**: ``minAvailable: N`` expects the pods found
  and wants ``N`` healthy; ``minAvailable: P%`` and ``maxUnavailable`` (int or %) expect
  the summed ``replicas`` of the pods' controllers (a ReplicaSet owned by a Deployment
  counts the Deployment; StatefulSets, ReplicaSets and ReplicationControllers count
  themselves) and want ``ceil(P% * expected)`` or ``expected - maxUnavailable`` (rounded
  up) healthy;
* **current healthy** — ready pods not being deleted and not listed in
  ``status.disruptedPods`` (entries the API server adds on eviction, dropped once the pod
  is deleted or after 2 minutes);
* ``disruptionsAllowed = max(currentHealthy - desiredHealthy, 0)`` and the
  ``DisruptionAllowed`` condition (``SufficientPods`` / ``InsufficientPods``);
  ``observedGeneration`` is written so the API server's eviction check trusts the status.

The API server enforces budgets on ``pods/eviction`` (``Client.evict``);
:func:`eviction_allowed` is the same check as a pure function, for planning drains.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Sequence
from typing import Any, Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _apps, _core_other, _core_pod, _meta, _misc, _quantity, _selector
from korch.client import Client
from korch.workloads import _common

__all__ = ("DisruptionReconciler", "eviction_allowed")

logger = logging.getLogger(__name__)

DELETION_TIMEOUT: Final = 120.0
_SCALABLE: Final[dict[str, type[Any]]] = {
    "ReplicaSet": _apps.ReplicaSet,
    "StatefulSet": _apps.StatefulSet,
    "ReplicationController": _core_other.ReplicationController,
    "Deployment": _apps.Deployment,
}


def eviction_allowed(pod: _core_pod.Pod, budgets: Sequence[_misc.PodDisruptionBudget]) -> bool:
    """Whether evicting ``pod`` respects the budgets (what ``pods/eviction`` checks).

    Finished pods and pods being deleted may always go; otherwise the one budget selecting
    the pod must have observed its current generation and allow a disruption. A pod
    selected by no budget may go.

    Raises:
        korch.errors.InternalError: more than one budget selects the pod.
    """
    if pod.status.phase in ("Succeeded", "Failed", "Pending"):
        return True
    if pod.metadata.deletion_timestamp is not None:
        return True
    matching = [
        b
        for b in budgets
        if b.metadata.namespace == pod.metadata.namespace
        and _selector.label_selector_as_selector(b.spec.selector).matches(pod.metadata.labels)
    ]
    if not matching:
        return True
    if len(matching) > 1:
        raise errors.InternalError(
            "this pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support."
        )
    budget = matching[0]
    return (
        budget.status.observed_generation >= budget.metadata.generation
        and budget.status.disruptions_allowed > 0
    )


class DisruptionReconciler:
    """Reconciles one PodDisruptionBudget per key (see the module docstring).

    Args:
        client: writes the budget's status.
        reader: reads budgets, pods and their controllers (default: live via ``client``).
        clock: ``disruptedPods`` entries expire on it.
    """

    def __init__(
        self,
        client: Client,
        *,
        reader: _common.Reader | None = None,
        clock: clock_module.Clock | None = None,
    ) -> None:
        self.client = client
        self.reader = reader or _common.ClientReader(client)
        self.clock = clock or clock_module.SystemClock()

    async def reconcile(self, key: str) -> _common.Result:
        """Recompute the budget's status from its pods."""
        namespace, name = _common.split_key(key)
        pdb = await self.reader.get(_misc.PodDisruptionBudget, name, namespace=namespace)
        if pdb is None:
            return _common.Result()
        selector = _selector.label_selector_as_selector(pdb.spec.selector)
        pods = await self.reader.list(_core_pod.Pod, namespace=namespace, selector=selector)
        now = self.clock.time()
        disrupted, expires = self._disrupted(pdb, pods, now)
        try:
            expected, desired = await self._expected(pdb, pods)
        except errors.KorchError as exc:
            await self._write(pdb, 0, 0, 0, 0, disrupted, f"{type(exc).__name__}: {exc}")
            return _common.Result()
        healthy = sum(
            1
            for p in pods
            if p.metadata.deletion_timestamp is None
            and p.metadata.name not in disrupted
            and _common.is_pod_ready(p)
        )
        allowed = max(healthy - desired, 0) if expected > 0 else 0
        await self._write(pdb, allowed, healthy, desired, expected, disrupted, None)
        return _common.Result(expires)

    def _disrupted(
        self, pdb: _misc.PodDisruptionBudget, pods: list[_core_pod.Pod], now: float
    ) -> tuple[dict[str, datetime.datetime], float | None]:
        alive = {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None}
        kept: dict[str, datetime.datetime] = {}
        expires: float | None = None
        for pod_name, since in pdb.status.disrupted_pods.items():
            left = since.timestamp() + DELETION_TIMEOUT - now
            if pod_name in alive and left > 0:
                kept[pod_name] = since
                expires = left if expires is None else min(expires, left)
        return kept, expires

    async def _expected(
        self, pdb: _misc.PodDisruptionBudget, pods: list[_core_pod.Pod]
    ) -> tuple[int, int]:
        spec = pdb.spec
        if spec.max_unavailable is None and isinstance(spec.min_available, int):
            return len(pods), spec.min_available
        expected = await self._controller_scale(pods)
        if spec.max_unavailable is not None:
            unavailable = _quantity.parse_int_or_percent(
                spec.max_unavailable, expected, round_up=True
            )
            return expected, max(expected - unavailable, 0)
        if spec.min_available is not None:
            minimum = _quantity.parse_int_or_percent(spec.min_available, expected, round_up=True)
            return expected, minimum
        return expected, expected  # neither set: nothing may be disrupted

    async def _controller_scale(self, pods: list[_core_pod.Pod]) -> int:
        seen: dict[str, int] = {}
        for pod in pods:
            ref = _common.controller_ref(pod)
            if ref is None:
                raise errors.BadRequest(f"found no controller ref for pod {pod.metadata.name!r}")
            owner = await self._owner(ref, pod.metadata.namespace)
            if owner is None:
                raise errors.NotFound(f"no controller {ref.kind} {ref.name!r} for pod")
            if owner.metadata.uid not in seen:
                replicas = owner.spec.replicas
                seen[owner.metadata.uid] = 1 if replicas is None else int(replicas)
        return sum(seen.values())

    async def _owner(self, ref: _meta.OwnerReference, namespace: str) -> Any:
        cls = _SCALABLE.get(ref.kind)
        if cls is None:
            raise errors.BadRequest(f"pods controlled by a {ref.kind} have no scale to count")
        owner = await self.reader.get(cls, ref.name, namespace=namespace)
        if owner is None or owner.metadata.uid != ref.uid:
            return None
        if cls is _apps.ReplicaSet:
            parent = _common.controller_ref(owner)
            if parent is not None and parent.kind == "Deployment":
                deployment = await self._owner(parent, namespace)
                if deployment is not None:
                    return deployment
        return owner

    async def _write(
        self,
        pdb: _misc.PodDisruptionBudget,
        allowed: int,
        healthy: int,
        desired: int,
        expected: int,
        disrupted: dict[str, datetime.datetime],
        failure: str | None,
    ) -> None:
        if failure is not None:
            status_value, reason, message = "False", "SyncFailed", failure
        elif allowed > 0:
            status_value, reason, message = "True", "SufficientPods", ""
        else:
            status_value, reason, message = "False", "InsufficientPods", ""
        current = [c for c in pdb.status.conditions if c.type == "DisruptionAllowed"]
        condition = _meta.Condition(
            type="DisruptionAllowed",
            status=status_value,
            reason=reason,
            message=message,
            observed_generation=pdb.metadata.generation,
            last_transition_time=(
                current[0].last_transition_time
                if current and current[0].status == status_value
                else _common.to_datetime(self.clock.time())
            ),
        )
        status = attrs.evolve(
            pdb.status,
            observed_generation=pdb.metadata.generation,
            disrupted_pods=disrupted,
            disruptions_allowed=allowed,
            current_healthy=healthy,
            desired_healthy=desired,
            expected_pods=expected,
            conditions=[c for c in pdb.status.conditions if c.type != "DisruptionAllowed"]
            + [condition],
        )
        if status == pdb.status:
            return
        with contextlib.suppress(errors.NotFound):
            await self.client.update_status(attrs.evolve(pdb, status=status))
