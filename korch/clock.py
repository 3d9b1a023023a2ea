"""Time, injected.

Every timer in korch — lease expiry, back-off, heartbeats, cron schedules, retention —
takes a :class:`Clock`, so tests run on a :class:`FakeClock` and never sleep for real.

A clock has two readings: :meth:`Clock.monotonic` for durations and deadlines, and
:meth:`Clock.time` for wall-clock timestamps written into objects (creationTimestamp,
lastTransitionTime). :class:`FakeClock` moves both together only when told to
(:meth:`FakeClock.advance`), waking every sleeper whose deadline has passed, in deadline order.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Protocol, runtime_checkable

import anyio

__all__ = ("Clock", "FakeClock", "SystemClock")


@runtime_checkable
class Clock(Protocol):
    """The source of time for every timer in korch."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for deadlines and durations)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the Unix epoch (for timestamps written to objects)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock (returns at once for ``seconds <= 0``)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Wait until :meth:`monotonic` reaches ``deadline``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time` and :func:`anyio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep_until(deadline)

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that moves only when the test says so.

    ``FakeClock(start=1_700_000_000.0)`` starts both readings at ``start``. Sleepers block
    until :meth:`advance` (or :meth:`set`) moves time past their deadline; they are then woken
    in deadline order (ties in the order they went to sleep). Waking only schedules the
    sleeping tasks: let them run with an ``await`` (for example ``await anyio.sleep(0)`` or an
    environment's ``settle()``).

    A ``FakeClock`` may be shared by tasks of one event loop only.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._counter = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (deadline, next(self._counter), event))
        try:
            await event.wait()
        finally:
            event.set()  # a cancelled sleep no longer counts as a sleeper

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (≥ 0) and wake the sleepers that are due."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        self.set(self._now + seconds)

    def set(self, now: float) -> None:
        """Move time forward to ``now`` and wake the sleepers that are due."""
        if now < self._now:
            raise ValueError(f"a clock cannot go backwards (from {self._now} to {now})")
        self._now = now
        while self._sleepers and self._sleepers[0][0] <= now:
            heapq.heappop(self._sleepers)[2].set()

    @property
    def next_deadline(self) -> float | None:
        """The earliest deadline a task sleeps until, or ``None`` if nobody sleeps."""
        while self._sleepers and self._sleepers[0][2].is_set():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    @property
    def sleepers(self) -> int:
        """How many tasks are asleep on this clock (cancelled sleeps may still count)."""
        return sum(1 for _, _, event in self._sleepers if not event.is_set())

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now})"
