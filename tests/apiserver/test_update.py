"""Update: optimistic concurrency, generation, status subresource, immutable metadata."""

from __future__ import annotations

from typing import Any, TypeVar

import anyio
import attrs
import pytest

from korch import errors
from korch.api import ConfigMap, GenericResource, ObjectMeta
from korch.apiserver import APIServer
from korch.store import MemoryStore
from tests.apiserver.conftest import make_deployment, make_pod

pytestmark = pytest.mark.anyio


T = TypeVar("T")


def _meta(obj: T, **changes: Any) -> T:
    return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, **changes))  # type: ignore[misc, attr-defined]


async def test_stale_resource_version_is_conflict(api: APIServer) -> None:
    client = api.client()
    first = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1"}))
    await client.update(attrs.evolve(first, data={"a": "2"}))
    with pytest.raises(errors.Conflict) as caught:
        await client.update(attrs.evolve(first, data={"a": "3"}))
    assert str(caught.value) == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; please '
        "apply your changes to the latest version and try again"
    )
    assert (await client.get(ConfigMap, "c")).data == {"a": "2"}


async def test_update_returns_new_resource_version(api: APIServer, store: MemoryStore) -> None:
    client = api.client()
    first = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    second = await client.update(attrs.evolve(first, data={"a": "1"}))
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert second.metadata.resource_version == str(await store.current_revision())
    assert second.metadata.uid == first.metadata.uid
    assert second.metadata.creation_timestamp == first.metadata.creation_timestamp


async def test_update_without_resource_version_is_unconditional_for_builtins(
    api: APIServer,
) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1"}))
    blind = ConfigMap(metadata=ObjectMeta(name="c", namespace="default"), data={"a": "2"})
    updated = await client.update(blind)
    assert updated.data == {"a": "2"}


async def test_custom_resources_need_a_resource_version(api: APIServer) -> None:
    from korch.api import ResourceType

    api.registry.register(
        ResourceType(group="example.com", version="v1", kind="Widget", plural="widgets")
    )
    client = api.client()
    widget = GenericResource(
        api_version="example.com/v1",
        kind="Widget",
        metadata=ObjectMeta(name="w", namespace="default"),
        body={"spec": {"size": 1}},
    )
    created = await client.create(widget)
    assert created.metadata.generation == 1
    with pytest.raises(errors.Invalid, match="must be specified for an update"):
        await client.update(_meta(created, resource_version=""))
    changed = await client.update(attrs.evolve(created, body={"spec": {"size": 2}}))
    assert changed.metadata.generation == 2


async def test_update_of_missing_object_is_not_found(api: APIServer) -> None:
    with pytest.raises(errors.NotFound):
        await api.client().update(ConfigMap(metadata=ObjectMeta(name="nope")))


async def test_fifty_writers_with_retry_lose_no_update(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="counter"), data={"n": "0"}))
    conflicts = 0

    async def increment() -> None:
        nonlocal conflicts
        while True:
            current = await client.get(ConfigMap, "counter")
            await anyio.lowlevel.checkpoint()  # let the others read the same version
            bumped = attrs.evolve(current, data={"n": str(int(current.data["n"]) + 1)})
            try:
                await client.update(bumped)
                return
            except errors.Conflict:
                conflicts += 1

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(increment)
    assert (await client.get(ConfigMap, "counter")).data == {"n": "50"}
    assert conflicts > 0


async def test_noop_update_keeps_the_resource_version(api: APIServer, store: MemoryStore) -> None:
    client = api.client()
    created = await client.create(make_pod("web"))
    before = await store.current_revision()
    again = await client.update(created)
    assert again.metadata.resource_version == created.metadata.resource_version
    assert await store.current_revision() == before


async def test_generation_bumps_on_spec_changes_only(api: APIServer) -> None:
    client = api.client()
    deploy = await client.create(make_deployment("web"))
    assert deploy.metadata.generation == 1
    relabelled = await client.update(_meta(deploy, labels={"team": "a"}))
    assert relabelled.metadata.generation == 1
    scaled = await client.update(
        attrs.evolve(relabelled, spec=attrs.evolve(relabelled.spec, replicas=3))
    )
    assert scaled.metadata.generation == 2
    status = await client.update_status(
        attrs.evolve(scaled, status=attrs.evolve(scaled.status, replicas=3))
    )
    assert status.metadata.generation == 2


async def test_deployment_generation_bumps_on_annotation_changes(api: APIServer) -> None:
    client = api.client()
    deploy = await client.create(make_deployment("web"))
    annotated = await client.update(_meta(deploy, annotations={"note": "x"}))
    assert annotated.metadata.generation == 2


async def test_clients_cannot_set_generation_or_creation_timestamp(api: APIServer) -> None:
    client = api.client()
    deploy = await client.create(make_deployment("web"))
    forged = _meta(deploy, generation=40, creation_timestamp=None)
    updated = await client.update(forged)
    assert updated.metadata.generation == 1
    assert updated.metadata.creation_timestamp == deploy.metadata.creation_timestamp


async def test_uid_is_immutable(api: APIServer) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    with pytest.raises(errors.Invalid) as caught:
        await client.update(_meta(created, uid="0c1a7f54-0000-4000-8000-000000000000"))
    assert any(c.field == "metadata.uid" for c in caught.value.causes)


async def test_main_resource_writes_ignore_status(api: APIServer) -> None:
    client = api.client()
    deploy = await client.create(make_deployment("web"))
    sneaky = attrs.evolve(
        deploy,
        spec=attrs.evolve(deploy.spec, replicas=2),
        status=attrs.evolve(deploy.status, replicas=9),
    )
    updated = await client.update(sneaky)
    assert updated.spec.replicas == 2
    assert updated.status.replicas == 0


async def test_status_writes_ignore_spec(api: APIServer) -> None:
    client = api.client()
    deploy = await client.create(make_deployment("web"))
    sneaky = attrs.evolve(
        deploy,
        spec=attrs.evolve(deploy.spec, replicas=7),
        status=attrs.evolve(deploy.status, replicas=1, observed_generation=1),
    )
    updated = await client.update_status(sneaky)
    assert updated.spec.replicas == 1
    assert updated.status.replicas == 1
    assert updated.status.observed_generation == 1


async def test_deployment_status_writes_cannot_change_labels(api: APIServer) -> None:
    client = api.client()
    deploy = await client.create(make_deployment("web"))
    updated = await client.update_status(
        _meta(deploy, labels={"x": "y"}, annotations={"note": "kept"})
    )
    assert updated.metadata.labels == {}
    assert updated.metadata.annotations == {"note": "kept"}


async def test_pod_status_writes_may_change_labels_not_owner_references(api: APIServer) -> None:
    from korch.api import OwnerReference

    client = api.client()
    pod = await client.create(make_pod("web", node="n1"))
    owner = OwnerReference(api_version="v1", kind="ConfigMap", name="o", uid="u")
    updated = await client.update_status(
        attrs.evolve(
            _meta(pod, labels={"ready": "yes"}, owner_references=[owner]),
            status=attrs.evolve(pod.status, phase="Running"),
        )
    )
    assert updated.status.phase == "Running"
    assert updated.metadata.labels == {"ready": "yes"}
    assert updated.metadata.owner_references == []


async def test_custom_resource_status_writes_change_only_status(api: APIServer) -> None:
    from korch.api import ResourceType

    api.registry.register(
        ResourceType(
            group="example.com", version="v1", kind="Widget", plural="widgets",
            subresources=("status",),
        )
    )  # fmt: skip
    client = api.client()
    created = await client.create(
        GenericResource(
            api_version="example.com/v1",
            kind="Widget",
            metadata=ObjectMeta(name="w", namespace="default"),
            body={"spec": {"size": 1}, "status": {"ready": True}},
        )
    )
    assert "status" not in created.body  # reset on create
    updated = await client.update_status(
        attrs.evolve(
            _meta(created, labels={"x": "y"}),
            body={"spec": {"size": 5}, "status": {"ready": True}},
        )
    )
    assert updated.body == {"spec": {"size": 1}, "status": {"ready": True}}
    assert updated.metadata.labels == {}
    assert updated.metadata.generation == 1


async def test_status_subresource_must_exist(api: APIServer) -> None:
    client = api.client()
    cm = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    with pytest.raises(errors.NotFound, match="subresource"):
        await client.update_status(cm)


async def test_dry_run_update_changes_nothing(api: APIServer) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1"}))
    result = await client.update(attrs.evolve(created, data={"a": "2"}), dry_run=True)
    assert result.data == {"a": "2"}
    assert result.metadata.resource_version == created.metadata.resource_version
    assert (await client.get(ConfigMap, "c")).data == {"a": "1"}


async def test_update_validates(api: APIServer) -> None:
    client = api.client()
    pod = await client.create(make_pod("web"))
    with pytest.raises(errors.Invalid):
        await client.update(_meta(pod, labels={"bad key!": "x"}))


async def test_managed_fields_track_updaters(api: APIServer) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1"}))
    other = api.client(field_manager="editor")
    updated = await other.update(attrs.evolve(created, data={"a": "1", "b": "2"}))
    managers = {e.manager for e in updated.metadata.managed_fields}
    assert managers == {"korch", "editor"}


async def test_update_of_generic_resource_pair_kind(api: APIServer) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1"}))
    fetched = await client.get(("v1", "ConfigMap"), "c")
    assert fetched == created
    assert isinstance(fetched, ConfigMap)
