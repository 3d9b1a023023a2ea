"""Admission plugins (mutating, then validating) and the authorizer hook."""

from __future__ import annotations

import random
from typing import Any

import attrs
import pytest

from korch import errors
from korch.api import ConfigMap, Namespace, ObjectMeta
from korch.apiserver import (
    AdmissionAttributes,
    APIServer,
    Decision,
    RequestAttributes,
    UserInfo,
)
from korch.clock import FakeClock
from korch.store import MemoryStore

pytestmark = pytest.mark.anyio


class AddLabel:
    """Mutating: labels every ConfigMap ``admitted=yes``."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def admit(self, attributes: AdmissionAttributes) -> Any:
        obj = attributes.object
        if attributes.resource.kind != "ConfigMap":
            return obj
        self.log.append(f"mutate {attributes.operation}")
        labels = {**obj.metadata.labels, "admitted": "yes"}
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, labels=labels))


class DenyForbiddenData:
    """Validating: refuses ConfigMaps with ``data.forbidden``, and deletes of ``keep``."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.seen: list[AdmissionAttributes] = []

    async def validate(self, attributes: AdmissionAttributes) -> None:
        if attributes.resource.kind != "ConfigMap":
            return
        self.log.append(f"validate {attributes.operation}")
        self.seen.append(attributes)
        if attributes.operation == "DELETE":
            if attributes.old_object.metadata.name == "keep":
                raise errors.Forbidden("keep may not be deleted")
            return
        if "forbidden" in attributes.object.data:
            raise errors.Forbidden("forbidden data")


def make(store: MemoryStore, clock: FakeClock, *plugins: object, **kw: Any) -> APIServer:
    return APIServer(store, clock=clock, admission=plugins, rng=random.Random(1), **kw)


async def test_mutating_runs_before_validating(store: MemoryStore, clock: FakeClock) -> None:
    log: list[str] = []
    validator = DenyForbiddenData(log)
    api = make(store, clock, validator, AddLabel(log))
    created = await api.client().create(ConfigMap(metadata=ObjectMeta(name="c")))
    assert created.metadata.labels == {"admitted": "yes"}
    assert log[-2:] == ["mutate CREATE", "validate CREATE"]
    assert validator.seen[-1].object.metadata.labels == {"admitted": "yes"}


async def test_validating_admission_rejects(store: MemoryStore, clock: FakeClock) -> None:
    api = make(store, clock, DenyForbiddenData([]))
    client = api.client()
    with pytest.raises(errors.Forbidden, match="forbidden data"):
        await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"forbidden": "1"}))
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    with pytest.raises(errors.Forbidden):
        await client.update(attrs.evolve(created, data={"forbidden": "1"}))


async def test_admission_sees_updates_with_the_old_object(
    store: MemoryStore, clock: FakeClock
) -> None:
    validator = DenyForbiddenData([])
    api = make(store, clock, validator)
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"v": "1"}))
    await client.patch(ConfigMap, "c", {"data": {"v": "2"}}, type="merge")
    last = validator.seen[-1]
    assert last.operation == "UPDATE"
    assert last.old_object == created
    assert last.object.data == {"v": "2"}


async def test_dry_run_is_admitted_and_flagged(store: MemoryStore, clock: FakeClock) -> None:
    validator = DenyForbiddenData([])
    api = make(store, clock, validator)
    await api.client().create(ConfigMap(metadata=ObjectMeta(name="c")), dry_run=True)
    assert validator.seen[-1].dry_run is True


async def test_deletes_are_validated(store: MemoryStore, clock: FakeClock) -> None:
    api = make(store, clock, DenyForbiddenData([]))
    client = api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="keep")))
    with pytest.raises(errors.Forbidden):
        await client.delete(ConfigMap, "keep")
    assert await client.get(ConfigMap, "keep")


async def test_plugins_need_admit_or_validate(store: MemoryStore, clock: FakeClock) -> None:
    with pytest.raises(TypeError, match="neither"):
        make(store, clock, object())


class OnlyReads:
    async def authorize(self, attributes: RequestAttributes) -> Decision:
        if attributes.user is not None and attributes.user.name == "admin":
            return Decision(True)
        return Decision(attributes.verb in ("get", "list", "watch"))


async def test_authorizer_denies_with_kubernetes_message(
    store: MemoryStore, clock: FakeClock
) -> None:
    api = make(store, clock, authorizer=OnlyReads())
    admin = api.client(user=UserInfo(name="admin"))
    alice = api.client(user=UserInfo(name="alice"))
    await admin.create(ConfigMap(metadata=ObjectMeta(name="c")))
    assert (await alice.get(ConfigMap, "c")).metadata.name == "c"
    with pytest.raises(errors.Forbidden) as caught:
        await alice.delete(ConfigMap, "c")
    assert str(caught.value) == (
        'configmaps "c" is forbidden: User "alice" cannot delete resource "configmaps" in API '
        'group "" in the namespace "default"'
    )
    with pytest.raises(errors.Forbidden) as scoped:
        await alice.create(Namespace(metadata=ObjectMeta(name="team")))
    assert str(scoped.value) == (
        'namespaces "team" is forbidden: User "alice" cannot create resource "namespaces" in '
        'API group "" at the cluster scope'
    )
