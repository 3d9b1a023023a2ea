"""Streaming responses: watch event streams and ``pods/log``.

A watch answers ``200`` at once and then writes one JSON object per line
(``{"type": "ADDED", "object": {…}}``), as kube-apiserver does over HTTP/1.1 chunked
encoding. The server-side watch is opened *before* the response starts, so a bad
selector or a resourceVersion from the future is an ordinary error response (400, 504);
an expired resourceVersion is an in-stream ``ERROR`` event carrying a 410 ``Status``, after
which the stream ends. The stream also ends after ``timeoutSeconds`` (default: a random
time between 30 and 60 minutes, kube-apiserver's ``--min-request-timeout`` spread) and
when the client goes away (the ASGI server cancels the response).

With ``as=Table`` each event's object is a one-row Table (bookmarks: an empty Table with
the resourceVersion); only the first carries ``columnDefinitions``.

Encoded objects are memoised by identity for a short while: the API server hands every
watcher the same frozen object, so a thousand watchers of one kind encode each change once.
"""

from __future__ import annotations

import collections
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import anyio

from korch.api import _codec
from korch.apiserver import _pods, _server, _types

__all__ = ("EncodeCache", "log_stream", "open_log", "open_watch", "watch_lines")

_MIN_TIMEOUT: Final = 1800.0


class EncodeCache:
    """Wire dicts of recently encoded objects, keyed by identity (objects are frozen)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: collections.OrderedDict[int, tuple[Any, dict[str, Any]]] = (
            collections.OrderedDict()
        )
        self._frames: collections.OrderedDict[tuple[int, str], tuple[Any, bytes]] = (
            collections.OrderedDict()
        )

    def frame(self, event: _types.WatchEvent[Any]) -> bytes:
        """The watch frame of ``event`` (``{"type","object"}`` + newline), memoised like
        :meth:`wire`: every watcher of a change sends the same bytes."""
        key = (id(event.object), event.type)
        hit = self._frames.get(key)
        if hit is not None and hit[0] is event.object:
            return hit[1]
        frame = {"type": event.type, "object": self.wire(event.object)}
        data = json.dumps(frame, separators=(",", ":")).encode() + b"\n"
        self._frames[key] = (event.object, data)
        if len(self._frames) > self._size:
            self._frames.popitem(last=False)
        return data

    def wire(self, obj: Any) -> dict[str, Any]:
        """``to_dict(obj)``, from the cache when ``obj`` was encoded recently."""
        key = id(obj)
        hit = self._entries.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        wire = _codec.to_dict(obj)
        self._entries[key] = (obj, wire)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return wire


def watch_timeout(value: int | None, rng: random.Random) -> float:
    """``timeoutSeconds``, or kube-apiserver's randomised default."""
    if value is not None and value > 0:
        return float(value)
    return _MIN_TIMEOUT * (1.0 + rng.random())


@contextlib.asynccontextmanager
async def open_watch(
    api: _server.APIServer, kwargs: dict[str, Any]
) -> AsyncIterator[AsyncIterator[_types.WatchEvent[Any]]]:
    """``api.watch(**kwargs)``; errors raised here happen before the response starts."""
    async with api.watch(**kwargs) as stream:
        yield stream


async def watch_lines(
    stream: AsyncIterator[_types.WatchEvent[Any]],
    *,
    close: Callable[[], Any],
    timeout: float,
    cache: EncodeCache,
    transform: Callable[[_types.WatchEvent[Any], dict[str, Any], bool], dict[str, Any]] | None,
) -> AsyncIterator[bytes]:
    """The newline-delimited JSON frames of a watch; ends on timeout, ERROR or close."""
    first = True
    try:
        with anyio.move_on_after(timeout):
            async for event in stream:
                if event.type == _types.ERROR:
                    yield error_status_frame(event.object)
                    break
                if transform is None:
                    yield cache.frame(event)
                    continue
                obj = transform(event, cache.wire(event.object), first)
                first = False
                frame = {"type": event.type, "object": obj}
                yield json.dumps(frame, separators=(",", ":")).encode() + b"\n"
    finally:
        await close()


def error_status_frame(status: Any) -> bytes:
    """The in-stream ERROR frame carrying ``status`` (a Status)."""
    wire = _codec.to_dict(status)
    return json.dumps({"type": "ERROR", "object": wire}, separators=(",", ":")).encode() + b"\n"


def log_options(
    query: Any, parse_int: Callable[[Any, str], int | None], parse_bool: Any
) -> _pods.PodLogOptions:
    """PodLogOptions from ``pods/log`` query parameters."""
    return _pods.PodLogOptions(
        container=query.get("container", ""),
        follow=parse_bool(query, "follow"),
        previous=parse_bool(query, "previous"),
        since_seconds=parse_int(query, "sinceSeconds"),
        timestamps=parse_bool(query, "timestamps"),
        tail_lines=parse_int(query, "tailLines"),
        limit_bytes=parse_int(query, "limitBytes"),
    )


@contextlib.asynccontextmanager
async def open_log(
    api: _server.APIServer, name: str, namespace: str, options: _pods.PodLogOptions, user: Any
) -> AsyncIterator[AsyncIterator[bytes]]:
    """``api.pod_log(...)``; errors raised on entering happen before the response starts."""
    async with api.pod_log(name, namespace=namespace, options=options, user=user) as chunks:
        yield chunks


async def log_stream(
    chunks: AsyncIterator[bytes], close: Callable[[], Any]
) -> AsyncIterator[bytes]:
    """The log's chunks as they come."""
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await close()
