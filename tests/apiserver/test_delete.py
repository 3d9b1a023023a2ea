"""Delete: preconditions, finalizers, propagation policies, graceful pod deletion,
namespaces, delete_collection and dry run."""

from __future__ import annotations

import datetime
from typing import Any, TypeVar

import attrs
import pytest

from korch import errors
from korch.api import ConfigMap, Deployment, Namespace, ObjectMeta, Pod, Preconditions
from korch.apiserver import APIServer
from korch.clock import FakeClock
from korch.store import MemoryStore
from tests.apiserver.conftest import make_deployment, make_pod

pytestmark = pytest.mark.anyio


T = TypeVar("T")


def _meta(obj: T, **changes: Any) -> T:
    return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, **changes))  # type: ignore[misc, attr-defined]


async def test_delete_removes_and_returns_the_last_state(api: APIServer) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1"}))
    deleted = await client.delete(ConfigMap, "c")
    assert deleted == created
    with pytest.raises(errors.NotFound):
        await client.get(ConfigMap, "c")
    with pytest.raises(errors.NotFound):
        await client.delete(ConfigMap, "c")


async def test_uid_precondition(api: APIServer) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    with pytest.raises(errors.Conflict) as caught:
        await client.delete(ConfigMap, "c", preconditions=Preconditions(uid="other"))
    assert str(caught.value) == (
        'Operation cannot be fulfilled on ConfigMap "c": the UID in the precondition (other) '
        f"does not match the UID in record ({created.metadata.uid}). The object might have "
        "been deleted and then recreated"
    )
    await client.delete(ConfigMap, "c", preconditions=Preconditions(uid=created.metadata.uid))


async def test_resource_version_precondition(api: APIServer) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    await client.patch(ConfigMap, "c", {"data": {"a": "1"}}, type="merge")
    stale = Preconditions(resource_version=created.metadata.resource_version)
    with pytest.raises(errors.Conflict, match="The object might have been modified"):
        await client.delete(ConfigMap, "c", preconditions=stale)


async def test_finalizers_hold_the_object_until_removed(api: APIServer, clock: FakeClock) -> None:
    client = api.client()
    deploy = await client.create(_meta(make_deployment("web"), finalizers=["example.com/cleanup"]))
    clock.advance(5)
    pending = await client.delete(Deployment, "web")
    meta = pending.metadata
    assert meta.deletion_timestamp == datetime.datetime.fromtimestamp(
        int(clock.time()), datetime.UTC
    )
    assert meta.deletion_grace_period_seconds == 0
    assert meta.generation == deploy.metadata.generation + 1
    assert meta.finalizers == ["example.com/cleanup"]
    # deleting again changes nothing
    again = await client.delete(Deployment, "web")
    assert again.metadata.resource_version == meta.resource_version
    # removing the last finalizer completes the deletion
    await client.update(_meta(pending, finalizers=[]))
    with pytest.raises(errors.NotFound):
        await client.get(Deployment, "web")


async def test_no_new_finalizers_on_a_terminating_object(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c", finalizers=["a.io/x"])))
    pending = await client.delete(ConfigMap, "c")
    with pytest.raises(errors.Invalid) as caught:
        await client.update(_meta(pending, finalizers=["a.io/x", "b.io/y"]))
    assert str(caught.value) == (
        'ConfigMap "c" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
        'added if the object is being deleted, found new finalizers []string{"b.io/y"}'
    )


async def test_updates_cannot_clear_the_deletion_timestamp(api: APIServer) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c", finalizers=["a.io/x"])))
    pending = await client.delete(ConfigMap, "c")
    updated = await client.update(
        attrs.evolve(_meta(pending, deletion_timestamp=None), data={"k": "v"})
    )
    assert updated.metadata.deletion_timestamp == pending.metadata.deletion_timestamp


@pytest.mark.parametrize(
    ("policy", "finalizers"),
    [("Orphan", ["orphan"]), ("Foreground", ["foregroundDeletion"])],
)
async def test_propagation_policy_is_recorded_as_a_finalizer(
    api: APIServer, policy: str, finalizers: list[str]
) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    pending = await client.delete(Deployment, "web", propagation_policy=policy)
    assert pending.metadata.finalizers == finalizers
    assert pending.metadata.deletion_timestamp is not None


async def test_background_propagation_deletes_at_once(api: APIServer) -> None:
    client = api.client()
    await client.create(make_deployment("web"))
    await client.delete(Deployment, "web", propagation_policy="Background")
    with pytest.raises(errors.NotFound):
        await client.get(Deployment, "web")


async def test_unknown_propagation_policy_is_invalid(api: APIServer) -> None:
    with pytest.raises(errors.Invalid, match="Unsupported value"):
        await api.client().delete(Deployment, "web", propagation_policy="Sometimes")


async def test_scheduled_pod_is_deleted_gracefully(api: APIServer, clock: FakeClock) -> None:
    client = api.client()
    pod = await client.create(make_pod("web", node="n1"))
    pending = await client.delete(Pod, "web")
    meta = pending.metadata
    assert meta.deletion_grace_period_seconds == 30  # the pod's terminationGracePeriodSeconds
    assert meta.deletion_timestamp == datetime.datetime.fromtimestamp(
        int(clock.time()) + 30, datetime.UTC
    )
    assert meta.generation == pod.metadata.generation + 1
    # a longer grace period changes nothing; a shorter one moves the deadline
    assert (await client.delete(Pod, "web", grace_period_seconds=60)) == pending
    shorter = await client.delete(Pod, "web", grace_period_seconds=10)
    assert shorter.metadata.deletion_grace_period_seconds == 10
    assert shorter.metadata.deletion_timestamp == meta.deletion_timestamp - datetime.timedelta(
        seconds=20
    )
    # the node finishes with grace 0
    await client.delete(Pod, "web", grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await client.get(Pod, "web")


async def test_unscheduled_pod_is_deleted_at_once(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("web"))
    await client.delete(Pod, "web", grace_period_seconds=30)
    with pytest.raises(errors.NotFound):
        await client.get(Pod, "web")


async def test_grace_zero_deletes_a_scheduled_pod_at_once(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("web", node="n1"))
    await client.delete(Pod, "web", grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await client.get(Pod, "web")


async def test_graceful_pod_with_finalizer_waits_for_both(api: APIServer) -> None:
    client = api.client()
    await client.create(_meta(make_pod("web", node="n1"), finalizers=["a.io/x"]))
    await client.delete(Pod, "web")
    pending = await client.delete(Pod, "web", grace_period_seconds=0)
    assert pending.metadata.finalizers == ["a.io/x"]
    assert pending.metadata.deletion_grace_period_seconds == 0
    await client.update(_meta(pending, finalizers=[]))
    with pytest.raises(errors.NotFound):
        await client.get(Pod, "web")


async def test_namespace_deletion_waits_for_its_finalizer(api: APIServer) -> None:
    client = api.client()
    await client.create(Namespace(metadata=ObjectMeta(name="team")))
    terminating = await client.delete(Namespace, "team")
    assert terminating.status.phase == "Terminating"
    assert terminating.metadata.deletion_timestamp is not None
    # a plain update cannot drop spec.finalizers; the finalize subresource can
    unchanged = await client.update(
        attrs.evolve(terminating, spec=attrs.evolve(terminating.spec, finalizers=[]))
    )
    assert unchanged.spec.finalizers == ["kubernetes"]
    await api.update(
        attrs.evolve(terminating, spec=attrs.evolve(terminating.spec, finalizers=[])),
        subresource="finalize",
    )
    await client.delete(Namespace, "team")
    with pytest.raises(errors.NotFound):
        await client.get(Namespace, "team")


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_immortal_namespaces(api: APIServer, name: str) -> None:
    with pytest.raises(errors.Forbidden, match="this namespace may not be deleted"):
        await api.client().delete(Namespace, name)


async def test_delete_collection(api: APIServer) -> None:
    client = api.client()
    for i in range(5):
        labels = {"app": "web"} if i % 2 == 0 else {"app": "db"}
        await client.create(make_pod(f"p{i}", labels=labels))
    deleted = await client.delete_collection(Pod, label_selector="app=web")
    assert sorted(p.metadata.name for p in deleted.items) == ["p0", "p2", "p4"]
    left = await client.list(Pod)
    assert [p.metadata.name for p in left.items] == ["p1", "p3"]


async def test_dry_run_delete(api: APIServer, store: MemoryStore) -> None:
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c", finalizers=["a.io/x"])))
    before = await store.current_revision()
    result = await client.delete(ConfigMap, "c", dry_run=True)
    assert result.metadata.deletion_timestamp is not None
    assert await store.current_revision() == before
    assert (await client.get(ConfigMap, "c")).metadata.deletion_timestamp is None
