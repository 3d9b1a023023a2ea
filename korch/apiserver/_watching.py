"""The ``watch`` verb: where a watch starts and which source serves it.

kube-apiserver's resourceVersion semantics for watches:

=====================  ==================================================================
``resource_version``   the watch starts with
=====================  ==================================================================
``""`` (unset)         ADDED events for every selected object at the store's current
                       revision ("get state and start at most recent"), then changes
``"0"``                the same from any recent state (the watch cache's, if running)
``"<rv>"``             every change after rv ("start at exact"); a compacted rv gives an
                       in-stream ERROR event with a 410 Expired ``Status``
=====================  ==================================================================

``send_initial_events=True`` (kube's streaming lists) sends the initial ADDED events for any
``resource_version`` and then, with ``allow_watch_bookmarks``, a BOOKMARK annotated
``k8s.io/initial-events-end: "true"``; ``False`` sends none.

While the server runs (``async with APIServer(...)``) watches are served from the watch
cache of their type when their start is inside its window, else from a store watch of
their own (see :mod:`korch.apiserver._watch`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from korch import errors
from korch.apiserver import _keys, _objects, _reads, _types, _watch

__all__ = ("Watching",)


class Watching(_reads.Reads):
    """``watch``."""

    @contextlib.asynccontextmanager
    async def watch(
        self,
        kind: _types.KindRef,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        allow_watch_bookmarks: bool = False,
        send_initial_events: bool | None = None,
        user: _types.UserInfo | None = None,
    ) -> AsyncIterator[_watch.WatchStream]:
        """Watch objects of one kind: ``async with api.watch(Pod) as events: async for …``.

        Args:
            kind: the resource type.
            namespace: one namespace, or ``""`` for all.
            label_selector: only objects whose labels match (changes moving an object in
                or out of the selection are ADDED / DELETED).
            field_selector: only objects whose selectable fields match.
            resource_version: where to start (see the module docstring).
            allow_watch_bookmarks: also send BOOKMARK events.
            send_initial_events: send (or not) the initial state as ADDED events.
            user: who asks.

        Yields:
            A :class:`~korch.apiserver._watch.WatchStream` of
            :class:`~korch.apiserver.WatchEvent`.

        Raises:
            korch.errors.BadRequest: a bad selector or resourceVersion.
            korch.errors.Timeout: ``resource_version`` is newer than the store.
        """
        rt = self.resource_type(kind)
        await self.ensure_bootstrapped()
        await self.authorize(user, "watch", rt, namespace if rt.namespaced else "")
        strategy = self.strategy(rt)
        selection = _objects.selection_for(
            rt, namespace, label_selector, field_selector, extra_fields=strategy.selectable_fields
        )
        revision = _keys.parse_resource_version(resource_version)
        if revision > 0:
            current = await self.store.current_revision()
            if revision > current:
                raise errors.Timeout(f"Too large resource version: {revision}, current: {current}")
        initial = send_initial_events if send_initial_events is not None else revision == 0
        end_bookmark = bool(send_initial_events) and allow_watch_bookmarks
        prefix = _keys.namespace_prefix(rt, selection.namespace)
        stream = _watch.WatchStream(
            rt,
            selection,
            store=self.store,
            prefix=prefix,
            decode=lambda kv: self.decode(rt, kv),
            bookmarks=allow_watch_bookmarks,
        )
        try:
            cache = await self.running_cache(rt)
            if cache is not None and (revision == 0 or initial or cache.serves(revision)):
                if revision == 0 and resource_version != "0":
                    await cache.wait_for_revision(await self.store.current_revision())
                elif revision > cache.revision:
                    await cache.wait_for_revision(revision)
                if initial:
                    items = cache.snapshot(selection)
                    stream.start_from_cache(cache, cache.revision, items, end_bookmark=end_bookmark)
                else:
                    start = revision or cache.revision
                    stream.start_from_cache(cache, start, [])
            elif initial:
                items, at, _, _ = await self.collect_store(rt, selection, prefix, prefix)
                await stream.start_from_store(at, items, end_bookmark=end_bookmark)
            else:
                start = revision or await self.store.current_revision()
                await stream.start_from_store(start, [])
            yield stream
        finally:
            await stream.aclose()
