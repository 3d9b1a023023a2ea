"""The in-process store: the Store contract over the engine, shared by Memory and SQLite.

:class:`LocalStore` runs every operation synchronously on the engine (atomic on the event
loop) and then awaits :meth:`LocalStore._commit`, where a backend makes the new revisions
durable before they are acknowledged and shown to watchers. MemoryStore commits at once;
SQLiteStore group-commits.

Background duties — lease expiry, automatic compaction (:class:`Retention`) and periodic
progress notifications — run in :meth:`LocalStore.run`, started by ``async with store:``.
Lease expiry is also checked lazily before every operation, so a store used without
``async with`` never serves a key whose lease has expired (its DELETE events are then
emitted on the next operation instead of on time).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

import anyio
import anyio.abc
import attrs

from korch import clock as clock_module
from korch import errors
from korch.store import _engine, _watch
from korch.store import _types as t

__all__ = ("LocalStore", "Retention")


@attrs.frozen
class Retention:
    """Automatic compaction: keep the last ``revisions`` revisions, or ``seconds`` of history.

    Like etcd's ``--auto-compaction-mode=revision|periodic``. Give exactly one.
    """

    revisions: int | None = None
    seconds: float | None = None

    def __attrs_post_init__(self) -> None:
        if (self.revisions is None) == (self.seconds is None):
            raise errors.InvalidRequest("Retention needs exactly one of revisions= or seconds=")
        if (self.revisions is not None and self.revisions < 1) or (
            self.seconds is not None and self.seconds <= 0
        ):
            raise errors.InvalidRequest(f"Retention must be positive: {self}")


class LocalStore:
    """Base of the in-process backends; see :class:`korch.store.Store` for the contract."""

    def __init__(
        self,
        engine: _engine.Engine,
        *,
        clock: clock_module.Clock | None,
        retention: Retention | None,
        progress_notify_interval: float,
        fetch: _watch.HistoryFetch | None = None,
    ) -> None:
        self._engine = engine
        self._clock: clock_module.Clock = clock or clock_module.SystemClock()
        self._retention = retention
        self._progress_interval = progress_notify_interval
        self._hub = _watch.WatchHub(engine, fetch=fetch)
        self._closed = False
        self._task_group: anyio.abc.TaskGroup | None = None
        self._maintenance_wakeup: anyio.Event | None = None
        # (monotonic time, revision) samples for time-based retention
        self._revision_samples: list[tuple[float, int]] = []

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group = self._task_group
        self._task_group = None
        try:
            if group is not None:
                group.cancel_scope.cancel()
                await group.__aexit__(exc_type, exc, tb)
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the store; open watches end with :class:`korch.errors.StoreClosed`."""
        self._closed = True
        self._hub.close()

    def _check_open(self) -> None:
        if self._closed:
            raise errors.StoreClosed("the store is closed")
        engine = self._engine
        if engine.lease_heap and engine.lease_heap[0][0] <= self._clock.monotonic():
            for lease_id in engine.expired(self._clock.monotonic()):
                self._on_lease_revoked(lease_id)
                engine.revoke(lease_id)
            self._after_expiry()

    async def run(self) -> None:
        """Expire leases, compact by retention and send progress notifications until
        cancelled (``async with store:`` runs this for you)."""
        next_progress = self._clock.monotonic() + self._progress_interval
        while not self._closed:
            now = self._clock.monotonic()
            self._check_open()
            await self._commit(self._engine.revision)
            self._apply_retention(now)
            if now >= next_progress:
                next_progress = now + self._progress_interval
                for watcher in list(self._hub.watchers):
                    if watcher.progress_notify:
                        watcher.request_progress_now()
            deadline = min(next_progress, self._engine.next_expiry() or next_progress)
            if self._retention is not None:
                deadline = min(deadline, now + 1.0)
            await self._sleep_or_wakeup(deadline)

    async def _sleep_or_wakeup(self, deadline: float) -> None:
        wakeup = self._maintenance_wakeup = anyio.Event()
        async with anyio.create_task_group() as group:

            async def sleep() -> None:
                await self._clock.sleep_until(deadline)
                group.cancel_scope.cancel()

            async def woken() -> None:
                await wakeup.wait()
                group.cancel_scope.cancel()

            group.start_soon(sleep)
            group.start_soon(woken)

    def _wake_maintenance(self) -> None:
        if self._maintenance_wakeup is not None:
            self._maintenance_wakeup.set()

    def _apply_retention(self, now: float) -> None:
        retention = self._retention
        engine = self._engine
        if retention is None:
            return
        target = 0
        if retention.revisions is not None:
            target = engine.revision - retention.revisions + 1
        elif retention.seconds is not None:
            samples = self._revision_samples
            if not samples or samples[-1][1] != engine.revision:
                samples.append((now, engine.revision))
            cutoff = now - retention.seconds
            while len(samples) > 1 and samples[1][0] <= cutoff:
                samples.pop(0)
            if samples and samples[0][0] <= cutoff:
                target = samples[0][1]
        if target > engine.compact_revision and target <= engine.revision:
            self._compact_now(target)

    def _compact_now(self, revision: int) -> None:
        self._engine.compact(revision)

    # -- hooks for durable backends --------------------------------------------------------

    async def _commit(self, revision: int) -> None:
        """Make every revision up to ``revision`` durable, then visible to watchers."""
        self._hub.publish(revision)

    def _after_expiry(self) -> None:
        """Called after expired leases were revoked outside a write (publish their deletes)."""
        self._hub.publish(self._engine.revision)

    def _on_lease_revoked(self, lease_id: int) -> None:
        """Called before a lease is revoked (expiry or revoke)."""

    def _on_lease_granted(self, state: _engine.LeaseState) -> None:
        """Called after a lease is granted."""

    async def _read_barrier(self) -> None:
        """Wait until every write applied so far is durable (no-op in memory)."""

    async def _range_past(
        self, key: bytes, end: bytes | None, revision: int, limit: int, count_only: bool
    ) -> t.RangeResult:
        return self._engine.range(key, end, revision, limit, count_only)

    # -- reads ---------------------------------------------------------------------------

    async def current_revision(self) -> int:
        self._check_open()
        await self._read_barrier()
        return self._engine.revision

    async def compact_revision(self) -> int:
        self._check_open()
        return self._engine.compact_revision

    async def get(self, key: bytes, *, revision: int = 0) -> t.KeyValue | None:
        """The current version of ``key`` (or the one at ``revision``), or ``None``."""
        if key.__class__ is not bytes:
            t.key_range(key, None, False)  # raises InvalidRequest naming the bad key
        self._check_open()
        await self._read_barrier()
        engine = self._engine
        if revision <= 0 or revision == engine.revision:
            return engine.current.get(key)
        engine.check_revision(revision)
        result = await self._range_past(key, None, revision, 0, False)
        return result.kvs[0] if result.kvs else None

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
    ) -> t.RangeResult:
        """Keys in ``[key, range_end)`` (or under ``prefix``, or ``key`` alone), in key order.

        ``limit`` caps ``kvs`` (``more`` tells if it cut); ``count`` counts every match.
        Raises Compacted / FutureRevision for a ``revision`` outside what is kept.
        """
        self._check_open()
        await self._read_barrier()
        start, end = t.key_range(key, range_end, prefix)
        engine = self._engine
        if limit < 0:
            raise errors.InvalidRequest(f"limit must not be negative, got {limit}")
        if revision <= 0 or revision == engine.revision:
            result = engine.range(start, end, 0, limit, count_only)
        else:
            engine.check_revision(revision)
            result = await self._range_past(start, end, revision, limit, count_only)
        if keys_only:
            result = attrs.evolve(
                result, kvs=tuple(attrs.evolve(kv, value=b"") for kv in result.kvs)
            )
        return result

    # -- writes --------------------------------------------------------------------------

    async def put(
        self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False
    ) -> t.PutResult:
        """Set ``key`` to ``value`` at a new revision (attached to ``lease`` if non-zero)."""
        self._check_open()
        rev, prev = self._engine.put(key, value, lease)
        await self._commit(rev)
        return t.PutResult(rev, prev if prev_kv else None)

    async def delete(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        prev_kv: bool = False,
    ) -> t.DeleteResult:
        """Delete ``key`` (or a range / prefix) at one revision; nothing deleted, no revision."""
        self._check_open()
        start, end = t.key_range(key, range_end, prefix)
        rev, removed = self._engine.delete(start, end)
        await self._commit(rev)
        return t.DeleteResult(rev, len(removed), tuple(removed) if prev_kv else ())

    async def txn(
        self,
        compare: Sequence[t.CompareResult] = (),
        success: Sequence[t.Op] = (),
        failure: Sequence[t.Op] = (),
    ) -> t.TxnResult:
        """If every ``compare`` holds apply ``success``, else ``failure``, atomically."""
        self._check_open()
        await self._read_barrier()
        result = self._engine.txn(compare, success, failure)
        await self._commit(result.revision)
        return result

    # -- leases --------------------------------------------------------------------------

    async def grant_lease(self, ttl: int, *, id: int = 0) -> t.Lease:
        """A new lease of ``ttl`` seconds (on the store's clock); ``id`` 0 picks one."""
        self._check_open()
        state = self._engine.grant(ttl, id, self._clock.monotonic())
        self._on_lease_granted(state)
        await self._commit(self._engine.revision)
        self._wake_maintenance()
        return t.Lease(state.id, state.ttl)

    async def keepalive(self, lease_id: int) -> int:
        """Renew the lease for its TTL; returns the TTL. Raises LeaseNotFound."""
        self._check_open()
        return self._engine.keepalive(lease_id, self._clock.monotonic())

    async def revoke(self, lease_id: int) -> None:
        """End the lease now, deleting its keys (one revision, DELETE events)."""
        self._check_open()
        if lease_id not in self._engine.leases:
            raise errors.LeaseNotFound(lease_id)
        self._on_lease_revoked(lease_id)
        rev = self._engine.revoke(lease_id)
        await self._commit(rev)

    async def time_to_live(self, lease_id: int, *, keys: bool = False) -> t.LeaseStatus:
        """Remaining TTL (whole seconds, rounded up) and, with ``keys``, the attached keys."""
        self._check_open()
        state = self._engine.leases.get(lease_id)
        if state is None:
            return t.LeaseStatus(lease_id, -1, 0)
        remaining = state.deadline - self._clock.monotonic()
        ttl = max(0, int(-(-remaining // 1)))
        return t.LeaseStatus(lease_id, ttl, state.ttl, tuple(sorted(state.keys)) if keys else ())

    async def leases(self) -> tuple[int, ...]:
        self._check_open()
        return tuple(sorted(self._engine.leases))

    # -- maintenance ---------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Forget history before ``revision``: reads and watches below it raise Compacted."""
        self._check_open()
        await self._read_barrier()
        self._compact_now(revision)

    # -- watch ---------------------------------------------------------------------------

    @asynccontextmanager
    async def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> AsyncIterator[_watch.LocalWatch]:
        """Watch ``key`` (or a range / prefix) from ``start_revision`` (inclusive; 0 = now).

        Yields a stream: ``async for event in stream`` or ``stream.responses()``. Raises
        :class:`korch.errors.Compacted` if ``start_revision`` is below the compaction point.
        """
        self._check_open()
        await self._read_barrier()
        start, end = t.key_range(key, range_end, prefix)
        watcher = _watch.LocalWatch(
            self._hub,
            start,
            end,
            start_revision=start_revision,
            prev_kv=prev_kv,
            progress_notify=progress_notify,
        )
        self._hub.watchers.add(watcher)
        try:
            yield watcher
        finally:
            watcher.close()
