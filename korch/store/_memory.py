"""MemoryStore: the whole keyspace and its history in memory.

For tests, simulations and embedding where durability does not matter. Full etcd semantics
(revisions, history reads, watches from any kept revision, leases, compaction); history is kept
until compacted, so long-running users set a :class:`korch.store.Retention`. A snapshot is a
SQLite file in SQLiteStore's format holding the current keyspace (history is not included).
"""

from __future__ import annotations

import os
import sqlite3

import anyio

from korch import clock as clock_module
from korch import errors
from korch.store import _engine, _local, _sqlite_schema

__all__ = ("MemoryStore",)


class MemoryStore(_local.LocalStore):
    """An in-memory store with etcd semantics (see :class:`korch.store.Store`).

    ``clock`` drives lease expiry and time-based retention; ``progress_notify_interval`` is
    the period of progress notifications to watches that asked for them.
    """

    def __init__(
        self,
        *,
        clock: clock_module.Clock | None = None,
        retention: _local.Retention | None = None,
        progress_notify_interval: float = 600.0,
    ) -> None:
        super().__init__(
            _engine.Engine(keep_history=True),
            clock=clock,
            retention=retention,
            progress_notify_interval=progress_notify_interval,
        )

    async def snapshot(self, path: str) -> None:
        """Write the current keyspace and leases to a new snapshot file at ``path``."""
        self._check_open()
        engine = self._engine
        kvs = [engine.current[k] for k in engine.live_keys]
        leases = [(s.id, s.ttl) for s in engine.leases.values()]
        await anyio.to_thread.run_sync(
            _sqlite_schema.write_snapshot, path, engine.revision, kvs, leases
        )

    @classmethod
    async def restore(
        cls, snapshot: str, *, clock: clock_module.Clock | None = None
    ) -> MemoryStore:
        """A new MemoryStore holding a snapshot's keyspace, revision and leases."""
        store = cls(clock=clock)

        def load() -> _sqlite_schema.LoadedState:
            if not os.path.exists(snapshot):
                raise errors.StoreError(f"snapshot {snapshot} does not exist")
            conn = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
            try:
                return _sqlite_schema.load_state(conn)
            finally:
                conn.close()

        state = await anyio.to_thread.run_sync(load)
        _sqlite_schema.load_into(store._engine, state, store._clock.monotonic())
        store._hub.visible = state.revision
        return store

    def __repr__(self) -> str:
        return f"MemoryStore(revision={self._engine.revision}, keys={len(self._engine.current)})"
