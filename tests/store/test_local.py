"""Behaviour of the in-process stores beyond the shared suite: retention, watcher
cancellation, slow watchers, and bad input."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from korch import errors
from korch.clock import FakeClock
from korch.store import MemoryStore, Retention, SQLiteStore, Store

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**options: object) -> Store:
        if request.param == "memory":
            return MemoryStore(**options)  # type: ignore[arg-type]
        return SQLiteStore(tmp_path / "state.db", **options)  # type: ignore[arg-type]

    return make


async def test_retention_by_revisions(make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    async with make_store(clock=clock, retention=Retention(revisions=10)) as store:
        for i in range(30):
            await store.put(b"/k", b"%d" % i)
        clock.advance(2)  # the maintenance loop checks retention every second
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        current = await store.current_revision()
        assert await store.compact_revision() == current - 9
        with pytest.raises(errors.Compacted):
            await store.get(b"/k", revision=current - 10)
        assert await store.get(b"/k", revision=current - 9) is not None


async def test_retention_by_time(make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    async with make_store(clock=clock, retention=Retention(seconds=60)) as store:
        await store.put(b"/k", b"old")
        clock.advance(1)
        await anyio.lowlevel.checkpoint()
        old_revision = await store.current_revision()
        for step in range(70):
            await store.put(b"/k", b"%d" % step)
            clock.advance(1)
            for _ in range(3):
                await anyio.lowlevel.checkpoint()
        compacted = await store.compact_revision()
        assert compacted > old_revision  # history older than a minute is gone
        assert compacted < await store.current_revision() - 50  # the last minute is kept


def test_retention_needs_one_limit() -> None:
    with pytest.raises(errors.InvalidRequest):
        Retention()
    with pytest.raises(errors.InvalidRequest):
        Retention(revisions=0)


async def test_cancelling_one_watcher_does_not_disturb_the_others(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    received: list[int] = []
    ready = anyio.Event()
    opened = 0

    async def watch(index: int) -> None:
        nonlocal opened
        async with store.watch(b"/w/", prefix=True) as stream:
            opened += 1
            if opened == 3:
                ready.set()
            async for _ in stream:
                received.append(index)
                return

    async with anyio.create_task_group() as outer:
        outer.start_soon(watch, 0)
        outer.start_soon(watch, 1)
        async with anyio.create_task_group() as doomed:
            doomed.start_soon(watch, 2)
            await ready.wait()
            await anyio.lowlevel.checkpoint()
            doomed.cancel_scope.cancel()
        await store.put(b"/w/a", b"1")
    assert sorted(received) == [0, 1]
    await store.close()


async def test_a_slow_watcher_never_loses_events(tmp_path: Path) -> None:
    # SQLite keeps only `watch_window` revisions in memory: a watcher far behind reads the
    # rest back from the database, in order, without gaps
    async with SQLiteStore(tmp_path / "state.db", watch_window=10) as store:
        first = await store.put(b"/s/0", b"0")
        for i in range(1, 500):
            await store.put(b"/s/%d" % i, b"%d" % i)
        seen = []
        async with store.watch(b"/s/", prefix=True, start_revision=first.revision) as stream:
            async for event in stream:
                seen.append(event.kv.mod_revision)
                if len(seen) == 500:
                    break
    assert seen == list(range(first.revision, first.revision + 500))


async def test_close_ends_open_watches(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    ended = []

    async def drain() -> None:
        async with store.watch(b"/", prefix=True) as stream:
            async for _ in stream:
                pass

    async def consume() -> None:
        with pytest.raises(errors.StoreClosed):
            await drain()
        ended.append(True)

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        await store.close()
    assert ended == [True]


async def test_bad_requests_name_the_problem(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    with pytest.raises(errors.InvalidRequest, match="prefix"):
        await store.range(b"/a", b"/b", prefix=True)
    with pytest.raises(errors.InvalidRequest, match="key must be bytes"):
        await store.get("/a")
    with pytest.raises(errors.InvalidRequest, match="range_end must be bytes"):
        await store.range(b"/a", "/b")
    with pytest.raises(errors.InvalidRequest, match="limit"):
        await store.range(b"/a", prefix=True, limit=-1)
    with pytest.raises(errors.InvalidRequest, match="TTL"):
        await store.grant_lease(0)
    with pytest.raises(errors.FutureRevision):
        await store.compact(10_000)
    await store.close()
