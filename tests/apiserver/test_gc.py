"""The garbage collector: background, foreground and orphan propagation of deletes."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import pytest

from korch import errors
from korch.api import (
    ConfigMap,
    Event,
    GenericResource,
    Namespace,
    ObjectMeta,
    OwnerReference,
    ResourceType,
    Secret,
    default_registry,
)
from korch.apiserver import APIServer, GarbageCollector
from korch.clock import FakeClock
from korch.store import MemoryStore

pytestmark = pytest.mark.anyio


@attrs.frozen
class Env:
    api: APIServer
    client: Any
    gc: GarbageCollector


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    api = APIServer(MemoryStore(clock=clock), clock=clock, rng=random.Random(3))
    client = api.client()
    gc = GarbageCollector(client, clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(gc.run)
        await gc.synced.wait()
        yield Env(api, client, gc)
        tg.cancel_scope.cancel()


async def settle() -> None:
    """Let every task (watches, the collector's workers) run until all are blocked."""
    for _ in range(5):
        await anyio.wait_all_tasks_blocked()


def ref(owner: Any, *, block: bool | None = None) -> OwnerReference:
    return OwnerReference(
        api_version=owner.api_version,
        kind=owner.kind,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        block_owner_deletion=block,
    )


async def make(client: Any, name: str, *owners: OwnerReference, ns: str = "default") -> Any:
    meta = ObjectMeta(name=name, namespace=ns, owner_references=list(owners))
    return await client.create(ConfigMap(metadata=meta))


async def exists(client: Any, name: str, ns: str = "default") -> bool:
    try:
        await client.get(ConfigMap, name, namespace=ns)
    except errors.NotFound:
        return False
    return True


async def test_background_deletes_dependents_of_a_deleted_owner(env: Env) -> None:
    owner = await make(env.client, "owner")
    await make(env.client, "child", ref(owner))
    await make(env.client, "grandchild", ref(await env.client.get(ConfigMap, "child")))
    await env.client.delete(ConfigMap, "owner")
    await settle()
    assert not await exists(env.client, "child")
    assert not await exists(env.client, "grandchild")


async def test_dependent_with_a_live_owner_survives_and_loses_dangling_refs(env: Env) -> None:
    alive = await make(env.client, "alive")
    doomed = await make(env.client, "doomed")
    await make(env.client, "child", ref(alive), ref(doomed))
    await env.client.delete(ConfigMap, "doomed")
    await settle()
    child = await env.client.get(ConfigMap, "child")
    assert [r.name for r in child.metadata.owner_references] == ["alive"]


async def test_owner_with_another_uid_counts_as_gone(env: Env) -> None:
    owner = await make(env.client, "owner")
    stale = attrs.evolve(ref(owner), uid="not-the-uid")
    await make(env.client, "child", stale)
    await settle()
    assert not await exists(env.client, "child")
    assert await exists(env.client, "owner")


async def test_dependent_created_after_its_owner_is_gone_is_collected(env: Env) -> None:
    owner = await make(env.client, "owner")
    await env.client.delete(ConfigMap, "owner")
    await make(env.client, "late", ref(owner))
    await settle()
    assert not await exists(env.client, "late")


async def test_foreground_waits_for_blocking_dependents(env: Env) -> None:
    owner = await make(env.client, "owner")
    child = await make(env.client, "child", ref(owner, block=True))
    # a finalizer keeps the child (and so the owner) around
    await env.client.patch(ConfigMap, "child", {"metadata": {"finalizers": ["example.com/x"]}},
                           type="merge")  # fmt: skip
    await make(env.client, "loose", ref(owner))
    deleted = await env.client.delete(ConfigMap, "owner", propagation_policy="Foreground")
    assert "foregroundDeletion" in deleted.metadata.finalizers
    await settle()
    assert not await exists(env.client, "loose")
    child = await env.client.get(ConfigMap, "child")
    assert child.metadata.deletion_timestamp is not None
    assert (await env.client.get(ConfigMap, "owner")).metadata.deletion_timestamp is not None
    await env.client.patch(ConfigMap, "child", {"metadata": {"finalizers": None}}, type="merge")
    await settle()
    assert not await exists(env.client, "child")
    assert not await exists(env.client, "owner")


async def test_foreground_without_blocking_dependents_removes_owner(env: Env) -> None:
    owner = await make(env.client, "owner")
    await make(env.client, "child", ref(owner))
    await env.client.delete(ConfigMap, "owner", propagation_policy="Foreground")
    await settle()
    assert not await exists(env.client, "owner")
    assert not await exists(env.client, "child")


async def test_orphan_keeps_dependents_without_the_reference(env: Env) -> None:
    owner = await make(env.client, "owner")
    other = await make(env.client, "other")
    await make(env.client, "child", ref(owner), ref(other))
    await env.client.delete(ConfigMap, "owner", propagation_policy="Orphan")
    await settle()
    assert not await exists(env.client, "owner")
    child = await env.client.get(ConfigMap, "child")
    assert [r.name for r in child.metadata.owner_references] == ["other"]


async def test_owner_in_another_namespace_is_absent_with_an_event(env: Env) -> None:
    await env.client.create(Namespace(metadata=ObjectMeta(name="other")))
    owner = await make(env.client, "owner", ns="other")
    await make(env.client, "child", ref(owner))
    await settle()
    assert not await exists(env.client, "child")
    assert await exists(env.client, "owner", ns="other")
    events = await env.client.list(Event, namespace="default")
    reasons = [(e.reason, e.involved_object.name, e.type) for e in events.items]
    assert ("OwnerRefInvalidNamespace", "child", "Warning") in reasons


async def test_cluster_scoped_dependent_of_namespaced_owner_is_collected(env: Env) -> None:
    owner = await make(env.client, "owner")
    meta = ObjectMeta(name="scoped", owner_references=[ref(owner)])
    await env.client.create(Namespace(metadata=meta))
    await settle()
    ns = await env.client.get(Namespace, "scoped")
    assert ns.metadata.deletion_timestamp is not None or ns.status.phase == "Terminating"


async def test_other_kinds_and_unknown_owner_kinds(env: Env) -> None:
    owner = await make(env.client, "owner")
    meta = ObjectMeta(name="s", namespace="default", owner_references=[ref(owner)])
    await env.client.create(Secret(metadata=meta))
    unknown = OwnerReference(api_version="example.com/v1", kind="Thing", name="t", uid="u1")
    await make(env.client, "kept", unknown)
    await env.client.delete(ConfigMap, "owner")
    await settle()
    with pytest.raises(errors.NotFound):
        await env.client.get(Secret, "s")
    assert await exists(env.client, "kept")


async def test_kinds_the_server_does_not_serve_are_skipped() -> None:
    clock = FakeClock()
    api = APIServer(MemoryStore(clock=clock), clock=clock)
    thing = ResourceType(group="example.com", version="v1", kind="Thing", plural="things")
    gc = GarbageCollector(api.client(), clock=clock, resource_types=[thing])
    async with anyio.create_task_group() as tg:
        tg.start_soon(gc.run)
        await gc.synced.wait()
        tg.cancel_scope.cancel()
    assert gc.watched == (thing,)


async def test_custom_resource_owners_are_resolved() -> None:
    clock = FakeClock()
    api = APIServer(MemoryStore(clock=clock), clock=clock)
    thing = ResourceType(group="example.com", version="v1", kind="Thing", plural="things")
    api.registry.register(thing)
    client = api.client()
    owner = await client.create(
        GenericResource(
            api_version="example.com/v1",
            kind="Thing",
            metadata=ObjectMeta(name="t", namespace="default"),
        )
    )
    gc = GarbageCollector(client, clock=clock, resource_types=[thing, *default_registry()])
    async with anyio.create_task_group() as tg:
        tg.start_soon(gc.run)
        await gc.synced.wait()
        await make(client, "child", ref(owner))
        await settle()
        assert await exists(client, "child")
        await client.delete(("example.com/v1", "Thing"), "t")
        await settle()
        assert not await exists(client, "child")
        tg.cancel_scope.cancel()
