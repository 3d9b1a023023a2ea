"""Informers: list + watch into a cache, scoping, transforms, indexes, relist, reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import attrs
import pytest

import korch.testing
from korch import errors
from korch.api import ConfigMap, ManagedFieldsEntry, Namespace, ObjectMeta, PartialObjectMetadata
from korch.controllers import LAST_APPLIED_ANNOTATION, Informer, InformerFactory, object_key
from korch.testing import Environment

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async for value in korch.testing.environment():
        yield value


def cm(name: str, namespace: str = "default", **labels: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace, labels=labels))


@asynccontextmanager
async def running(informer: Informer[Any]) -> AsyncIterator[anyio.abc.TaskGroup]:
    async with anyio.create_task_group() as group:
        group.start_soon(informer.run)
        await informer.wait_synced()
        yield group
        group.cancel_scope.cancel()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def attach(self, informer: Informer[Any]) -> None:
        informer.add_handler(
            on_add=lambda o: self.events.append(("add", object_key(o))),
            on_update=lambda old, new: self.events.append(("update", object_key(new))),
            on_delete=lambda o: self.events.append(("delete", object_key(o))),
        )


async def test_lists_then_follows_changes(env: Environment) -> None:
    await env.client.create(cm("a"))
    informer = Informer(env.client, ConfigMap, clock=env.clock)
    recorder = Recorder()
    recorder.attach(informer)
    async with running(informer):
        assert informer.has_synced
        assert [o.metadata.name for o in informer.list()] == ["a"]
        await env.client.create(cm("b"))
        await env.client.patch(ConfigMap, "a", {"data": {"x": "1"}})
        await env.client.delete(ConfigMap, "b")
        await env.settle()
        assert informer.get("default/a").data == {"x": "1"}  # type: ignore[union-attr]
        assert informer.get("default/b") is None
        assert informer.resource_version == str(await env.store.current_revision())
    assert recorder.events == [
        ("add", "default/a"),
        ("add", "default/b"),
        ("update", "default/a"),
        ("delete", "default/b"),
    ]


async def test_scoped_by_namespace_and_labels(env: Environment) -> None:
    await env.client.create(Namespace(metadata=ObjectMeta(name="other")))
    await env.client.create(cm("a", app="web"))
    await env.client.create(cm("b", app="db"))
    await env.client.create(cm("c", "other", app="web"))
    informer = Informer(
        env.client, ConfigMap, namespace="default", label_selector="app=web", clock=env.clock
    )
    async with running(informer):
        await env.client.patch(ConfigMap, "b", {"metadata": {"labels": {"app": "web"}}})
        await env.client.patch(ConfigMap, "a", {"metadata": {"labels": {"app": "old"}}})
        await env.settle()
        assert informer.keys() == ["default/b"]  # a moved out, b moved in, c elsewhere


async def test_field_selector_scopes_server_side(env: Environment) -> None:
    await env.client.create(cm("a"))
    await env.client.create(cm("b"))
    informer = Informer(env.client, ConfigMap, field_selector="metadata.name=b", clock=env.clock)
    async with running(informer):
        assert informer.keys() == ["default/b"]


async def test_default_transform_strips_managed_fields_and_last_applied(
    env: Environment,
) -> None:
    annotations = {LAST_APPLIED_ANNOTATION: "{...}", "keep": "me"}
    created = await env.client.create(
        ConfigMap(metadata=ObjectMeta(name="a", annotations=annotations), data={"k": "v"})
    )
    assert created.metadata.managed_fields
    informer = Informer(env.client, ConfigMap, clock=env.clock)
    raw = Informer(env.client, ConfigMap, clock=env.clock, transform=None)
    async with running(informer), running(raw):
        cached = informer.get("default/a")
        assert cached is not None
        assert cached.metadata.managed_fields == []
        assert cached.metadata.annotations == {"keep": "me"}
        assert cached.data == {"k": "v"}
        assert raw.get("default/a") == created


async def test_metadata_only_keeps_type_and_object_metadata(env: Environment) -> None:
    await env.client.create(ConfigMap(metadata=ObjectMeta(name="a"), data={"big": "x" * 1000}))
    informer = Informer(env.client, ConfigMap, clock=env.clock, metadata_only=True)
    async with running(informer):
        cached = informer.get("default/a")
        assert isinstance(cached, PartialObjectMetadata)
        assert (cached.api_version, cached.kind) == ("v1", "ConfigMap")
        assert cached.metadata.name == "a" and not cached.metadata.managed_fields


async def test_indexers_follow_changes(env: Environment) -> None:
    informer = Informer(
        env.client,
        ConfigMap,
        clock=env.clock,
        indexers={
            "app": lambda o: [o.metadata.labels["app"]] if "app" in o.metadata.labels else []
        },
    )
    await env.client.create(cm("a", app="web"))
    async with running(informer):
        await env.client.create(cm("b", app="web"))
        await env.client.create(cm("c"))
        await env.settle()
        assert sorted(o.metadata.name for o in informer.by_index("app", "web")) == ["a", "b"]
        await env.client.patch(ConfigMap, "a", {"metadata": {"labels": {"app": "db"}}})
        await env.settle()
        assert [o.metadata.name for o in informer.by_index("app", "web")] == ["b"]
        assert [o.metadata.name for o in informer.by_index("namespace", "default")] != []
        informer.add_indexer("name", lambda o: [o.metadata.name])
        assert [o.metadata.name for o in informer.by_index("name", "c")] == ["c"]
        with pytest.raises(KeyError, match="no index named"):
            informer.by_index("nope", "x")


async def test_a_late_handler_receives_the_cache_as_adds(env: Environment) -> None:
    await env.client.create(cm("a"))
    informer = Informer(env.client, ConfigMap, clock=env.clock)
    async with running(informer):
        replayed: list[tuple[str, bool]] = []
        informer.add_handler(lambda o: replayed.append((o.metadata.name, informer.replaying)))
        assert replayed == [("a", True)]


async def test_relists_after_compaction_without_missing_an_object(env: Environment) -> None:
    for name in ("keep", "gone", "changed"):
        await env.client.create(cm(name))
    informer = Informer(env.client, ConfigMap, clock=env.clock)
    recorder = Recorder()
    recorder.attach(informer)
    async with running(informer):
        pass  # synced, then stopped: its watch position is now old
    await env.client.delete(ConfigMap, "gone")
    await env.client.patch(ConfigMap, "changed", {"data": {"v": "2"}})
    await env.client.create(cm("new"))
    await env.store.compact(await env.store.current_revision())
    recorder.events.clear()
    async with running(informer):
        await env.settle()
        assert informer.metrics.relists == 1
        assert sorted(informer.keys()) == ["default/changed", "default/keep", "default/new"]
        assert informer.get("default/changed").data == {"v": "2"}  # type: ignore[union-attr]
        await env.client.create(cm("after"))
        await env.settle()
        assert informer.get("default/after") is not None
    assert ("delete", "default/gone") in recorder.events
    assert ("add", "default/new") in recorder.events


class FlakyClient:
    """Passes through to a client; its first ``failures`` watches fail to open."""

    def __init__(self, client: Any, failures: int) -> None:
        self.client = client
        self.failures = failures
        self.opened = 0

    async def list(self, kind: Any, **options: Any) -> Any:
        return await self.client.list(kind, **options)

    @asynccontextmanager
    async def watch(self, kind: Any, **options: Any) -> AsyncIterator[Any]:
        self.opened += 1
        if self.failures:
            self.failures -= 1
            raise errors.StoreUnavailable("connection refused")
        async with self.client.watch(kind, **options) as events:
            yield events


async def test_reconnects_with_backoff_and_resumes_without_relisting(env: Environment) -> None:
    flaky = FlakyClient(env.client, failures=2)
    informer: Informer[ConfigMap] = Informer(flaky, ConfigMap, clock=env.clock)  # type: ignore[arg-type]
    async with running(informer):
        await env.client.create(cm("a"))
        await env.settle()
        assert informer.get("default/a") is None  # the watch is down, backing off
        await env.advance(1.6)  # first backoff: 0.8 s + up to 100 % jitter
        await env.advance(3.2)
        assert informer.get("default/a") is not None
        assert informer.metrics.reconnects == 2
        assert informer.metrics.lists == 1  # resumed from its resourceVersion


class SilentClient(FlakyClient):
    """Watches that stay open and never deliver anything (a frozen connection)."""

    @asynccontextmanager
    async def watch(self, kind: Any, **options: Any) -> AsyncIterator[Any]:
        self.opened += 1

        class Frozen:
            def __aiter__(self) -> Frozen:
                return self

            async def __anext__(self) -> Any:
                await anyio.sleep_forever()

        yield Frozen()


async def test_a_frozen_watch_is_reopened_after_the_inactivity_timeout(
    env: Environment,
) -> None:
    silent = SilentClient(env.client, 0)
    informer: Informer[ConfigMap] = Informer(
        silent,  # type: ignore[arg-type]
        ConfigMap,
        clock=env.clock,
        inactivity_timeout=60,
        watch_timeout=3600,
    )
    async with running(informer):
        await env.advance(59)
        assert silent.opened == 1
        await env.advance(2)
        assert silent.opened == 2
        assert informer.metrics.inactivity_timeouts == 1


async def test_bookmarks_move_the_resource_version(env: Environment) -> None:
    # warm the server's ConfigMap watch cache first: a watch opened while that cache is
    # still starting is served by its own store watch, which only gets the store's
    # progress notifications (every 600 s), not the cache's 60 s bookmarks
    await env.client.list(ConfigMap)
    await env.settle()
    informer = Informer(env.client, ConfigMap, clock=env.clock, inactivity_timeout=600)
    async with running(informer):
        await env.settle()
        before = informer.resource_version
        await env.client.create(Namespace(metadata=ObjectMeta(name="elsewhere")))  # not a CM
        await env.advance(61)  # the server's bookmark interval is 60 s
        assert informer.metrics.bookmarks >= 1
        assert int(informer.resource_version) > int(before)


async def test_wait_for_a_resource_version(env: Environment) -> None:
    informer = Informer(env.client, ConfigMap, clock=env.clock)
    async with running(informer):
        created = await env.client.create(cm("a"))
        await informer.wait_for(created.metadata.resource_version)
        assert informer.get("default/a") is not None
        await informer.wait_for("1")  # already reached: returns at once
        with pytest.raises(errors.BadRequest, match="not a korch resourceVersion"):
            await informer.wait_for("abc")


async def test_resync_redelivers_the_cache_as_updates(env: Environment) -> None:
    await env.client.create(cm("a"))
    informer = Informer(env.client, ConfigMap, clock=env.clock, resync_period=30)
    seen: list[tuple[bool, bool]] = []
    informer.add_handler(on_update=lambda old, new: seen.append((old is new, informer.replaying)))
    async with running(informer):
        await env.advance(31)
    assert seen == [(True, True)]
    assert informer.metrics.resyncs == 1


async def test_factory_shares_one_informer_per_kind_and_scope(env: Environment) -> None:
    factory = InformerFactory(env.client, clock=env.clock)
    first = factory.informer(ConfigMap)
    assert factory.informer(ConfigMap) is first
    assert factory.informer(ConfigMap, namespace="x") is not first
    await env.client.create(cm("a"))
    async with anyio.create_task_group() as group:
        group.start_soon(factory.run)
        await factory.wait_synced()
        late = factory.informer(ConfigMap, label_selector="app=web")
        await late.wait_synced()  # started by the running factory
        assert first.keys() == ["default/a"] and late.keys() == []
        group.cancel_scope.cancel()


async def test_bad_arguments_are_rejected(env: Environment) -> None:
    with pytest.raises(errors.BadRequest):
        Informer(env.client, ConfigMap, label_selector="a in (")
    with pytest.raises(ValueError, match="resync_period"):
        Informer(env.client, ConfigMap, resync_period=0)


async def test_transform_keeps_objects_without_anything_to_strip() -> None:
    from korch.controllers import default_transform

    bare = cm("a")
    assert default_transform(bare) is bare
    heavy = attrs.evolve(
        bare, metadata=attrs.evolve(bare.metadata, managed_fields=[ManagedFieldsEntry(manager="x")])
    )
    assert default_transform(heavy).metadata.managed_fields == []


async def test_waits_for_a_kind_that_is_not_served_yet(env: Environment) -> None:
    from korch.api import from_dict

    from .conftest import WIDGET, WIDGET_CRD, widget

    informer = Informer(env.client, WIDGET, clock=env.clock)
    async with anyio.create_task_group() as group:
        group.start_soon(informer.run)
        await env.settle()
        assert not informer.has_synced and informer.metrics.reconnects == 1
        await env.client.create(from_dict(WIDGET_CRD))
        await env.client.create(widget("w1"))
        await env.advance(1.6)  # the first reconnect backoff
        assert informer.has_synced and informer.keys() == ["default/w1"]
        group.cancel_scope.cancel()
