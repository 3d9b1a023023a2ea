"""Node lifecycle: heartbeats through Leases, NotReady/Unknown nodes, taints, evictions.

One reconcile of a node (kube-controller-manager's node lifecycle and taint-eviction
controllers, per node instead of a periodic sweep):

1. **health** — the node's last heartbeat is the later of its Lease's ``renewTime``
   (``kube-node-lease/<node>``) and its ``Ready`` condition's ``lastHeartbeatTime``. When
   none came for ``node_monitor_grace_period`` (40 s), ``Ready`` (and ``MemoryPressure``,
   ``DiskPressure``, ``PIDPressure``) become ``Unknown`` with reason ``NodeStatusUnknown``
   ("Kubelet stopped posting node status."), or ``NodeStatusNeverUpdated`` for a node that
   never reported; its pods get ``Ready=False``.
2. **taints** — ``Ready=Unknown`` gives ``node.kubernetes.io/unreachable`` and
   ``Ready=False`` gives ``node.kubernetes.io/not-ready``, each with effects ``NoSchedule``
   and ``NoExecute`` (``timeAdded`` = now); ``Ready=True`` removes them.
3. **eviction** — a pod on the node that does not tolerate one of its ``NoExecute`` taints
   is deleted at once; one that tolerates them all is deleted at ``timeAdded`` plus the
   smallest ``tolerationSeconds`` of the matching tolerations (no ``tolerationSeconds``:
   never). Pods without a toleration for ``not-ready``/``unreachable`` are treated as
   having one for ``default_toleration_seconds`` (300 s), what the DefaultTolerationSeconds
   admission plugin would have added. Evicted pods get ``DisruptionTarget=True``
   (``DeletionByTaintManager``) first; their controllers create replacements.

The reconcile requeues when the grace period would run out or the next eviction is due.
Not done: zone-aware eviction rate limits (``--node-eviction-rate``, large-cluster sizes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _codec, _core_node, _core_pod, _misc, _scheduling_terms
from korch.client import Client
from korch.workloads import _common

__all__ = (
    "NODE_LEASE_NAMESPACE",
    "NOT_READY_TAINT",
    "UNREACHABLE_TAINT",
    "NodeLifecycleReconciler",
    "eviction_time",
)

logger = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE: Final = "kube-node-lease"
UNREACHABLE_TAINT: Final = "node.kubernetes.io/unreachable"
NOT_READY_TAINT: Final = "node.kubernetes.io/not-ready"
_PRESSURE: Final = ("MemoryPressure", "DiskPressure", "PIDPressure")
_MANAGED: Final = (UNREACHABLE_TAINT, NOT_READY_TAINT)


def eviction_time(
    taints: Sequence[_core_node.Taint],
    tolerations: Sequence[_core_pod.Toleration],
    *,
    default_toleration_seconds: int | None = 300,
) -> float | None:
    """When a pod with ``tolerations`` must leave a node with ``taints`` (epoch seconds).

    Only ``NoExecute`` taints count. Returns ``-inf`` for "now" (a taint is not tolerated),
    ``None`` for "never", else the earliest ``timeAdded + tolerationSeconds``.
    """
    due: float | None = None
    for taint in taints:
        if taint.effect != "NoExecute":
            continue
        matching = [t for t in tolerations if _scheduling_terms.tolerates(t, taint)]
        if not matching:
            if taint.key in _MANAGED and default_toleration_seconds is not None:
                seconds: int | None = default_toleration_seconds
            else:
                return float("-inf")
        else:
            limits = [t.toleration_seconds for t in matching]
            seconds = (
                None if any(s is None for s in limits) else min(s for s in limits if s is not None)
            )
        if seconds is None:
            continue
        added = taint.time_added.timestamp() if taint.time_added is not None else 0.0
        at = added + max(seconds, 0)
        due = at if due is None else min(due, at)
    return due


class NodeLifecycleReconciler:
    """Reconciles one Node per key (its name); see the module docstring.

    Args:
        client: writes node status and taints, pod conditions, deletes pods.
        reader: reads nodes, leases and pods (default: live reads via ``client``).
        clock: heartbeats and eviction times are measured on it.
        node_monitor_grace_period: seconds without a heartbeat before a node is Unknown.
        default_toleration_seconds: the DefaultTolerationSeconds value (``None``: off).
    """

    def __init__(
        self,
        client: Client,
        *,
        reader: _common.Reader | None = None,
        clock: clock_module.Clock | None = None,
        node_monitor_grace_period: float = 40.0,
        default_toleration_seconds: int | None = 300,
    ) -> None:
        self.client = client
        self.reader = reader or _common.ClientReader(client)
        self.clock = clock or clock_module.SystemClock()
        self.grace = node_monitor_grace_period
        self.default_toleration_seconds = default_toleration_seconds

    async def reconcile(self, key: str) -> _common.Result:
        """Check the node's heartbeat, taint it, and evict what must leave it."""
        _, name = _common.split_key(key)
        node = await self.reader.get(_core_node.Node, name)
        if node is None:
            return _common.Result()
        now = self.clock.time()
        lease = await self.reader.get(_misc.Lease, name, namespace=NODE_LEASE_NAMESPACE)
        heartbeat = self._last_heartbeat(node, lease)
        result = _common.Result()
        if heartbeat is not None and now - heartbeat <= self.grace:
            result = _common.Result(heartbeat + self.grace - now + 0.001)
        else:
            node = await self._mark_unknown(node, never=heartbeat is None)
        node = await self._sync_taints(node)
        pods = [
            p
            for p in await self.reader.list(_core_pod.Pod)
            if p.spec.node_name == name and p.metadata.deletion_timestamp is None
        ]
        if _ready_status(node) == "Unknown":
            await self._mark_pods_not_ready(pods)
        evict_at = await self._evict(node, pods, now)
        if evict_at is not None:
            result = _common.Result.sooner(result, _common.Result(max(evict_at - now, 0.0)))
        return result

    def _last_heartbeat(self, node: _core_node.Node, lease: _misc.Lease | None) -> float | None:
        times = []
        if lease is not None and lease.spec.renew_time is not None:
            times.append(lease.spec.renew_time.timestamp())
        ready = _condition(node, "Ready")
        if ready is not None and ready.status != "Unknown" and ready.last_heartbeat_time:
            times.append(ready.last_heartbeat_time.timestamp())
        if not times and ready is None and node.metadata.creation_timestamp is not None:
            created = node.metadata.creation_timestamp.timestamp()
            if self.clock.time() - created <= self.grace:
                return created  # a new node gets the grace period to report
        return max(times) if times else None

    async def _mark_unknown(self, node: _core_node.Node, *, never: bool) -> _core_node.Node:
        now = _common.to_datetime(self.clock.time())
        reason = "NodeStatusNeverUpdated" if never else "NodeStatusUnknown"
        message = (
            "Kubelet never posted node status." if never else "Kubelet stopped posting node status."
        )
        conditions = list(node.status.conditions)
        changed = False
        for type_ in ("Ready", *_PRESSURE):
            current = _condition(node, type_)
            if current is not None and current.status == "Unknown":
                continue
            if current is None and type_ != "Ready":
                continue
            new = _core_node.NodeCondition(
                type=type_,
                status="Unknown",
                reason=reason,
                message=message,
                last_heartbeat_time=current.last_heartbeat_time if current else None,
                last_transition_time=now,
            )
            conditions = [c for c in conditions if c.type != type_] + [new]
            changed = True
        if not changed:
            return node
        updated = attrs.evolve(node, status=attrs.evolve(node.status, conditions=conditions))
        result: _core_node.Node = await self.client.update_status(updated)
        return result

    async def _sync_taints(self, node: _core_node.Node) -> _core_node.Node:
        status = _ready_status(node)
        wanted_key = {"Unknown": UNREACHABLE_TAINT, "False": NOT_READY_TAINT}.get(status or "")
        taints = [t for t in node.spec.taints if t.key not in _MANAGED or t.key == wanted_key]
        if wanted_key is not None:
            now = _common.to_datetime(self.clock.time())
            for effect in ("NoSchedule", "NoExecute"):
                if not any(t.key == wanted_key and t.effect == effect for t in taints):
                    taints.append(_core_node.Taint(key=wanted_key, effect=effect, time_added=now))
        if taints == node.spec.taints:
            return node
        patch = {
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"taints": [_codec.to_dict(t) for t in taints]},
        }
        updated: _core_node.Node = await self.client.patch(
            _core_node.Node, node.metadata.name, patch, type="merge"
        )
        return updated

    async def _mark_pods_not_ready(self, pods: list[_core_pod.Pod]) -> None:
        now = _common.to_datetime(self.clock.time())
        for pod in pods:
            ready = _common.pod_condition(pod, "Ready")
            if ready is None or ready.status == "False":
                continue
            condition = attrs.evolve(ready, status="False", last_transition_time=now)
            conditions = [condition if c.type == "Ready" else c for c in pod.status.conditions]
            try:
                await self.client.update_status(
                    attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=conditions))
                )
            except (errors.NotFound, errors.Conflict):
                continue  # gone or changed: the next round sees it

    async def _evict(
        self, node: _core_node.Node, pods: list[_core_pod.Pod], now: float
    ) -> float | None:
        next_due: float | None = None
        for pod in pods:
            due = eviction_time(
                node.spec.taints,
                pod.spec.tolerations,
                default_toleration_seconds=self.default_toleration_seconds,
            )
            if due is None:
                continue
            if due > now:
                next_due = due if next_due is None else min(next_due, due)
                continue
            await self._evict_pod(pod)
        return next_due

    async def _evict_pod(self, pod: _core_pod.Pod) -> None:
        now = _common.to_datetime(self.clock.time())
        condition = _core_pod.PodCondition(
            type="DisruptionTarget",
            status="True",
            reason="DeletionByTaintManager",
            message="Taint manager: deleting due to NoExecute taint",
            last_transition_time=now,
        )
        conditions = [c for c in pod.status.conditions if c.type != "DisruptionTarget"]
        try:
            await self.client.update_status(
                attrs.evolve(
                    pod, status=attrs.evolve(pod.status, conditions=[*conditions, condition])
                )
            )
        except errors.Conflict:
            pass  # the delete below is what matters
        except errors.NotFound:
            return
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(
                _core_pod.Pod, pod.metadata.name, namespace=pod.metadata.namespace
            )


def _condition(node: _core_node.Node, type_: str) -> Any:
    for condition in node.status.conditions:
        if condition.type == type_:
            return condition
    return None


def _ready_status(node: _core_node.Node) -> str | None:
    ready = _condition(node, "Ready")
    return None if ready is None else str(ready.status)
