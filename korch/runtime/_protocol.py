"""The :class:`RuntimeAdapter` protocol (CRI, in Python) and how adapters are found.

A node agent drives containers only through this protocol, so a new way of running them (a
VM manager, a remote CRI socket, a test double) is one class. The methods mirror CRI's
RuntimeService: ``RunPodSandbox``/``StopPodSandbox``/``RemovePodSandbox``,
``CreateContainer``/``StartContainer``/``StopContainer``/``RemoveContainer``,
``ContainerStatus``, ``ListPodSandbox``/``ListContainers``, ``ExecSync``, the container
log files (here :meth:`RuntimeAdapter.read_log`) and ``GetContainerEvents``
(:meth:`RuntimeAdapter.container_events`). :meth:`RuntimeAdapter.run` is the adapter's own
background work (reaping processes, firing simulated timers); the node agent runs it for as
long as the agent runs.

Invariants every adapter keeps:

* ids are unique for the adapter's lifetime and never reused;
* a container's state only moves forward: created → running → exited (or unknown);
* ``stop_container`` returns once the container has exited (after at most ``timeout``
  seconds of grace, then a forced kill); stopping an exited container is a no-op;
* ``list_*`` report what actually exists, so a node agent that restarts adopts it.

Third-party adapters register in the entry point group ``korch.runtimes`` (name → a class
or factory called with keyword arguments) and are loaded by :func:`load_runtime`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from korch.runtime import _types

__all__ = ("ENTRY_POINT_GROUP", "EventFanout", "RuntimeAdapter", "load_runtime")

ENTRY_POINT_GROUP = "korch.runtimes"


@runtime_checkable
class RuntimeAdapter(Protocol):
    """A container runtime, as a node agent sees it (see the module docstring)."""

    async def version(self) -> _types.RuntimeVersion:
        """The runtime's name and version."""
        ...

    async def run(self) -> None:
        """The adapter's background work; runs until cancelled."""
        ...

    async def run_pod_sandbox(self, config: _types.PodSandboxConfig) -> str:
        """Make a pod sandbox; returns its id."""
        ...

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Kill every container of the sandbox (no grace) and mark it not ready."""
        ...

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove a sandbox, its containers and their logs (no-op if it is gone)."""
        ...

    async def pod_sandbox_status(self, sandbox_id: str) -> _types.PodSandboxStatus:
        """One sandbox. Raises PodSandboxNotFound."""
        ...

    async def list_pod_sandboxes(self) -> Sequence[_types.PodSandboxStatus]:
        """Every sandbox that exists."""
        ...

    async def create_container(self, sandbox_id: str, config: _types.ContainerConfig) -> str:
        """Create a container in a sandbox; returns its id.

        Raises:
            PodSandboxNotFound: no such sandbox.
            CreateContainerError: the container cannot be made (the message says why).
        """
        ...

    async def start_container(self, container_id: str) -> None:
        """Start a created container. Raises ContainerNotFound, RunContainerError."""
        ...

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """Ask the container to stop (SIGTERM), kill it after ``timeout`` seconds; returns
        once it has exited."""
        ...

    async def remove_container(self, container_id: str) -> None:
        """Remove an exited container and its log (no-op if it is gone)."""
        ...

    async def container_status(self, container_id: str) -> _types.ContainerStatus:
        """One container now. Raises ContainerNotFound."""
        ...

    async def list_containers(
        self, sandbox_id: str | None = None
    ) -> Sequence[_types.ContainerStatus]:
        """Every container (of one sandbox, if given)."""
        ...

    async def exec_sync(
        self, container_id: str, command: Sequence[str], timeout: float
    ) -> _types.ExecResult:
        """Run ``command`` in the container's context (for exec probes); a command that
        does not finish within ``timeout`` seconds is killed and gives exit code -1."""
        ...

    def read_log(
        self,
        container_id: str,
        *,
        tail_lines: int | None = None,
        since: float | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> AsyncIterator[bytes]:
        """The container's output as chunks of whole lines: the last ``tail_lines`` lines,
        those written at or after ``since`` (epoch seconds), each prefixed with its
        RFC 3339 time if ``timestamps``; with ``follow``, new output as it comes until the
        container exits. Raises ContainerNotFound."""
        ...

    def container_events(self) -> AsyncIterator[_types.ContainerEvent]:
        """Containers starting and exiting, as they happen (CRI's GetContainerEvents)."""
        ...


class EventFanout:
    """Sends each :class:`~korch.runtime.ContainerEvent` to every current subscriber."""

    def __init__(self) -> None:
        self._subscribers: set[MemoryObjectSendStream[_types.ContainerEvent]] = set()

    def publish(self, event: _types.ContainerEvent) -> None:
        """Deliver ``event`` to every subscriber (never blocks)."""
        for send in self._subscribers:
            send.send_nowait(event)

    async def subscribe(self) -> AsyncIterator[_types.ContainerEvent]:
        """Events from now on, until the iterator is closed."""
        send, receive = anyio.create_memory_object_stream[_types.ContainerEvent](math.inf)
        self._subscribers.add(send)
        try:
            async with receive:
                async for event in receive:
                    yield event
        finally:
            self._subscribers.discard(send)
            send.close()


def load_runtime(name: str, **options: Any) -> RuntimeAdapter:
    """Make the runtime adapter registered as ``name`` (entry point group
    ``korch.runtimes``), passing ``options`` as keyword arguments.

    The built-in names ``fake`` and ``process`` are always available.

    Raises:
        LookupError: no adapter of that name is registered (the message lists those that are).
    """
    if name in ("fake", "process"):
        from korch.runtime import _fake, _process

        factory: Any = _fake.FakeRuntime if name == "fake" else _process.ProcessRuntime
        if name == "fake":
            options.pop("node_name", None)
        return factory(**options)  # type: ignore[no-any-return]
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry in found:
        if entry.name == name:
            adapter: RuntimeAdapter = entry.load()(**options)
            return adapter
    known = sorted({"fake", "process", *(entry.name for entry in found)})
    raise LookupError(f"no runtime adapter named {name!r}; known: {', '.join(known)}")
