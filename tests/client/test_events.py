"""record_event: core/v1 Events, named like client-go's, with repeats aggregated."""

from __future__ import annotations

import random

import pytest

from korch import errors
from korch.api import ConfigMap, Event, Node, ObjectMeta
from korch.apiserver import APIServer
from korch.clock import FakeClock
from korch.store import MemoryStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> APIServer:
    return APIServer(MemoryStore(clock=clock), clock=clock, rng=random.Random(5))


async def test_event_about_an_object(api: APIServer, clock: FakeClock) -> None:
    client = api.client(field_manager="web-controller")
    cm = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    event = await client.record_event(cm, "Synced", "all good")
    assert event.metadata.namespace == "default"
    name, _, suffix = event.metadata.name.partition(".")
    assert name == "c"
    assert int(suffix, 16) == int(clock.time() * 1e9)
    ref = event.involved_object
    assert (ref.kind, ref.name, ref.namespace, ref.uid, ref.api_version) == (
        "ConfigMap", "c", "default", cm.metadata.uid, "v1",
    )  # fmt: skip
    assert (event.reason, event.message, event.type, event.count) == (
        "Synced", "all good", "Normal", 1,
    )  # fmt: skip
    assert event.source.component == "web-controller"
    assert event.first_timestamp == event.last_timestamp is not None
    assert (await client.get(Event, event.metadata.name)) == event


async def test_repeats_are_aggregated(api: APIServer, clock: FakeClock) -> None:
    client = api.client()
    cm = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    first = await client.record_event(cm, "Failed", "boom", "Warning")
    clock.advance(30)
    second = await client.record_event(cm, "Failed", "boom", "Warning")
    third = await client.record_event(cm, "Failed", "boom", "Warning")
    assert second.metadata.name == first.metadata.name == third.metadata.name
    assert third.count == 3
    assert third.first_timestamp == first.first_timestamp
    assert third.last_timestamp is not None and first.last_timestamp is not None
    assert (third.last_timestamp - first.last_timestamp).total_seconds() == 30
    assert len((await client.list(Event)).items) == 1
    other = await client.record_event(cm, "Failed", "another message", "Warning")
    assert other.metadata.name != first.metadata.name
    assert other.count == 1


async def test_a_deleted_event_is_recreated(api: APIServer) -> None:
    client = api.client()
    cm = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    first = await client.record_event(cm, "Synced", "ok")
    await client.delete(Event, first.metadata.name)
    again = await client.record_event(cm, "Synced", "ok")
    assert again.count == 1
    assert again.metadata.name != first.metadata.name


async def test_events_about_cluster_scoped_objects_go_to_default(api: APIServer) -> None:
    client = api.client()
    node = await client.create(Node(metadata=ObjectMeta(name="n1")))
    event = await client.record_event(node, "Ready", "node is ready")
    assert event.metadata.namespace == "default"
    assert event.involved_object.namespace == ""


async def test_event_type_must_be_normal_or_warning(api: APIServer) -> None:
    client = api.client()
    cm = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    with pytest.raises(errors.BadRequest, match="Normal or Warning"):
        await client.record_event(cm, "X", "y", "Info")
