"""A watch that survives a restart of the SQLite store by resuming from its last revision.

Run: python examples/store_watch.py [DATA_DIR]

A watcher remembers the revision of the last event it handled. When the store restarts
(here: closed and reopened; in production: the process died), the watcher reopens its watch
at ``last_revision + 1`` and receives exactly the events it missed, in order, none twice —
because every revision is in the SQLite file until it is compacted.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio

from korch.store import EventType, SQLiteStore


async def handle_events(store: SQLiteStore, start_revision: int, count: int) -> int:
    """Print ``count`` events under /jobs/ from ``start_revision``; return the last revision."""
    last = start_revision - 1
    async with store.watch(b"/jobs/", prefix=True, start_revision=start_revision) as stream:
        async for event in stream:
            verb = "set" if event.type is EventType.PUT else "deleted"
            print(f"  rev {event.kv.mod_revision}: {event.kv.key.decode()} {verb}")
            last = event.kv.mod_revision
            count -= 1
            if count == 0:
                break
    return last


async def main(data_dir: Path) -> None:
    path = data_dir / "state.db"

    store = SQLiteStore(path)
    first = await store.put(b"/jobs/build", b"queued")
    await store.put(b"/jobs/test", b"queued")
    print("before the restart:")
    last = await handle_events(store, first.revision, 2)
    await store.close()  # the store goes away…

    store = SQLiteStore(path)  # …and comes back with its history
    await store.put(b"/jobs/build", b"done")  # changes made after the restart
    await store.delete(b"/jobs/test")
    print(f"after the restart, resuming from revision {last + 1}:")
    resumed = await handle_events(store, last + 1, 2)
    assert resumed == await store.current_revision()
    await store.close()
    print("no event lost, none repeated")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        anyio.run(main, Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            anyio.run(main, Path(tmp))
