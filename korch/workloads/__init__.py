"""korch.workloads — the built-in workload controllers (kube-controller-manager's).

Each controller is a reconciler class with ``async def reconcile(key) -> Result``: it reads
the current state through a :class:`Reader` (an informer cache, or :class:`ClientReader`),
writes through a :class:`korch.client.Client`, and takes all time from a
:class:`korch.clock.Clock`. The rules themselves are pure functions, usable alone
(:func:`deletion_order`, :func:`parse_schedule`, :func:`eviction_time`…).
:class:`ControllerManager` runs them all on :mod:`korch.controllers`::

    manager = ControllerManager(client, clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(manager.run)

See ``docs/workloads.md``.
"""

from __future__ import annotations

from korch.workloads._common import ClientReader, Reader, Result, join_key, split_key
from korch.workloads._cron import Schedule, parse_schedule
from korch.workloads._cronjob import CronJobReconciler
from korch.workloads._daemonset import (
    DEFAULT_TOLERATIONS,
    DaemonSetReconciler,
    daemon_tolerations,
    should_run_on,
)
from korch.workloads._deployment import DeploymentReconciler, rollback
from korch.workloads._disruption import DisruptionReconciler, eviction_allowed
from korch.workloads._endpoints import EndpointsReconciler, endpoint_subsets
from korch.workloads._endpointslices import (
    ENDPOINT_SLICE,
    EndpointSliceReconciler,
    endpoint_slice_bodies,
)
from korch.workloads._job import (
    JobReconciler,
    backoff_delay,
    format_indexes,
    parse_indexes,
    pod_failure_policy_action,
)
from korch.workloads._manager import CONTROLLERS, ControllerManager
from korch.workloads._namespace import NamespaceReconciler
from korch.workloads._node_lifecycle import (
    NODE_LEASE_NAMESPACE,
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    NodeLifecycleReconciler,
    eviction_time,
)
from korch.workloads._replicaset import (
    BURST_REPLICAS,
    ReplicaSetReconciler,
    ReplicaSetStatusCounts,
    deletion_order,
    replica_set_status,
    slow_start_batches,
)
from korch.workloads._statefulset import StatefulSetReconciler

__all__ = (
    "BURST_REPLICAS",
    "CONTROLLERS",
    "DEFAULT_TOLERATIONS",
    "ENDPOINT_SLICE",
    "NODE_LEASE_NAMESPACE",
    "NOT_READY_TAINT",
    "UNREACHABLE_TAINT",
    "ClientReader",
    "ControllerManager",
    "CronJobReconciler",
    "DaemonSetReconciler",
    "DeploymentReconciler",
    "DisruptionReconciler",
    "EndpointSliceReconciler",
    "EndpointsReconciler",
    "JobReconciler",
    "NamespaceReconciler",
    "NodeLifecycleReconciler",
    "Reader",
    "ReplicaSetReconciler",
    "ReplicaSetStatusCounts",
    "Result",
    "Schedule",
    "StatefulSetReconciler",
    "backoff_delay",
    "daemon_tolerations",
    "deletion_order",
    "endpoint_slice_bodies",
    "endpoint_subsets",
    "eviction_allowed",
    "eviction_time",
    "format_indexes",
    "join_key",
    "parse_indexes",
    "parse_schedule",
    "pod_failure_policy_action",
    "replica_set_status",
    "rollback",
    "should_run_on",
    "slow_start_batches",
    "split_key",
)
