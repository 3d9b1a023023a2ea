"""``ControllerManager``: every built-in controller on one :class:`korch.controllers.Manager`.

What kube-controller-manager is to Kubernetes::

    manager = ControllerManager(client, clock=clock, disable={"cronjob"})
    async with anyio.create_task_group() as tg:
        tg.start_soon(manager.run)          # until cancelled

Each reconciler of this package becomes a :func:`korch.controllers.controller` whose
watches queue the right keys (see :data:`CONTROLLERS`): a ReplicaSet is reconciled when it
or a pod it controls changes (and when an orphan pod its selector matches appears), a
DaemonSet when any Node changes, a Service's Endpoints when a pod it selects changes, and
so on. All controllers share the manager's informers, and read through its cache
(``manager.reader``); their writes go through the reconcile context's client, so the
framework's read-your-own-writes applies. A reconcile's :class:`~korch.workloads.Result`
becomes the framework's ``Result``; a ``Conflict`` (another writer was first) is retried
after :data:`CONFLICT_RETRY` seconds, other exceptions with the framework's back-off.

The garbage collector is not part of it: it lives in the API layer
(:class:`korch.apiserver.GarbageCollector`) and a :class:`korch.cluster.Cluster` runs it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from typing import Any, Final, cast

from korch import clock as clock_module
from korch import errors
from korch.api import _apps, _batch, _core_node, _core_other, _core_pod, _misc, _selector
from korch.client import Client
from korch.controllers import Builder, Controller, Manager, Predicate, Retry, controller
from korch.controllers import Result as FrameworkResult
from korch.workloads import (
    _common,
    _cronjob,
    _daemonset,
    _deployment,
    _disruption,
    _endpoints,
    _endpointslices,
    _job,
    _namespace,
    _node_lifecycle,
    _replicaset,
    _statefulset,
)

__all__ = ("CONTROLLERS", "ControllerManager")

#: The controllers a ControllerManager can run, by name (all are enabled by default).
CONTROLLERS: Final = (
    "replicaset",
    "replicationcontroller",
    "deployment",
    "statefulset",
    "daemonset",
    "job",
    "cronjob",
    "nodelifecycle",
    "endpoints",
    "endpointslice",
    "namespace",
    "disruption",
)

#: seconds before a reconcile that lost an optimistic-concurrency race runs again
CONFLICT_RETRY: Final = 0.01

_current_client: contextvars.ContextVar[Client | None] = contextvars.ContextVar(
    "korch_workloads_client", default=None
)


class _ScopedClient:
    """The client of the reconcile running in this task (the framework's tracking client),
    else the manager's. Reconcilers hold one of these, so one instance serves concurrent
    reconciles, each writing through its own context."""

    def __init__(self, default: Client) -> None:
        self._default = default

    def __getattr__(self, name: str) -> Any:
        return getattr(_current_client.get() or self._default, name)


def _adapter(reconciler: Any) -> Callable[[Any], Any]:
    async def reconcile(ctx: Any) -> FrameworkResult | None:
        token = _current_client.set(ctx.client)
        try:
            result: _common.Result = await reconciler.reconcile(ctx.key)
        except errors.Conflict as exc:
            # someone wrote first (a status update racing a scale, say): not a failure
            # worth a back-off; look again as soon as the cache has the newer object
            raise Retry(after=CONFLICT_RETRY, message=str(exc)) from exc
        finally:
            _current_client.reset(token)
        if result.requeue_after is None:
            return None
        return FrameworkResult(requeue_after=max(result.requeue_after, 0.0))

    reconcile.__name__ = f"reconcile_{type(reconciler).__name__}"
    return reconcile


def _key(obj: Any) -> str:
    return _common.join_key(obj.metadata.namespace, obj.metadata.name)


class ControllerManager:
    """Runs the built-in workload controllers (see the module docstring).

    Args:
        client: the client of every controller.
        clock: the clock of every timer (default: the system clock).
        enable: the controllers to run (default: all of :data:`CONTROLLERS`).
        disable: controllers not to run.
        workers: workers per controller (distinct keys reconciled concurrently).
        manager_options: keyword arguments for :class:`korch.controllers.Manager`
            (``leader_election``, ``name``, ``namespace``, ``shard``…).
        node_monitor_grace_period: seconds without a node heartbeat before it is Unknown.
        default_toleration_seconds: how long pods without a not-ready/unreachable
            toleration stay on such a node (``None``: evicted at once).

    Attributes: ``manager`` (the :class:`korch.controllers.Manager`), ``reconcilers``
    (name → reconciler) and ``controllers`` (name → :class:`korch.controllers.Controller`).

    Raises:
        korch.errors.BadRequest: an unknown controller name.
    """

    def __init__(
        self,
        client: Client,
        *,
        clock: clock_module.Clock | None = None,
        enable: Iterable[str] | None = None,
        disable: Iterable[str] = (),
        workers: int = 2,
        manager_options: dict[str, Any] | None = None,
        node_monitor_grace_period: float = 40.0,
        default_toleration_seconds: int | None = 300,
    ) -> None:
        enabled = list(CONTROLLERS if enable is None else enable)
        disabled = set(disable)
        unknown = sorted((set(enabled) | disabled) - set(CONTROLLERS))
        if unknown:
            raise errors.BadRequest(
                f"unknown controller(s) {', '.join(unknown)}; known: {', '.join(CONTROLLERS)}"
            )
        self.client = client
        self.clock = clock or clock_module.SystemClock()
        options = {"name": "kube-controller-manager", **(manager_options or {})}
        self.manager = Manager(client, clock=self.clock, **options)
        self._scoped = cast(Client, _ScopedClient(client))
        self._workers = workers
        self._grace = node_monitor_grace_period
        self._toleration = default_toleration_seconds
        self.reconcilers: dict[str, Any] = {}
        self.controllers: dict[str, Controller] = {}
        for name in CONTROLLERS:
            if name in enabled and name not in disabled:
                self._add(name)

    async def run(self) -> None:
        """Run every enabled controller until cancelled."""
        await self.manager.run()

    # -- wiring ----------------------------------------------------------------------------

    def _add(self, name: str) -> None:
        common: dict[str, Any] = {"reader": self.manager.reader, "clock": self.clock}
        reconciler: Any
        builder: Builder
        if name == "replicaset":
            reconciler = _replicaset.ReplicaSetReconciler(self._scoped, **common)
            builder = controller(_apps.ReplicaSet).owns(_core_pod.Pod)
            builder = builder.watches(_core_pod.Pod, map=self._orphan_owners(_apps.ReplicaSet))
        elif name == "replicationcontroller":
            reconciler = _replicaset.ReplicaSetReconciler(
                self._scoped, kind=_core_other.ReplicationController, **common
            )
            builder = controller(_core_other.ReplicationController).owns(_core_pod.Pod)
        elif name == "deployment":
            reconciler = _deployment.DeploymentReconciler(self._scoped, **common)
            builder = controller(_apps.Deployment).owns(_apps.ReplicaSet)
            builder = builder.watches(_core_pod.Pod, map=self._deployment_of_pod)
        elif name == "statefulset":
            reconciler = _statefulset.StatefulSetReconciler(self._scoped, **common)
            builder = controller(_apps.StatefulSet).owns(_core_pod.Pod)
        elif name == "daemonset":
            reconciler = _daemonset.DaemonSetReconciler(self._scoped, **common)
            builder = controller(_apps.DaemonSet).owns(_core_pod.Pod)
            builder = builder.watches(
                _core_node.Node, Predicate(_node_placement_changed), map=self._all(_apps.DaemonSet)
            )
        elif name == "job":
            reconciler = _job.JobReconciler(self._scoped, **common)
            builder = controller(_batch.Job).owns(_core_pod.Pod)
        elif name == "cronjob":
            reconciler = _cronjob.CronJobReconciler(self._scoped, **common)
            builder = controller(_batch.CronJob).owns(_batch.Job)
        elif name == "nodelifecycle":
            reconciler = _node_lifecycle.NodeLifecycleReconciler(
                self._scoped,
                node_monitor_grace_period=self._grace,
                default_toleration_seconds=self._toleration,
                **common,
            )
            builder = controller(_core_node.Node).watches(_misc.Lease, map=self._node_of_lease)
            builder = builder.watches(_core_pod.Pod, map=self._tainted_node_of_pod)
        elif name == "endpoints":
            reconciler = _endpoints.EndpointsReconciler(self._scoped, **common)
            builder = controller(_core_node.Service)
            builder = builder.watches(_core_pod.Pod, map=self._services_of_pod)
            builder = builder.watches(_core_node.Endpoints, map=lambda e: [_key(e)])
        elif name == "endpointslice":
            reconciler = _endpointslices.EndpointSliceReconciler(self._scoped, **common)
            builder = controller(_core_node.Service)
            builder = builder.watches(_core_pod.Pod, map=self._services_of_pod)
            builder = builder.watches(_endpointslices.ENDPOINT_SLICE, map=self._service_of_slice)
        elif name == "namespace":
            reconciler = _namespace.NamespaceReconciler(self._scoped, **common)
            builder = controller(_core_node.Namespace)
        else:  # "disruption"
            reconciler = _disruption.DisruptionReconciler(self._scoped, **common)
            builder = controller(_misc.PodDisruptionBudget)
            builder = builder.watches(_core_pod.Pod, map=self._budgets_of_pod)
        built = builder.named(name).options(workers=self._workers).build(_adapter(reconciler))
        self.reconcilers[name] = reconciler
        self.controllers[name] = self.manager.add(built)

    # -- key maps (called by informer handlers with cached objects) ------------------------

    def _orphan_owners(self, kind: type[Any]) -> Callable[[Any], list[str]]:
        """Keys of the sets whose selector matches a pod no controller owns (adoption)."""
        informer = self.manager.informer(kind)

        def owners(pod: Any) -> list[str]:
            if _common.controller_ref(pod) is not None:
                return []
            return [
                _key(owner)
                for owner in informer.list(namespace=pod.metadata.namespace)
                if _matches(owner.spec.selector, pod.metadata.labels)
            ]

        return owners

    def _deployment_of_pod(self, pod: Any) -> list[str]:
        ref = _common.controller_ref(pod)
        if ref is None or ref.kind != "ReplicaSet":
            return []
        rs = self.manager.informer(_apps.ReplicaSet).get(
            _common.join_key(pod.metadata.namespace, ref.name)
        )
        parent = _common.controller_ref(rs) if rs is not None else None
        if parent is None or parent.kind != "Deployment":
            return []
        key = _common.join_key(pod.metadata.namespace, parent.name)
        deployment = self.manager.informer(_apps.Deployment).get(key)
        if deployment is None or deployment.spec.strategy.type != "Recreate":
            return []  # only Recreate waits for old pods; the rest follows its ReplicaSets
        return [key]

    def _all(self, kind: type[Any]) -> Callable[[Any], list[str]]:
        informer = self.manager.informer(kind)
        return lambda _: list(informer.keys())

    def _node_of_lease(self, lease: Any) -> list[str]:
        if lease.metadata.namespace != _node_lifecycle.NODE_LEASE_NAMESPACE:
            return []
        return [lease.metadata.name]

    def _tainted_node_of_pod(self, pod: Any) -> list[str]:
        node_name = pod.spec.node_name
        if not node_name:
            return []
        node = self.manager.informer(_core_node.Node).get(node_name)
        if node is None or not any(t.effect == "NoExecute" for t in node.spec.taints):
            return []
        return [node_name]

    def _services_of_pod(self, pod: Any) -> list[str]:
        services = self.manager.informer(_core_node.Service)
        return [
            _key(service)
            for service in services.list(namespace=pod.metadata.namespace)
            if service.spec.selector
            and _selector.selector_from_set(service.spec.selector).matches(pod.metadata.labels)
        ]

    def _service_of_slice(self, endpoint_slice: Any) -> list[str]:
        name = endpoint_slice.metadata.labels.get(_endpointslices.SERVICE_NAME_LABEL)
        return [_common.join_key(endpoint_slice.metadata.namespace, name)] if name else []

    def _budgets_of_pod(self, pod: Any) -> list[str]:
        budgets = self.manager.informer(_misc.PodDisruptionBudget)
        return [
            _key(budget)
            for budget in budgets.list(namespace=pod.metadata.namespace)
            if _matches(budget.spec.selector, pod.metadata.labels)
        ]


def _node_placement_changed(old: Any, new: Any) -> bool:
    """A node came, went, or changed what decides daemon placement (not a heartbeat)."""
    if old is None or new is None:
        return True
    return bool(old.metadata.labels != new.metadata.labels or old.spec != new.spec)


def _matches(label_selector: Any, labels: dict[str, str]) -> bool:
    try:
        return _selector.label_selector_as_selector(label_selector).matches(labels)
    except errors.BadRequest:
        return False
