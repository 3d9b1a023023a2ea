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

:class:`Connection` is a minimal HTTP/1.1 client connection (keep-alive, Content-Length or
chunked bodies) and :class:`Pool` keeps idle ones per member. Why not httpx: on this path
every microsecond is a put/s — a keep-alive POST through ``httpx.AsyncClient`` measured
about 1.6 ms per call against a local etcd, the same request on a bare socket 0.5 ms (the
gateway's own cost) — and the watch needs a full-duplex request body that httpx cannot send
(see :mod:`korch.store._etcd_watch`). The gateway speaks plain HTTP/1.1 with JSON, so the
client is small: a request is one ``send``, a response a head and a body.
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
from anyio.streams.buffered import BufferedByteReceiveStream

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
    "decode_event",
    "decode_kv",
    "decode_kvs",
    "error_message",
    "key_range",
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
    """Validate a request's key selection and normalise it to etcd's ``(key, range_end)``.

    An empty key with ``prefix`` (or with ``range_end``) starts at ``b"\\x00"``, the smallest
    key, as etcd's clients do: the gateway refuses an empty key.

    Raises:
        korch.errors.InvalidRequest: a key that is not bytes, or both prefix and range_end.
    """
    if not isinstance(key, bytes):
        raise errors.InvalidRequest(f"key must be bytes, got {type(key).__name__}: {key!r}")
    if prefix:
        if range_end is not None:
            raise errors.InvalidRequest("give either prefix=True or a range_end, not both")
        return key or b"\x00", t.prefix_end(key)
    if range_end is not None:
        if not isinstance(range_end, bytes):
            raise errors.InvalidRequest(
                f"range_end must be bytes, got {type(range_end).__name__}: {range_end!r}"
            )
        return key or b"\x00", range_end
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
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.DelimiterNotFound,
    OSError,  # also ssl errors and TimeoutError
    ValueError,  # a malformed head or chunk size
)
_MAX_HEAD = 64 * 1024


class Connection:
    """One HTTP/1.1 connection to a member: send requests, read response heads and bodies."""

    def __init__(self, member: Endpoint, stream: anyio.abc.ByteStream) -> None:
        self.member = member
        self.stream = stream
        self._reader = BufferedByteReceiveStream(stream)
        self._socket = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        self._chunked = False
        self._remaining = 0  # bytes left of a Content-Length body; -1: until the socket closes
        self.reusable = False

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

    def is_stale(self) -> bool:
        """An idle connection with something to read has been closed by the server."""
        if self._reader.buffer:
            return True
        sock = self._socket
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    async def read_head(self) -> int:
        """Read a response's status line and headers; returns the status."""
        raw = await self._reader.receive_until(b"\r\n\r\n", _MAX_HEAD)
        lines = raw.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.1 response: {lines[0][:80]!r}")
        status = int(parts[1])
        self._chunked = False
        self._remaining = -1
        self.reusable = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self._remaining = int(value)
            elif name == b"transfer-encoding":
                self._chunked = b"chunked" in value.lower()
            elif name == b"connection" and b"close" in value.lower():
                self.reusable = False
        if self._chunked:
            self._remaining = 0
        elif self._remaining < 0:
            self.reusable = False
        return status

    async def body_piece(self) -> bytes | None:
        """The next piece of the response body, or None at its end."""
        reader = self._reader
        if self._chunked:
            size_line = await reader.receive_until(b"\r\n", 1024)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while await reader.receive_until(b"\r\n", _MAX_HEAD):
                    pass  # trailers
                self._chunked = False
                return None
            data = await reader.receive_exactly(size)
            await reader.receive_exactly(2)
            return data
        if self._remaining == 0:
            return None
        if self._remaining > 0:
            data = await reader.receive_exactly(self._remaining)
            self._remaining = 0
            return data
        if reader.buffer:
            data = bytes(reader.buffer)
            await reader.receive_exactly(len(data))
            return data
        try:
            return await reader.receive()
        except anyio.EndOfStream:
            self._remaining = 0
            return None

    async def read_body(self) -> bytes:
        pieces = []
        while (piece := await self.body_piece()) is not None:
            pieces.append(piece)
        return b"".join(pieces)

    async def aclose(self) -> None:
        self.reusable = False
        await anyio.aclose_forcefully(self.stream)


class Pool:
    """Keep-alive connections per member, at most ``max_connections`` in use at once."""

    def __init__(self, endpoints: Endpoints, max_connections: int) -> None:
        if max_connections < 1:
            raise errors.InvalidRequest(f"max_connections must be positive, got {max_connections}")
        self.endpoints = endpoints
        self._max = max_connections
        self._limiter: anyio.Semaphore | None = None  # made on first use, in the event loop
        self._idle: list[list[Connection]] = [[] for _ in endpoints.members]
        self._heads: dict[tuple[int, str], bytes] = {}
        self.closed = False

    def _head(self, index: int, path: str) -> bytes:
        head = self._heads.get((index, path))
        if head is None:
            member = self.endpoints.members[index]
            head = self._heads[(index, path)] = (
                f"POST {path} HTTP/1.1\r\nHost: {member.host}:{member.port}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
                "Content-Length: "
            ).encode("ascii")
        return head

    async def request(self, index: int, path: str, body: bytes, *, read: bool) -> tuple[int, bytes]:
        """POST ``body`` to member ``index``; returns (status, response body).

        A reused connection that breaks before any answer is retried once on a new one for
        reads. Raises Broken.
        """
        if self._limiter is None:
            self._limiter = anyio.Semaphore(self._max)
        message = b"%s%d\r\n\r\n%s" % (self._head(index, path), len(body), body)
        async with self._limiter:
            for attempt in (0, 1):
                conn = await self._take(index)
                reused = conn is not None
                if conn is None:
                    conn = await Connection.connect(self.endpoints.members[index], self.endpoints)
                try:
                    with anyio.fail_after(self.endpoints.timeout):
                        await conn.stream.send(message)
                        status = await conn.read_head()
                        data = await conn.read_body()
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

    async def _take(self, index: int) -> Connection | None:
        idle = self._idle[index]
        while idle:
            conn = idle.pop()
            if not conn.is_stale():
                return conn
            await conn.aclose()
        return None

    async def _give(self, index: int, conn: Connection) -> None:
        if conn.reusable and not self.closed:
            self._idle[index].append(conn)
        else:
            await conn.aclose()

    async def aclose(self) -> None:
        self.closed = True
        for idle in self._idle:
            while idle:
                await idle.pop().aclose()
