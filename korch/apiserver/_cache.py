"""The watch cache: one store watch per resource type, fanned out to every client watch.

kube-apiserver's "cacher", in-process. For each resource type that is watched (or listed
with ``resourceVersion=0``) while the server runs, one :class:`TypeCache` task:

1. lists the type's prefix from the store and decodes every object once;
2. watches the prefix from the list's revision + 1 and applies each event to its state
   (``objects``, a key-sorted map) and to a bounded **history** of :class:`CacheEvent`;
3. on :class:`korch.errors.Compacted` (it fell behind a compaction) relists, bumping
   ``epoch``: every watch served from the old history then ends with 410 Expired, as
   kube-apiserver's watchers do after a relist; on ``WatchCancelled`` it resumes from the
   revision the store names, with no gap.

Client watches are cursors over the history, not queues (like the store's own watchers):
an event costs the cache one append whatever the number of watches, and each watch filters
at its own pace. A watch that resumes from a revision still in the history window
(``window_start`` < rv) never touches the store; an older one, or one that falls out of
the window while reading, is served by its own store watch (see ``_watch``), and only a
revision the *store* has compacted is 410 Expired.

Every object is decoded once per version: writes made through the server offer their
freshly decoded result (:meth:`TypeCache.offer`), and reads at the current revision reuse
cached objects whose revision matches (:meth:`TypeCache.lookup`).

Bookmarks: every ``bookmark_interval`` seconds of the injected clock the cache asks the
store for a progress notification; when it arrives the cache's ``revision`` is current and
``bookmarks`` is bumped, and watches that allow bookmarks send one.
"""

from __future__ import annotations

import bisect
import logging
from typing import Any, Final

import anyio
import sortedcontainers

from korch import clock as clock_module
from korch import errors
from korch.api import _registry
from korch.apiserver import _keys, _objects, _types
from korch.store import _types as store_types

__all__ = ("CacheEvent", "TypeCache")

log = logging.getLogger("korch.apiserver")

_MAX_OFFERS: Final = 4096


class CacheEvent:
    """One change of one object, as the cache recorded it.

    ``stored`` is the new version (for DELETED: the last version re-stamped with the
    deleting revision); ``prev`` the version before (``None`` for ADDED).
    """

    __slots__ = ("_left", "prev", "revision", "stored", "type")

    def __init__(
        self, type: str, revision: int, stored: _objects.Stored, prev: _objects.Stored | None
    ) -> None:
        self.type = type
        self.revision = revision
        self.stored = stored
        self.prev = prev
        self._left: _objects.Stored | None = None

    def left(self) -> _objects.Stored:
        """The previous version re-stamped at this event's revision (an object leaving a
        watch's selection is reported DELETED in this state, as kube-apiserver does)."""
        if self._left is None:
            assert self.prev is not None
            self._left = _objects.with_revision(self.prev, self.revision)
        return self._left


class TypeCache:
    """The cache of one resource type (see the module docstring)."""

    def __init__(
        self,
        rt: _registry.ResourceType,
        store: store_types.Store,
        registry: _registry.Registry,
        *,
        capacity: int,
        clock: clock_module.Clock,
        bookmark_interval: float,
    ) -> None:
        self.rt = rt
        self.prefix = _keys.resource_prefix(rt)
        self._store = store
        self._registry = registry
        self._capacity = max(1, capacity)
        self._clock = clock
        self._bookmark_interval = bookmark_interval
        self.objects: Any = sortedcontainers.SortedDict()
        self.revision = 0
        self.window_start = 0
        self.epoch = 0
        self.bookmarks = 0
        self.closed = False
        self.ready = anyio.Event()
        self._events: list[CacheEvent] = []
        self._base = 0
        self._changed = anyio.Event()
        self._offers: dict[tuple[bytes, int], _objects.Stored] = {}
        self._stream: store_types.WatchStream | None = None
        self._bookmark_pending = False

    # -- reading ---------------------------------------------------------------------

    @property
    def end(self) -> int:
        """The absolute index the next event will get."""
        return self._base + len(self._events)

    @property
    def first(self) -> int:
        """The absolute index of the oldest event kept."""
        return self._base

    def event(self, index: int) -> CacheEvent:
        """The event at absolute ``index`` (``first <= index < end``)."""
        return self._events[index - self._base]

    def position_after(self, revision: int) -> int:
        """The absolute index of the first kept event with a revision above ``revision``."""
        return self._base + bisect.bisect_right(self._events, revision, key=_revision_of)

    def serves(self, revision: int) -> bool:
        """Whether every event after ``revision`` is in the history."""
        return revision >= self.window_start

    def changed(self) -> anyio.Event:
        """The event set at the next change (events, progress, bookmark, relist, close)."""
        return self._changed

    def lookup(self, key: bytes, revision: int) -> _objects.Stored | None:
        """The decoded version of ``key`` at ``revision``, if the cache holds it."""
        stored = self.objects.get(key)
        if stored is not None and stored.revision == revision:
            return stored  # type: ignore[no-any-return]
        return self._offers.get((key, revision))

    def offer(self, stored: _objects.Stored) -> None:
        """A version the server just wrote and decoded, to save the cache decoding it."""
        if stored.revision > self.revision and len(self._offers) < _MAX_OFFERS:
            self._offers[(stored.key, stored.revision)] = stored

    def snapshot(self, selection: _objects.Selection) -> list[_objects.Stored]:
        """The selected objects, in key order, as of :attr:`revision`."""
        if selection.namespace:
            start = self.prefix + selection.namespace.encode() + b"/"
            end = start[:-1] + b"0"  # "/" + 1: the end of the namespace's sub-prefix
            values = (self.objects[k] for k in self.objects.irange(start, end, (True, False)))
        else:
            values = iter(self.objects.values())
        if selection.everything:
            return list(values)
        return [s for s in values if selection.matches(s)]

    async def wait_for_revision(self, revision: int) -> None:
        """Wait until the cache is current to ``revision`` (asking the store for progress)."""
        while self.revision < revision and not self.closed:
            changed = self._changed
            if self._stream is not None:
                await self._stream.request_progress()
            await changed.wait()
        if self.closed:
            raise errors.Timeout("the API server is shutting down")

    # -- running ---------------------------------------------------------------------

    async def run(self) -> None:
        """List, then follow the store; relist after compaction. Runs until cancelled."""
        try:
            start = 0
            while True:
                if start == 0:
                    start = await self._relist() + 1
                try:
                    async with self._store.watch(
                        self.prefix, prefix=True, start_revision=start, progress_notify=True
                    ) as stream:
                        self._stream = stream
                        async for response in stream.responses():
                            self._apply(response)
                            start = response.revision + 1
                except errors.Compacted:
                    log.info(
                        "watch cache of %s fell behind a compaction; relisting", self.rt.plural
                    )
                    start = 0
                except errors.WatchCancelled as cancelled:
                    start = cancelled.revision + 1
                finally:
                    self._stream = None
        finally:
            self.closed = True
            self._wake()

    async def run_bookmarks(self) -> None:
        """Ask the store for progress every bookmark interval. Runs until cancelled."""
        while not self.closed:
            await self._clock.sleep(self._bookmark_interval)
            stream = self._stream
            if stream is not None:
                self._bookmark_pending = True
                await stream.request_progress()

    async def _relist(self) -> int:
        result = await self._store.range(self.prefix, prefix=True)
        objects = sortedcontainers.SortedDict()
        for kv in result.kvs:
            try:
                objects[kv.key] = _objects.decode_stored(self.rt, kv, self._registry)
            except errors.InternalError as exc:
                log.error("watch cache of %s skips an object: %s", self.rt.plural, exc)
        if self.ready.is_set():
            self.epoch += 1  # watches served from the old history must relist
        self.objects = objects
        self._events = []
        self._base = 0
        self._offers.clear()
        self.revision = self.window_start = result.revision
        self.ready.set()
        self._wake()
        return result.revision

    def _apply(self, response: store_types.WatchResponse) -> None:
        objects = self.objects
        for event in response.events:
            kv = event.kv
            key = kv.key
            if event.type is store_types.EventType.PUT:
                stored = self._offers.pop((key, kv.mod_revision), None)
                if stored is None:
                    try:
                        stored = _objects.decode_stored(self.rt, kv, self._registry)
                    except errors.InternalError as exc:
                        log.error("watch cache of %s skips an event: %s", self.rt.plural, exc)
                        continue
                prev = objects.get(key)
                objects[key] = stored
                kind = _types.ADDED if prev is None else _types.MODIFIED
                self._events.append(CacheEvent(kind, kv.mod_revision, stored, prev))
            else:
                prev = objects.pop(key, None)
                if prev is None:
                    continue
                gone = _objects.with_revision(prev, kv.mod_revision)
                self._events.append(CacheEvent(_types.DELETED, kv.mod_revision, gone, prev))
        if response.revision > self.revision:
            self.revision = response.revision
        if self._offers:
            stale = [k for k in self._offers if k[1] <= self.revision]
            for k in stale:
                del self._offers[k]
        self._trim()
        if self._bookmark_pending and not response.events:
            self._bookmark_pending = False
            self.bookmarks += 1
        self._wake()

    def _trim(self) -> None:
        excess = len(self._events) - self._capacity
        if excess > self._capacity // 4:
            self.window_start = self._events[excess - 1].revision
            del self._events[:excess]
            self._base += excess

    def _wake(self) -> None:
        changed = self._changed
        self._changed = anyio.Event()
        changed.set()

    def close(self) -> None:
        """Stop serving: every waiting watch wakes and ends."""
        self.closed = True
        self._wake()


def _revision_of(event: CacheEvent) -> int:
    return event.revision
