"""One Client suite, run over LocalClient and HTTPClient against the same API server: what
controllers rely on behaves the same in-process and over HTTPS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from korch import errors
from korch.api import (
    Binding,
    ConfigMap,
    Container,
    Deployment,
    DeploymentSpec,
    LabelSelector,
    Node,
    ObjectMeta,
    ObjectReference,
    Pod,
    PodSpec,
    PodTemplateSpec,
    Preconditions,
    Status,
)
from korch.apiserver import ObjectList, WatchEvent
from korch.client import Client
from korch.client._http import HTTPClient
from tests.http.conftest import Served

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["local", "http"])
async def client(request: pytest.FixtureRequest, served: Served) -> AsyncIterator[Any]:
    if request.param == "local":
        yield served.api.client()
        return
    async with HTTPClient.from_kubeconfig(served.kubeconfig) as http:
        yield http


def cm(name: str, **labels: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, labels=labels), data={"k": name})


def deployment(name: str, replicas: int = 1) -> Deployment:
    labels = {"app": name}
    return Deployment(
        metadata=ObjectMeta(name=name),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=[Container(name="c", image="nginx")]),
            ),
        ),
    )


async def test_it_is_a_client(client: Any) -> None:
    assert isinstance(client, Client)


async def test_create_get_list_in_the_default_namespace(client: Any) -> None:
    created = await client.create(cm("a"))
    assert created.metadata.namespace == "default"
    assert created.metadata.resource_version
    assert await client.get(ConfigMap, "a") == created
    await client.create(cm("b"), namespace="kube-system")
    with pytest.raises(errors.NotFound):
        await client.get(ConfigMap, "b")
    listed = await client.list(ConfigMap)
    assert isinstance(listed, ObjectList)
    assert all(isinstance(c, ConfigMap) for c in listed)
    assert sorted(c.metadata.name for c in listed) == ["a", "b"]
    assert listed.metadata.resource_version
    only = await client.list(ConfigMap, namespace="kube-system")
    assert [c.metadata.name for c in only] == ["b"]


async def test_cluster_scoped_kinds(client: Any) -> None:
    node = await client.create(Node(metadata=ObjectMeta(name="n1")))
    assert node.metadata.namespace == ""
    assert await client.get(Node, "n1") == node
    await client.delete(Node, "n1")
    with pytest.raises(errors.NotFound):
        await client.get(Node, "n1")


async def test_selectors_and_pages(client: Any) -> None:
    for i in range(5):
        await client.create(cm(f"c{i}", tier="web" if i % 2 else "db"))
    web = await client.list(ConfigMap, label_selector="tier=web")
    assert [c.metadata.name for c in web] == ["c1", "c3"]
    by_name = await client.list(ConfigMap, field_selector="metadata.name=c4")
    assert [c.metadata.name for c in by_name] == ["c4"]
    first = await client.list(ConfigMap, limit=2)
    assert len(first) == 2 and first.metadata.continue_
    rest = await client.list(ConfigMap, limit=10, continue_=first.metadata.continue_)
    assert [c.metadata.name for c in [*first, *rest]] == [f"c{i}" for i in range(5)]
    with pytest.raises(errors.BadRequest):
        await client.list(ConfigMap, label_selector="tier in (")


async def test_errors_are_typed(client: Any) -> None:
    await client.create(cm("a"))
    with pytest.raises(errors.AlreadyExists):
        await client.create(cm("a"))
    stale = await client.get(ConfigMap, "a")
    await client.patch(ConfigMap, "a", {"data": {"k": "2"}}, type="merge")
    with pytest.raises(errors.Conflict):
        await client.update(stale)
    with pytest.raises(errors.Invalid) as caught:
        await client.create(Pod(metadata=ObjectMeta(name="p"), spec=PodSpec(containers=[])))
    assert any(c.field == "spec.containers" for c in caught.value.causes)


async def test_patch_types_and_field_managers(client: Any) -> None:
    await client.create(cm("a"))
    merged = await client.patch(
        ConfigMap, "a", {"data": {"m": "1"}}, type="merge", field_manager="m"
    )
    assert merged.data == {"k": "a", "m": "1"}
    ops = [{"op": "add", "path": "/data/j", "value": "2"}]
    jsoned = await client.patch(ConfigMap, "a", ops, type="json")
    assert jsoned.data["j"] == "2"
    strategic = await client.patch(ConfigMap, "a", {"metadata": {"labels": {"s": "3"}}})
    assert strategic.metadata.labels == {"s": "3"}
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a"},
        "data": {"m": "x"},
    }
    with pytest.raises(errors.Conflict):
        await client.patch(ConfigMap, "a", applied, type="apply", field_manager="other")
    forced = await client.patch(
        ConfigMap, "a", applied, type="apply", field_manager="other", force=True
    )
    assert forced.data["m"] == "x"
    managers = {e.manager for e in forced.metadata.managed_fields}
    assert "other" in managers and "m" not in managers  # forced: "other" took data.m over
    dry = await client.patch(ConfigMap, "a", {"data": {"d": "1"}}, type="merge", dry_run=True)
    assert dry.data["d"] == "1"
    assert "d" not in (await client.get(ConfigMap, "a")).data


async def test_status_and_scale_subresources(client: Any) -> None:
    await client.create(deployment("web"))
    scale = await client.get_scale(Deployment, "web")
    assert scale.spec.replicas == 1
    scale = await client.patch_scale(Deployment, "web", {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    assert (await client.get(Deployment, "web")).spec.replicas == 3
    updated = await client.patch_status(Deployment, "web", {"status": {"replicas": 2}})
    assert updated.status.replicas == 2
    assert updated.spec.replicas == 3


async def test_deletes(client: Any) -> None:
    created = await client.create(cm("a"))
    with pytest.raises(errors.Conflict):
        await client.delete(ConfigMap, "a", preconditions=Preconditions(uid="not-it"))
    await client.delete(ConfigMap, "a", dry_run=True)
    assert (await client.get(ConfigMap, "a")).metadata.uid == created.metadata.uid
    await client.delete(ConfigMap, "a", preconditions=Preconditions(uid=created.metadata.uid))
    with pytest.raises(errors.NotFound):
        await client.get(ConfigMap, "a")
    for i in range(3):
        await client.create(cm(f"x{i}", group="g" if i else "other"))
    gone = await client.delete_collection(ConfigMap, label_selector="group=g")
    assert sorted(c.metadata.name for c in gone) == ["x1", "x2"]
    assert [c.metadata.name for c in await client.list(ConfigMap)] == ["x0"]


async def test_generic_kinds(client: Any) -> None:
    await client.create(cm("c"))
    listed = await client.list(("v1", "ConfigMap"))
    assert [c.metadata.name for c in listed] == ["c"]
    assert (await client.get(("v1", "ConfigMap"), "c")).metadata.name == "c"


async def test_watch_events_and_expired(client: Any, served: Served) -> None:
    old = await client.create(cm("c"))
    async with client.watch(ConfigMap, resource_version=old.metadata.resource_version) as events:
        await client.delete(ConfigMap, "c")
        with anyio.fail_after(5):
            event: WatchEvent[ConfigMap] = await events.__anext__()
    assert (event.type, event.object.metadata.name) == ("DELETED", "c")
    assert isinstance(event.object, ConfigMap)
    for i in range(3):
        await client.create(cm(f"x{i}"))
    store: Any = served.api.store
    await store.compact(await store.current_revision())
    # older than the watch cache's window (it began when the garbage collector started
    # watching, after the built-in namespaces were created), and compacted
    before = "1"
    async with contextlib.AsyncExitStack() as stack:
        ev = await stack.enter_async_context(client.watch(ConfigMap, resource_version=before))
        with anyio.fail_after(5), pytest.raises(errors.Expired) as caught:
            await ev.__anext__()
    status = caught.value.details["status"]
    assert isinstance(status, Status) and status.code == 410


async def test_watch_initial_events_end_with_a_bookmark(client: Any) -> None:
    await client.create(cm("a"))
    seen = []
    async with client.watch(
        ConfigMap, send_initial_events=True, allow_watch_bookmarks=True, label_selector=""
    ) as events:
        with anyio.fail_after(5):
            async for event in events:
                seen.append(event.type)
                if event.type == "BOOKMARK":
                    annotations = event.object.metadata.annotations
                    assert annotations.get("k8s.io/initial-events-end") == "true"
                    break
    assert seen == ["ADDED", "BOOKMARK"]


async def test_bind_and_evict(client: Any) -> None:
    await client.create(Node(metadata=ObjectMeta(name="n1")))
    await client.create(
        Pod(
            metadata=ObjectMeta(name="p"), spec=PodSpec(containers=[Container(name="c", image="x")])
        )
    )
    await client.bind(
        Binding(metadata=ObjectMeta(name="p"), target=ObjectReference(kind="Node", name="n1"))
    )
    assert (await client.get(Pod, "p")).spec.node_name == "n1"
    with pytest.raises(errors.Conflict):
        await client.bind(
            Binding(metadata=ObjectMeta(name="p"), target=ObjectReference(kind="Node", name="n1"))
        )
    await client.evict("p")
    pod = await client.get(Pod, "p")  # graceful: still there, terminating
    assert pod.metadata.deletion_timestamp is not None


async def test_record_event(client: Any) -> None:
    obj = await client.create(cm("c"))
    event = await client.record_event(obj, "Synced", "all good")
    assert (event.reason, event.involved_object.name, event.count) == ("Synced", "c", 1)


async def test_http_watch_resumes_when_the_server_ends_it(
    http_client: HTTPClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from korch.apiserver.http import _streams

    timeouts = iter([0.0, 60.0])  # the first stream ends at once, the next one lasts
    opened: list[float] = []

    def timeout(value: int | None, rng: object) -> float:
        opened.append(next(timeouts))
        return opened[-1]

    monkeypatch.setattr(_streams, "watch_timeout", timeout)
    first = await http_client.create(cm("a"))
    async with http_client.watch(ConfigMap, resource_version=first.metadata.resource_version) as ev:
        await http_client.create(cm("b"))
        with anyio.fail_after(5):
            event = await ev.__anext__()
    assert (event.type, event.object.metadata.name) == ("ADDED", "b")
    assert opened == [0.0, 60.0]
