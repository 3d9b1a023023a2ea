"""Watches over the engine's event log, shared by MemoryStore and SQLiteStore.

A watcher is a cursor, not a queue: the store appends each revision's events to one shared
log and wakes the watchers once; each watcher then reads the revisions it has not seen, keeps
the events under its keys and delivers them as one :class:`WatchResponse` (a transaction's
events always together). So a write costs the same with 0 or 1,000 watchers, and a slow
watcher never blocks writers or loses events.

Policy for slow watchers (the per-watcher buffer is the cursor plus one response of at most
``max_revisions_per_response`` revisions): a watcher that falls behind keeps reading from the
log — in memory for MemoryStore; for SQLiteStore the in-memory window is bounded and older
revisions are read back from the database. Only when the revisions it still needs have been
compacted does the watcher end, raising :class:`korch.errors.Compacted` with the compact
revision, so the caller relists and resumes: events are never dropped silently.

Watchers of the same keys woken together share the filtering work: the hub memoises the last
response per (keys, prev_kv) and revision span.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from korch import errors
from korch.store import _engine, _signal
from korch.store import _types as t

__all__ = ("HistoryFetch", "LocalWatch", "WatchHub")

HistoryFetch = Callable[[int, int], Awaitable[Sequence[tuple[t.Event, ...]]]]
"""``fetch(start, stop)`` returns the events of revisions start..stop read back from storage."""

_MemoKey = tuple[bytes, bytes | None, bool]


class WatchHub:
    """Tells watchers which revisions are visible and wakes them when that changes."""

    def __init__(
        self,
        engine: _engine.Engine,
        *,
        fetch: HistoryFetch | None = None,
        max_revisions_per_response: int = 1000,
    ) -> None:
        self.engine = engine
        self.visible = engine.revision
        self.closed = False
        self.watchers: set[LocalWatch] = set()
        self.max_revisions = max_revisions_per_response
        self._fetch = fetch
        self._changed = _signal.Broadcast()
        self._memo: dict[_MemoKey, tuple[int, int, t.WatchResponse]] = {}

    def publish(self, revision: int) -> None:
        """Revisions up to ``revision`` may now be delivered."""
        self.visible = revision
        self._changed.fire()

    def wake(self) -> None:
        """Wake every watcher (for progress notifications and close)."""
        self._changed.fire()

    def close(self) -> None:
        self.closed = True
        self.wake()

    async def wait(self) -> None:
        """Sleep until the next publish (or a spurious wake-up: callers re-check)."""
        await self._changed.wait()

    async def collect(
        self, key: bytes, end: bytes | None, prev_kv: bool, start: int, stop: int
    ) -> t.WatchResponse:
        """Events under the keys for revisions start..stop (capped) as one response whose
        ``revision`` is the last revision covered (shared by watchers of the same keys)."""
        engine = self.engine
        if start < engine.compact_revision:
            raise errors.Compacted(start, engine.compact_revision)
        stop = min(stop, start + self.max_revisions - 1)
        memo_key = (key, end, prev_kv)
        memo = self._memo.get(memo_key)
        if memo is not None and memo[0] == start and memo[1] == stop:
            return memo[2]
        entries: Sequence[tuple[t.Event, ...]]
        if start < engine.log_base:
            if self._fetch is None:
                # MemoryStore keeps its whole log since the compaction point: what lies
                # before the log is revision 1 (no events) or a restored snapshot's state
                stop = min(stop, engine.log_base - 1)
                entries = ()
            else:
                stop = min(stop, engine.log_base - 1)
                entries = await self._fetch(start, stop)
        else:
            entries = engine.events_between(start, stop)
        found: list[t.Event] = []
        if end is None:
            for batch in entries:
                found.extend(ev for ev in batch if ev.kv.key == key)
        elif end == b"\x00":
            for batch in entries:
                found.extend(ev for ev in batch if ev.kv.key >= key)
        else:
            for batch in entries:
                found.extend(ev for ev in batch if key <= ev.kv.key < end)
        if not prev_kv:
            found = [ev if ev.prev_kv is None else t.Event(ev.type, ev.kv, None) for ev in found]
        response = t.WatchResponse(tuple(found), stop)
        self._memo[memo_key] = (start, stop, response)
        return response


class LocalWatch:
    """One watcher: a cursor over the hub's log (see the module docstring)."""

    def __init__(
        self,
        hub: WatchHub,
        key: bytes,
        end: bytes | None,
        *,
        start_revision: int,
        prev_kv: bool,
        progress_notify: bool,
    ) -> None:
        self._hub = hub
        self._key = key
        self._end = end
        self._prev_kv = prev_kv
        self.progress_notify = progress_notify
        self._next = start_revision if start_revision > 0 else hub.visible + 1
        self._progress_due = False
        self._closed = False
        engine = hub.engine
        if self._next < engine.compact_revision:
            raise errors.Compacted(self._next, engine.compact_revision)

    @property
    def revision(self) -> int:
        """The revision this watcher has seen everything up to."""
        return min(self._next - 1, self._hub.visible)

    def request_progress_now(self) -> None:
        self._progress_due = True
        self._hub.wake()

    async def request_progress(self) -> None:
        self.request_progress_now()

    def close(self) -> None:
        self._closed = True
        self._hub.watchers.discard(self)

    def responses(self) -> AsyncIterator[t.WatchResponse]:
        """Deliveries as they come, including progress notifications (empty responses)."""
        return _Responses(self)

    async def _next_response(self) -> t.WatchResponse:
        # a plain coroutine rather than an async generator: one frame less per delivery,
        # which matters when one write wakes 1,000 watchers
        hub = self._hub
        while True:
            if hub.closed:
                raise errors.StoreClosed("the store was closed while watching")
            if self._closed:
                raise StopAsyncIteration
            visible = hub.visible
            if self._next <= visible:
                response = await hub.collect(
                    self._key, self._end, self._prev_kv, self._next, visible
                )
                self._next = response.revision + 1
                if response.events:
                    if response.revision >= visible:  # reaching the head reports progress
                        self._progress_due = False
                    return response
                continue
            if self._progress_due:
                self._progress_due = False
                return t.WatchResponse((), visible)
            await hub.wait()

    def __aiter__(self) -> AsyncIterator[t.Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[t.Event]:
        while True:
            try:
                response = await self._next_response()
            except StopAsyncIteration:
                return
            for event in response.events:
                yield event


class _Responses:
    """``stream.responses()``: a plain async iterator over a watcher's deliveries."""

    __slots__ = ("_watch",)

    def __init__(self, watch: LocalWatch) -> None:
        self._watch = watch

    def __aiter__(self) -> _Responses:
        return self

    def __anext__(self) -> Awaitable[t.WatchResponse]:
        return self._watch._next_response()
