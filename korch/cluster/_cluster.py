"""Cluster: an API server, the controllers, the scheduler and node agents in one process.

::

    async with korch.Cluster(nodes=3, runtime="fake") as cluster:
        await cluster.client.create(deployment)
        ...

What runs (each part can be left out with ``False`` or replaced by a factory that takes
the cluster's client and returns an object with ``async def run()``):

* the :class:`~korch.apiserver.APIServer` over ``store`` (default: a MemoryStore) with
  kube-apiserver's default admission chain, running its watch caches;
* ``controllers``: the controller manager of :mod:`korch.workloads` (ReplicaSet,
  Deployment, StatefulSet, DaemonSet, Job, CronJob, node lifecycle, endpoints,
  namespaces…) and the garbage collector;
* ``scheduler``: :class:`korch.scheduler.Scheduler` with the default profile;
* ``nodes`` node agents (:class:`korch.node.NodeAgent`) named ``node-1``… (or
  ``node_names``), each with its own runtime from ``runtime`` — ``"fake"`` (simulated
  containers), ``"process"`` (local processes under ``data_dir``), a registered adapter
  name (entry point group ``korch.runtimes``), or a factory ``(node_name) -> RuntimeAdapter``.

Every component gets the cluster's clock, so a cluster on a
:class:`~korch.clock.FakeClock` is fully simulated. Leaving the ``async with`` block stops
every component (node agents first, then the control plane) and closes the store if the
cluster created it.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.abc

from korch import clock as clock_module
from korch.apiserver import APIServer, GarbageCollector, default_admission_chain
from korch.client import Client
from korch.cluster import _apply
from korch.store import MemoryStore, Store

__all__ = ("Cluster", "Component")


class Component(Protocol):
    """Anything the cluster runs: works until cancelled."""

    async def run(self) -> None:
        """Run until cancelled."""
        ...


ComponentFactory = Callable[[Client], Component]
RuntimeFactory = Callable[[str], Any]


def _default_controllers(cluster: Cluster) -> ComponentFactory:
    def make(client: Client) -> Component:
        workloads = importlib.import_module("korch.workloads")
        manager: Component = workloads.ControllerManager(client, clock=cluster.clock)
        return manager

    return make


def _default_scheduler(cluster: Cluster) -> ComponentFactory:
    def make(client: Client) -> Component:
        scheduler_module = importlib.import_module("korch.scheduler")
        scheduler: Component = scheduler_module.Scheduler(client, clock=cluster.clock)
        return scheduler

    return make


class Cluster:
    """A whole cluster in one process (see the module docstring).

    Args:
        store: where state lives (default: a new MemoryStore, closed with the cluster).
        nodes: how many node agents to run.
        runtime: ``"fake"``, ``"process"``, a registered runtime name, or a factory taking
            the node name and returning a :class:`korch.runtime.RuntimeAdapter`.
        clock: every component's clock (default: the system clock).
        node_names: the nodes' names (default ``node-1`` … ``node-N``).
        data_dir: where the process runtime keeps logs and state (default: a temporary
            directory removed with the cluster).
        controllers: ``True`` for korch.workloads' controller manager, ``False`` for none,
            or a factory.
        scheduler: ``True`` for korch.scheduler's default scheduler, ``False``, or a factory.
        garbage_collector: run the ownerReference garbage collector.
        admission: admission plugins (default: kube-apiserver's default chain).
        extra: more components to run beside the others (factories).
        node_options: keyword arguments for every NodeAgent (capacity, labels…).
    """

    def __init__(
        self,
        *,
        store: Store | None = None,
        nodes: int = 1,
        runtime: str | RuntimeFactory = "fake",
        clock: clock_module.Clock | None = None,
        node_names: Sequence[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        controllers: bool | ComponentFactory = True,
        scheduler: bool | ComponentFactory = True,
        garbage_collector: bool = True,
        admission: Iterable[object] | None = None,
        extra: Iterable[ComponentFactory] = (),
        node_options: dict[str, Any] | None = None,
    ) -> None:
        if nodes < 0:
            raise ValueError(f"nodes must be >= 0, got {nodes}")
        if node_names is not None and len(node_names) != nodes:
            nodes = len(node_names)
        self.clock = clock or clock_module.SystemClock()
        self._owns_store = store is None
        self.store: Store = store if store is not None else MemoryStore(clock=self.clock)
        chain = default_admission_chain(self.store) if admission is None else list(admission)
        self.api = APIServer(self.store, clock=self.clock, admission=chain)
        self.client: Client = self.api.client(field_manager="korch")
        self.node_names = list(node_names or [f"node-{i + 1}" for i in range(nodes)])
        self._runtime = runtime
        self._data_dir = os.fspath(data_dir) if data_dir is not None else None
        # a temporary data dir goes with the cluster: its processes must not outlive it
        self._stop_pods_on_exit = data_dir is None
        self._controllers = controllers
        self._scheduler = scheduler
        self._garbage_collector = garbage_collector
        self._extra = list(extra)
        self._node_options = dict(node_options or {})
        self.agents: dict[str, Any] = {}
        self._stack: AsyncExitStack | None = None
        self._control_plane: anyio.abc.TaskGroup | None = None
        self._nodes: anyio.abc.TaskGroup | None = None
        self._node_scopes: dict[str, anyio.CancelScope] = {}

    # -- life cycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Cluster:
        if self._stack is not None:
            raise RuntimeError("this Cluster is already running")
        stack = AsyncExitStack()
        await stack.__aenter__()
        self._stack = stack
        try:
            if self._data_dir is None:
                self._data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="korch-"))
            if self._owns_store:
                stack.push_async_callback(self.store.close)
            await stack.enter_async_context(self.api)
            self._control_plane = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._control_plane.cancel_scope.cancel)
            for component in self._components():
                self._control_plane.start_soon(component.run)
            self._nodes = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._nodes.cancel_scope.cancel)
            for name in self.node_names:
                await self.add_node(name)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, traceback)
        self._control_plane = self._nodes = None

    def _components(self) -> list[Component]:
        factories: list[ComponentFactory] = []
        if self._controllers is True:
            factories.append(_default_controllers(self))
        elif self._controllers:
            factories.append(self._controllers)
        if self._scheduler is True:
            factories.append(_default_scheduler(self))
        elif self._scheduler:
            factories.append(self._scheduler)
        if self._garbage_collector:
            factories.append(lambda client: GarbageCollector(client, clock=self.clock))
        factories.extend(self._extra)
        return [factory(self.client) for factory in factories]

    # -- nodes -----------------------------------------------------------------------------

    def _make_runtime(self, node_name: str) -> Any:
        runtime = self._runtime
        if callable(runtime):
            return runtime(node_name)
        runtime_module = importlib.import_module("korch.runtime")
        if runtime == "fake":
            return runtime_module.FakeRuntime(clock=self.clock)
        if runtime == "process":
            assert self._data_dir is not None
            state = os.path.join(self._data_dir, "nodes", node_name)
            return runtime_module.ProcessRuntime(state, clock=self.clock, node_name=node_name)
        return runtime_module.load_runtime(runtime, node_name=node_name, clock=self.clock)

    async def add_node(self, name: str) -> Any:
        """Start a node agent named ``name`` (it registers its Node); returns the agent."""
        if self._nodes is None:
            raise RuntimeError("the cluster is not running (use `async with`)")
        if name in self.agents:
            raise ValueError(f"node {name!r} is already running")
        node_module = importlib.import_module("korch.node")
        runtime = self._make_runtime(name)
        agent = node_module.NodeAgent(
            self.client,
            runtime,
            name,
            clock=self.clock,
            **{"stop_pods_on_exit": self._stop_pods_on_exit, **self._node_options},
        )
        scope = anyio.CancelScope()
        self.agents[name] = agent
        self._node_scopes[name] = scope
        self.api.register_log_source(name, agent)

        async def run_agent() -> None:
            with scope:
                await agent.run()

        self._nodes.start_soon(run_agent)
        if name not in self.node_names:
            self.node_names.append(name)
        return agent

    async def stop_node(self, name: str) -> None:
        """Stop the agent of node ``name`` as if the machine died: it stops heartbeating
        and its pods stop being looked after (the Node object stays)."""
        scope = self._node_scopes.pop(name, None)
        if scope is None:
            raise KeyError(f"no running node agent {name!r}")
        scope.cancel()
        self.agents.pop(name, None)
        self.api.register_log_source(name, None)

    # -- conveniences ----------------------------------------------------------------------

    async def apply(
        self, *sources: str | os.PathLike[str], namespace: str = "default"
    ) -> list[_apply.AppliedObject]:
        """Apply manifest files/directories (see :func:`korch.cluster.apply_manifests`)."""
        return await _apply.apply_manifests(self.client, sources, namespace=namespace)

    def __repr__(self) -> str:
        state = "running" if self._stack is not None else "stopped"
        return f"<Cluster nodes={len(self.node_names)} over {self.store!r} ({state})>"
