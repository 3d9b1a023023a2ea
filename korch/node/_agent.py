"""NodeAgent: the kubelet. Registers a Node, heartbeats, and runs the pods bound to it.

``await NodeAgent(client, runtime, "node-1").run()`` works until cancelled:

1. **Registration.** Creates the Node (labels ``kubernetes.io/hostname``,
   ``kubernetes.io/os``, ``kubernetes.io/arch`` plus ``labels``; ``taints``; capacity and
   allocatable; addresses ``InternalIP``/``Hostname``; nodeInfo; conditions ``Ready=True``
   and no memory, disk or PID pressure). If the Node exists (the agent restarted), it adds
   its labels and reports its status; taints are only set at creation, as with the
   kubelet's ``--register-with-taints``.
2. **Heartbeats.** Renews the coordination.k8s.io/v1 Lease ``kube-node-lease/<node>``
   (duration 40 s) every 10 s, and reports the Node's conditions (``lastHeartbeatTime``)
   every ``status_report_seconds`` (the kubelet's 5 minutes: the Lease is the frequent
   signal the node lifecycle controller watches).
3. **Reconciliation after a restart.** Before running pods it lists the runtime's sandboxes
   and containers. A sandbox whose pod (by uid) is bound to this node is adopted with its
   containers — nothing is started twice; sandboxes of pods that no longer exist are
   stopped and removed (no orphans), as are extra sandboxes of one pod.
4. **Pods.** Lists and watches pods with ``spec.nodeName=<node>`` and runs one
   :class:`~korch.node._worker.PodWorker` per pod; container starts and exits reported by
   the runtime wake the pod's worker, and one timer task wakes workers whose probe or
   back-off is due.
5. **Logs.** :meth:`NodeAgent.pod_log` is the :class:`korch.apiserver.PodLogSource` the
   API server asks for ``pods/log``; :meth:`NodeAgent.read_log` is the same by name.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import platform
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import anyio
import anyio.abc
import attrs
import httpx

from korch import clock as clock_module
from korch import errors
from korch.api import (
    Lease,
    LeaseSpec,
    Node,
    NodeAddress,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    NodeSystemInfo,
    ObjectMeta,
    OwnerReference,
    Pod,
    Taint,
    to_dict,
)
from korch.apiserver import PodLogOptions
from korch.client import Client
from korch.node import _podsource, _podstatus, _worker
from korch.runtime import POD_UID_LABEL, ContainerRuntimeError, RuntimeAdapter

__all__ = ("NodeAgent",)

logger = logging.getLogger("korch.node")

LEASE_NAMESPACE = "kube-node-lease"
KUBELET_VERSION = "v1.31.0-korch"


def _default_capacity() -> dict[str, str]:
    memory = 0
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 8 * 1024**3
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{memory // 1024}Ki",
        "pods": "110",
        "ephemeral-storage": "100Gi",
    }


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine or "amd64")


class NodeAgent:
    """The node agent of one node (see the module docstring).

    Args:
        client: the API.
        runtime: runs the containers.
        node_name: the Node's name.
        clock: every timer's clock (default: the system clock).
        capacity: the Node's capacity (default: this machine's CPUs and memory, 110 pods).
        allocatable: what pods may use (default: the capacity).
        labels: extra Node labels.
        taints: the Node's taints at registration.
        ip: the node's InternalIP (default 127.0.0.1).
        heartbeat_seconds: how often the Lease is renewed.
        lease_duration_seconds: the Lease's duration.
        status_report_seconds: how often the Node status is reported when nothing changed.
        service_links: give containers Service environment variables (unless the pod
            says ``enableServiceLinks: false``).
        record_events: record Events (probe failures, back-off, kills, create errors).
        stop_pods_on_exit: when :meth:`run` ends, kill every container and remove every
            sandbox (for throw-away clusters). By default containers keep running, as
            with the kubelet, and a restarted agent adopts them.
    """

    def __init__(
        self,
        client: Client,
        runtime: RuntimeAdapter,
        node_name: str,
        *,
        clock: clock_module.Clock | None = None,
        capacity: Mapping[str, str] | None = None,
        allocatable: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        taints: Iterable[Taint] = (),
        ip: str = "127.0.0.1",
        heartbeat_seconds: float = 10.0,
        lease_duration_seconds: int = 40,
        status_report_seconds: float = 300.0,
        service_links: bool = True,
        record_events: bool = True,
        stop_pods_on_exit: bool = False,
    ) -> None:
        if not node_name:
            raise ValueError("a node agent needs a node name")
        self.client = client
        self.runtime = runtime
        self.node_name = node_name
        self.clock = clock or clock_module.SystemClock()
        self.capacity = dict(capacity or _default_capacity())
        self.allocatable = dict(allocatable or self.capacity)
        self.labels = dict(labels or {})
        self.taints = list(taints)
        self.ip = ip
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_duration_seconds = lease_duration_seconds
        self.status_report_seconds = status_report_seconds
        self.service_links = service_links
        self.record_events = record_events
        self.stop_pods_on_exit = stop_pods_on_exit
        self.runtime_name = "unknown"
        self.workers: dict[str, _worker.PodWorker] = {}
        self.sandboxes: dict[str, _worker.PodWorker] = {}
        self.registered = anyio.Event()
        self.synced = anyio.Event()
        self._node_uid = ""
        self._lease: Lease | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._http: httpx.AsyncClient | None = None
        self._inventory: dict[str, list[Any]] | None = None
        self._timers: list[tuple[float, int, _worker.PodWorker]] = []
        self._timer_seq = itertools.count()
        self._timer_scope: anyio.CancelScope | None = None
        self._timer_deadline = float("inf")

    # -- life cycle ----------------------------------------------------------------------

    async def run(self) -> None:
        """Register, heartbeat and run pods until cancelled."""
        if getattr(self.runtime, "node_name", None) == "":
            self.runtime.node_name = self.node_name  # type: ignore[attr-defined]
        version = await self.runtime.version()
        self.runtime_name = version.runtime_name
        await self._register(str(version))
        self.registered.set()
        try:
            async with anyio.create_task_group() as group:
                self._task_group = group
                group.start_soon(self.runtime.run)
                group.start_soon(self._watch_runtime)
                group.start_soon(self._run_timers)
                group.start_soon(self._heartbeat)
                await self._take_inventory()
                source = _podsource.PodSource(
                    self.client,
                    self.node_name,
                    clock=self.clock,
                    on_list=self._on_list,
                    on_pod=self._on_pod,
                    on_delete=self._on_delete,
                )
                group.start_soon(source.run)
        finally:
            self._task_group = None
            if self.stop_pods_on_exit:
                with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                    for sandbox in await self.runtime.list_pod_sandboxes():
                        await self._remove_sandbox(sandbox.id)
            if self._http is not None:
                with anyio.CancelScope(shield=True):
                    await self._http.aclose()
                self._http = None

    def http(self) -> httpx.AsyncClient:
        """The HTTP client of httpGet probes."""
        if self._http is None:
            self._http = httpx.AsyncClient(verify=False, trust_env=False)
        return self._http

    async def event(self, pod: Pod, reason: str, message: str, type: str = "Normal") -> None:
        """Record an Event about ``pod`` (if events are on; failures are only logged)."""
        if not self.record_events:
            return
        try:
            await self.client.record_event(pod, reason, message, type)
        except errors.APIError as exc:
            logger.debug("could not record event %s for %s: %s", reason, pod.metadata.name, exc)

    # -- registration and heartbeats -----------------------------------------------------

    def _conditions(self, now: float, old: list[NodeCondition]) -> list[NodeCondition]:
        stamp = _podstatus.timestamp(now)
        previous = {c.type: c for c in old}
        wanted = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID",
             "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]  # fmt: skip
        conditions = []
        for kind, status, reason, message in wanted:
            before = previous.get(kind)
            moved = before is None or before.status != status
            conditions.append(
                NodeCondition(
                    type=kind,
                    status=status,
                    reason=reason,
                    message=message,
                    last_heartbeat_time=stamp,
                    last_transition_time=stamp
                    if moved or before is None
                    else before.last_transition_time,
                )
            )
        return conditions

    def _node_status(self, runtime_version: str, old: NodeStatus | None = None) -> NodeStatus:
        return NodeStatus(
            capacity=dict(self.capacity),
            allocatable=dict(self.allocatable),
            conditions=self._conditions(self.clock.time(), old.conditions if old else []),
            addresses=[
                NodeAddress(type="InternalIP", address=self.ip),
                NodeAddress(type="Hostname", address=self.node_name),
            ],
            node_info=NodeSystemInfo(
                machine_id=self.node_name,
                system_uuid=self.node_name,
                boot_id=self.node_name,
                kernel_version=platform.release(),
                os_image=platform.platform(),
                container_runtime_version=runtime_version,
                kubelet_version=KUBELET_VERSION,
                kube_proxy_version=KUBELET_VERSION,
                operating_system="linux",
                architecture=_arch(),
            ),
        )

    async def _register(self, runtime_version: str) -> None:
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _arch(),
            **self.labels,
        }
        self._runtime_version = runtime_version
        status = self._node_status(runtime_version)
        node = Node(
            metadata=ObjectMeta(name=self.node_name, labels=labels),
            spec=NodeSpec(taints=self.taints),
            status=status,
        )
        try:
            created = await self.client.create(node)
        except errors.AlreadyExists:
            existing = await self.client.get(Node, self.node_name)
            if any(existing.metadata.labels.get(k) != v for k, v in labels.items()):
                existing = await self.client.patch(
                    Node, self.node_name, {"metadata": {"labels": labels}}, type="merge"
                )
            created = existing
            status = self._node_status(runtime_version, existing.status)
        self._node_uid = created.metadata.uid
        await self._patch_node_status(status)
        self._next_report = self.clock.time() + self.status_report_seconds

    async def _patch_node_status(self, status: NodeStatus) -> None:
        await self.client.patch_status(
            Node, self.node_name, {"status": to_dict(status)}, type="merge"
        )

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self._renew_lease()
                if self.clock.time() >= self._next_report:
                    node = await self.client.get(Node, self.node_name)
                    await self._patch_node_status(
                        self._node_status(self._runtime_version, node.status)
                    )
                    self._next_report = self.clock.time() + self.status_report_seconds
            except errors.APIError as exc:
                self._lease = None
                logger.warning("node %s: heartbeat failed: %s", self.node_name, exc)
            await self.clock.sleep(self.heartbeat_seconds)

    async def _renew_lease(self) -> None:
        now = _podstatus.timestamp(self.clock.time())
        if self._lease is None:
            try:
                self._lease = await self.client.get(
                    Lease, self.node_name, namespace=LEASE_NAMESPACE
                )
            except errors.NotFound:
                owner = OwnerReference(
                    api_version="v1", kind="Node", name=self.node_name, uid=self._node_uid
                )
                lease = Lease(
                    metadata=ObjectMeta(
                        name=self.node_name, namespace=LEASE_NAMESPACE, owner_references=[owner]
                    ),
                    spec=LeaseSpec(
                        holder_identity=self.node_name,
                        lease_duration_seconds=self.lease_duration_seconds,
                        renew_time=now,
                    ),
                )
                self._lease = await self.client.create(lease)
                return
        spec = attrs.evolve(
            self._lease.spec,
            holder_identity=self.node_name,
            lease_duration_seconds=self.lease_duration_seconds,
            renew_time=now,
        )
        try:
            self._lease = await self.client.update(attrs.evolve(self._lease, spec=spec))
        except (errors.Conflict, errors.NotFound):
            self._lease = None  # someone else wrote it: read it again next time

    # -- runtime reconciliation ----------------------------------------------------------

    async def _take_inventory(self) -> None:
        """What the runtime already runs, by pod uid (adopted by the pods' workers)."""
        inventory: dict[str, list[Any]] = {}
        for sandbox in await self.runtime.list_pod_sandboxes():
            uid = sandbox.config.labels.get(POD_UID_LABEL) or sandbox.config.uid
            inventory.setdefault(uid, []).append(sandbox)
        self._inventory = inventory

    async def _remove_sandbox(self, sandbox_id: str) -> None:
        try:
            await self.runtime.stop_pod_sandbox(sandbox_id)
            await self.runtime.remove_pod_sandbox(sandbox_id)
        except ContainerRuntimeError as exc:
            logger.warning("node %s: removing sandbox %s: %s", self.node_name, sandbox_id, exc)

    async def _adopt(self, worker: _worker.PodWorker, sandboxes: list[Any]) -> None:
        sandboxes.sort(key=lambda s: (s.state == "ready", s.created_at), reverse=True)
        keep, extra = sandboxes[0], sandboxes[1:]
        for sandbox in extra:
            await self._remove_sandbox(sandbox.id)
        containers = list(await self.runtime.list_containers(keep.id))
        worker.adopt(keep.id, keep.ip, containers)
        self.sandboxes[keep.id] = worker
        # duplicates of one container (an agent that died mid-restart): keep the newest
        newest: dict[str, Any] = {}
        for status in containers:
            if status.state == "running":
                best = newest.get(status.name)
                if best is None or status.attempt > best.attempt:
                    newest[status.name] = status
        for status in containers:
            if status.state == "running" and newest[status.name] is not status:
                await self.runtime.stop_container(status.id, 0)

    # -- pods ----------------------------------------------------------------------------

    def _on_list(self, pods: list[Pod]) -> None:
        uids = {pod.metadata.uid for pod in pods}
        for uid, worker in list(self.workers.items()):
            if uid not in uids:
                worker.update(worker.pod, deleted=True)
        for pod in pods:
            self._on_pod(pod)
        if self._inventory is not None:
            orphans = [
                s for uid, found in self._inventory.items() if uid not in uids for s in found
            ]
            self._inventory = None
            if orphans and self._task_group is not None:
                for sandbox in orphans:
                    self._task_group.start_soon(self._remove_sandbox, sandbox.id)
        self.synced.set()

    def _on_pod(self, pod: Pod) -> None:
        worker = self.workers.get(pod.metadata.uid)
        if worker is not None:
            worker.update(pod)
            return
        if self._task_group is None:
            return
        worker = _worker.PodWorker(self, pod)
        self.workers[worker.uid] = worker
        found = (self._inventory or {}).pop(worker.uid, None)
        self._task_group.start_soon(self._run_worker, worker, found)

    def _on_delete(self, pod: Pod) -> None:
        worker = self.workers.get(pod.metadata.uid)
        if worker is not None:
            worker.update(pod, deleted=True)

    async def _run_worker(self, worker: _worker.PodWorker, found: list[Any] | None) -> None:
        try:
            if found:
                await self._adopt(worker, found)
            await worker.run()
        finally:
            if self.workers.get(worker.uid) is worker:
                del self.workers[worker.uid]
            for sandbox_id in [s for s, w in self.sandboxes.items() if w is worker]:
                del self.sandboxes[sandbox_id]

    async def _watch_runtime(self) -> None:
        async for event in self.runtime.container_events():
            worker = self.sandboxes.get(event.sandbox_id)
            if worker is not None:
                worker.wake.set()

    # -- timers --------------------------------------------------------------------------

    def schedule(self, worker: _worker.PodWorker, when: float) -> None:
        """Wake ``worker`` at ``when`` (epoch seconds on the agent's clock)."""
        heapq.heappush(self._timers, (when, next(self._timer_seq), worker))
        if self._timer_scope is not None and when < self._timer_deadline:
            self._timer_scope.cancel()

    async def _run_timers(self) -> None:
        while True:
            now = self.clock.time()
            while self._timers and self._timers[0][0] <= now:
                heapq.heappop(self._timers)[2].wake.set()
            deadline = self._timers[0][0] if self._timers else float("inf")
            with anyio.CancelScope() as scope:
                self._timer_scope, self._timer_deadline = scope, deadline
                if deadline == float("inf"):
                    await anyio.sleep_forever()
                else:
                    await self.clock.sleep(deadline - now)
            self._timer_scope, self._timer_deadline = None, float("inf")

    # -- logs ----------------------------------------------------------------------------

    async def pod_log(self, pod: Pod, options: PodLogOptions) -> AsyncIterator[bytes]:
        """The log of ``options.container`` of ``pod`` (:class:`korch.apiserver.PodLogSource`).

        Raises:
            korch.errors.BadRequest: the container has not started (or, with
                ``previous``, has no earlier attempt), in kube-apiserver's words.
        """
        name = pod.metadata.name
        container = options.container or (
            pod.spec.containers[0].name if len(pod.spec.containers) == 1 else ""
        )
        worker = self.workers.get(pod.metadata.uid)
        record = worker.records.get(container) if worker is not None else None
        if record is None or not record.container_id:
            raise errors.BadRequest(
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
            )
        container_id = record.previous_id if options.previous else record.container_id
        if not container_id:
            raise errors.BadRequest(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        since = (
            self.clock.time() - options.since_seconds if options.since_seconds is not None else None
        )
        budget = options.limit_bytes
        async for chunk in self.runtime.read_log(
            container_id,
            tail_lines=options.tail_lines,
            since=since,
            follow=options.follow,
            timestamps=options.timestamps,
        ):
            if budget is not None:
                chunk = chunk[:budget]
                budget -= len(chunk)
            if chunk:
                yield chunk
            if budget is not None and budget <= 0:
                return

    async def read_log(
        self,
        namespace: str,
        pod: str,
        container: str = "",
        *,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        follow: bool = False,
        timestamps: bool = False,
        previous: bool = False,
    ) -> AsyncIterator[bytes]:
        """The log of a container of a pod on this node, by name (see :meth:`pod_log`).

        Raises:
            korch.errors.NotFound: no such pod runs on this node.
        """
        worker = next(
            (
                w
                for w in self.workers.values()
                if w.pod.metadata.namespace == namespace and w.pod.metadata.name == pod
            ),
            None,
        )
        if worker is None:
            raise errors.NotFound(f'pod "{pod}" in namespace "{namespace}" is not on this node')
        options = PodLogOptions(
            container=container,
            tail_lines=tail_lines,
            since_seconds=since_seconds,
            follow=follow,
            timestamps=timestamps,
            previous=previous,
        )
        async for chunk in self.pod_log(worker.pod, options):
            yield chunk

    def __repr__(self) -> str:
        return f"<NodeAgent {self.node_name} pods={len(self.workers)} runtime={self.runtime!r}>"
