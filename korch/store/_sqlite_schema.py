"""The SQLite file format shared by SQLiteStore and every korch snapshot.

One table holds the history: a row per changed key per revision (``version`` 0 marks a
deletion), so the latest row of a key is its current state and older rows serve reads at past
revisions and watch catch-up. ``meta`` keeps the revision (a keyspace can end on a deletion
whose rows were compacted) and the compact revision; ``leases`` the granted leases.

Snapshots (``store.snapshot(path)``) are files in this same format, so any local backend
restores from any other's snapshot.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence

import attrs

from korch import errors
from korch.store import _engine
from korch.store import _types as t

__all__ = ("SCHEMA_VERSION", "LoadedState", "create_schema", "load_state", "write_snapshot")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    lease INTEGER NOT NULL,
    PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_by_key ON log (key, revision);
CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL);
"""

INSERT_ROW = "INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?)"
SET_META = "INSERT OR REPLACE INTO meta VALUES (?, ?)"


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)
    row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    if row is None:
        conn.execute(SET_META, ("schema", SCHEMA_VERSION))
        conn.execute(SET_META, ("revision", 1))
        conn.execute(SET_META, ("compact_revision", 0))
    elif row[0] != SCHEMA_VERSION:
        raise errors.StoreError(
            f"the database has korch schema version {row[0]}; this korch reads {SCHEMA_VERSION}"
        )


@attrs.frozen
class LoadedState:
    revision: int
    compact_revision: int
    kvs: tuple[t.KeyValue, ...]
    leases: tuple[tuple[int, int], ...]


def load_state(conn: sqlite3.Connection) -> LoadedState:
    """Read the current keyspace, revisions and leases from a korch database."""
    try:
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        raise errors.StoreError(f"not a korch store or snapshot: {exc}") from exc
    if meta.get("schema") != SCHEMA_VERSION:
        raise errors.StoreError(f"not a korch store or snapshot (schema {meta.get('schema')})")
    (max_rev,) = conn.execute("SELECT MAX(revision) FROM log").fetchone()
    revision = max(int(meta.get("revision", 1)), int(max_rev or 1))
    rows = conn.execute(
        "SELECT l.key, l.value, l.create_revision, l.revision, l.version, l.lease FROM log l "
        "JOIN (SELECT key, MAX(revision) AS latest FROM log GROUP BY key) m "
        "ON l.key = m.key AND l.revision = m.latest WHERE l.version > 0 ORDER BY l.key"
    ).fetchall()
    kvs = tuple(t.KeyValue(bytes(r[0]), bytes(r[1]), r[2], r[3], r[4], r[5]) for r in rows)
    leases = tuple(conn.execute("SELECT id, ttl FROM leases ORDER BY id").fetchall())
    return LoadedState(revision, int(meta.get("compact_revision", 0)), kvs, leases)


def load_into(engine: _engine.Engine, state: LoadedState, now: float) -> None:
    """Fill an empty engine with a loaded state; leases restart with their full TTL (as etcd)."""
    engine.revision = state.revision
    engine.compact_revision = state.compact_revision
    engine.log_base = state.revision + 1
    engine.current = {kv.key: kv for kv in state.kvs}
    engine.live_keys.update(engine.current)
    for lease_id, ttl in state.leases:
        engine.grant(ttl, lease_id, now)
    for kv in state.kvs:
        if kv.lease:
            lease = engine.leases.get(kv.lease)
            if lease is not None:
                lease.keys.add(kv.key)


def rows_for(revision: int, events: Iterable[t.Event]) -> list[tuple[object, ...]]:
    """The log rows recording one revision's events."""
    return [
        (revision, seq, ev.kv.key, ev.kv.value, ev.kv.create_revision, ev.kv.version, ev.kv.lease)
        for seq, ev in enumerate(events)
    ]


def write_snapshot(
    path: str,
    revision: int,
    kvs: Sequence[t.KeyValue],
    leases: Iterable[tuple[int, int]],
) -> None:
    """Write a snapshot of a current keyspace (no history: compacted at ``revision``)."""
    if os.path.exists(path):
        raise errors.StoreError(f"snapshot target {path} already exists")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        create_schema(conn)
        if conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]:
            raise errors.StoreError(f"snapshot target {path} is not empty")
        conn.execute("BEGIN")
        conn.executemany(
            INSERT_ROW,
            [
                (kv.mod_revision, i, kv.key, kv.value, kv.create_revision, kv.version, kv.lease)
                for i, kv in enumerate(kvs)
            ],
        )
        conn.executemany("INSERT INTO leases VALUES (?, ?)", list(leases))
        conn.execute(SET_META, ("revision", revision))
        conn.execute(SET_META, ("compact_revision", revision))
        conn.execute("COMMIT")
    finally:
        conn.close()
