"""The in-memory MVCC engine behind MemoryStore and SQLiteStore.

Pure and synchronous: it applies puts, deletes, transactions, lease grants/revokes and
compactions to an in-memory keyspace and tells the caller what changed; the stores add
durability (SQLiteStore) and wake watchers. Keeping it synchronous makes every operation
atomic on the event loop without locks, and keeps the per-put cost to a few dict and list
operations.

State:

* ``current`` — live key → its latest :class:`KeyValue`; ``live_keys`` — the same keys, sorted,
  for ranges;
* ``history`` — key → superseded versions, oldest first, a deletion recorded as a tombstone
  (``version == 0``). Only kept with ``keep_history`` (MemoryStore); SQLiteStore reads past
  revisions from its database instead;
* ``log`` — the events of every revision from ``log_base`` on (every revision has at least one
  event: a write that changes nothing does not take a revision). Watchers read it; it is the
  watch history of MemoryStore and a bounded window of it for SQLiteStore;
* leases — id → :class:`LeaseState`, with a heap of deadlines on the injected clock.

Invariants: ``revision`` is the last revision written; every key of ``current`` has
``create_revision ≤ mod_revision ≤ revision``; ``log[i]`` holds the events of revision
``log_base + i``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator, Sequence

import attrs
from sortedcontainers import SortedList

from korch import errors
from korch.store import _types as t

__all__ = ("Engine", "LeaseState", "in_range")

_TOMBSTONE_VERSION = 0


def in_range(k: bytes, key: bytes, end: bytes | None) -> bool:
    if end is None:
        return k == key
    if end == b"\x00":
        return k >= key
    return key <= k < end


@attrs.define(slots=True)
class LeaseState:
    id: int
    ttl: int
    deadline: float
    keys: set[bytes] = attrs.field(factory=set)


class Engine:
    """The keyspace. Methods raise korch errors for bad requests and never half-apply."""

    def __init__(self, *, keep_history: bool, log_window: int = 0) -> None:
        self.keep_history = keep_history
        # 0 keeps the whole log (until compaction); otherwise only the last `log_window` revisions
        self.log_window = log_window
        self.revision = 1  # as in etcd, a new keyspace is at revision 1
        self.compact_revision = 0
        self.current: dict[bytes, t.KeyValue] = {}
        self._sorted_keys: SortedList = SortedList()
        # keys created since the sorted index was last used: merged in bulk on the next
        # range, so a put of a new key costs a set insert instead of a sorted insert
        self._new_keys: set[bytes] = set()
        self.history: dict[bytes, list[t.KeyValue]] = {}
        self.log: list[tuple[t.Event, ...]] = []
        self.log_base = 2  # the revision of log[0]
        self.leases: dict[int, LeaseState] = {}
        self.lease_heap: list[tuple[float, int]] = []
        self._random = random.Random()

    @property
    def live_keys(self) -> SortedList:
        """The live keys, sorted (merging keys created since the last call)."""
        if self._new_keys:
            self._sorted_keys.update(self._new_keys)
            self._new_keys.clear()
        return self._sorted_keys

    # -- reads ---------------------------------------------------------------------------

    def check_revision(self, revision: int) -> int:
        if revision <= 0:
            return self.revision
        if revision > self.revision:
            raise errors.FutureRevision(revision, self.revision)
        if revision < self.compact_revision:
            raise errors.Compacted(revision, self.compact_revision)
        return revision

    def get_at(self, key: bytes, revision: int) -> t.KeyValue | None:
        """The version of ``key`` visible at ``revision`` (already checked)."""
        kv = self.current.get(key)
        if kv is not None and kv.mod_revision <= revision:
            return kv
        for old in reversed(self.history.get(key, ())):
            if old.mod_revision <= revision:
                return None if old.version == _TOMBSTONE_VERSION else old
        return None

    def range(
        self, key: bytes, end: bytes | None, revision: int, limit: int, count_only: bool = False
    ) -> t.RangeResult:
        """Keys in ``[key, end)`` (or ``key`` alone) at ``revision`` (0: current)."""
        rev = self.check_revision(revision)
        if end is None:
            kv = self.get_at(key, rev)
            kvs = () if kv is None or count_only else (kv,)
            return t.RangeResult(kvs, False, 0 if kv is None else 1, self.revision)
        if rev == self.revision:
            keys = self.live_keys
            lo = keys.bisect_left(key)
            hi = len(keys) if end == b"\x00" else keys.bisect_left(end)
            count = max(0, hi - lo)
            if count_only:
                return t.RangeResult((), False, count, self.revision)
            stop = hi if limit <= 0 else min(hi, lo + limit)
            current = self.current
            found = tuple(current[k] for k in keys.islice(lo, stop))
            return t.RangeResult(found, stop < hi, count, self.revision)
        candidates = sorted(
            set(self._keys_in(key, end)) | {k for k in self.history if in_range(k, key, end)}
        )
        matched = [kv for kv in (self.get_at(k, rev) for k in candidates) if kv is not None]
        count = len(matched)
        if count_only:
            return t.RangeResult((), False, count, self.revision)
        if limit > 0 and count > limit:
            return t.RangeResult(tuple(matched[:limit]), True, count, self.revision)
        return t.RangeResult(tuple(matched), False, count, self.revision)

    def _keys_in(self, key: bytes, end: bytes | None) -> Iterator[bytes]:
        if end is None:
            if key in self.current:
                yield key
            return
        maximum = None if end == b"\x00" else end
        yield from self.live_keys.irange(key, maximum, inclusive=(True, False))

    # -- writes --------------------------------------------------------------------------

    def _commit(self, events: list[t.Event]) -> None:
        self.log.append(tuple(events))
        if self.log_window and len(self.log) > 2 * self.log_window:
            drop = len(self.log) - self.log_window
            del self.log[:drop]
            self.log_base += drop

    def put(self, key: bytes, value: bytes, lease: int = 0) -> tuple[int, t.KeyValue | None]:
        """Apply a put at a new revision; returns ``(revision, previous version or None)``."""
        if lease and lease not in self.leases:
            raise errors.LeaseNotFound(lease)
        rev = self.revision + 1
        prev = self.current.get(key)
        self._put(key, value, lease, rev, prev)
        self.revision = rev
        self._commit([t.Event(t.EventType.PUT, self.current[key], prev)])
        return rev, prev

    def _put(self, key: bytes, value: bytes, lease: int, rev: int, prev: t.KeyValue | None) -> None:
        if prev is None:
            kv = t.KeyValue(key, value, rev, rev, 1, lease)
            self._new_keys.add(key)
        else:
            kv = t.KeyValue(key, value, prev.create_revision, rev, prev.version + 1, lease)
            if self.keep_history:
                self.history.setdefault(key, []).append(prev)
            if prev.lease and prev.lease != lease:
                state = self.leases.get(prev.lease)
                if state is not None:
                    state.keys.discard(key)
        self.current[key] = kv
        if lease:
            self.leases[lease].keys.add(key)

    def _delete_keys(
        self, keys: Iterable[bytes], rev: int, events: list[t.Event]
    ) -> list[t.KeyValue]:
        removed = []
        for k in list(keys):
            prev = self.current.pop(k)
            if k in self._new_keys:
                self._new_keys.discard(k)
            else:
                self._sorted_keys.remove(k)
            tomb = t.KeyValue(k, b"", 0, rev, _TOMBSTONE_VERSION, 0)
            if self.keep_history:
                hist = self.history.setdefault(k, [])
                hist.append(prev)
                hist.append(tomb)
            if prev.lease:
                state = self.leases.get(prev.lease)
                if state is not None:
                    state.keys.discard(k)
            events.append(t.Event(t.EventType.DELETE, tomb, prev))
            removed.append(prev)
        return removed

    def delete(self, key: bytes, end: bytes | None) -> tuple[int, list[t.KeyValue]]:
        """Delete the keys in range; returns ``(revision, deleted versions)``.

        Deleting nothing takes no revision (the current one is returned), as in etcd.
        """
        keys = list(self._keys_in(key, end))
        if not keys:
            return self.revision, []
        rev = self.revision + 1
        events: list[t.Event] = []
        removed = self._delete_keys(keys, rev, events)
        self.revision = rev
        self._commit(events)
        return rev, removed

    def txn(
        self,
        compare: Sequence[t.CompareResult],
        success: Sequence[t.Op],
        failure: Sequence[t.Op],
    ) -> t.TxnResult:
        """Evaluate ``compare`` and apply one branch atomically at one revision."""
        try:
            ok = all(c.evaluate(self.current.get(c.key)) for c in compare)
        except TypeError as exc:
            raise errors.InvalidRequest(str(exc)) from exc
        ops = success if ok else failure
        self._check_ops(ops)
        rev = self.revision + 1
        events: list[t.Event] = []
        responses: list[t.PutResult | t.DeleteResult | t.RangeResult] = []
        for op in ops:
            if isinstance(op, t.Put):
                prev = self.current.get(op.key)
                self._put(op.key, op.value, op.lease, rev, prev)
                events.append(t.Event(t.EventType.PUT, self.current[op.key], prev))
                responses.append(t.PutResult(rev, prev if op.prev_kv else None))
            elif isinstance(op, t.Delete):
                key, end = t.key_range(op.key, op.range_end, op.prefix)
                removed = self._delete_keys(self._keys_in(key, end), rev, events)
                responses.append(
                    t.DeleteResult(rev, len(removed), tuple(removed) if op.prev_kv else ())
                )
            else:
                key, end = t.key_range(op.key, op.range_end, op.prefix)
                # reads inside a transaction see its earlier writes (etcd reads at rev + 1):
                # the current state already holds them
                result = self.range(key, end, 0, op.limit, op.count_only)
                if op.keys_only:
                    result = attrs.evolve(
                        result, kvs=tuple(attrs.evolve(kv, value=b"") for kv in result.kvs)
                    )
                responses.append(result)
        if events:
            self.revision = rev
            self._commit(events)
        revision = self.revision
        fixed = tuple(
            attrs.evolve(r, revision=revision) if isinstance(r, t.RangeResult) else r
            for r in responses
        )
        return t.TxnResult(ok, revision, fixed)

    def _check_ops(self, ops: Sequence[t.Op]) -> None:
        written: set[bytes] = set()
        ranges: list[tuple[bytes, bytes | None]] = []
        for op in ops:
            if isinstance(op, t.Put):
                if op.key in written or any(in_range(op.key, k, e) for k, e in ranges):
                    raise errors.InvalidRequest(f"duplicate key given in txn request: {op.key!r}")
                if op.lease and op.lease not in self.leases:
                    raise errors.LeaseNotFound(op.lease)
                written.add(op.key)
            elif isinstance(op, t.Delete):
                key, end = t.key_range(op.key, op.range_end, op.prefix)
                if any(in_range(k, key, end) for k in written):
                    raise errors.InvalidRequest(f"duplicate key given in txn request: {op.key!r}")
                ranges.append((key, end))
            elif not isinstance(op, t.Get):
                raise errors.InvalidRequest(f"not a transaction operation: {op!r}")

    # -- leases --------------------------------------------------------------------------

    def grant(self, ttl: int, lease_id: int, now: float) -> LeaseState:
        if ttl <= 0:
            raise errors.InvalidRequest(f"lease TTL must be positive, got {ttl}")
        if lease_id < 0:
            raise errors.InvalidRequest(f"lease ID must be positive, got {lease_id}")
        if lease_id == 0:
            lease_id = self._random.randrange(1, 2**62)
            while lease_id in self.leases:
                lease_id = self._random.randrange(1, 2**62)
        elif lease_id in self.leases:
            raise errors.InvalidRequest(f"lease {lease_id} already exists")
        state = LeaseState(lease_id, ttl, now + ttl)
        self.leases[lease_id] = state
        heapq.heappush(self.lease_heap, (state.deadline, lease_id))
        return state

    def keepalive(self, lease_id: int, now: float) -> int:
        state = self.leases.get(lease_id)
        if state is None:
            raise errors.LeaseNotFound(lease_id)
        state.deadline = now + state.ttl
        heapq.heappush(self.lease_heap, (state.deadline, lease_id))
        return state.ttl

    def revoke(self, lease_id: int) -> int:
        """Drop the lease and delete its keys at one revision; returns the revision."""
        state = self.leases.pop(lease_id, None)
        if state is None:
            raise errors.LeaseNotFound(lease_id)
        if not state.keys:
            return self.revision
        rev = self.revision + 1
        events: list[t.Event] = []
        self._delete_keys(sorted(state.keys), rev, events)
        self.revision = rev
        self._commit(events)
        return rev

    def next_expiry(self) -> float | None:
        heap = self.lease_heap
        while heap:
            deadline, lease_id = heap[0]
            state = self.leases.get(lease_id)
            if state is not None and state.deadline == deadline:
                return deadline
            heapq.heappop(heap)  # stale entry: renewed or revoked since
        return None

    def expired(self, now: float) -> list[int]:
        """Leases whose deadline has passed (the caller revokes them)."""
        due: list[int] = []
        while True:
            deadline = self.next_expiry()
            if deadline is None or deadline > now:
                return due
            _, lease_id = heapq.heappop(self.lease_heap)
            due.append(lease_id)
            self.leases[lease_id].deadline = float("inf")

    # -- compaction ----------------------------------------------------------------------

    def compact(self, revision: int) -> None:
        """Forget every version superseded at ``revision`` and the log before it."""
        if revision <= self.compact_revision:
            raise errors.Compacted(revision, self.compact_revision)
        if revision > self.revision:
            raise errors.FutureRevision(revision, self.revision)
        self.compact_revision = revision
        for key in list(self.history):
            hist = self.history[key]
            cur = self.current.get(key)
            if cur is not None and cur.mod_revision <= revision:
                del self.history[key]
                continue
            n = 0
            while n < len(hist) and hist[n].mod_revision <= revision:
                n += 1
            keep_from = n - 1 if n and hist[n - 1].version != _TOMBSTONE_VERSION else n
            if keep_from > 0:
                del hist[:keep_from]
            if not hist:
                del self.history[key]
        self.trim_log(revision)

    def trim_log(self, revision: int) -> None:
        if revision > self.log_base:
            drop = min(len(self.log), revision - self.log_base)
            del self.log[:drop]
            self.log_base += drop

    def events_between(self, start: int, stop: int) -> Sequence[tuple[t.Event, ...]]:
        """The logged events of revisions ``start`` to ``stop`` inclusive (both in the log)."""
        base = self.log_base
        return self.log[start - base : stop - base + 1]
