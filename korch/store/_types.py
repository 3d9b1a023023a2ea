"""The store contract: values, operations and the :class:`Store` protocol.

Semantics are etcd's (v3 API), so code written against one backend runs on any:

* one global ``revision``, +1 for every put, every delete that removes something and every
  transaction that writes; a transaction's writes all share its one revision;
* per key: ``create_revision`` (revision of the put that created it since its last
  deletion), ``mod_revision`` (revision of its last change) and ``version`` (number of
  puts since creation; a delete resets it to 0);
* reads may ask for a past ``revision``; below the compaction point they raise
  :class:`korch.errors.Compacted`, above the current one :class:`korch.errors.FutureRevision`;
* ``watch(start_revision=N)`` delivers every event with revision ≥ N (etcd's inclusive start;
  ``0`` means "from now"), in revision order, exactly once, a transaction's events together.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import attrs

from korch import errors

__all__ = (
    "Compare",
    "CompareResult",
    "CompareTarget",
    "Delete",
    "DeleteResult",
    "Event",
    "EventType",
    "Get",
    "KeyValue",
    "Lease",
    "LeaseStatus",
    "Op",
    "Put",
    "PutResult",
    "RangeResult",
    "Store",
    "TxnResult",
    "WatchResponse",
    "WatchStream",
    "key_range",
    "prefix_end",
)


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix`` (etcd's rule).

    ``b"/a/"`` → ``b"/a0"``; an empty prefix or one of only ``0xff`` bytes selects every key
    from ``prefix`` on, returned as ``b"\\x00"`` (etcd's "to the end" marker).
    """
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"


def key_range(key: bytes, range_end: bytes | None, prefix: bool) -> tuple[bytes, bytes | None]:
    """Check a request's key selection and normalise it to ``(key, range_end)``.

    ``range_end`` ``None`` selects ``key`` alone; ``b"\x00"`` every key ≥ ``key`` (etcd's
    convention); ``prefix=True`` every key under ``key``.

    Raises:
        korch.errors.InvalidRequest: a key or range_end that is not bytes, or both
            ``prefix`` and ``range_end``.
    """
    if not isinstance(key, bytes):
        raise errors.InvalidRequest(f"key must be bytes, got {type(key).__name__}: {key!r}")
    if prefix:
        if range_end is not None:
            raise errors.InvalidRequest("give either prefix=True or a range_end, not both")
        return key, prefix_end(key)
    if range_end is not None and not isinstance(range_end, bytes):
        raise errors.InvalidRequest(
            f"range_end must be bytes, got {type(range_end).__name__}: {range_end!r}"
        )
    return key, range_end


@attrs.frozen(slots=True)
class KeyValue:
    """One version of a key. ``lease`` is 0 when the key has no lease."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@attrs.frozen(slots=True)
class PutResult:
    revision: int
    prev_kv: KeyValue | None = None


@attrs.frozen(slots=True)
class DeleteResult:
    revision: int
    deleted: int
    prev_kvs: tuple[KeyValue, ...] = ()


@attrs.frozen(slots=True)
class RangeResult:
    """``kvs`` in key order; ``more`` when ``limit`` cut the answer; ``count`` of all matches."""

    kvs: tuple[KeyValue, ...]
    more: bool
    count: int
    revision: int


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@attrs.frozen(slots=True)
class Event:
    """A change of one key.

    For ``DELETE``, ``kv`` has the key, an empty value, ``version`` 0 and ``mod_revision`` set
    to the deleting revision (as etcd reports it); ``prev_kv`` is the deleted version when the
    watch asked for ``prev_kv``.
    """

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@attrs.frozen(slots=True)
class WatchResponse:
    """One delivery to a watcher: the events of one or more whole revisions, in order.

    ``revision`` is the store revision the watcher is now current to. A response with no
    events is a progress notification (a bookmark): nothing under the watched keys changed up
    to ``revision``.
    """

    events: tuple[Event, ...]
    revision: int

    @property
    def is_progress_notify(self) -> bool:
        return not self.events


# -- transactions -------------------------------------------------------------------------


class CompareTarget(enum.Enum):
    VALUE = "VALUE"
    VERSION = "VERSION"
    CREATE = "CREATE"
    MOD = "MOD"
    LEASE = "LEASE"


CompareOp: TypeAlias = Literal["==", "!=", "<", ">"]


@attrs.frozen(slots=True)
class CompareResult:
    """A condition of a transaction: ``target`` of ``key`` ``op`` ``value``.

    A missing key has version, create and mod revision 0, lease 0 and no value (a value
    compare on a missing key is false, as in etcd).
    """

    key: bytes
    target: CompareTarget
    op: CompareOp
    value: int | bytes

    def evaluate(self, kv: KeyValue | None) -> bool:
        """Whether the condition holds for the key's current version ``kv``."""
        actual: int | bytes
        if self.target is CompareTarget.VALUE:
            if kv is None:
                return False
            actual = kv.value
        elif kv is None:
            actual = 0
        elif self.target is CompareTarget.VERSION:
            actual = kv.version
        elif self.target is CompareTarget.CREATE:
            actual = kv.create_revision
        elif self.target is CompareTarget.MOD:
            actual = kv.mod_revision
        else:
            actual = kv.lease
        expected = self.value
        if type(actual) is not type(expected):
            raise TypeError(f"cannot compare {self.target.value} with {expected!r}")
        if self.op == "==":
            return actual == expected
        if self.op == "!=":
            return actual != expected
        if self.op == "<":
            return actual < expected  # type: ignore[operator]
        return actual > expected  # type: ignore[operator]


@attrs.frozen(slots=True)
class _CompareBuilder:
    key: bytes
    target: CompareTarget

    def _make(self, op: CompareOp, other: object) -> CompareResult:
        if self.target is CompareTarget.VALUE:
            if not isinstance(other, bytes):
                raise TypeError(f"a value compare needs bytes, got {other!r}")
        elif not isinstance(other, int) or isinstance(other, bool):
            raise TypeError(f"a {self.target.value.lower()} compare needs an int, got {other!r}")
        return CompareResult(self.key, self.target, op, other)

    def __eq__(self, other: object) -> CompareResult:  # type: ignore[override]
        return self._make("==", other)

    def __ne__(self, other: object) -> CompareResult:  # type: ignore[override]
        return self._make("!=", other)

    def __lt__(self, other: object) -> CompareResult:
        return self._make("<", other)

    def __gt__(self, other: object) -> CompareResult:
        return self._make(">", other)

    __hash__ = None  # type: ignore[assignment]


class Compare:
    """Builders for transaction conditions: ``Compare.mod(b"/k") == 7``.

    ``Compare.version(key) == 0`` is the usual "key does not exist" test.
    """

    @staticmethod
    def value(key: bytes) -> _CompareBuilder:
        return _CompareBuilder(key, CompareTarget.VALUE)

    @staticmethod
    def version(key: bytes) -> _CompareBuilder:
        return _CompareBuilder(key, CompareTarget.VERSION)

    @staticmethod
    def create(key: bytes) -> _CompareBuilder:
        return _CompareBuilder(key, CompareTarget.CREATE)

    @staticmethod
    def mod(key: bytes) -> _CompareBuilder:
        return _CompareBuilder(key, CompareTarget.MOD)

    @staticmethod
    def lease(key: bytes) -> _CompareBuilder:
        return _CompareBuilder(key, CompareTarget.LEASE)


@attrs.frozen(slots=True)
class Put:
    key: bytes
    value: bytes
    lease: int = 0
    prev_kv: bool = False


@attrs.frozen(slots=True)
class Get:
    """A range read inside a transaction (reads see the state before the transaction's writes
    that come after it in the op list, exactly as etcd applies ops in order)."""

    key: bytes
    range_end: bytes | None = None
    prefix: bool = False
    limit: int = 0
    count_only: bool = False
    keys_only: bool = False


@attrs.frozen(slots=True)
class Delete:
    key: bytes
    range_end: bytes | None = None
    prefix: bool = False
    prev_kv: bool = False


Op: TypeAlias = Put | Get | Delete


@attrs.frozen(slots=True)
class TxnResult:
    """``succeeded`` tells which branch ran; ``responses`` has one result per op of it."""

    succeeded: bool
    revision: int
    responses: tuple[PutResult | DeleteResult | RangeResult, ...]


# -- leases ------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Lease:
    id: int
    ttl: int


@attrs.frozen(slots=True)
class LeaseStatus:
    """``ttl`` is the remaining time to live in whole seconds (-1: expired or missing)."""

    id: int
    ttl: int
    granted_ttl: int
    keys: tuple[bytes, ...] = ()


# -- the contract ------------------------------------------------------------------------


class WatchStream(Protocol):
    """An open watch: iterate events, or whole responses with :meth:`responses`."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    def responses(self) -> AsyncIterator[WatchResponse]:
        """Deliveries as they come, including progress notifications (empty responses)."""
        ...

    @property
    def revision(self) -> int:
        """The revision this stream is known to be current to (after the last delivery)."""
        ...

    async def request_progress(self) -> None:
        """Ask for a progress notification now (etcd's RequestProgress)."""
        ...


@runtime_checkable
class Store(Protocol):
    """A watchable key-value store with etcd's semantics (see the module docstring).

    Backends: :class:`korch.store.MemoryStore`, :class:`korch.store.SQLiteStore`,
    :class:`korch.store.EtcdStore`. ``korch.testing.store_conformance`` is the suite that
    every backend passes.
    """

    async def get(self, key: bytes, *, revision: int = 0) -> KeyValue | None: ...

    async def range(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        limit: int = 0,
        revision: int = 0,
        count_only: bool = False,
        keys_only: bool = False,
    ) -> RangeResult: ...

    async def put(
        self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False
    ) -> PutResult: ...

    async def delete(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        prev_kv: bool = False,
    ) -> DeleteResult: ...

    async def txn(
        self,
        compare: Sequence[CompareResult] = (),
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
    ) -> TxnResult: ...

    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> AbstractAsyncContextManager[WatchStream]: ...

    async def grant_lease(self, ttl: int, *, id: int = 0) -> Lease: ...

    async def keepalive(self, lease_id: int) -> int:
        """Renew the lease; returns its TTL. Raises LeaseNotFound if it is gone."""
        ...

    async def revoke(self, lease_id: int) -> None: ...

    async def time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseStatus: ...

    async def leases(self) -> tuple[int, ...]: ...

    async def compact(self, revision: int) -> None: ...

    async def current_revision(self) -> int: ...

    async def compact_revision(self) -> int: ...

    async def snapshot(self, path: str) -> None: ...

    async def close(self) -> None: ...
