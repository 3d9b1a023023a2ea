"""The scale subresource of Deployments, ReplicaSets and StatefulSets."""

from __future__ import annotations

import attrs
import pytest

from korch import errors
from korch.api import ConfigMap, Deployment, ObjectMeta, Scale, ScaleSpec
from korch.apiserver import APIServer, ScalePaths, Strategy
from tests.apiserver.conftest import make_deployment

pytestmark = pytest.mark.anyio


async def test_get_scale(api: APIServer) -> None:
    client = api.client()
    deploy = await client.create(make_deployment("web", replicas=2))
    scale = await client.get_scale(Deployment, "web")
    assert scale.kind == "Scale"
    assert scale.api_version == "autoscaling/v1"
    assert scale.metadata.name == "web"
    assert scale.metadata.uid == deploy.metadata.uid
    assert scale.metadata.resource_version == deploy.metadata.resource_version
    assert scale.spec.replicas == 2
    assert scale.status.replicas == 0
    assert scale.status.selector == "app=web"


async def test_update_scale_changes_only_replicas(api: APIServer) -> None:
    client = api.client()
    deploy = await client.create(make_deployment("web"))
    scale = await client.get_scale(Deployment, "web")
    result = await client.update_scale(
        Deployment, "web", attrs.evolve(scale, spec=ScaleSpec(replicas=5))
    )
    assert result.spec.replicas == 5
    updated = await client.get(Deployment, "web")
    assert updated.spec.replicas == 5
    assert updated.metadata.generation == deploy.metadata.generation + 1
    assert updated.spec.template == deploy.spec.template
    entry = next(e for e in updated.metadata.managed_fields if e.subresource == "scale")
    assert entry.fields_v1 == {"f:spec": {"f:replicas": {}}}


async def test_stale_scale_is_a_conflict(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    scale = await client.get_scale(Deployment, "web")
    await client.patch(Deployment, "web", {"metadata": {"labels": {"a": "b"}}})
    with pytest.raises(errors.Conflict):
        await client.update_scale(
            Deployment, "web", attrs.evolve(scale, spec=ScaleSpec(replicas=3))
        )
    blind = Scale(metadata=ObjectMeta(name="web"), spec=ScaleSpec(replicas=3))
    assert (await client.update_scale(Deployment, "web", blind)).spec.replicas == 3


async def test_negative_replicas_are_invalid(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    with pytest.raises(errors.Invalid) as caught:
        await client.update_scale(
            Deployment, "web", Scale(metadata=ObjectMeta(name="web"), spec=ScaleSpec(replicas=-1))
        )
    assert str(caught.value) == (
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0"
    )


async def test_patch_scale(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    result = await client.patch_scale(Deployment, "web", {"spec": {"replicas": 4}})
    assert result.spec.replicas == 4
    json_result = await client.patch_scale(
        Deployment, "web", [{"op": "replace", "path": "/spec/replicas", "value": 6}], type="json"
    )
    assert json_result.spec.replicas == 6
    assert (await client.get(Deployment, "web")).spec.replicas == 6


async def test_kinds_without_scale(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    with pytest.raises(errors.NotFound, match="scale"):
        await client.get_scale(ConfigMap, "c")


async def test_dry_run_scale(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    scale = Scale(metadata=ObjectMeta(name="web"), spec=ScaleSpec(replicas=9))
    assert (await client.update_scale(Deployment, "web", scale, dry_run=True)).spec.replicas == 9
    assert (await client.get(Deployment, "web")).spec.replicas == 1


async def test_custom_resource_scale_through_a_strategy(api: APIServer) -> None:
    from korch.api import GenericResource, ResourceType

    api.registry.register(
        ResourceType(
            group="example.com", version="v1", kind="Pool", plural="pools",
            subresources=("status", "scale"),
        )
    )  # fmt: skip
    api.register_strategy(
        "example.com",
        "Pool",
        Strategy(
            generation=True,
            generation_on_any_change=True,
            status_writes_metadata=False,
            allow_unconditional_update=False,
            scale=ScalePaths(
                spec_replicas=("spec", "size"),
                status_replicas=("status", "size"),
                selector=("status", "selector"),
                selector_is_string=True,
            ),
        ),
    )
    client = api.client()
    await client.create(
        GenericResource(
            api_version="example.com/v1", kind="Pool",
            metadata=ObjectMeta(name="p", namespace="default"), body={"spec": {"size": 1}},
        )
    )  # fmt: skip
    scale = await client.update_scale(
        ("example.com/v1", "Pool"),
        "p",
        Scale(metadata=ObjectMeta(name="p"), spec=ScaleSpec(replicas=3)),
    )
    assert scale.spec.replicas == 3
    pool = await client.get(("example.com/v1", "Pool"), "p")
    assert pool.body["spec"] == {"size": 3}
