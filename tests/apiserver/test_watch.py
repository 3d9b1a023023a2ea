"""Watch: event order and types, starting points, selections, 410 Expired, bookmarks,
and the watch cache (fan-out, window, fallback to the store, relist)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import pytest

from korch import errors
from korch.api import ConfigMap, ObjectMeta, Pod, Status
from korch.apiserver import APIServer, WatchEvent
from korch.clock import FakeClock
from korch.store import MemoryStore
from tests.apiserver.conftest import make_pod

pytestmark = pytest.mark.anyio


async def take(events: AsyncIterator[WatchEvent[Any]], n: int) -> list[WatchEvent[Any]]:
    """The next ``n`` events (failing after 5 s of real time rather than hanging)."""
    out: list[WatchEvent[Any]] = []
    with anyio.fail_after(5):
        while len(out) < n:
            out.append(await events.__anext__())
    return out


def summary(events: list[WatchEvent[Any]]) -> list[tuple[str, str]]:
    return [(e.type, e.object.metadata.name) for e in events]


def configmap(name: str, **data: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace="default"), data=data)


async def test_watch_from_a_resource_version(any_api: APIServer, store: MemoryStore) -> None:
    client = any_api.client()
    created = await client.create(configmap("c", v="1"))
    async with client.watch(ConfigMap, resource_version=created.metadata.resource_version) as ev:
        updated = await client.update(attrs.evolve(created, data={"v": "2"}))
        await client.create(configmap("d"))
        await client.delete(ConfigMap, "c")
        events = await take(ev, 3)
    assert summary(events) == [("MODIFIED", "c"), ("ADDED", "d"), ("DELETED", "c")]
    assert events[0].object == updated
    deleted = events[2].object
    assert deleted.data == {"v": "2"}
    # a DELETED event carries the last state at the revision that deleted it
    assert deleted.metadata.resource_version == str(await store.current_revision())


@pytest.mark.parametrize("resource_version", ["", "0"])
async def test_watch_starts_with_the_current_state(
    any_api: APIServer, resource_version: str
) -> None:
    client = any_api.client()
    await client.create(configmap("a"))
    await client.create(configmap("b"))
    async with client.watch(ConfigMap, resource_version=resource_version) as events:
        initial = await take(events, 2)
        await client.create(configmap("c"))
        (later,) = await take(events, 1)
    assert summary(initial) == [("ADDED", "a"), ("ADDED", "b")]
    assert summary([later]) == [("ADDED", "c")]


async def test_watch_one_namespace(any_api: APIServer) -> None:
    client = any_api.client()
    async with client.watch(Pod, namespace="kube-system", resource_version="0") as events:
        await client.create(make_pod("a"))
        await client.create(make_pod("b", namespace="kube-system"))
        (event,) = await take(events, 1)
    assert (event.type, event.object.metadata.namespace) == ("ADDED", "kube-system")


async def test_label_selector_moves_objects_in_and_out(any_api: APIServer) -> None:
    client = any_api.client()
    await client.create(make_pod("p", labels={"app": "web"}))
    async with client.watch(Pod, label_selector="app=web") as events:
        (added,) = await take(events, 1)
        await client.create(make_pod("other", labels={"app": "db"}))
        moved = await client.patch(Pod, "p", {"metadata": {"labels": {"app": "db"}}})
        await client.patch(Pod, "other", {"metadata": {"labels": {"team": "x"}}})
        back = await client.patch(Pod, "p", {"metadata": {"labels": {"app": "web"}}})
        await client.patch(Pod, "p", {"metadata": {"labels": {"tier": "fe"}}})
        out, into, within = await take(events, 3)
    assert summary([added]) == [("ADDED", "p")]
    assert (out.type, out.object.metadata.labels) == ("DELETED", {"app": "web"})
    assert out.object.metadata.resource_version == moved.metadata.resource_version
    assert (into.type, into.object) == ("ADDED", back)
    assert (within.type, within.object.metadata.labels) == (
        "MODIFIED", {"app": "web", "tier": "fe"},
    )  # fmt: skip


async def test_field_selector_on_status(any_api: APIServer) -> None:
    client = any_api.client()
    pod = await client.create(make_pod("p", node="n1"))
    async with client.watch(
        Pod, field_selector="status.phase=Running", resource_version=pod.metadata.resource_version
    ) as events:
        running = await client.update_status(
            attrs.evolve(pod, status=attrs.evolve(pod.status, phase="Running"))
        )
        await client.update_status(
            attrs.evolve(running, status=attrs.evolve(running.status, phase="Succeeded"))
        )
        got = await take(events, 2)
    assert [(e.type, e.object.status.phase) for e in got] == [
        ("ADDED", "Running"), ("DELETED", "Running"),
    ]  # fmt: skip


async def test_watch_from_a_compacted_revision_is_expired(
    any_api: APIServer, store: MemoryStore
) -> None:
    client = any_api.client()
    old = await client.create(configmap("c"))
    for i in range(3):
        await client.create(configmap(f"x{i}"))
    await store.compact(await store.current_revision())
    with pytest.raises(errors.Expired, match="too old resource version"):
        async with client.watch(ConfigMap, resource_version=old.metadata.resource_version) as ev:
            await take(ev, 1)


async def test_expired_is_an_in_stream_error_event_with_a_status(
    api: APIServer, store: MemoryStore
) -> None:
    old = await api.client().create(configmap("c"))
    await api.client().create(configmap("d"))
    await api.client().create(configmap("e"))
    await store.compact(await store.current_revision())  # keeps only what "e" left
    async with api.watch(ConfigMap, resource_version=old.metadata.resource_version) as stream:
        events = [event async for event in stream]
    (error,) = events
    assert error.type == "ERROR"
    status = error.object
    assert isinstance(status, Status)
    assert (status.status, status.code, status.reason) == ("Failure", 410, "Expired")


async def test_future_resource_version_is_a_timeout(api: APIServer, store: MemoryStore) -> None:
    with pytest.raises(errors.Timeout):
        async with api.client().watch(
            ConfigMap, resource_version=str(await store.current_revision() + 10)
        ):
            pass


async def test_bookmarks_from_the_watch_cache(store: MemoryStore, clock: FakeClock) -> None:
    async with APIServer(store, clock=clock, bookmark_interval=60) as api:
        client = api.client()
        created = await client.create(configmap("c"))
        async with client.watch(
            ConfigMap, resource_version=created.metadata.resource_version,
            allow_watch_bookmarks=True,
        ) as events:  # fmt: skip
            await client.create(make_pod("unrelated"))  # moves the store, not configmaps
            clock.advance(60)
            (bookmark,) = await take(events, 1)
    assert bookmark.type == "BOOKMARK"
    assert isinstance(bookmark.object, ConfigMap)
    assert bookmark.object.metadata.resource_version == str(await store.current_revision())


async def test_bookmarks_from_store_progress_notifications(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock, progress_notify_interval=5)
    async with store:
        api = APIServer(store, clock=clock)
        client = api.client()
        created = await client.create(configmap("c"))
        async with client.watch(
            ConfigMap, resource_version=created.metadata.resource_version,
            allow_watch_bookmarks=True,
        ) as events:  # fmt: skip
            await client.create(make_pod("unrelated"))
            clock.advance(5)
            (bookmark,) = await take(events, 1)
        assert bookmark.type == "BOOKMARK"
        assert bookmark.object.metadata.resource_version == str(await store.current_revision())


async def test_send_initial_events_ends_with_a_bookmark(any_api: APIServer) -> None:
    client = any_api.client()
    await client.create(configmap("a"))
    async with client.watch(
        ConfigMap, send_initial_events=True, allow_watch_bookmarks=True
    ) as events:
        added, end = await take(events, 2)
    assert summary([added]) == [("ADDED", "a")]
    assert end.type == "BOOKMARK"
    assert end.object.metadata.annotations == {"k8s.io/initial-events-end": "true"}


async def test_watchers_share_one_cache_and_its_objects(
    store: MemoryStore, clock: FakeClock
) -> None:
    async with APIServer(store, clock=clock) as api:
        client = api.client()
        async with (
            client.watch(ConfigMap, resource_version="0") as first,
            client.watch(ConfigMap, resource_version="0") as second,
            client.watch(ConfigMap, resource_version="0", label_selector="x=y") as third,
        ):
            for i in range(3):
                await client.create(configmap(f"c{i}"))
            one, two = await take(first, 3), await take(second, 3)
            await client.create(
                ConfigMap(metadata=ObjectMeta(name="sel", namespace="default", labels={"x": "y"}))
            )
            (three,) = await take(third, 1)
        assert [e.object for e in one] == [e.object for e in two]
        assert all(a.object is b.object for a, b in zip(one, two, strict=True))
        assert summary([three]) == [("ADDED", "sel")]
        assert len(api._caches) == 1


async def test_resume_before_the_cache_window_reads_the_store(
    store: MemoryStore, clock: FakeClock
) -> None:
    async with APIServer(store, clock=clock, watch_cache_size=2) as api:
        client = api.client()
        first = await client.create(configmap("c0"))
        await client.list(ConfigMap, resource_version="0")  # start the cache
        for i in range(1, 10):
            await client.create(configmap(f"c{i}"))
        cache = api.cache(api.resource_type(ConfigMap))
        assert cache is not None
        await cache.wait_for_revision(await store.current_revision())
        assert not cache.serves(int(first.metadata.resource_version))
        async with client.watch(
            ConfigMap, resource_version=first.metadata.resource_version
        ) as events:
            got = await take(events, 9)
        assert summary(got) == [("ADDED", f"c{i}") for i in range(1, 10)]


async def test_a_watcher_that_falls_out_of_the_window_loses_nothing(
    store: MemoryStore, clock: FakeClock
) -> None:
    async with APIServer(store, clock=clock, watch_cache_size=2) as api:
        client = api.client()
        async with client.watch(ConfigMap, resource_version="0") as events:
            cache = api.cache(api.resource_type(ConfigMap))
            assert cache is not None
            for i in range(10):
                await client.create(configmap(f"c{i}"))
            await cache.wait_for_revision(await store.current_revision())
            assert cache.first > 0  # the history no longer holds the first events
            got = await take(events, 10)
            await client.create(configmap("after"))
            (after,) = await take(events, 1)
        assert summary(got) == [("ADDED", f"c{i}") for i in range(10)]
        assert summary([after]) == [("ADDED", "after")]


async def test_cache_relist_after_compaction_expires_its_watchers(
    store: MemoryStore, clock: FakeClock
) -> None:
    async with APIServer(store, clock=clock) as api:
        client = api.client()
        await client.create(configmap("c"))
        async with client.watch(ConfigMap, resource_version="0") as events:
            await take(events, 1)
            # behind the cache's back and without yielding: it will find itself compacted
            value = json.dumps(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "raw",
                 "namespace": "default", "uid": "u"}}
            ).encode()  # fmt: skip
            await store.put(b"/registry/core/configmaps/default/raw", value)
            await store.put(b"/registry/core/configmaps/default/raw", value)
            await store.compact(await store.current_revision())
            with pytest.raises(errors.Expired):
                await take(events, 1)
        # the cache relisted: new watches see the current state
        async with client.watch(ConfigMap, resource_version="0") as events:
            got = await take(events, 2)
        assert sorted(e.object.metadata.name for e in got) == ["c", "raw"]


async def test_watch_events_round_trip_the_stored_objects(
    store: MemoryStore, clock: FakeClock
) -> None:
    api = APIServer(store, clock=clock, rng=random.Random(3))
    client = api.client()
    async with client.watch(Pod, resource_version="0") as events:
        created = await client.create(make_pod("web", labels={"a": "b"}))
        (event,) = await take(events, 1)
    assert event.object == created == await client.get(Pod, "web")
