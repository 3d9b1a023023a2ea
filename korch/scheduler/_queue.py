"""The scheduling queue: activeQ, backoffQ, unschedulable pods and gated pods.

As kube-scheduler's ``PriorityQueue``:

* **activeQ** — pods ready to be tried, ordered by the profile's QueueSort plugin
  (PrioritySort: higher priority first, then earlier arrival). :meth:`pop` waits for one.
* **gated** — pods a PreEnqueue plugin (SchedulingGates) holds back; re-checked when the pod
  is updated.
* **unschedulable** — pods the last cycle rejected. Each remembers the plugins that rejected
  it; a cluster event (:meth:`move_on_event`) moves the pods some of whose rejecting plugins
  registered for that event (``events_to_register``) — pods without rejecting plugins move
  on any event. Pods left there longer than ``max_unschedulable_seconds`` (5 min) are
  flushed back by :meth:`flush`.
* **backoffQ** — moved or failed pods wait ``initial_backoff * 2**(attempts-1)`` seconds
  (1 s doubling to 10 s) from their last attempt before rejoining activeQ. A pod rejected
  while a cluster event arrived during its cycle goes to backoffQ instead of unschedulable,
  so an event is never missed.

Time comes from a :class:`korch.clock.Clock`; :meth:`run` moves due pods (backoff expiry and
the unschedulable flush) and must run in a task next to the scheduling loop.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio

from korch.clock import Clock
from korch.scheduler import _framework as fw
from korch.scheduler import _podinfo

__all__ = ("SchedulingQueue",)

Less = Callable[[_podinfo.QueuedPodInfo, _podinfo.QueuedPodInfo], bool]


class _Entry:
    __slots__ = ("item", "less", "removed")

    def __init__(self, item: _podinfo.QueuedPodInfo, less: Less) -> None:
        self.item = item
        self.less = less
        self.removed = False

    def __lt__(self, other: _Entry) -> bool:
        return self.less(self.item, other.item)


def _fifo(a: _podinfo.QueuedPodInfo, b: _podinfo.QueuedPodInfo) -> bool:
    return a.timestamp < b.timestamp


class SchedulingQueue:
    """See the module docstring. ``pre_enqueue`` and ``events`` come from the profiles:
    ``events`` maps a plugin name to the cluster events it registered."""

    def __init__(
        self,
        *,
        clock: Clock,
        less: Less | None = None,
        pre_enqueue: Callable[[_podinfo.PodInfo], fw.Status] | None = None,
        events: Mapping[str, Sequence[fw.ClusterEvent]] | None = None,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        max_unschedulable_seconds: float = 300.0,
    ) -> None:
        self.clock = clock
        self._less = less or _fifo
        self._pre_enqueue = pre_enqueue
        self._events = dict(events or {})
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable_seconds = max_unschedulable_seconds
        self._active: list[_Entry] = []
        self._active_entries: dict[str, _Entry] = {}
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_items: dict[str, _podinfo.QueuedPodInfo] = {}
        self.unschedulable: dict[str, _podinfo.QueuedPodInfo] = {}
        self._by_plugin: dict[str, set[str]] = {}  # rejecting plugin ("" none) -> keys
        self.gated: dict[str, _podinfo.QueuedPodInfo] = {}
        self._in_flight: dict[str, int] = {}  # key -> move counter when popped
        self._moves = 0
        self._counter = itertools.count()
        self._wakeup = anyio.Event()
        self._timer_changed = anyio.Event()
        self.closed = False

    # -- sizes -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return (
            len(self._active_entries)
            + len(self._backoff_items)
            + len(self.unschedulable)
            + len(self.gated)
        )

    @property
    def active_count(self) -> int:
        return len(self._active_entries)

    @property
    def backoff_count(self) -> int:
        return len(self._backoff_items)

    def __contains__(self, key: str) -> bool:
        return (
            key in self._active_entries
            or key in self._backoff_items
            or key in self.unschedulable
            or key in self.gated
            or key in self._in_flight
        )

    # -- adding and removing --------------------------------------------------------------

    def add(self, info: _podinfo.PodInfo) -> None:
        """A new pending pod: to activeQ, or gated if a PreEnqueue plugin says so."""
        self._push_active_or_gated(_podinfo.QueuedPodInfo(info, self.clock.monotonic()))

    def _push_active_or_gated(self, item: _podinfo.QueuedPodInfo) -> None:
        if self._pre_enqueue is not None:
            status = self._pre_enqueue(item.info)
            if not status.is_success:
                item.gated = True
                item.unschedulable_plugins = {status.plugin} if status.plugin else set()
                self.gated[item.info.key] = item
                return
        item.gated = False
        self._push_active(item)

    def _push_active(self, item: _podinfo.QueuedPodInfo) -> None:
        entry = _Entry(item, self._less)
        self._active_entries[item.info.key] = entry
        heapq.heappush(self._active, entry)
        self._wakeup.set()

    def update(self, info: _podinfo.PodInfo, *, retry: bool = True) -> None:
        """A pending pod changed: refresh it where it waits. With ``retry`` (the spec,
        labels or annotations changed) gated and unschedulable pods are checked again."""
        key = info.key
        if key in self._in_flight:
            return
        entry = self._active_entries.get(key)
        if entry is not None:
            entry.item.info = info
            return
        if key in self._backoff_items:
            self._backoff_items[key].info = info
            return
        parked = self.gated.get(key) or self.unschedulable.get(key)
        if parked is not None and not retry:
            parked.info = info
            return
        item = self.gated.pop(key, None) or self._unpark(key)
        if item is None:
            self.add(info)
            return
        item.info = info
        self._push_active_or_gated(item)

    def delete(self, key: str) -> None:
        entry = self._active_entries.pop(key, None)
        if entry is not None:
            entry.removed = True
        self._backoff_items.pop(key, None)
        self._unpark(key)
        self.gated.pop(key, None)
        self._in_flight.pop(key, None)

    # -- the scheduling loop's side --------------------------------------------------------

    async def pop(self) -> _podinfo.QueuedPodInfo:
        """The next pod to schedule (waits until there is one)."""
        while True:
            while self._active:
                entry = heapq.heappop(self._active)
                if entry.removed:
                    continue
                key = entry.item.info.key
                del self._active_entries[key]
                entry.item.attempts += 1
                if entry.item.initial_attempt is None:
                    entry.item.initial_attempt = self.clock.monotonic()
                self._in_flight[key] = self._moves
                return entry.item
            if self.closed:
                raise anyio.EndOfStream
            self._wakeup = anyio.Event()
            await self._wakeup.wait()

    def activate(self, keys: Iterable[str]) -> int:
        """Re-check gated, unschedulable and backoff pods now (kube-scheduler's
        ``Activate``): those PreEnqueue lets through go to activeQ. Returns how many moved."""
        moved = 0
        for key in keys:
            item = (
                self.gated.pop(key, None) or self._unpark(key) or self._backoff_items.pop(key, None)
            )
            if item is None:
                continue
            self._push_active_or_gated(item)
            moved += not item.gated
        return moved

    def done(self, key: str) -> None:
        """The pod's cycle ended (scheduled, or handed back with :meth:`requeue`)."""
        self._in_flight.pop(key, None)

    def requeue(
        self,
        item: _podinfo.QueuedPodInfo,
        plugins: Iterable[str] = (),
        *,
        backoff: bool = False,
    ) -> None:
        """A cycle rejected the pod (``plugins``: who rejected it). To unschedulable — or to
        backoffQ if ``backoff`` (an error), or if a cluster event arrived during its cycle,
        or no plugin rejected it."""
        key = item.info.key
        popped_at = self._in_flight.pop(key, None)
        item.unschedulable_plugins = set(plugins)
        item.timestamp = self.clock.monotonic()
        moved = popped_at is not None and popped_at != self._moves
        if backoff or moved or not item.unschedulable_plugins:
            self._push_backoff(item)
        else:
            self._park(item)

    def _park(self, item: _podinfo.QueuedPodInfo) -> None:
        key = item.info.key
        self.unschedulable[key] = item
        for plugin in item.unschedulable_plugins or {""}:
            self._by_plugin.setdefault(plugin, set()).add(key)

    def _unpark(self, key: str) -> _podinfo.QueuedPodInfo | None:
        item = self.unschedulable.pop(key, None)
        if item is not None:
            for plugin in item.unschedulable_plugins or {""}:
                keys = self._by_plugin.get(plugin)
                if keys is not None:
                    keys.discard(key)
        return item

    def backoff_duration(self, item: _podinfo.QueuedPodInfo) -> float:
        exponent = max(0, item.attempts - 1)
        return float(min(self.initial_backoff * (2**exponent), self.max_backoff))

    def _push_backoff(self, item: _podinfo.QueuedPodInfo) -> None:
        item.backoff_until = item.timestamp + self.backoff_duration(item)
        if item.backoff_until <= self.clock.monotonic():
            self._push_active(item)
            return
        key = item.info.key
        self._backoff_items[key] = item
        heapq.heappush(self._backoff, (item.backoff_until, next(self._counter), key))
        self._timer_changed.set()

    # -- cluster events ----------------------------------------------------------------------

    def move_on_event(self, event: fw.ClusterEvent) -> int:
        """Move the unschedulable pods ``event`` may help; returns how many moved. Costs
        O(registered plugins + pods moved), not O(unschedulable pods)."""
        self._moves += 1
        if not self.unschedulable:
            return 0
        plugins = [
            name
            for name, registered in self._events.items()
            if any(r.matches(event) for r in registered)
        ]
        keys: set[str] = set(self._by_plugin.get("", ()))
        for name in plugins:
            keys |= self._by_plugin.get(name, set())
        for key in keys:
            item = self._unpark(key)
            if item is not None:
                self._push_backoff(item)
        return len(keys)

    def move_all(self) -> None:
        """Move every unschedulable pod (kube-scheduler's ``MoveAllToActiveOrBackoffQueue``)."""
        self._moves += 1
        for key in list(self.unschedulable):
            item = self._unpark(key)
            if item is not None:
                self._push_backoff(item)

    def flush(self) -> None:
        """Move due backoff pods to activeQ and long-unschedulable pods to backoffQ."""
        now = self.clock.monotonic()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            item = self._backoff_items.get(key)
            if item is not None and item.backoff_until <= now:
                del self._backoff_items[key]
                self._push_active(item)
        for key, item in list(self.unschedulable.items()):
            if now - item.timestamp >= self.max_unschedulable_seconds:
                self._unpark(key)
                self._push_backoff(item)

    async def run(self) -> None:
        """Keep flushing: at each backoff deadline, and every 30 s for the leftovers."""
        while not self.closed:
            self.flush()
            deadline = self.clock.monotonic() + 30.0
            if self._backoff:
                deadline = min(deadline, self._backoff[0][0])
            self._timer_changed = anyio.Event()
            async with anyio.create_task_group() as group:

                async def sleeper(deadline: float = deadline) -> None:
                    await self.clock.sleep_until(deadline)
                    group.cancel_scope.cancel()

                async def changed() -> None:
                    await self._timer_changed.wait()
                    group.cancel_scope.cancel()

                group.start_soon(sleeper)
                group.start_soon(changed)

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()
        self._timer_changed.set()

    def nominated(self, node_name: str) -> list[_podinfo.PodInfo]:
        """Waiting pods whose ``status.nominatedNodeName`` is ``node_name``."""
        items = [
            *(e.item for e in self._active_entries.values()),
            *self._backoff_items.values(),
            *self.unschedulable.values(),
        ]
        return [i.info for i in items if i.info.pod.status.nominated_node_name == node_name]

    def pending(self) -> dict[str, list[str]]:
        """Pod keys per sub-queue (for debugging and tests)."""
        return {
            "active": sorted(self._active_entries),
            "backoff": sorted(self._backoff_items),
            "unschedulable": sorted(self.unschedulable),
            "gated": sorted(self.gated),
        }


def merge_events(plugins: Iterable[Any]) -> dict[str, Sequence[fw.ClusterEvent]]:
    """Plugin name -> registered events, for every plugin that registers some."""
    return {
        p.name: tuple(p.events_to_register())
        for p in plugins
        if isinstance(p, fw.EnqueueExtensions)
    }
