"""SQLiteStore: the embedded default, durable in one SQLite file (stdlib sqlite3, WAL).

Design (what K3s' kine does with SQLite, plus etcd's in-memory index):

* The live keyspace is held in memory by the same engine as MemoryStore, so current reads
  never touch the disk. Every revision is also a row in the ``log`` table (see
  ``_sqlite_schema``); reads at past revisions and watchers that fell behind the in-memory
  window (``watch_window`` revisions) read it back from SQLite.
* Group commit: a write is applied to the engine at once (so transactions are serialisable
  on the event loop) and then awaits durability. The first writer to find no flush running
  becomes the flusher: it writes every revision applied so far in one SQLite transaction in a
  worker thread (``synchronous=FULL``: fsync'd), then wakes everyone it covered. Writers that
  arrive meanwhile are covered by the next flush. A call returns only after its revision is
  durable, so ``kill -9`` loses no acknowledged write; watchers see a revision only once it is
  durable.
* Reads are linearisable: a read waits for writes already applied to become durable (a
  "read barrier", cheap when nothing is pending), so nobody observes a write that a crash could
  still lose.
* One process owns a database at a time (an exclusive ``flock`` on ``<path>.lock``).
* If SQLite fails to write (disk full…), the store stops: the failing write and every later
  call raise :class:`korch.errors.StoreUnavailable`; what was acknowledged is on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence

import anyio
import anyio.lowlevel
import anyio.to_thread

from korch import clock as clock_module
from korch import errors
from korch.store import _engine, _local, _signal, _sqlite_schema
from korch.store import _types as t

__all__ = ("SQLiteStore",)


class SQLiteStore(_local.LocalStore):
    """A durable store in the SQLite file ``path`` (created if missing).

    ``fsync=False`` uses ``synchronous=NORMAL``: still safe against a process crash, not
    against power loss. ``watch_window`` is how many recent revisions are kept in memory for
    watchers. See :class:`korch.store.Store` for the operations.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: clock_module.Clock | None = None,
        retention: _local.Retention | None = None,
        progress_notify_interval: float = 600.0,
        fsync: bool = True,
        watch_window: int = 10_000,
    ) -> None:
        self.path = os.fspath(path)
        engine = _engine.Engine(keep_history=False)
        super().__init__(
            engine,
            clock=clock,
            retention=retention,
            progress_notify_interval=progress_notify_interval,
            fetch=self._fetch_history,
        )
        self._watch_window = max(1, watch_window)
        self._lock_file = open(self.path + ".lock", "a+b")  # noqa: SIM115 - held for the store's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_file.close()
            raise errors.StoreError(
                f"{self.path} is in use by another process (lock {self.path}.lock)"
            ) from exc
        try:
            self._conn = self._connect(fsync)
            self._read_conn = self._connect(fsync)
            _sqlite_schema.create_schema(self._conn)
            state = _sqlite_schema.load_state(self._conn)
        except sqlite3.DatabaseError as exc:
            self._lock_file.close()
            raise errors.StoreError(f"cannot open {self.path}: {exc}") from exc
        _sqlite_schema.load_into(engine, state, self._clock.monotonic())
        self._hub.visible = engine.revision
        self._synced = engine.revision
        self._read_lock = threading.Lock()
        self._pending: list[tuple[str, int, int]] = []  # lease grants/revokes, compactions
        self._flushing = False
        self._flushed = _signal.Broadcast()  # fired after every flush
        self._failure: BaseException | None = None

    def _connect(self, fsync: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    # -- durability ----------------------------------------------------------------------

    async def _commit(self, revision: int) -> None:
        while self._synced < revision or self._pending:
            if self._failure is not None:
                raise errors.StoreUnavailable(
                    f"{self.path}: writes failed: {self._failure}"
                ) from self._failure
            if self._flushing:
                await self._flushed.wait()
                continue
            self._flushing = True
            try:
                # let the writers that are ready to run apply their writes first, so they
                # ride in this flush instead of waiting for the next one (group commit)
                await anyio.lowlevel.checkpoint()
                await self._flush()
            finally:
                self._flushing = False
                self._flushed.fire()
            # wake the writers before the watchers: they start the next flush, which then
            # runs in its thread while the watchers take their turn on the event loop
            self._hub.publish(self._synced)

    async def _flush(self) -> None:
        engine = self._engine
        start, stop = self._synced + 1, engine.revision
        rows: list[tuple[object, ...]] = []
        if stop >= start:
            for offset, events in enumerate(engine.events_between(start, stop)):
                rows.extend(_sqlite_schema.rows_for(start + offset, events))
        pending, self._pending = self._pending, []
        try:
            await anyio.to_thread.run_sync(self._write, rows, pending, stop)
        except BaseException as exc:
            self._failure = exc
            self._closed = True
            self._hub.close()
            raise errors.StoreUnavailable(f"{self.path}: write failed: {exc}") from exc
        self._synced = stop
        window = self._watch_window
        if len(engine.log) > 2 * window:
            engine.trim_log(stop - window + 1)

    def _write(
        self, rows: list[tuple[object, ...]], pending: list[tuple[str, int, int]], revision: int
    ) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                conn.executemany(_sqlite_schema.INSERT_ROW, rows)
            for op, first, second in pending:
                if op == "grant":
                    conn.execute("INSERT OR REPLACE INTO leases VALUES (?, ?)", (first, second))
                elif op == "revoke":
                    conn.execute("DELETE FROM leases WHERE id = ?", (first,))
                else:
                    self._compact_rows(conn, first)
            conn.execute(_sqlite_schema.SET_META, ("revision", revision))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _compact_rows(conn: sqlite3.Connection, revision: int) -> None:
        # versions superseded by a newer one at or before `revision`
        conn.execute(
            "DELETE FROM log WHERE revision < ?1 AND EXISTS (SELECT 1 FROM log AS newer "
            "WHERE newer.key = log.key AND newer.revision > log.revision "
            "AND newer.revision <= ?1)",
            (revision,),
        )
        # deletions that are now the oldest row of their key
        conn.execute("DELETE FROM log WHERE revision < ? AND version = 0", (revision,))
        conn.execute(_sqlite_schema.SET_META, ("compact_revision", revision))

    async def _read_barrier(self) -> None:
        if self._synced < self._engine.revision or self._pending:
            await self._commit(self._engine.revision)

    def _after_expiry(self) -> None:
        # the deletions are flushed (and published) by the next commit or read barrier
        pass

    def _on_lease_granted(self, state: _engine.LeaseState) -> None:
        self._pending.append(("grant", state.id, state.ttl))

    def _on_lease_revoked(self, lease_id: int) -> None:
        self._pending.append(("revoke", lease_id, 0))

    def _compact_now(self, revision: int) -> None:
        super()._compact_now(revision)
        self._pending.append(("compact", revision, 0))

    async def compact(self, revision: int) -> None:
        await super().compact(revision)
        await self._commit(self._engine.revision)

    # -- reading history back ------------------------------------------------------------

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._read_lock:
            return self._read_conn.execute(sql, params).fetchall()

    async def _range_past(
        self, key: bytes, end: bytes | None, revision: int, limit: int, count_only: bool
    ) -> t.RangeResult:
        if end is None:
            where, params = "l.key = ?2", [revision, key]
        elif end == b"\x00":
            where, params = "l.key >= ?2", [revision, key]
        else:
            where, params = "l.key >= ?2 AND l.key < ?3", [revision, key, end]
        rows = await anyio.to_thread.run_sync(
            self._read,
            "SELECT l.key, l.value, l.create_revision, l.revision, l.version, l.lease FROM log l "
            f"WHERE {where} AND l.revision = (SELECT MAX(revision) FROM log AS o "
            "WHERE o.key = l.key AND o.revision <= ?1) AND l.version > 0 ORDER BY l.key",
            params,
        )
        kvs = [_row_kv(r) for r in rows]
        count = len(kvs)
        if count_only:
            return t.RangeResult((), False, count, self._engine.revision)
        more = 0 < limit < count
        return t.RangeResult(
            tuple(kvs[:limit] if more else kvs), more, count, self._engine.revision
        )

    async def _fetch_history(self, start: int, stop: int) -> list[tuple[t.Event, ...]]:
        rows = await anyio.to_thread.run_sync(
            self._read,
            "SELECT l.revision, l.key, l.value, l.create_revision, l.version, l.lease, "
            "p.value, p.create_revision, p.revision, p.version, p.lease FROM log l "
            "LEFT JOIN log p ON p.key = l.key AND p.revision = (SELECT MAX(revision) FROM log "
            "AS o WHERE o.key = l.key AND o.revision < l.revision) AND p.version > 0 "
            "WHERE l.revision BETWEEN ? AND ? ORDER BY l.revision, l.seq",
            (start, stop),
        )
        batches: dict[int, list[t.Event]] = {rev: [] for rev in range(start, stop + 1)}
        for r in rows:
            rev, key = int(r[0]), bytes(r[1])  # type: ignore[call-overload]
            kv = t.KeyValue(key, bytes(r[2]), r[3], rev, r[4], r[5])  # type: ignore[arg-type,call-overload]
            prev = (
                None if r[6] is None else t.KeyValue(key, bytes(r[6]), r[7], r[8], r[9], r[10])  # type: ignore[arg-type,call-overload]
            )
            kind = t.EventType.DELETE if kv.version == 0 else t.EventType.PUT
            batches[rev].append(t.Event(kind, kv, prev))
        return [tuple(batches[rev]) for rev in range(start, stop + 1)]

    # -- snapshots -----------------------------------------------------------------------

    async def snapshot(self, path: str) -> None:
        """Copy the whole database (history included) to ``path``, consistently."""
        self._check_open()
        await self._read_barrier()

        def backup() -> None:
            if os.path.exists(path):
                raise errors.StoreError(f"snapshot target {path} already exists")
            target = sqlite3.connect(path)
            try:
                with self._read_lock:
                    self._read_conn.backup(target)
            finally:
                target.close()

        await anyio.to_thread.run_sync(backup)

    @classmethod
    async def restore(
        cls, snapshot: str, path: str, *, clock: clock_module.Clock | None = None
    ) -> SQLiteStore:
        """Create the store file ``path`` from a snapshot (any local backend's) and open it."""

        def check_and_copy() -> None:
            if not os.path.exists(snapshot):
                raise errors.StoreError(f"snapshot {snapshot} does not exist")
            if os.path.exists(path):
                raise errors.StoreError(f"restore target {path} already exists")
            conn = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
            try:
                _sqlite_schema.load_state(conn)  # raises if it is not a korch snapshot
            finally:
                conn.close()
            shutil.copyfile(snapshot, path)

        await anyio.to_thread.run_sync(check_and_copy)
        return cls(path, clock=clock)

    async def close(self) -> None:
        if not self._closed and self._failure is None:
            with contextlib.suppress(errors.StoreError):
                await self._read_barrier()
        await super().close()
        for conn in (self._conn, self._read_conn):
            conn.close()
        if not self._lock_file.closed:
            self._lock_file.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, revision={self._engine.revision})"


def _row_kv(r: tuple[object, ...]) -> t.KeyValue:
    return t.KeyValue(bytes(r[0]), bytes(r[1]), r[2], r[3], r[4], r[5])  # type: ignore[arg-type,call-overload]
