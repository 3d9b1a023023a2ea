"""``korch snapshot save|restore``: back up a cluster's store and bring it back.

* **SQLite** (``korch up``'s default, ``<data-dir>/state.db``): ``save`` copies the
  database with SQLite's online backup API through a read-only connection, so it works while
  ``korch up`` runs (WAL readers never block the writer) and the copy is one consistent
  revision. ``restore`` checks the file is a korch snapshot and installs it as
  ``<data-dir>/state.db`` of a data directory that has no store yet (as ``etcdutl snapshot
  restore`` wants a new data directory); run ``korch up --data-dir`` on it and the cluster
  continues from the snapshot's revision.
* **etcd** (``--store etcd://host:port,…``): ``save`` writes etcd's native snapshot (what
  ``etcdctl snapshot save`` writes); ``restore`` runs ``etcdutl snapshot restore`` into a
  new etcd data directory, from which an etcd member is started.
"""

from __future__ import annotations

import os
import sqlite3

import anyio
import anyio.to_thread

from korch import errors
from korch.store import EtcdStore, SQLiteStore, _sqlite_schema

__all__ = ("restore_snapshot", "save_snapshot")


def _sqlite_path(store: str, data_dir: str) -> str | None:
    if store in ("", "sqlite"):
        return os.path.join(data_dir, "state.db")
    if store.startswith("sqlite://"):
        return store.removeprefix("sqlite://")
    return None


def _etcd_endpoints(store: str) -> list[str]:
    hosts = [h for h in store.removeprefix("etcd://").split(",") if h]
    if not store.startswith("etcd://") or not hosts:
        raise ValueError(
            f"cannot snapshot store {store!r}: use sqlite (default), sqlite:///path or "
            "etcd://host:port[,host:port…]"
        )
    return [f"http://{h}" for h in hosts]


def _backup_sqlite(source: str, target: str) -> int:
    if not os.path.exists(source):
        raise errors.StoreError(f"no store at {source} (is --data-dir right?)")
    if os.path.exists(target):
        raise errors.StoreError(f"snapshot target {target} already exists")
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        revision = _sqlite_schema.load_state(conn).revision
        out = sqlite3.connect(target)
        try:
            conn.backup(out)
        finally:
            out.close()
    finally:
        conn.close()
    return revision


async def save_snapshot(target: str, *, store: str = "", data_dir: str = ".korch") -> str:
    """Write a snapshot of the store to ``target``; returns a one-line summary.

    Raises:
        korch.errors.StoreError: no store, the target exists, or the store is not korch's.
        korch.errors.StoreUnavailable: etcd cannot be reached.
        ValueError: an unknown store.
    """
    path = _sqlite_path(store, data_dir)
    if path is not None:
        revision = await anyio.to_thread.run_sync(_backup_sqlite, path, target)
        return f"saved a snapshot of {path} at revision {revision} to {target}"
    etcd = EtcdStore(_etcd_endpoints(store))
    try:
        await etcd.snapshot(target)
    finally:
        await etcd.close()
    return f"saved an etcd snapshot of {store} to {target}"


async def restore_snapshot(
    snapshot: str, *, store: str = "", data_dir: str = ".korch", etcd_name: str = "default"
) -> str:
    """Install ``snapshot`` as the store of ``data_dir`` (SQLite) or into a new etcd data
    directory ``data_dir`` (etcd); returns a one-line summary.

    Raises:
        korch.errors.StoreError: the snapshot is missing or not a snapshot, or the target
            already holds a store.
    """
    path = _sqlite_path(store, data_dir)
    if path is not None:
        parent = os.path.dirname(path)
        if parent:
            await anyio.Path(parent).mkdir(parents=True, exist_ok=True)
        restored = await SQLiteStore.restore(snapshot, path)
        try:
            revision = (await restored.range(b"\0", b"\0", count_only=True)).revision
        finally:
            await restored.close()
        return f"restored {snapshot} into {path} (revision {revision})"
    _etcd_endpoints(store)  # checks the spec names etcd
    where = await EtcdStore.restore(snapshot, data_dir, name=etcd_name)
    return f"restored {snapshot} into the etcd data directory {where}"
