"""Wire format of etcd's gRPC-JSON gateway and the HTTP/1.1 transport to it.

The gateway speaks protobuf-as-JSON: ``bytes`` fields are base64, ``int64`` fields are
decimal strings, and fields at their zero value are omitted from responses (a missing
``kvs``, ``count``, ``version``, ``succeeded``… means empty, 0 or false). Errors come back
as ``{"error": message, "code": grpc_code}`` with an HTTP status mapped from the gRPC code
(and, inside a stream, as ``{"error": {"message": …, "grpc_code": …}}``).

:class:`Endpoints` is the client's view of the cluster: the member URLs, which one is in use,
and the TLS settings. Requests start at the member that answered last and move on to the
next only when the current one cannot be reached (failover), so a healthy cluster sees one
member's connection pool.

:class:`Connection` is one HTTP/1.1 client connection to a member: h11 (the sans-I/O
HTTP/1.1 state machine httpx's transport is built on) frames requests and parses responses
(status line, headers, Content-Length and chunked bodies, ``100 Continue``, keep-alive),
an anyio byte stream carries the bytes. :class:`Pool` keeps idle ones per member and reuses
one only once h11 says both sides finished the last exchange and the server left it open.
Any h11 protocol error, like a socket error, means the connection is broken (:class:`Broken`).

Why not httpx: on this path every microsecond is a put/s. A keep-alive POST through
``httpx.AsyncClient`` costs about 1.6 ms against a local etcd, against ~0.5 ms for the
gateway itself, while h11 alone costs some 70 µs (framing a request, parsing a response's
head). And the watch needs a request body that stays open while the response streams, which
httpx cannot send (see :mod:`korch.store._etcd_watch`). For the same reason the pool caches
request heads (h11 validates each one it is given) and reads a response in one loop.
"""

from __future__ import annotations

import binascii
import select
import ssl
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib import parse

import anyio
import anyio.abc
import h11

from korch import errors
from korch.store import _types as t

__all__ = (
    "BROKEN",
    "Broken",
    "Connection",
    "Endpoint",
    "Endpoints",
    "EtcdError",
    "Pool",
    "b64",
    "check_int",
    "decode_event",
    "decode_kv",
    "decode_kvs",
    "encode_compare",
    "encode_op",
    "error_message",
    "key_range",
    "range_request",
    "range_result",
    "revision_of",
    "unb64",
)

JSON = dict[str, Any]


def b64(data: bytes) -> str:
    """``data`` as the gateway's base64 text."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def unb64(text: str) -> bytes:
    return binascii.a2b_base64(text)


def decode_kv(raw: Mapping[str, Any]) -> t.KeyValue:
    """A gateway ``mvccpb.KeyValue`` (zero fields omitted) as a :class:`KeyValue`."""
    get = raw.get
    return t.KeyValue(
        binascii.a2b_base64(get("key", "")),
        binascii.a2b_base64(get("value", "")),
        int(get("create_revision", 0)),
        int(get("mod_revision", 0)),
        int(get("version", 0)),
        int(get("lease", 0)),
    )


def decode_kvs(raw: Sequence[Mapping[str, Any]] | None) -> tuple[t.KeyValue, ...]:
    return tuple(decode_kv(kv) for kv in raw) if raw else ()


def decode_event(raw: Mapping[str, Any]) -> t.Event:
    prev = raw.get("prev_kv")
    return t.Event(
        t.EventType.DELETE if raw.get("type") == "DELETE" else t.EventType.PUT,
        decode_kv(raw["kv"]),
        decode_kv(prev) if prev is not None else None,
    )


def key_range(key: bytes, range_end: bytes | None, prefix: bool) -> tuple[bytes, bytes | None]:
    """The store's key selection (:func:`korch.store._types.key_range`) for the gateway.

    An empty key with ``prefix`` (or with ``range_end``) starts at ``b"\\x00"``, the smallest
    key, as etcd's clients do: the gateway refuses an empty key.

    Raises:
        korch.errors.InvalidRequest: as the shared check, or an empty single key.
    """
    key, end = t.key_range(key, range_end, prefix)
    if end is not None:
        return key or b"\x00", end
    if not key:
        raise errors.InvalidRequest("key must not be empty")
    return key, None


def check_int(name: str, value: object, *, minimum: int = 0) -> int:
    """``value`` if it is an int ≥ ``minimum``; else a clear InvalidRequest."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise errors.InvalidRequest(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise errors.InvalidRequest(f"{name} must be at least {minimum}, got {value}")
    return value


def error_message(body: object) -> str:
    """The error text of a gateway error body (unary or in-stream form), or ``""``."""
    if not isinstance(body, dict):
        return ""
    err = body.get("error")
    if isinstance(err, dict):
        return str(err.get("message", ""))
    if err:
        return str(err)
    return str(body.get("message", ""))


class EtcdError(Exception):
    """An error answered by etcd, before it is translated to a korch error.

    Internal: EtcdStore turns it into Compacted, FutureRevision, LeaseNotFound…, because some
    of those need another request (the compact revision, the current revision) to build.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def compacted(self) -> bool:
        return "required revision has been compacted" in self.message

    @property
    def future_revision(self) -> bool:
        return "required revision is a future revision" in self.message

    @property
    def lease_not_found(self) -> bool:
        return "requested lease not found" in self.message

    def plain(self) -> errors.StoreError:
        """The korch error for the cases that need no further request."""
        message = f"etcd: {self.message}"
        if self.status >= 500 or self.status in (0, 429):
            return errors.StoreUnavailable(message)
        if 400 <= self.status < 500:
            return errors.InvalidRequest(message)
        return errors.StoreError(message)


# -- requests and responses ------------------------------------------------------------------

_COMPARE_OPS = {"==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
_COMPARE_FIELDS = {
    t.CompareTarget.VERSION: "version",
    t.CompareTarget.CREATE: "create_revision",
    t.CompareTarget.MOD: "mod_revision",
    t.CompareTarget.LEASE: "lease",
}


def range_request(
    key: bytes, end: bytes | None, limit: int, revision: int, count_only: bool, keys_only: bool
) -> dict[str, Any]:
    """A gateway ``RangeRequest`` (zero values left out, as the gateway would)."""
    request: dict[str, Any] = {"key": b64(key)}
    if end is not None:
        request["range_end"] = b64(end)
    if limit:
        request["limit"] = limit
    if revision:
        request["revision"] = revision
    if count_only:
        request["count_only"] = True
    if keys_only:
        request["keys_only"] = True
    return request


def range_result(raw: dict[str, Any], revision: int) -> t.RangeResult:
    return t.RangeResult(
        decode_kvs(raw.get("kvs")), bool(raw.get("more")), int(raw.get("count", 0)), revision
    )


def revision_of(raw: dict[str, Any]) -> int:
    """The store revision in a response's header."""
    return int(raw["header"]["revision"])


def encode_compare(compare: t.CompareResult) -> dict[str, Any]:
    """A txn condition as a gateway ``Compare``; InvalidRequest for anything else."""
    if not isinstance(compare, t.CompareResult):
        raise errors.InvalidRequest(f"not a transaction condition: {compare!r}")
    key_range(compare.key, None, False)
    encoded: dict[str, Any] = {
        "key": b64(compare.key),
        "target": compare.target.value,
        "result": _COMPARE_OPS[compare.op],
    }
    if compare.target is t.CompareTarget.VALUE:
        if not isinstance(compare.value, bytes):
            raise errors.InvalidRequest(f"a value compare needs bytes, got {compare.value!r}")
        encoded["value"] = b64(compare.value)
    else:
        if not isinstance(compare.value, int):
            raise errors.InvalidRequest(f"a compare needs an int, got {compare.value!r}")
        encoded[_COMPARE_FIELDS[compare.target]] = compare.value
    return encoded


def encode_op(op: t.Op) -> dict[str, Any]:
    """A txn operation as a gateway ``RequestOp``; InvalidRequest for anything else."""
    if isinstance(op, t.Put):
        key_range(op.key, None, False)
        if not isinstance(op.value, bytes):
            raise errors.InvalidRequest(f"value must be bytes, got {type(op.value).__name__}")
        put: dict[str, Any] = {"key": b64(op.key), "value": b64(op.value)}
        if op.lease:
            put["lease"] = op.lease
        if op.prev_kv:
            put["prev_kv"] = True
        return {"request_put": put}
    if isinstance(op, t.Delete):
        key, end = key_range(op.key, op.range_end, op.prefix)
        delete: dict[str, Any] = {"key": b64(key)}
        if end is not None:
            delete["range_end"] = b64(end)
        if op.prev_kv:
            delete["prev_kv"] = True
        return {"request_delete_range": delete}
    if isinstance(op, t.Get):
        key, end = key_range(op.key, op.range_end, op.prefix)
        return {"request_range": range_request(key, end, op.limit, 0, op.count_only, op.keys_only)}
    raise errors.InvalidRequest(f"not a transaction operation: {op!r}")


class Endpoint:
    """One etcd member's client URL."""

    __slots__ = ("host", "port", "tls", "url")

    def __init__(self, url: str) -> None:
        if not isinstance(url, str):
            raise errors.InvalidRequest(f"an etcd endpoint must be a URL string, got {url!r}")
        parsed = parse.urlsplit(url if "://" in url else "http://" + url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise errors.InvalidRequest(
                f"an etcd endpoint must be an http:// or https:// URL, got {url!r}"
            )
        if parsed.path.strip("/") or parsed.query:
            raise errors.InvalidRequest(f"an etcd endpoint has no path or query, got {url!r}")
        self.tls = parsed.scheme == "https"
        self.host = parsed.hostname
        try:
            port = parsed.port
        except ValueError as exc:
            raise errors.InvalidRequest(f"bad port in etcd endpoint {url!r}") from exc
        self.port = port or (443 if self.tls else 2379)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{parsed.scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        return self.url


class Endpoints:
    """The members to talk to, with the one that answered last first."""

    def __init__(
        self, urls: Sequence[str] | str, *, tls: ssl.SSLContext | None, timeout: float
    ) -> None:
        if isinstance(urls, str):
            urls = (urls,)
        self.members = tuple(Endpoint(url) for url in urls)
        if not self.members:
            raise errors.InvalidRequest("EtcdStore needs at least one endpoint")
        if timeout <= 0:
            raise errors.InvalidRequest(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._tls = tls
        self.active = 0

    def ssl_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def in_order(self) -> Iterator[tuple[int, Endpoint]]:
        """Every member once, starting with the active one."""
        count = len(self.members)
        for step in range(count):
            index = (self.active + step) % count
            yield index, self.members[index]

    def __repr__(self) -> str:
        return ",".join(member.url for member in self.members)


# -- HTTP/1.1 ------------------------------------------------------------------------------


class Broken(Exception):
    """A connection could not be made, or broke; ``sent`` tells if the request may have
    reached etcd (then a write must not be retried)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


BROKEN = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,  # also ssl errors and TimeoutError
    h11.ProtocolError,  # a malformed or cut-off message, or a connection h11 gave up on
)
_MAX_HEAD = 64 * 1024
_READ_SIZE = 64 * 1024
_MAX_HEADS = 4096
_CLOSED = "the member closed the connection before its answer"
# h11 validates every header of every request: send only what etcd needs
_JSON_HEADERS = ((b"Content-Type", b"application/json"),)


class Connection:
    """One HTTP/1.1 connection to a member: h11 frames the messages, the anyio stream moves
    the bytes.

    :meth:`exchange` is one whole request and response. A stream sends h11 events with
    :meth:`send` (the request head, then body pieces) and reads the response with
    :meth:`read_head` and :meth:`body_piece`; both sides may be in the middle of their message
    at once (the watch keeps sending while it reads).
    """

    __slots__ = ("_h11", "_host", "_socket", "member", "stream")

    def __init__(self, member: Endpoint, stream: anyio.abc.ByteStream) -> None:
        self.member = member
        self.stream = stream
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self._host = (b"Host", f"{member.host}:{member.port}".encode("idna"))
        self._socket = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)

    @classmethod
    async def connect(cls, member: Endpoint, endpoints: Endpoints) -> Connection:
        """Raises Broken (not sent) when the member cannot be reached in time."""
        try:
            with anyio.fail_after(endpoints.timeout):
                if member.tls:
                    stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                        member.host,
                        member.port,
                        ssl_context=endpoints.ssl_context(),
                        tls_standard_compatible=False,
                    )
                else:
                    stream = await anyio.connect_tcp(member.host, member.port)
        except OSError as exc:  # TimeoutError included
            raise Broken(f"cannot connect to {member.url}: {exc!r}", sent=False) from exc
        return cls(member, stream)

    def request(self, target: bytes, headers: Sequence[tuple[bytes, bytes]]) -> h11.Request:
        """The head of a JSON POST of ``target`` to this member, with ``headers`` added."""
        return h11.Request(
            method=b"POST", target=target, headers=[self._host, *_JSON_HEADERS, *headers]
        )

    async def send(self, *events: h11.Event) -> None:
        """Send ``events`` (a request head, body data, its end) in one write."""
        send = self._h11.send
        await self.stream.send(b"".join([send(event) or b"" for event in events]))

    async def exchange(self, head: h11.Request, body: bytes) -> tuple[int, bytes]:
        """Send ``head`` (with the Content-Length of ``body``) and ``body``, read the whole
        response; returns (status, response body)."""
        await self.send(head, h11.Data(data=body), h11.EndOfMessage())
        # read_head + read_body as one loop: fewer coroutines on every call's path
        connection = self._h11
        status = 0
        pieces: list[bytes] = []
        while True:
            event = connection.next_event()
            if isinstance(event, h11.Data):
                pieces.append(event.data)
            elif event is h11.NEED_DATA:
                await self._receive()
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                return status, b"".join(pieces)
            elif not isinstance(event, h11.InformationalResponse):
                raise _unexpected(event)

    async def _receive(self) -> None:
        """Feed h11 what the stream has next."""
        try:
            data = await self.stream.receive(_READ_SIZE)
        except anyio.EndOfStream as exc:
            if self._h11.their_state is not h11.SEND_BODY:
                raise anyio.EndOfStream(_CLOSED) from exc
            data = b""  # h11 tells a body delimited by the close from a cut one
        self._h11.receive_data(data)

    async def _next_event(self) -> h11.Event:
        connection = self._h11
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                await self._receive()
            elif isinstance(event, h11.Event) and not isinstance(event, h11.ConnectionClosed):
                return event
            else:
                raise _unexpected(event)

    async def read_head(self) -> int:
        """Read a response's status line and headers (after any ``100 Continue``); its status."""
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Response):
                return event.status_code
            if not isinstance(event, h11.InformationalResponse):
                raise _unexpected(event)

    async def body_piece(self) -> bytes | None:
        """The next piece of the response body, or None at its end."""
        event = await self._next_event()
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            return None
        raise _unexpected(event)

    async def read_body(self) -> bytes:
        pieces = []
        while (piece := await self.body_piece()) is not None:
            pieces.append(piece)
        return b"".join(pieces)

    def start_next_cycle(self) -> bool:
        """After a whole request and response: ready the connection for the next request;
        False if it cannot take one (``Connection: close``, HTTP/1.0, an error)."""
        connection = self._h11
        if connection.our_state is h11.DONE and connection.their_state is h11.DONE:
            connection.start_next_cycle()
            return True
        return False

    def is_stale(self) -> bool:
        """An idle connection with something to read has been closed by the server."""
        if self._h11.trailing_data[0]:
            return True
        sock = self._socket
        if sock is None:
            return False
        try:
            # poll, not select: select fails for descriptors above FD_SETSIZE (1024)
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    async def aclose(self) -> None:
        await anyio.aclose_forcefully(self.stream)


def _unexpected(event: object) -> Exception:
    if isinstance(event, h11.ConnectionClosed):
        return anyio.EndOfStream(_CLOSED)
    # PAUSED: a read past the end of the response, a bug of ours
    return h11.RemoteProtocolError(f"unexpected in a response: {event!r}")


class Pool:
    """Keep-alive connections per member, at most ``max_connections`` in use at once."""

    def __init__(self, endpoints: Endpoints, max_connections: int) -> None:
        if max_connections < 1:
            raise errors.InvalidRequest(f"max_connections must be positive, got {max_connections}")
        self.endpoints = endpoints
        self._max = max_connections
        self._limiter: anyio.Semaphore | None = None  # made on first use, in the event loop
        self._idle: list[list[Connection]] = [[] for _ in endpoints.members]
        # h11 validates a request head when it is made, a cost on every call: a head depends
        # only on the member, path and body length, so each is made once (bounded cache)
        self._heads: dict[tuple[int, str, int], h11.Request] = {}
        self.closed = False

    async def request(self, index: int, path: str, body: bytes, *, read: bool) -> tuple[int, bytes]:
        """POST ``body`` to member ``index``; returns (status, response body).

        A reused connection that breaks before any answer is retried once on a new one for
        reads. Raises Broken.
        """
        if self._limiter is None:
            # fast_acquire: no extra trip through the event loop; the request awaits I/O anyway
            self._limiter = anyio.Semaphore(self._max, fast_acquire=True)
        head = self._heads.get((index, path, len(body)))
        async with self._limiter:
            for attempt in (0, 1):
                conn = await self._take(index)
                reused = conn is not None
                if conn is None:
                    conn = await Connection.connect(self.endpoints.members[index], self.endpoints)
                if head is None:
                    head = self._head(index, conn, path, len(body))
                try:
                    # a bare deadline scope: fail_after's generator costs ~3 µs a call here
                    deadline = anyio.current_time() + self.endpoints.timeout
                    with anyio.CancelScope(deadline=deadline) as scope:
                        status, data = await conn.exchange(head, body)
                    if scope.cancelled_caught:
                        raise TimeoutError(f"no answer in {self.endpoints.timeout} s")
                except BROKEN as exc:
                    await conn.aclose()
                    if reused and read and attempt == 0 and not isinstance(exc, TimeoutError):
                        continue
                    raise Broken(f"{conn.member.url}{path}: {exc!r}", sent=True) from exc
                except BaseException:
                    await conn.aclose()
                    raise
                await self._give(index, conn)
                return status, data
        raise AssertionError("unreachable")  # pragma: no cover

    def _head(self, index: int, conn: Connection, path: str, length: int) -> h11.Request:
        if len(self._heads) >= _MAX_HEADS:
            self._heads.clear()
        content_length = (b"Content-Length", b"%d" % length)
        head = conn.request(path.encode("ascii"), (content_length,))
        self._heads[(index, path, length)] = head
        return head

    async def _take(self, index: int) -> Connection | None:
        idle = self._idle[index]
        while idle:
            conn = idle.pop()
            if not conn.is_stale():
                return conn
            await conn.aclose()
        return None

    async def _give(self, index: int, conn: Connection) -> None:
        if conn.start_next_cycle() and not self.closed:
            self._idle[index].append(conn)
        else:
            await conn.aclose()

    async def aclose(self) -> None:
        self.closed = True
        for idle in self._idle:
            while idle:
                await idle.pop().aclose()
