"""Streams of EtcdStore: watches, each one full-duplex HTTP/1.1 stream to the gateway's
``/v3/watch``, and the snapshot download (:func:`stream_snapshot`), a streamed response.

Why its own connection rather than httpx: the gateway's watch is a bidirectional stream
(the request body carries ``create_request`` and later ``progress_request`` messages, the
response carries newline-delimited JSON results), and httpx sends the whole request body
before it reads any response. So each watch opens its own :class:`~._etcd_wire.Connection`
and lets h11 frame both directions at once: the request head and first message go out with
a chunked body that stays open (h11 lets our side keep sending ``Data`` while it reads the
response), and the chunked response is read as it comes.

One quirk makes that work: before it sends response headers, etcd's HTTP server (Go's
``net/http``, HTTP/1.1) reads and discards up to 256 KiB of a request body the handler has
not read, so it would wait for the body to end before answering. It skips that when the
request carries ``Expect: 100-continue`` and the body has not ended (it cannot tell where
such a body ends), so a watch sends that header, skips the ``100 Continue`` interim
response, and can then send ``progress_request`` messages while it reads results.

Delivery guarantees, whatever happens to the connection:

* events come in revision order, a transaction's events in one :class:`WatchResponse`
  (etcd never splits a revision across responses unless asked to fragment, which we never
  do);
* if the stream breaks, the watch reconnects (to the next member if needed) from
  ``last delivered event revision + 1`` — nothing is lost or delivered twice — up to
  ``retries`` times with exponential backoff on the injected clock; then it raises
  :class:`korch.errors.WatchCancelled` whose ``revision`` is where to resume;
* a start (or resume) revision below the compaction point raises
  :class:`korch.errors.Compacted` with etcd's compact revision.

Progress notifications: ``progress_notify=True`` gets etcd's periodic ones (every
``--experimental-watch-progress-notify-interval``, 10 min by default; sent only when the
watcher is caught up, so exact); :meth:`EtcdWatch.request_progress` sends a
``progress_request`` on the open stream. etcd before 3.4.24/3.5.8 answers that request
at once with its current revision, even when events of lower revisions are still queued
for the watcher (etcd-io/etcd#15220); the stream never lets :attr:`EtcdWatch.revision` go
backwards and delivers such late events anyway, but resumes after a break only from
revisions it has proof of (events and periodic notifications), never from a requested one.
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.abc
import h11

from korch import clock as clock_module
from korch import errors
from korch.store import _etcd_wire as wire
from korch.store import _types as t

__all__ = ("EtcdWatch", "WatchHost", "stream_snapshot")

_Broken = wire.Broken
# a chunked body of unknown length, so etcd answers before it ends (see the docstring)
_STREAM_HEADERS = ((b"Expect", b"100-continue"), (b"Transfer-Encoding", b"chunked"))


class _WatchConnection:
    """One open ``POST /v3/watch`` whose chunked request body stays open."""

    def __init__(self, conn: wire.Connection) -> None:
        self._conn = conn
        self._lines = bytearray()
        self._send_lock = anyio.Lock()

    @classmethod
    async def open(
        cls, member: wire.Endpoint, endpoints: wire.Endpoints, create: dict[str, Any]
    ) -> _WatchConnection:
        """Connect, send ``create`` and wait for the response head (bounded by the timeout).

        Raises wire.Broken (could not connect or talk) or wire.EtcdError (etcd said no).
        """
        conn = await wire.Connection.connect(member, endpoints)
        _keepalive(conn.stream)
        try:
            with anyio.fail_after(endpoints.timeout):
                await cls._handshake(conn, create)
        except BaseException as exc:
            await conn.aclose()
            if isinstance(exc, wire.BROKEN):
                raise _Broken(f"watch on {member.url} failed: {exc!r}", sent=True) from exc
            raise
        return cls(conn)

    @staticmethod
    async def _handshake(conn: wire.Connection, create: dict[str, Any]) -> None:
        head = conn.request(b"/v3/watch", _STREAM_HEADERS)
        first = json.dumps(create, separators=(",", ":")).encode() + b"\n"
        await conn.send(head, h11.Data(data=first))  # the body stays open
        status = await conn.read_head()  # after "100 Continue"
        if status != 200:
            body = b""
            with anyio.move_on_after(1.0):
                body = await conn.read_body()
            try:
                message = wire.error_message(json.loads(body))
            except ValueError:
                message = ""
            raise wire.EtcdError(status, message or f"HTTP {status}")

    async def receive(self) -> dict[str, Any]:
        """The next JSON message of the stream. Raises wire.Broken when the stream ends."""
        lines = self._lines
        while True:
            index = lines.find(b"\n")
            if index >= 0:
                line = bytes(lines[:index])
                del lines[: index + 1]
                if line.strip():
                    try:
                        message = json.loads(line)
                    except ValueError as exc:
                        raise _Broken(f"bad watch message {line[:100]!r}", sent=True) from exc
                    if isinstance(message, dict):
                        return message
                continue
            try:
                data = await self._conn.body_piece()
            except wire.BROKEN as exc:
                raise _Broken(f"watch stream broke: {exc!r}", sent=True) from exc
            if data is None:
                raise _Broken("etcd ended the watch stream", sent=True)
            lines += data

    async def send(self, message: dict[str, Any]) -> None:
        data = h11.Data(data=json.dumps(message, separators=(",", ":")).encode() + b"\n")
        try:
            # one sender at a time: h11 frames a message in the order its pieces are sent
            async with self._send_lock:
                await self._conn.send(data)
        except wire.BROKEN as exc:
            raise _Broken(f"watch stream broke: {exc!r}", sent=True) from exc

    async def aclose(self) -> None:
        await self._conn.aclose()


def _keepalive(stream: anyio.abc.ByteStream) -> None:
    # a watch may be silent for hours: let the kernel notice a member that vanished
    raw = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    if raw is None:
        return
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        option = getattr(socket, name, None)
        if option is not None:
            raw.setsockopt(socket.IPPROTO_TCP, option, value)


class WatchHost(Protocol):
    """What a watch needs from its store."""

    @property
    def endpoints(self) -> wire.Endpoints: ...

    @property
    def clock(self) -> clock_module.Clock: ...

    @property
    def closed(self) -> bool: ...

    def note_compact_revision(self, revision: int) -> None: ...

    async def check_watch_start(self, key: bytes, revision: int) -> None: ...

    def watch_opened(self, watch: EtcdWatch) -> None: ...

    def watch_closed(self, watch: EtcdWatch) -> None: ...


class EtcdWatch:
    """An etcd watch: ``async with`` it, then iterate events or :meth:`responses`."""

    def __init__(
        self,
        host: WatchHost,
        key: bytes,
        range_end: bytes | None,
        *,
        start_revision: int,
        prev_kv: bool,
        progress_notify: bool,
        retries: int = 5,
        backoff: float = 0.1,
    ) -> None:
        self._host = host
        self._key = key
        self._range_end = range_end
        self._start = start_revision
        self._next = start_revision  # 0 until etcd tells us "now"
        self._revision = max(0, start_revision - 1)
        self._prev_kv = prev_kv
        self._progress_notify = progress_notify
        self._retries = retries
        self._backoff = backoff
        self._conn: _WatchConnection | None = None
        self._watch_id = 0
        self._events_left: collections.deque[t.Event] = collections.deque()
        self._progress_wanted = 0
        self._closed = False
        self._store_closed = False

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> EtcdWatch:
        if self._host.closed:
            raise errors.StoreClosed("the store is closed")
        if self._start > 0:
            await self._host.check_watch_start(self._key, self._start)
        await self._connect()
        self._host.watch_opened(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the watch (idempotent)."""
        self._closed = True
        self._host.watch_closed(self)
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()

    async def store_closed(self) -> None:
        """The store was closed: iteration now raises StoreClosed."""
        self._store_closed = True
        await self.aclose()

    # -- the WatchStream contract ------------------------------------------------------------

    @property
    def revision(self) -> int:
        """The revision this stream is known to be current to."""
        return self._revision

    def __aiter__(self) -> AsyncIterator[t.Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[t.Event]:
        # events wait on the stream, not in the generator, so breaking out of one
        # `async for` and iterating again loses nothing
        buffered = self._events_left
        while True:
            while buffered:
                yield buffered.popleft()
            response = await self._next_response()
            if response is None:
                return
            buffered.extend(response.events)

    async def responses(self) -> AsyncIterator[t.WatchResponse]:
        """Deliveries as they come, progress notifications (no events) included."""
        while (response := await self._next_response()) is not None:
            yield response

    async def request_progress(self) -> None:
        """Ask etcd for a progress notification (see the module docstring for its caveat)."""
        self._check_usable()
        self._progress_wanted += 1
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(_Broken):  # else sent again after the watch reconnects
                await conn.send({"progress_request": {}})

    # -- internals -----------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._store_closed or self._host.closed:
            raise errors.StoreClosed("the store was closed while watching")

    def _create_request(self) -> dict[str, Any]:
        create: dict[str, Any] = {"key": wire.b64(self._key)}
        if self._range_end is not None:
            create["range_end"] = wire.b64(self._range_end)
        if self._next:
            create["start_revision"] = self._next
        if self._prev_kv:
            create["prev_kv"] = True
        if self._progress_notify:
            create["progress_notify"] = True
        return {"create_request": create}

    async def _connect(self) -> None:
        """Open a stream on the first member that answers and wait for ``created``."""
        endpoints = self._host.endpoints
        problems = []
        for index, member in endpoints.in_order():
            try:
                conn = await _WatchConnection.open(member, endpoints, self._create_request())
            except _Broken as exc:
                problems.append(str(exc))
                continue
            except wire.EtcdError as exc:
                if exc.status >= 500:
                    problems.append(f"{member.url}: {exc.message}")
                    continue
                raise self._translate(exc) from exc
            try:
                with anyio.fail_after(endpoints.timeout):
                    created = await conn.receive()
            except (_Broken, TimeoutError) as exc:
                await conn.aclose()
                problems.append(f"{member.url}: {exc}")
                continue
            result = created.get("result")
            if not isinstance(result, dict) or not result.get("created"):
                await conn.aclose()
                problems.append(f"{member.url}: {wire.error_message(created) or created!r}")
                continue
            try:
                self._check_canceled(result)
            except errors.StoreError:
                await conn.aclose()
                raise
            endpoints.active = index
            self._conn = conn
            self._watch_id = int(result.get("watch_id", 0))
            if not self._next:
                current = int(result.get("header", {}).get("revision", 0))
                self._next = current + 1
                self._revision = max(self._revision, current)
            for _ in range(self._progress_wanted):
                await conn.send({"progress_request": {}})
            return
        raise errors.StoreUnavailable(
            f"cannot open an etcd watch on {endpoints!r}: " + "; ".join(problems)
        )

    def _translate(self, exc: wire.EtcdError) -> errors.StoreError:
        if exc.compacted:
            return errors.Compacted(self._next, 0)
        return exc.plain()

    def _check_canceled(self, result: dict[str, Any]) -> None:
        if not result.get("canceled"):
            return
        compact = int(result.get("compact_revision", 0))
        if compact:
            self._host.note_compact_revision(compact)
            raise errors.Compacted(self._next, compact)
        reason = result.get("cancel_reason") or "etcd cancelled the watch"
        raise errors.WatchCancelled(str(reason), self._next)

    async def _reconnect(self, reason: str) -> None:
        old, self._conn = self._conn, None
        if old is not None:
            await old.aclose()
        for attempt in range(self._retries):
            if attempt:
                await self._host.clock.sleep(self._backoff * 2 ** (attempt - 1))
            if self._closed:
                return
            self._check_usable()
            try:
                await self._connect()
                return
            except errors.StoreUnavailable as exc:
                reason = str(exc)
        raise errors.WatchCancelled(
            f"the watch stream broke and could not be resumed ({reason})", self._next
        )

    async def _next_response(self) -> t.WatchResponse | None:
        while True:
            if self._closed:
                self._check_usable()
                return None
            conn = self._conn
            if conn is None:
                await self._reconnect("not connected")
                continue
            try:
                message = await conn.receive()
            except _Broken as exc:
                if self._closed:
                    continue
                await self._reconnect(str(exc))
                continue
            result = message.get("result")
            if not isinstance(result, dict):
                await self._reconnect(wire.error_message(message) or "bad watch message")
                continue
            response = self._handle(result)
            if response is not None:
                return response

    def _handle(self, result: dict[str, Any]) -> t.WatchResponse | None:
        self._check_canceled(result)
        if result.get("created"):
            return None
        raw_events = result.get("events")
        if raw_events:
            events = tuple(
                event
                for event in map(wire.decode_event, raw_events)
                if event.kv.mod_revision >= self._next  # never twice, even after a resume
            )
            if not events:
                return None
            last = events[-1].kv.mod_revision
            self._next = last + 1
            self._revision = max(self._revision, last)
            return t.WatchResponse(events, last)
        revision = int(result.get("header", {}).get("revision", 0))
        if int(result.get("watch_id", 0)) == -1:
            self._progress_wanted = max(0, self._progress_wanted - 1)
        elif revision >= self._next:
            # a periodic notification: etcd sends it only when the watcher is caught up
            self._next = revision + 1
        self._revision = max(self._revision, revision)
        return t.WatchResponse((), self._revision)


async def stream_snapshot(conn: wire.Connection, out: Any, timeout: float) -> None:
    """Send a snapshot request on ``conn`` and write the streamed blobs to ``out``.

    Raises:
        korch.errors.StoreUnavailable: etcd refused, or broke off, the snapshot.
    """
    body = b"{}"
    head = conn.request(b"/v3/maintenance/snapshot", ((b"Content-Length", b"%d" % len(body)),))
    await conn.send(head, h11.Data(data=body), h11.EndOfMessage())
    with anyio.fail_after(timeout):
        status = await conn.read_head()
    if status != 200:
        with anyio.fail_after(timeout):
            refusal = await conn.read_body()
        raise errors.StoreUnavailable(f"etcd refused the snapshot: {refusal[:200]!r}")
    lines = bytearray()
    while True:
        with anyio.fail_after(timeout):
            piece = await conn.body_piece()
        if piece is None:
            break
        lines += piece
        while (index := lines.find(b"\n")) >= 0:
            line = bytes(lines[:index])
            del lines[: index + 1]
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError as exc:
                bad = f"etcd sent a bad snapshot line {line[:100]!r}"
                raise errors.StoreUnavailable(bad) from exc
            result = message.get("result") if isinstance(message, dict) else None
            if not isinstance(result, dict):
                raise errors.StoreUnavailable(
                    f"etcd broke off the snapshot: {wire.error_message(message) or line[:100]!r}"
                )
            blob = result.get("blob")
            if blob:
                await out.write(wire.unb64(blob))
