"""The work queue: client-go's ``workqueue`` semantics, with priority lanes, on a Clock.

Invariants (what a controller relies on; ``tests/controllers/test_queue.py`` checks them
with Hypothesis against a model):

* **dirty / processing sets.** An item is *dirty* from :meth:`WorkQueue.add` until a worker
  takes it with :meth:`~WorkQueue.get`; it is *processing* from ``get`` until
  :meth:`~WorkQueue.done`. Adding a dirty item does nothing (duplicates collapse while
  queued); adding a processing item marks it dirty but does not queue it, and ``done``
  queues it again — so an item is never handed to two workers at once, and a change seen
  during processing is never lost.
* **priority lanes.** ``add(item, priority=p)``: ``get`` serves the highest non-empty lane
  first, FIFO within a lane. Re-adding a queued item with a higher priority moves it up
  (never down). Controllers add live events at :data:`PRIORITY_NORMAL` and relists or
  resyncs at :data:`PRIORITY_LOW`, so a relist of 10,000 objects never delays a live event.
* **delays.** :meth:`~WorkQueue.add_after` adds after ``delay`` seconds of the queue's
  clock (an item already waiting keeps the earlier time); :meth:`~WorkQueue.add_rate_limited`
  asks the rate limiter (per-key exponential backoff and a global token bucket by default)
  and :meth:`~WorkQueue.forget` resets the key's backoff after a success.
* **shutdown.** After :meth:`~WorkQueue.shut_down`, ``add`` is ignored and ``get`` returns
  ``None`` once the queued items are gone; :meth:`~WorkQueue.wait_drained` waits for the
  processing set to empty.

``get`` waits on the clock for the earliest delayed item, so a :class:`korch.clock.FakeClock`
drives backoff in tests. ``metrics`` counts adds, retries, queue latency (add → get) and
work duration (get → done); ``depth`` is the number of queued items.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

import anyio
import attrs

from korch import clock as clock_module
from korch.controllers import _ratelimit

__all__ = ("PRIORITY_HIGH", "PRIORITY_LOW", "PRIORITY_NORMAL", "QueueMetrics", "WorkQueue")

K = TypeVar("K", bound=Hashable)

PRIORITY_HIGH: Final = 10
PRIORITY_NORMAL: Final = 0
PRIORITY_LOW: Final = -10


@attrs.define
class QueueMetrics:
    """Counters of a :class:`WorkQueue` (client-go's workqueue metrics)."""

    adds: int = 0
    retries: int = 0
    queue_latency_seconds_total: float = 0.0
    queue_latency_seconds_max: float = 0.0
    work_duration_seconds_total: float = 0.0
    work_duration_seconds_max: float = 0.0
    processed: int = 0

    @property
    def mean_queue_latency_seconds(self) -> float:
        """Mean time from add to get over the items processed so far."""
        return self.queue_latency_seconds_total / self.processed if self.processed else 0.0


class WorkQueue(Generic[K]):
    """A de-duplicating, rate-limited, prioritised queue of keys (see the module docstring).

    Args:
        clock: the clock of delays and metrics (default: the system clock).
        rate_limiter: what :meth:`add_rate_limited` asks (default:
            :func:`korch.controllers.default_rate_limiter`).
        name: a name for logs and metrics.
    """

    def __init__(
        self,
        *,
        clock: clock_module.Clock | None = None,
        rate_limiter: _ratelimit.RateLimiter | None = None,
        name: str = "",
    ) -> None:
        self.clock = clock or clock_module.SystemClock()
        self.rate_limiter = rate_limiter or _ratelimit.default_rate_limiter(clock=self.clock)
        self.name = name
        self.metrics = QueueMetrics()
        self._lanes: dict[int, deque[tuple[K, int]]] = {}
        self._lane_order: list[int] = []  # priorities, highest first
        self._queued: dict[K, tuple[int, int]] = {}  # item -> (priority, sequence)
        self._dirty: dict[K, int] = {}  # item -> priority it was added with
        self._added_at: dict[K, float] = {}
        self._processing: dict[K, float] = {}  # item -> when get() returned it
        self._waiting: dict[K, float] = {}  # delayed item -> ready time
        self._waiting_priority: dict[K, int] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._sequence = itertools.count()
        self._waiters: list[anyio.CancelScope] = []
        self._shut_down = False
        self._idle = anyio.Event()
        self._idle.set()

    # -- state ------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Items queued (dirty and not processing); delayed items are not counted."""
        return len(self._queued)

    @property
    def processing(self) -> int:
        """Items handed out by :meth:`get` and not yet :meth:`done`."""
        return len(self._processing)

    @property
    def waiting(self) -> int:
        """Items waiting for their delay to pass."""
        return len(self._waiting)

    @property
    def shutting_down(self) -> bool:
        return self._shut_down

    def is_idle(self) -> bool:
        """Nothing queued and nothing processing (delayed items may still wait)."""
        self._promote_due()
        return not self._queued and not self._processing

    def __len__(self) -> int:
        return self.depth

    # -- adding ---------------------------------------------------------------------------

    def add(self, item: K, *, priority: int = PRIORITY_NORMAL) -> None:
        """Queue ``item`` unless it is already queued (then raise its priority if higher).

        Raises:
            ValueError: ``item`` is ``None`` (``get`` returns ``None`` to mean shut down).
        """
        if item is None:
            raise ValueError("None cannot be queued (get() returns None after shut_down)")
        if self._shut_down:
            return
        self.metrics.adds += 1
        known = self._dirty.get(item)
        if known is not None:
            if priority > known:
                self._dirty[item] = priority
                if item in self._queued:
                    self._push(item, priority)
            return
        self._dirty[item] = priority
        self._added_at[item] = self.clock.monotonic()
        if item in self._processing:
            return
        self._push(item, priority)

    def add_after(self, item: K, delay: float, *, priority: int = PRIORITY_NORMAL) -> None:
        """Queue ``item`` once ``delay`` seconds have passed (at once if ``delay <= 0``).

        An item already waiting keeps whichever ready time is earlier.
        """
        if item is None:
            raise ValueError("None cannot be queued (get() returns None after shut_down)")
        if self._shut_down:
            return
        if delay <= 0:
            self.add(item, priority=priority)
            return
        ready = self.clock.monotonic() + delay
        current = self._waiting.get(item)
        if current is not None and current <= ready:
            return
        earliest = self._heap[0][0] if self._heap else None
        self._waiting[item] = ready
        self._waiting_priority[item] = max(priority, self._waiting_priority.get(item, priority))
        heapq.heappush(self._heap, (ready, next(self._sequence), item))
        if earliest is None or ready < earliest:
            self._wake(all_waiters=True)  # sleepers must re-arm for the earlier deadline

    def add_rate_limited(self, item: K, *, priority: int = PRIORITY_NORMAL) -> float:
        """Queue ``item`` after the rate limiter's delay (a retry); returns the delay."""
        delay = self.rate_limiter.when(item)
        self.metrics.retries += 1
        self.add_after(item, delay, priority=priority)
        return delay

    def forget(self, item: K) -> None:
        """Reset ``item``'s backoff (call after it was processed successfully)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        """Failures of ``item`` the rate limiter counts."""
        return self.rate_limiter.retries(item)

    # -- taking ---------------------------------------------------------------------------

    async def get(self) -> K | None:
        """The next item (waiting as needed); ``None`` once shut down and empty.

        The caller must call :meth:`done` with the item when finished.
        """
        while True:
            self._promote_due()
            item = self._pop()
            if item is not None:
                now = self.clock.monotonic()
                latency = now - self._added_at.pop(item, now)
                metrics = self.metrics
                metrics.queue_latency_seconds_total += latency
                metrics.queue_latency_seconds_max = max(metrics.queue_latency_seconds_max, latency)
                self._processing[item] = now
                del self._dirty[item]
                return item
            if self._shut_down:
                return None
            await self._wait()

    def done(self, item: K) -> None:
        """Mark ``item`` finished; it is queued again if it was added while processing."""
        started = self._processing.pop(item, None)
        if started is None:
            return
        duration = self.clock.monotonic() - started
        metrics = self.metrics
        metrics.processed += 1
        metrics.work_duration_seconds_total += duration
        metrics.work_duration_seconds_max = max(metrics.work_duration_seconds_max, duration)
        priority = self._dirty.get(item)
        if priority is not None:
            self._push(item, priority)
        if not self._processing:
            self._idle.set()

    def shut_down(self) -> None:
        """Stop accepting items; ``get`` returns ``None`` once the queue is empty."""
        self._shut_down = True
        self._waiting.clear()
        self._waiting_priority.clear()
        self._heap.clear()
        self._wake(all_waiters=True)

    async def wait_drained(self) -> None:
        """Wait until no item is processing."""
        while self._processing:
            await self._wait_idle_event()

    async def wait_idle(self) -> None:
        """Wait until nothing is queued and nothing is processing."""
        while not self.is_idle():
            await self._wait_idle_event()

    async def _wait_idle_event(self) -> None:
        event = self._idle
        if event.is_set():
            event = self._idle = anyio.Event()
        await event.wait()

    # -- internals ------------------------------------------------------------------------

    def _push(self, item: K, priority: int) -> None:
        sequence = next(self._sequence)
        self._queued[item] = (priority, sequence)
        lane = self._lanes.get(priority)
        if lane is None:
            lane = self._lanes[priority] = deque()
            self._lane_order = sorted(self._lanes, reverse=True)
        lane.append((item, sequence))
        self._wake(all_waiters=False)

    def _pop(self) -> K | None:
        for priority in self._lane_order:
            lane = self._lanes[priority]
            while lane:
                item, sequence = lane.popleft()
                if self._queued.get(item) == (priority, sequence):
                    del self._queued[item]
                    return item
        return None

    def _promote_due(self) -> None:
        if not self._heap:
            return
        now = self.clock.monotonic()
        heap = self._heap
        while heap and heap[0][0] <= now:
            ready, _, item = heapq.heappop(heap)
            if self._waiting.get(item) == ready:
                del self._waiting[item]
                self.add(item, priority=self._waiting_priority.pop(item, PRIORITY_NORMAL))

    def _next_deadline(self) -> float | None:
        heap = self._heap
        while heap and self._waiting.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    async def _wait(self) -> None:
        deadline = self._next_deadline()
        scope = anyio.CancelScope()
        self._waiters.append(scope)
        try:
            with scope:
                if deadline is None:
                    await anyio.sleep_forever()
                else:
                    await self.clock.sleep_until(deadline)
        finally:
            if scope in self._waiters:
                self._waiters.remove(scope)

    def _wake(self, *, all_waiters: bool) -> None:
        if all_waiters:
            waiters, self._waiters = self._waiters, []
            for scope in waiters:
                scope.cancel()
        elif self._waiters:
            self._waiters.pop(0).cancel()

    def __repr__(self) -> str:
        return (
            f"<WorkQueue {self.name!r} depth={self.depth} processing={self.processing} "
            f"waiting={self.waiting}>"
        )
