"""LocalClient: the Client protocol over an in-process APIServer."""

from __future__ import annotations

import random
from typing import Any, assert_type

import anyio
import pytest

from korch import errors
from korch.api import ConfigMap, Node, ObjectMeta, Status
from korch.apiserver import APIServer, ObjectList, WatchEvent
from korch.client import Client, LocalClient
from korch.clock import FakeClock
from korch.store import MemoryStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def api() -> APIServer:
    clock = FakeClock()
    return APIServer(MemoryStore(clock=clock), clock=clock, rng=random.Random(5))


async def test_local_client_is_a_client(api: APIServer) -> None:
    client = api.client()
    assert isinstance(client, LocalClient)
    assert isinstance(client, Client)


async def test_default_namespace_for_one_object_calls(api: APIServer) -> None:
    client = api.client(namespace="kube-system")
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    assert created.metadata.namespace == "kube-system"
    assert (await client.get(ConfigMap, "c")).metadata.uid == created.metadata.uid
    with pytest.raises(errors.NotFound):
        await client.get(ConfigMap, "c", namespace="default")
    # list without a namespace covers every namespace
    await client.create(ConfigMap(metadata=ObjectMeta(name="d")), namespace="default")
    assert len((await client.list(ConfigMap)).items) == 2


async def test_cluster_scoped_kinds_ignore_the_default_namespace(api: APIServer) -> None:
    client = api.client()
    node = await client.create(Node(metadata=ObjectMeta(name="n1")))
    assert node.metadata.namespace == ""
    assert await client.get(Node, "n1") == node
    await client.delete(Node, "n1")


async def test_list_is_a_typed_object_list(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    listed = await client.list(ConfigMap)
    assert isinstance(listed, ObjectList)
    assert all(isinstance(c, ConfigMap) for c in listed.items)
    assert [c.metadata.name for c in listed] == ["c"]
    assert len(listed) == 1
    assert listed.metadata.resource_version


async def test_watch_yields_typed_events_and_raises_expired(api: APIServer) -> None:
    client = api.client()
    old = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    async with client.watch(ConfigMap, resource_version=old.metadata.resource_version) as events:
        await client.delete(ConfigMap, "c")
        with anyio.fail_after(5):
            event: WatchEvent[ConfigMap] = await events.__anext__()
    assert (event.type, event.object.metadata.name) == ("DELETED", "c")
    assert event.resource_version == event.object.metadata.resource_version
    for i in range(3):
        await client.create(ConfigMap(metadata=ObjectMeta(name=f"x{i}")))
    store: Any = api.store
    await store.compact(await store.current_revision())
    with pytest.raises(errors.Expired) as caught:
        async with client.watch(ConfigMap, resource_version=old.metadata.resource_version) as ev:
            await ev.__anext__()
    status = caught.value.details["status"]
    assert isinstance(status, Status)
    assert status.code == 410


async def test_writes_record_the_client_field_manager(api: APIServer) -> None:
    client = api.client(field_manager="my-controller")
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"x": "1"}))
    assert [e.manager for e in created.metadata.managed_fields] == ["my-controller"]
    patched = await client.patch(
        ConfigMap, "c", {"data": {"a": "1"}}, type="merge", field_manager="editor"
    )
    assert {e.manager for e in patched.metadata.managed_fields} == {"my-controller", "editor"}


async def test_generic_kinds_by_api_version_and_kind(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    listed = await client.list(("v1", "ConfigMap"))
    assert [c.metadata.name for c in listed.items] == ["c"]
    assert (await client.delete(("v1", "ConfigMap"), "c")).metadata.name == "c"


async def test_results_are_typed_by_the_kind_argument(api: APIServer) -> None:
    """Checked by mypy (``mypy tests/client``) as much as at run time."""
    client = api.client()
    created = assert_type(await client.create(ConfigMap(metadata=ObjectMeta(name="c"))), ConfigMap)
    assert_type(await client.get(ConfigMap, "c"), ConfigMap)
    assert_type(await client.list(ConfigMap), ObjectList[ConfigMap])
    assert_type(await client.get(("v1", "ConfigMap"), "c"), Any)
    async with client.watch(ConfigMap, resource_version=created.metadata.resource_version) as ev:
        await client.delete(ConfigMap, "c")
        with anyio.fail_after(5):
            event = assert_type(await ev.__anext__(), WatchEvent[ConfigMap])
    assert event.object.metadata.name == "c"
