"""FakeRuntime: simulated containers on an injected clock (what KWOK does for Kubernetes).

Nothing runs. A container is a small record whose state is a pure function of the clock:
``created`` until :meth:`~FakeRuntime.start_container` plus the *start latency*, then
``running`` until it *exits* (after ``run_seconds``, if set, with ``exit_code``), is
stopped, or is failed by :meth:`FakeRuntime.fail`. So reading a status never needs a timer,
and thousands of containers cost one small object each (measured by
``benchmarks/runtime.py``). :meth:`FakeRuntime.run` is a single task that sleeps until the
next simulated start or exit and publishes it as a :class:`~korch.runtime.ContainerEvent`,
so a node agent reacts without polling.

How each container behaves is a :class:`FakeBehavior`, from the ``behavior`` callable if
given, else from the pod's annotations (``fake.korch.io/<key>``, or
``fake.korch.io/<container>.<key>`` for one container) with keys ``start-latency``,
``run-seconds``, ``exit-code``, ``create-error``, ``exec-exit-code`` and
``termination-seconds``; the runtime's ``start_latency`` is the default latency.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import os
from collections.abc import AsyncIterator, Callable, Sequence

import anyio
import attrs

from korch import clock as clock_module
from korch.runtime import _logs, _protocol, _types

__all__ = ("FakeBehavior", "FakeRuntime")

ANNOTATION_PREFIX = "fake.korch.io/"
_blocks = itertools.count()


@attrs.frozen(kw_only=True)
class FakeBehavior:
    """How one simulated container behaves.

    Attributes:
        start_latency: seconds from start to running (image pull + start).
        run_seconds: seconds it runs before exiting by itself (``None``: until stopped).
        exit_code: its exit code when it exits by itself.
        create_error: if set, creating it fails with CreateContainerError and this message.
        exec_exit_code: what commands run in it (exec probes) return.
        termination_seconds: how long it takes to exit after SIGTERM (killed at the grace
            period if longer).
    """

    start_latency: float = 0.0
    run_seconds: float | None = None
    exit_code: int = 0
    create_error: str = ""
    exec_exit_code: int = 0
    termination_seconds: float = 0.0


class _Sandbox:
    __slots__ = ("config", "containers", "created_at", "id", "ip", "ready")

    def __init__(self, id: str, config: _types.PodSandboxConfig, ip: str, now: float) -> None:
        self.id = id
        self.config = config
        self.ip = ip
        self.created_at = now
        self.ready = True
        self.containers: list[str] = []


class _Container:
    __slots__ = (
        "behavior",
        "config",
        "created_at",
        "exit_at",
        "exit_code",
        "id",
        "log",
        "reason",
        "running_at",
        "sandbox_id",
        "started_at",
    )

    def __init__(
        self, id: str, sandbox_id: str, config: _types.ContainerConfig, behavior: FakeBehavior
    ) -> None:
        self.id = id
        self.sandbox_id = sandbox_id
        self.config = config
        self.behavior = behavior
        self.created_at = 0.0
        self.started_at = 0.0
        self.running_at = 0.0
        self.exit_at: float | None = None
        self.exit_code = 0
        self.reason = ""
        self.log: _logs.MemoryLog | None = None

    def state(self, now: float) -> _types.ContainerState:
        if not self.started_at:
            return "created"
        if self.exit_at is not None and now >= self.exit_at:
            return "exited"
        return "running" if now >= self.running_at else "created"


def _annotation(config: _types.PodSandboxConfig, container: str, key: str) -> str | None:
    notes = config.annotations
    value = notes.get(f"{ANNOTATION_PREFIX}{container}.{key}")
    return value if value is not None else notes.get(ANNOTATION_PREFIX + key)


class FakeRuntime:
    """Simulated containers (see the module docstring).

    Args:
        clock: the clock simulated time runs on (default: the system clock).
        start_latency: default seconds from start to running.
        behavior: ``(sandbox config, container config) -> FakeBehavior``; default: read
            the pod's ``fake.korch.io/…`` annotations.
        pod_cidr: where sandbox IPs come from (default: a /22 of 10.0.0.0/8 of its own).
    """

    def __init__(
        self,
        *,
        clock: clock_module.Clock | None = None,
        start_latency: float = 0.0,
        behavior: Callable[[_types.PodSandboxConfig, _types.ContainerConfig], FakeBehavior]
        | None = None,
        pod_cidr: str | None = None,
    ) -> None:
        self.clock = clock or clock_module.SystemClock()
        self.start_latency = start_latency
        self._behavior = behavior or self._behavior_from_annotations
        if pod_cidr is None:
            block = next(_blocks) % (1 << 14)
            pod_cidr = f"10.{block >> 6}.{(block & 63) << 2}.0/22"
        self._network = ipaddress.ip_network(pod_cidr)
        self._next_host = 1
        self._free_ips: list[str] = []
        self._prefix = os.urandom(2).hex()
        self._ids = itertools.count(1)
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._timers: list[tuple[float, int, str, str]] = []
        self._timer_seq = itertools.count()
        self._wakeup: anyio.CancelScope | None = None
        self._wake_deadline = float("inf")
        self._events = _protocol.EventFanout()

    # -- simulation knobs ----------------------------------------------------------------

    def _behavior_from_annotations(
        self, sandbox: _types.PodSandboxConfig, config: _types.ContainerConfig
    ) -> FakeBehavior:
        if not any(key.startswith(ANNOTATION_PREFIX) for key in sandbox.annotations):
            return FakeBehavior(start_latency=self.start_latency)

        def number(key: str, default: float | None) -> float | None:
            value = _annotation(sandbox, config.name, key)
            if value is None:
                return default
            try:
                return float(value)
            except ValueError:
                raise _types.CreateContainerError(
                    f"annotation {ANNOTATION_PREFIX}{key} must be a number, got {value!r}"
                ) from None

        return FakeBehavior(
            start_latency=number("start-latency", self.start_latency) or 0.0,
            run_seconds=number("run-seconds", None),
            exit_code=int(number("exit-code", 0) or 0),
            create_error=_annotation(sandbox, config.name, "create-error") or "",
            exec_exit_code=int(number("exec-exit-code", 0) or 0),
            termination_seconds=number("termination-seconds", 0.0) or 0.0,
        )

    def fail(self, container_id: str, *, exit_code: int = 1, reason: str = "Error") -> None:
        """Make a running (or starting) container exit now with ``exit_code``."""
        container = self._get(container_id)
        now = self.clock.time()
        if container.state(now) == "exited":
            return
        self._exit(container, now, exit_code, reason)

    def set_exec_exit_code(self, container_id: str, exit_code: int) -> None:
        """What commands run in this container (exec probes) return from now on."""
        container = self._get(container_id)
        container.behavior = attrs.evolve(container.behavior, exec_exit_code=exit_code)

    def write_log(self, container_id: str, data: bytes) -> None:
        """Append ``data`` to the container's log, as if it had printed it."""
        container = self._get(container_id)
        if container.log is None:
            container.log = _logs.MemoryLog()
        container.log.write(self.clock.time(), data)

    def find_container(
        self, namespace: str, pod: str, container: str
    ) -> _types.ContainerStatus | None:
        """The latest container named ``container`` of pod ``namespace/pod`` (tests)."""
        found = [
            self._status(c)
            for c in self._containers.values()
            if c.config.name == container
            and (sandbox := self._sandboxes.get(c.sandbox_id)) is not None
            and sandbox.config.namespace == namespace
            and sandbox.config.name == pod
        ]
        return max(found, key=lambda s: (s.attempt, s.created_at), default=None)

    # -- RuntimeAdapter ------------------------------------------------------------------

    async def version(self) -> _types.RuntimeVersion:
        return _types.RuntimeVersion(runtime_name="fake", runtime_version="0.1.0")

    async def run(self) -> None:
        """Publish simulated starts and exits when they are due (until cancelled)."""
        while True:
            now = self.clock.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, container_id, kind = heapq.heappop(self._timers)
                container = self._containers.get(container_id)
                if container is not None and container.state(now) == (
                    "exited" if kind == "exited" else "running"
                ):
                    self._publish(container, kind)
                    if kind == "exited" and container.log is not None:
                        container.log.wake()
            deadline = self._timers[0][0] if self._timers else float("inf")
            with anyio.CancelScope() as scope:
                self._wakeup, self._wake_deadline = scope, deadline
                if deadline == float("inf"):
                    await anyio.sleep_forever()
                else:
                    await self.clock.sleep_until(deadline)
            self._wakeup, self._wake_deadline = None, float("inf")

    async def run_pod_sandbox(self, config: _types.PodSandboxConfig) -> str:
        sandbox_id = self._new_id()
        self._sandboxes[sandbox_id] = _Sandbox(
            sandbox_id, config, self._allocate_ip(), self.clock.time()
        )
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._get_sandbox(sandbox_id)
        now = self.clock.time()
        for container_id in sandbox.containers:
            container = self._containers[container_id]
            if container.state(now) != "exited" and container.started_at:
                self._exit(container, now, 137, "Error")
        sandbox.ready = False

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._sandboxes.pop(sandbox_id, None)
        if sandbox is None:
            return
        for container_id in sandbox.containers:
            self._containers.pop(container_id, None)
        self._free_ips.append(sandbox.ip)

    async def pod_sandbox_status(self, sandbox_id: str) -> _types.PodSandboxStatus:
        return self._sandbox_status(self._get_sandbox(sandbox_id))

    async def list_pod_sandboxes(self) -> Sequence[_types.PodSandboxStatus]:
        return [self._sandbox_status(s) for s in self._sandboxes.values()]

    async def create_container(self, sandbox_id: str, config: _types.ContainerConfig) -> str:
        sandbox = self._get_sandbox(sandbox_id)
        behavior = self._behavior(sandbox.config, config)
        if behavior.create_error:
            raise _types.CreateContainerError(behavior.create_error)
        container_id = self._new_id()
        container = _Container(container_id, sandbox_id, config, behavior)
        container.created_at = self.clock.time()
        self._containers[container_id] = container
        sandbox.containers.append(container_id)
        return container_id

    async def start_container(self, container_id: str) -> None:
        container = self._get(container_id)
        if container.started_at:
            raise _types.RunContainerError(f"container {container_id} was already started")
        now = self.clock.time()
        behavior = container.behavior
        container.started_at = now
        container.running_at = now + behavior.start_latency
        if behavior.start_latency > 0:
            self._schedule(container.running_at, container_id, "started")
        else:
            self._publish(container, "started")
        if behavior.run_seconds is not None:
            container.exit_at = container.running_at + behavior.run_seconds
            container.exit_code = behavior.exit_code
            container.reason = "Completed" if behavior.exit_code == 0 else "Error"
            self._schedule(container.exit_at, container_id, "exited")

    async def stop_container(self, container_id: str, timeout: float) -> None:
        container = self._get(container_id)
        now = self.clock.time()
        if container.state(now) == "exited":
            return
        if not container.started_at:
            self._exit(container, now, 0, "Completed")
            return
        grace = container.behavior.termination_seconds
        if grace > 0:
            await self.clock.sleep(min(grace, max(timeout, 0.0)))
            now = self.clock.time()
            if container.state(now) == "exited":
                return
        self._exit(container, now, 137 if grace > timeout else 143, "Error")

    async def remove_container(self, container_id: str) -> None:
        container = self._containers.pop(container_id, None)
        if container is not None:
            sandbox = self._sandboxes.get(container.sandbox_id)
            if sandbox is not None:
                sandbox.containers.remove(container_id)

    async def container_status(self, container_id: str) -> _types.ContainerStatus:
        return self._status(self._get(container_id))

    async def list_containers(
        self, sandbox_id: str | None = None
    ) -> Sequence[_types.ContainerStatus]:
        if sandbox_id is None:
            return [self._status(c) for c in self._containers.values()]
        sandbox = self._get_sandbox(sandbox_id)
        return [self._status(self._containers[c]) for c in sandbox.containers]

    async def exec_sync(
        self, container_id: str, command: Sequence[str], timeout: float
    ) -> _types.ExecResult:
        container = self._get(container_id)
        if container.state(self.clock.time()) != "running":
            return _types.ExecResult(exit_code=126, stderr=b"container is not running\n")
        return _types.ExecResult(exit_code=container.behavior.exec_exit_code)

    async def read_log(
        self,
        container_id: str,
        *,
        tail_lines: int | None = None,
        since: float | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> AsyncIterator[bytes]:
        container = self._get(container_id)
        if container.log is None:
            container.log = _logs.MemoryLog()
        log = container.log
        async for chunk in log.read(
            tail_lines=tail_lines,
            since=since,
            follow=follow,
            timestamps=timestamps,
            running=lambda: container.state(self.clock.time()) != "exited",
        ):
            yield chunk

    def container_events(self) -> AsyncIterator[_types.ContainerEvent]:
        return self._events.subscribe()

    # -- internals -----------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"{self._prefix}{next(self._ids):010x}"

    def _allocate_ip(self) -> str:
        if self._free_ips:
            return self._free_ips.pop()
        host = self._next_host
        self._next_host += 1
        if host >= self._network.num_addresses - 1:
            host = 1 + host % (self._network.num_addresses - 2)
        return str(self._network.network_address + host)

    def _get(self, container_id: str) -> _Container:
        container = self._containers.get(container_id)
        if container is None:
            raise _types.ContainerNotFound(f"container {container_id!r} not found")
        return container

    def _get_sandbox(self, sandbox_id: str) -> _Sandbox:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            raise _types.PodSandboxNotFound(f"pod sandbox {sandbox_id!r} not found")
        return sandbox

    def _exit(self, container: _Container, now: float, exit_code: int, reason: str) -> None:
        container.exit_at = now
        container.exit_code = exit_code
        container.reason = reason
        self._publish(container, "exited")
        if container.log is not None:
            container.log.wake()

    def _schedule(self, when: float, container_id: str, kind: str) -> None:
        heapq.heappush(self._timers, (when, next(self._timer_seq), container_id, kind))
        if self._wakeup is not None and when < self._wake_deadline:
            self._wakeup.cancel()

    def _publish(self, container: _Container, kind: str) -> None:
        self._events.publish(
            _types.ContainerEvent(
                container_id=container.id,
                sandbox_id=container.sandbox_id,
                type="exited" if kind == "exited" else "started",
            )
        )

    def _status(self, container: _Container) -> _types.ContainerStatus:
        now = self.clock.time()
        state = container.state(now)
        exited = state == "exited"
        config = container.config
        return _types.ContainerStatus(
            id=container.id,
            sandbox_id=container.sandbox_id,
            name=config.name,
            attempt=config.attempt,
            image=config.image,
            state=state,
            created_at=container.created_at,
            started_at=container.running_at if state != "created" else 0.0,
            finished_at=container.exit_at if exited and container.exit_at else 0.0,
            exit_code=container.exit_code if exited else 0,
            reason=container.reason if exited else "",
            labels=config.labels,
        )

    def _sandbox_status(self, sandbox: _Sandbox) -> _types.PodSandboxStatus:
        return _types.PodSandboxStatus(
            id=sandbox.id,
            config=sandbox.config,
            state="ready" if sandbox.ready else "notready",
            ip=sandbox.ip,
            created_at=sandbox.created_at,
        )

    def __repr__(self) -> str:
        return f"<FakeRuntime sandboxes={len(self._sandboxes)} containers={len(self._containers)}>"
