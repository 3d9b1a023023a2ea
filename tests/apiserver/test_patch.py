"""Patch: JSON, merge, strategic merge and server-side apply, on objects and on status."""

from __future__ import annotations

from typing import Any

import pytest

from korch import errors
from korch.api import ConfigMap, Deployment, GenericResource, ObjectMeta, Pod, ResourceType
from korch.apiserver import APIServer
from tests.apiserver.conftest import make_deployment, make_pod

pytestmark = pytest.mark.anyio


def applied(replicas: int = 3, image: str = "nginx:2") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


async def test_merge_patch(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    patched = await client.patch(Deployment, "web", {"spec": {"replicas": 3}}, type="merge")
    assert patched.spec.replicas == 3
    assert patched.metadata.generation == 2


async def test_json_patch(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1"}))
    patched = await client.patch(
        ConfigMap,
        "c",
        [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}],
        type="json",
    )
    assert patched.data == {"b": "2"}


async def test_failed_json_patch_test_is_invalid(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1"}))
    with pytest.raises(errors.Invalid):
        await client.patch(
            ConfigMap, "c", [{"op": "test", "path": "/data/a", "value": "9"}], type="json"
        )


async def test_strategic_merge_patch_merges_containers_by_name(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("web"))
    patch = {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    patched = await client.patch(Pod, "web", patch)
    assert [(c.name, c.image) for c in patched.spec.containers] == [("c", "nginx:2")]
    merge = await client.patch(Pod, "web", {"metadata": {"labels": {"a": "b"}}}, type="merge")
    assert merge.spec.containers[0].image == "nginx:2"


async def test_strategic_merge_patch_of_custom_resource_is_415(api: APIServer) -> None:
    api.registry.register(
        ResourceType(group="example.com", version="v1", kind="Widget", plural="widgets")
    )
    client = api.client()
    await client.create(
        GenericResource(
            api_version="example.com/v1",
            kind="Widget",
            metadata=ObjectMeta(name="w", namespace="default"),
            body={"spec": {"size": 1}},
        )
    )
    with pytest.raises(errors.UnsupportedMediaType):
        await client.patch(("example.com/v1", "Widget"), "w", {"spec": {"size": 2}})
    merged = await client.patch(
        ("example.com/v1", "Widget"), "w", {"spec": {"size": 2}}, type="merge"
    )
    assert merged.body["spec"] == {"size": 2}


async def test_patch_of_missing_object_is_not_found(api: APIServer) -> None:
    with pytest.raises(errors.NotFound):
        await api.client().patch(ConfigMap, "nope", {"data": {"a": "1"}}, type="merge")


async def test_patch_with_stale_resource_version_is_conflict(api: APIServer) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    await client.patch(ConfigMap, "c", {"data": {"a": "1"}}, type="merge")
    stale = {"metadata": {"resourceVersion": created.metadata.resource_version}, "data": {}}
    with pytest.raises(errors.Conflict):
        await client.patch(ConfigMap, "c", stale, type="merge")


async def test_patch_cannot_rename(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    with pytest.raises(errors.BadRequest, match="does not match the name"):
        await client.patch(ConfigMap, "c", {"metadata": {"name": "d"}}, type="merge")


async def test_patch_with_wrong_json_types_is_invalid(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    with pytest.raises(errors.Invalid, match=r"spec\.replicas"):
        await client.patch(Deployment, "web", {"spec": {"replicas": "3"}}, type="merge")


async def test_unknown_patch_type_is_unsupported(api: APIServer) -> None:
    with pytest.raises(errors.UnsupportedMediaType):
        await api.client().patch(ConfigMap, "c", {}, type="yaml")  # type: ignore[call-overload]


async def test_apply_creates_then_updates(api: APIServer) -> None:
    client = api.client()
    created = await client.patch(Deployment, "web", applied(), type="apply", field_manager="ci")
    assert created.spec.replicas == 3
    assert [e.manager for e in created.metadata.managed_fields] == ["ci"]
    assert created.metadata.managed_fields[0].operation == "Apply"
    updated = await client.patch(
        Deployment, "web", applied(replicas=5), type="apply", field_manager="ci"
    )
    assert updated.spec.replicas == 5
    assert updated.metadata.generation == 2


async def test_apply_conflicts_with_another_manager_unless_forced(api: APIServer) -> None:
    client = api.client()
    await client.patch(Deployment, "web", applied(), type="apply", field_manager="ci")
    with pytest.raises(errors.Conflict) as caught:
        await client.patch(
            Deployment, "web", applied(replicas=7), type="apply", field_manager="hpa"
        )
    assert str(caught.value) == ('Apply failed with 1 conflict: conflict with "ci": .spec.replicas')
    forced = await client.patch(
        Deployment, "web", applied(replicas=7), type="apply", field_manager="hpa", force=True
    )
    assert forced.spec.replicas == 7


async def test_apply_requires_a_field_manager(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    with pytest.raises(errors.BadRequest, match="fieldManager is required"):
        await api.patch(Deployment, "web", applied(), namespace="default", type="apply")


async def test_update_then_apply_conflicts_on_changed_field(api: APIServer) -> None:
    client = api.client()
    await client.patch(Deployment, "web", applied(), type="apply", field_manager="ci")
    await client.patch(Deployment, "web", {"spec": {"replicas": 4}}, type="merge")
    with pytest.raises(errors.Conflict, match='conflict with "korch"'):
        await client.patch(Deployment, "web", applied(), type="apply", field_manager="ci")


async def test_force_only_with_apply(api: APIServer) -> None:
    with pytest.raises(errors.BadRequest, match="force"):
        await api.client().patch(ConfigMap, "c", {}, type="merge", force=True)


async def test_patch_status(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    patched = await client.patch_status(
        Deployment, "web", {"status": {"replicas": 2}, "spec": {"replicas": 9}}
    )
    assert patched.status.replicas == 2
    assert patched.spec.replicas == 1
    entry = next(e for e in patched.metadata.managed_fields if e.subresource == "status")
    assert entry.manager == "korch"


async def test_main_resource_patch_ignores_status(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    patched = await client.patch(Deployment, "web", {"status": {"replicas": 2}}, type="merge")
    assert patched.status.replicas == 0


async def test_dry_run_patch(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    result = await client.patch(
        Deployment, "web", {"spec": {"replicas": 4}}, type="merge", dry_run=True
    )
    assert result.spec.replicas == 4
    assert (await client.get(Deployment, "web")).spec.replicas == 1


async def test_dry_run_apply_create_stores_nothing(api: APIServer) -> None:
    client = api.client()
    result = await client.patch(
        Deployment, "web", applied(), type="apply", field_manager="ci", dry_run=True
    )
    assert result.spec.replicas == 3
    with pytest.raises(errors.NotFound):
        await client.get(Deployment, "web")
