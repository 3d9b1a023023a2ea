"""SQLiteStore: durability, restart, snapshots and the errors a user can hit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from korch import errors
from korch.clock import FakeClock
from korch.store import MemoryStore, SQLiteStore


def test_kill_9_during_a_write_storm_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "storm.db"
    script = Path(__file__).with_name("_writer_storm.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), "32"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked: dict[str, int] = {}
    for line in proc.stdout:
        key, revision = line.split()
        acked[key] = int(revision)
        if len(acked) >= 3000:
            break
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of the storm
    for line in proc.stdout:  # acks written before the kill landed
        key, revision = line.split()
        acked[key] = int(revision)
    proc.wait()
    proc.stdout.close()
    anyio.run(_check_acked, path, acked)


async def _check_acked(path: Path, acked: dict[str, int]) -> None:
    store = SQLiteStore(path)
    try:
        for key, revision in acked.items():
            kv = await store.get(key.encode())
            assert kv is not None, f"acknowledged write {key} lost"
            assert kv.mod_revision == revision
        assert await store.current_revision() >= max(acked.values())
        await store.put(b"/after", b"restart")  # and it keeps going
    finally:
        await store.close()


@pytest.mark.anyio
async def test_restart_recovers_revision_history_and_leases(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = FakeClock()
    store = SQLiteStore(path, clock=clock)
    r1 = await store.put(b"/a", b"1")
    await store.put(b"/a", b"2")
    lease = await store.grant_lease(30)
    await store.put(b"/leased", b"x", lease=lease.id)
    await store.delete(b"/a")
    revision = await store.current_revision()
    await store.close()

    store = SQLiteStore(path, clock=clock)
    try:
        assert await store.current_revision() == revision
        assert await store.get(b"/a") is None
        old = await store.get(b"/a", revision=r1.revision)
        assert old is not None and old.value == b"1"
        status = await store.time_to_live(lease.id, keys=True)
        assert status.keys == (b"/leased",) and status.ttl == 30  # restarts with its full TTL
        async with store.watch(b"/", prefix=True, start_revision=r1.revision) as stream:
            seen = []
            async for event in stream:
                seen.append((event.type.value, event.kv.key))
                if len(seen) == 4:
                    break
        assert seen == [("PUT", b"/a"), ("PUT", b"/a"), ("PUT", b"/leased"), ("DELETE", b"/a")]
        clock.advance(31)
        await anyio.lowlevel.checkpoint()
        assert await store.get(b"/leased") is None
    finally:
        await store.close()


@pytest.mark.anyio
async def test_compaction_is_durable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SQLiteStore(path)
    r1 = await store.put(b"/a", b"1")
    r2 = await store.put(b"/a", b"2")
    await store.compact(r2.revision)
    await store.close()
    store = SQLiteStore(path)
    try:
        with pytest.raises(errors.Compacted):
            await store.get(b"/a", revision=r1.revision)
        kv = await store.get(b"/a", revision=r2.revision)
        assert kv is not None and kv.value == b"2"
    finally:
        await store.close()


@pytest.mark.anyio
async def test_one_process_owns_a_database(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    try:
        with pytest.raises(errors.StoreError, match="in use"):
            SQLiteStore(tmp_path / "state.db")
    finally:
        await store.close()


@pytest.mark.anyio
async def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(errors.StoreError, match=r"junk\.db"):
        SQLiteStore(path)


@pytest.mark.anyio
async def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    await store.close()
    with pytest.raises(errors.StoreClosed):
        await store.put(b"/a", b"1")


@pytest.mark.anyio
@pytest.mark.parametrize("source", ["memory", "sqlite"])
@pytest.mark.parametrize("target", ["memory", "sqlite"])
@pytest.mark.anyio
async def test_snapshot_and_restore(tmp_path: Path, source: str, target: str) -> None:
    store: MemoryStore | SQLiteStore
    store = MemoryStore() if source == "memory" else SQLiteStore(tmp_path / "src.db")
    for i in range(50):
        await store.put(b"/obj/%d" % i, b"%d" % i)
    await store.delete(b"/obj/7")
    lease = await store.grant_lease(60)
    await store.put(b"/lease", b"x", lease=lease.id)
    revision = await store.current_revision()
    snap = str(tmp_path / "backup.db")
    await store.snapshot(snap)
    await store.put(b"/obj/after", b"not in the snapshot")
    await store.close()

    restored: MemoryStore | SQLiteStore
    if target == "memory":
        restored = await MemoryStore.restore(snap)
    else:
        restored = await SQLiteStore.restore(snap, str(tmp_path / "new.db"))
    try:
        assert await restored.current_revision() == revision
        result = await restored.range(b"/obj/", prefix=True)
        assert result.count == 49 and await restored.get(b"/obj/after") is None
        assert (await restored.time_to_live(lease.id, keys=True)).keys == (b"/lease",)
        written = await restored.put(b"/obj/new", b"1")
        assert written.revision == revision + 1  # and it continues
    finally:
        await restored.close()


@pytest.mark.anyio
async def test_restore_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(errors.StoreError, match="does not exist"):
        await SQLiteStore.restore(str(tmp_path / "missing.db"), str(tmp_path / "new.db"))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"junk" * 1000)
    with pytest.raises(errors.StoreError, match="not a korch"):
        await MemoryStore.restore(str(junk))
    store = MemoryStore()
    await store.snapshot(str(tmp_path / "snap.db"))
    with pytest.raises(errors.StoreError, match="already exists"):
        await store.snapshot(str(tmp_path / "snap.db"))
