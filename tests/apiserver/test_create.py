"""Create and get: system metadata, storage layout, errors, generateName, namespaces, dry run."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from korch import errors
from korch.api import ConfigMap, Deployment, Namespace, Node, ObjectMeta, Pod
from korch.apiserver import APIServer, object_key
from korch.clock import FakeClock
from korch.store import MemoryStore
from tests.apiserver.conftest import make_deployment, make_pod

pytestmark = pytest.mark.anyio


async def test_create_sets_system_metadata(api: APIServer, clock: FakeClock) -> None:
    clock.set(1_700_000_000.75)
    pod = await api.client().create(make_pod("web"))
    meta = pod.metadata
    assert meta.namespace == "default"
    assert len(meta.uid) == 36
    assert meta.creation_timestamp is not None
    assert meta.creation_timestamp.timestamp() == 1_700_000_000  # whole seconds
    assert int(meta.resource_version) > 0
    assert meta.generation == 1


async def test_resource_version_is_the_store_mod_revision(
    api: APIServer, store: MemoryStore
) -> None:
    pod = await api.client().create(make_pod("web"))
    kv = await store.get(b"/registry/core/pods/default/web")
    assert kv is not None
    assert pod.metadata.resource_version == str(kv.mod_revision)


async def test_objects_are_stored_as_compact_json_without_resource_version(
    api: APIServer, store: MemoryStore
) -> None:
    await api.client().create(make_deployment("web"))
    kv = await store.get(b"/registry/apps/deployments/default/web")
    assert kv is not None
    assert b": " not in kv.value and b", " not in kv.value
    stored = json.loads(kv.value)
    assert stored["kind"] == "Deployment"
    assert "resourceVersion" not in stored["metadata"]


async def test_cluster_scoped_keys_have_no_namespace(api: APIServer, store: MemoryStore) -> None:
    node = await api.client().create(Node(metadata=ObjectMeta(name="n1", namespace="ignored")))
    assert node.metadata.namespace == ""
    assert await store.get(b"/registry/core/nodes/n1") is not None
    rt = api.resource_type(Node)
    assert object_key(rt, "", "n1") == b"/registry/core/nodes/n1"


async def test_get_returns_what_create_returned(api: APIServer) -> None:
    client = api.client()
    created = await client.create(make_pod("web", labels={"app": "web"}))
    assert await client.get(Pod, "web") == created
    assert await client.get(("v1", "Pod"), "web", namespace="default") == created


async def test_duplicate_create_is_already_exists(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("web"))
    with pytest.raises(errors.AlreadyExists) as caught:
        await client.create(make_pod("web"))
    assert str(caught.value) == 'pods "web" already exists'
    assert caught.value.details == {"name": "web", "group": "", "kind": "pods"}


async def test_missing_object_is_not_found(api: APIServer) -> None:
    with pytest.raises(errors.NotFound) as caught:
        await api.client().get(Pod, "nope")
    assert str(caught.value) == 'pods "nope" not found'
    with pytest.raises(errors.NotFound) as grouped:
        await api.client().get(Deployment, "nope")
    assert str(grouped.value) == 'deployments.apps "nope" not found'


async def test_generate_name_appends_five_characters(api: APIServer) -> None:
    pod = make_pod("")
    pod = pod.__class__(
        metadata=ObjectMeta(generate_name="web-", namespace="default"), spec=pod.spec
    )
    created = await api.client().create(pod)
    name = created.metadata.name
    assert name.startswith("web-")
    assert len(name) == len("web-") + 5
    assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")


class Scripted(random.Random):
    """Picks name characters from a script: "bbbbb" first, then "ccccc"."""

    def __init__(self) -> None:
        super().__init__(0)
        self.script = iter("bbbbbccccc")

    def choice(self, seq: Any) -> Any:
        return next(self.script)


async def test_generate_name_retries_on_collision(store: MemoryStore, clock: FakeClock) -> None:
    api = APIServer(store, clock=clock, rng=Scripted())
    client = api.client()
    await client.create(make_pod("web-bbbbb"))
    spec = make_pod("x").spec
    template = Pod(metadata=ObjectMeta(generate_name="web-", namespace="default"), spec=spec)
    created = await client.create(template)
    assert created.metadata.name == "web-ccccc"


async def test_name_or_generate_name_is_required(api: APIServer) -> None:
    with pytest.raises(errors.Invalid) as caught:
        await api.client().create(ConfigMap(metadata=ObjectMeta(namespace="default")))
    assert any(c.field == "metadata.name" for c in caught.value.causes)


async def test_system_namespaces_exist_on_start(api: APIServer) -> None:
    names = [ns.metadata.name for ns in (await api.client().list(Namespace)).items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


async def test_bootstrap_is_idempotent_across_servers(store: MemoryStore, clock: FakeClock) -> None:
    await APIServer(store, clock=clock).client().list(Namespace)
    api2 = APIServer(store, clock=clock)
    assert len((await api2.client().list(Namespace)).items) == 4


async def test_create_in_missing_namespace_is_not_found(api: APIServer) -> None:
    with pytest.raises(errors.NotFound) as caught:
        await api.client().create(make_pod("web", namespace="nowhere"))
    assert str(caught.value) == 'namespaces "nowhere" not found'


async def test_create_in_terminating_namespace_is_forbidden(api: APIServer) -> None:
    client = api.client()
    await client.create(Namespace(metadata=ObjectMeta(name="team")))
    await client.delete(Namespace, "team")  # Terminating until its finalizer is gone
    with pytest.raises(errors.Forbidden) as caught:
        await client.create(make_pod("web", namespace="team"))
    assert str(caught.value) == (
        'pods "web" is forbidden: unable to create new content in namespace team because it '
        "is being terminated"
    )


async def test_new_namespace_is_active_with_kubernetes_finalizer(api: APIServer) -> None:
    ns = await api.client().create(Namespace(metadata=ObjectMeta(name="team")))
    assert ns.status.phase == "Active"
    assert ns.spec.finalizers == ["kubernetes"]


async def test_create_resets_status_and_pods_start_pending(api: APIServer) -> None:
    pod = make_pod("web")
    pod = pod.__class__(
        metadata=pod.metadata, spec=pod.spec, status=pod.status.__class__(phase="Running")
    )
    created = await api.client().create(pod)
    assert created.status.phase == "Pending"
    assert created.status.qos_class == "BestEffort"


async def test_nodes_keep_their_status_on_create(api: APIServer) -> None:
    node = Node(metadata=ObjectMeta(name="n1"))
    node = node.__class__(
        metadata=node.metadata, status=node.status.__class__(capacity={"cpu": "4"})
    )
    created = await api.client().create(node)
    assert created.status.capacity == {"cpu": "4"}


async def test_create_applies_defaults(api: APIServer) -> None:
    created = await api.client().create(make_pod("web"))
    assert created.spec.restart_policy == "Always"
    assert created.spec.containers[0].image_pull_policy == "Always"


async def test_dry_run_create_validates_but_stores_nothing(
    api: APIServer, store: MemoryStore
) -> None:
    client = api.client()
    await client.list(Pod)  # bootstrap first, so the revision below is stable
    before = await store.current_revision()
    result = await client.create(make_pod("web"), dry_run=True)
    assert result.metadata.uid
    assert result.metadata.resource_version == ""
    assert await store.current_revision() == before
    with pytest.raises(errors.NotFound):
        await client.get(Pod, "web")
    await client.create(make_pod("web"))
    with pytest.raises(errors.AlreadyExists):
        await client.create(make_pod("web"), dry_run=True)


async def test_managed_fields_record_the_creator_but_not_status(api: APIServer) -> None:
    created = await api.client().create(make_pod("web"))
    (entry,) = created.metadata.managed_fields
    assert entry.manager == "korch"
    assert entry.operation == "Update"
    assert entry.fields_v1 is not None
    assert "f:spec" in entry.fields_v1
    assert "f:status" not in entry.fields_v1


async def test_namespace_mismatch_is_bad_request(api: APIServer) -> None:
    with pytest.raises(errors.BadRequest, match="does not match the namespace"):
        await api.create(make_pod("web", namespace="default"), namespace="kube-system")


async def test_unknown_kind_is_not_found(api: APIServer) -> None:
    with pytest.raises(errors.NotFound, match="no matches for kind"):
        await api.client().get(("example.com/v1", "Widget"), "w")
