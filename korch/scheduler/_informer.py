"""A minimal list+watch loop for the scheduler (to be swapped for korch.controllers'
Informer once it lands).

:class:`ListWatch` lists a kind, reports the differences from what it knew (adds, updates,
deletes — on the first list, everything is an add), then watches from the list's
resourceVersion; a watch that ends or expires (410) lists again. Handlers are plain
synchronous callbacks run on the event loop, so the scheduler's cache and queue change only
between scheduling cycles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio

from korch import errors

__all__ = ("ListWatch",)

log = logging.getLogger("korch.scheduler")


def _key(obj: Any) -> str:
    return f"{obj.metadata.namespace}/{obj.metadata.name}"


class ListWatch:
    """``ListWatch(client, Pod, on_add=…, on_update=…, on_delete=…)``; ``await run()``."""

    def __init__(
        self,
        client: Any,
        kind: Any,
        *,
        on_add: Callable[[Any], None],
        on_update: Callable[[Any, Any], None],
        on_delete: Callable[[Any], None],
        retry_seconds: float = 1.0,
        clock: Any = None,
    ) -> None:
        self.client = client
        self.kind = kind
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.known: dict[str, Any] = {}
        self.synced = anyio.Event()

    async def run(self) -> None:
        while True:
            try:
                resource_version = await self._list()
                self.synced.set()
                await self._watch(resource_version)
            except errors.Expired:
                continue
            except (errors.APIError, errors.StoreError) as exc:
                log.warning("list/watch of %s failed, retrying: %s", self.kind, exc)
                if self.clock is not None:
                    await self.clock.sleep(self.retry_seconds)
                else:
                    await anyio.sleep(self.retry_seconds)

    async def _list(self) -> str:
        listed = await self.client.list(self.kind)
        fresh = {_key(obj): obj for obj in listed.items}
        for key, old in list(self.known.items()):
            if key not in fresh:
                del self.known[key]
                self.on_delete(old)
        for key, obj in fresh.items():
            old = self.known.get(key)
            self.known[key] = obj
            if old is None:
                self.on_add(obj)
            elif old.metadata.resource_version != obj.metadata.resource_version:
                self.on_update(old, obj)
        return str(listed.metadata.resource_version)

    async def _watch(self, resource_version: str) -> None:
        async with self.client.watch(
            self.kind, resource_version=resource_version, allow_watch_bookmarks=True
        ) as events:
            async for event in events:
                kind, obj = event.type, event.object
                if kind == "BOOKMARK":
                    continue
                key = _key(obj)
                if kind == "DELETED":
                    old = self.known.pop(key, None)
                    self.on_delete(old if old is not None else obj)
                    continue
                old = self.known.get(key)
                self.known[key] = obj
                if old is None:
                    self.on_add(obj)
                else:
                    self.on_update(old, obj)
