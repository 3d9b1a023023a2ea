"""Watch streams: what ``APIServer.watch`` yields, served from the watch cache or the store.

A :class:`WatchStream` is an async iterator of :class:`~korch.apiserver.WatchEvent`. It
starts with the initial events it was given (synthetic ADDED events of the current state,
then, for ``sendInitialEvents``, a BOOKMARK annotated ``k8s.io/initial-events-end``) and
then follows one of two sources:

* **the watch cache** (the server runs and the start revision is inside the cache's
  history window): a cursor over :class:`~korch.apiserver._cache.TypeCache` events. If the
  stream falls out of the window while it reads, it continues from the store, from the
  last revision it delivered — no event is lost or repeated;
* **the store**: its own store watch from ``revision + 1`` (with previous values, so that
  selection changes and deletions can be reported).

Selections are applied to both versions of every change, as kube-apiserver's cacher does:
a change that moves an object into the selection is ADDED, out of it DELETED (carrying the
previous state at the new revision), within it MODIFIED.

A start revision the store has compacted ends the stream with one ERROR event whose object
is a ``Status`` (410 Expired, ``too old resource version: <rv> (<oldest>)``), exactly what
kube-apiserver sends in-stream; the same happens to cache-served streams when the cache
relists. With ``allow_watch_bookmarks`` the stream also sends BOOKMARK events: after the
cache's periodic progress requests, or on the store's progress notifications.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from korch import errors
from korch.api import _registry
from korch.apiserver import _cache, _objects, _status, _types
from korch.store import _types as store_types

__all__ = ("INITIAL_EVENTS_END", "WatchStream")

INITIAL_EVENTS_END = "k8s.io/initial-events-end"

Decode = Callable[[store_types.KeyValue], _objects.Stored]


class WatchStream:
    """An open watch (see the module docstring). Iterate it with ``async for``."""

    def __init__(
        self,
        rt: _registry.ResourceType,
        selection: _objects.Selection,
        *,
        store: store_types.Store,
        prefix: bytes,
        decode: Decode,
        bookmarks: bool,
    ) -> None:
        self._rt = rt
        self._selection = selection
        self._store = store
        self._prefix = prefix
        self._decode = decode
        self._bookmarks = bookmarks
        self._pending: collections.deque[_types.WatchEvent[Any]] = collections.deque()
        self._stack = contextlib.AsyncExitStack()
        self._finished = False
        self._revision = 0
        self._cache: _cache.TypeCache | None = None
        self._cursor = 0
        self._epoch = 0
        self._seen_bookmarks = 0
        self._responses: AsyncIterator[store_types.WatchResponse] | None = None

    @property
    def resource_version(self) -> str:
        """The revision of the last event delivered (where to resume after this stream)."""
        return str(self._revision)

    # -- starting --------------------------------------------------------------------

    def _initial(self, items: list[_objects.Stored], revision: int, end_bookmark: bool) -> None:
        for stored in items:
            self._pending.append(_types.WatchEvent(type=_types.ADDED, object=stored.obj))
        if end_bookmark:
            obj = _objects.bookmark_object(self._rt, revision, {INITIAL_EVENTS_END: "true"})
            self._pending.append(_types.WatchEvent(type=_types.BOOKMARK, object=obj))
        self._revision = revision

    def start_from_cache(
        self,
        cache: _cache.TypeCache,
        revision: int,
        items: list[_objects.Stored],
        *,
        end_bookmark: bool = False,
    ) -> None:
        """Serve events after ``revision`` from ``cache`` (which must serve it)."""
        self._initial(items, revision, end_bookmark)
        self._cache = cache
        self._cursor = cache.position_after(revision)
        self._epoch = cache.epoch
        self._seen_bookmarks = cache.bookmarks

    async def start_from_store(
        self, revision: int, items: list[_objects.Stored], *, end_bookmark: bool = False
    ) -> None:
        """Serve events after ``revision`` from a store watch of the stream's own."""
        self._initial(items, revision, end_bookmark)
        await self._open_store_watch(revision)

    async def _open_store_watch(self, revision: int) -> None:
        self._cache = None
        try:
            stream = await self._stack.enter_async_context(
                self._store.watch(
                    self._prefix,
                    prefix=True,
                    start_revision=revision + 1,
                    prev_kv=True,
                    progress_notify=self._bookmarks,
                )
            )
        except errors.Compacted as exc:
            self._fail(_status.expired(revision, exc.compact_revision))
            return
        self._responses = stream.responses()

    async def aclose(self) -> None:
        """End the stream and release its store watch, if any."""
        self._finished = True
        self._pending.clear()
        await self._stack.aclose()

    # -- iterating -------------------------------------------------------------------

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> _types.WatchEvent[Any]:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._finished:
                raise StopAsyncIteration
            if self._cache is not None:
                await self._next_from_cache(self._cache)
            elif self._responses is not None:
                await self._next_from_store(self._responses)
            else:
                self._finished = True

    async def _next_from_cache(self, cache: _cache.TypeCache) -> None:
        if cache.epoch != self._epoch:
            self._fail(_status.expired(self._revision, cache.window_start))
            return
        if cache.closed:
            self._finished = True
            return
        if self._cursor < cache.first:
            await self._open_store_watch(self._revision)  # fell out of the window
            return
        end = cache.end
        while self._cursor < end:
            self._deliver_cached(cache.event(self._cursor))
            self._cursor += 1
        if self._pending:
            return
        if cache.revision > self._revision:
            self._revision = cache.revision
        if self._bookmarks and cache.bookmarks != self._seen_bookmarks:
            self._seen_bookmarks = cache.bookmarks
            self._bookmark(cache.revision)
            return
        await cache.changed().wait()

    def _deliver_cached(self, event: _cache.CacheEvent) -> None:
        self._revision = event.revision
        selection = self._selection
        if selection.everything and not selection.namespace:
            self._emit(event.type, event.stored)  # type: ignore[arg-type]
            return
        old = event.prev is not None and selection.matches(event.prev)
        if event.type == _types.DELETED:
            if old:
                self._emit(_types.DELETED, event.stored)
            return
        if selection.matches(event.stored):
            self._emit(_types.MODIFIED if old else _types.ADDED, event.stored)
        elif old:
            self._emit(_types.DELETED, event.left())

    async def _next_from_store(self, responses: AsyncIterator[store_types.WatchResponse]) -> None:
        try:
            response = await responses.__anext__()
        except StopAsyncIteration:
            self._finished = True
            return
        except errors.Compacted as exc:
            self._fail(_status.expired(self._revision, exc.compact_revision))
            return
        except errors.WatchCancelled as exc:
            await self._stack.aclose()
            self._stack = contextlib.AsyncExitStack()
            await self._open_store_watch(min(self._revision, exc.revision))
            return
        for event in response.events:
            self._deliver_stored(event)
        if response.revision > self._revision:
            self._revision = response.revision
        if not response.events and self._bookmarks:
            self._bookmark(response.revision)

    def _deliver_stored(self, event: store_types.Event) -> None:
        selection = self._selection
        kv = event.kv
        self._revision = kv.mod_revision
        if event.type is store_types.EventType.DELETE:
            if event.prev_kv is not None:
                last = self._decode(event.prev_kv)
                if selection.matches(last):
                    self._emit(_types.DELETED, _objects.with_revision(last, kv.mod_revision))
            return
        stored = self._decode(kv)
        if selection.everything:
            self._emit(_types.ADDED if kv.version == 1 else _types.MODIFIED, stored)
            return
        prev = self._decode(event.prev_kv) if event.prev_kv is not None else None
        old = prev is not None and selection.matches(prev)
        if selection.matches(stored):
            self._emit(_types.MODIFIED if old else _types.ADDED, stored)
        elif prev is not None and old:
            self._emit(_types.DELETED, _objects.with_revision(prev, kv.mod_revision))

    # -- helpers ---------------------------------------------------------------------

    def _emit(self, type: _types.WatchEventType, stored: _objects.Stored) -> None:
        self._pending.append(_types.WatchEvent(type=type, object=stored.obj))

    def _bookmark(self, revision: int) -> None:
        obj = _objects.bookmark_object(self._rt, revision)
        self._pending.append(_types.WatchEvent(type=_types.BOOKMARK, object=obj))

    def _fail(self, error: errors.APIError) -> None:
        status = _status.status_for_error(error)
        self._pending.append(_types.WatchEvent(type=_types.ERROR, object=status))
        self._cache = None
        self._responses = None
        self._finished = True
