"""Pods waiting at Permit: the binding cycle waits until every plugin allows, one rejects,
or the timeout passes (kube-scheduler's ``waitingPodsMap``).

A Permit plugin that returned ``Wait`` later calls ``waiting.allow(key, plugin)`` (for
example when the last member of a gang arrives) or ``waiting.reject(key, message)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio

from korch.clock import Clock
from korch.scheduler import _framework as fw
from korch.scheduler import _podinfo

__all__ = ("WaitingPod", "WaitingPods")


class WaitingPod:
    """One pod held at Permit on ``node_name``."""

    def __init__(
        self,
        info: _podinfo.PodInfo,
        node_name: str,
        plugins: set[str],
        timeout: float,
        clock: Clock,
    ) -> None:
        self.info = info
        self.node_name = node_name
        self.pending = set(plugins)
        self.timeout = timeout
        self.clock = clock
        self._done = anyio.Event()
        self._status = fw.SUCCESS

    def allow(self, plugin: str) -> None:
        self.pending.discard(plugin)
        if not self.pending:
            self._done.set()

    def reject(self, message: str, plugin: str = "") -> None:
        if not self._done.is_set():
            self._status = fw.Status.unschedulable(message, plugin=plugin)
            self._done.set()

    async def wait(self) -> fw.Status:
        """Success once allowed; the rejection, or an Unschedulable status at the timeout."""
        async with anyio.create_task_group() as group:

            async def timer() -> None:
                await self.clock.sleep(self.timeout)
                self.reject(f"rejected due to timeout after waiting {self.timeout}s at Permit")

            group.start_soon(timer)
            await self._done.wait()
            group.cancel_scope.cancel()
        return self._status


class WaitingPods:
    """Pods waiting at Permit, by pod key."""

    def __init__(self) -> None:
        self._pods: dict[str, WaitingPod] = {}

    def add(
        self,
        info: _podinfo.PodInfo,
        node_name: str,
        timeout: float,
        clock: Clock,
        plugins: str = "",
    ) -> WaitingPod:
        waiting = WaitingPod(info, node_name, set(filter(None, plugins.split(","))), timeout, clock)
        self._pods[info.key] = waiting
        return waiting

    def get(self, key: str) -> WaitingPod | None:
        return self._pods.get(key)

    def __iter__(self) -> Iterator[WaitingPod]:
        return iter(list(self._pods.values()))

    def allow(self, key: str, plugin: str) -> None:
        waiting = self._pods.get(key)
        if waiting is not None:
            waiting.allow(plugin)
            if not waiting.pending:
                del self._pods[key]

    def reject(self, key: str, message: str, plugin: str = "") -> None:
        waiting = self._pods.pop(key, None)
        if waiting is not None:
            waiting.reject(message, plugin)

    def discard(self, key: str) -> None:
        self._pods.pop(key, None)
