"""Built-in admission plugins: ServiceAccount, LimitRanger, ResourceQuota."""

from __future__ import annotations

import random
from typing import Any

import pytest

from korch import errors
from korch.api import (
    ConfigMap,
    Container,
    LimitRange,
    LimitRangeItem,
    LimitRangeSpec,
    Namespace,
    ObjectMeta,
    Pod,
    PodSpec,
    ResourceQuota,
    ResourceQuotaSpec,
    ResourceRequirements,
    Secret,
)
from korch.apiserver import (
    APIServer,
    LimitRanger,
    MutatingAdmission,
    ResourceQuotaAdmission,
    ServiceAccountAdmission,
    ValidatingAdmission,
    default_admission_chain,
)
from korch.clock import FakeClock
from korch.store import MemoryStore

pytestmark = pytest.mark.anyio


def server(*plugins: Any, store: MemoryStore | None = None) -> APIServer:
    clock = FakeClock()
    store = store or MemoryStore(clock=clock)
    return APIServer(store, clock=clock, admission=plugins, rng=random.Random(1))


def pod(name: str, *containers: Container) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=PodSpec(containers=list(containers) or [Container(name="c", image="nginx")]),
    )


def container(
    name: str = "c",
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
) -> Container:
    resources = ResourceRequirements(requests=requests or {}, limits=limits or {})
    return Container(name=name, image="nginx", resources=resources)


def limit_range(**item: Any) -> LimitRange:
    item.setdefault("type", "Container")
    return LimitRange(
        metadata=ObjectMeta(name="limits", namespace="default"),
        spec=LimitRangeSpec(limits=[LimitRangeItem(**item)]),
    )


def quota(hard: dict[str, str], name: str = "q", scopes: list[str] | None = None) -> ResourceQuota:
    spec = ResourceQuotaSpec(hard=hard, scopes=scopes or [])
    return ResourceQuota(metadata=ObjectMeta(name=name, namespace="default"), spec=spec)


def test_plugins_implement_the_protocols() -> None:
    store = MemoryStore()
    assert isinstance(ServiceAccountAdmission(), MutatingAdmission)
    assert isinstance(LimitRanger(store), MutatingAdmission)
    assert isinstance(LimitRanger(store), ValidatingAdmission)
    assert isinstance(ResourceQuotaAdmission(store), ValidatingAdmission)
    chain = default_admission_chain(store)
    assert [type(p).__name__ for p in chain] == [
        "LimitRanger",
        "ServiceAccountAdmission",
        "ResourceQuotaAdmission",
    ]


# -- ServiceAccount --------------------------------------------------------------------


async def test_service_account_defaults_to_default() -> None:
    client = server(ServiceAccountAdmission()).client()
    created = await client.create(pod("a"))
    assert created.spec.service_account_name == "default"
    explicit = pod("b")
    explicit = Pod(metadata=explicit.metadata, spec=PodSpec(
        containers=explicit.spec.containers, service_account_name="robot"))  # fmt: skip
    assert (await client.create(explicit)).spec.service_account_name == "robot"


async def test_namespace_lifecycle_is_enforced_by_the_server() -> None:
    client = server(*default_admission_chain(MemoryStore())).client()
    with pytest.raises(errors.NotFound):
        await client.create(ConfigMap(metadata=ObjectMeta(name="x", namespace="nowhere")))
    await client.create(Namespace(metadata=ObjectMeta(name="gone", finalizers=[])))
    await client.create(ConfigMap(metadata=ObjectMeta(name="keep", namespace="gone")))
    await client.delete(Namespace, "gone")
    with pytest.raises(errors.Forbidden, match="because it is being terminated"):
        await client.create(ConfigMap(metadata=ObjectMeta(name="x", namespace="gone")))


# -- LimitRanger -----------------------------------------------------------------------


async def test_limit_ranger_applies_defaults() -> None:
    store = MemoryStore()
    client = server(LimitRanger(store), store=store).client()
    await client.create(
        limit_range(default={"cpu": "500m", "memory": "256Mi"}, default_request={"cpu": "100m"})
    )
    created = await client.create(pod("a", container("c", requests={"memory": "64Mi"})))
    resources = created.spec.containers[0].resources
    assert resources.requests == {"cpu": "100m", "memory": "64Mi"}
    assert resources.limits == {"cpu": "500m", "memory": "256Mi"}
    note = created.metadata.annotations["kubernetes.io/limit-ranger"]
    assert (
        note
        == "LimitRanger plugin set: cpu request for container c; cpu, memory limit for container c"
    )


async def test_limit_ranger_request_follows_an_explicit_limit() -> None:
    store = MemoryStore()
    client = server(LimitRanger(store), store=store).client()
    await client.create(limit_range(default_request={"cpu": "100m"}))
    created = await client.create(pod("a", container(limits={"cpu": "300m"})))
    assert created.spec.containers[0].resources.requests == {"cpu": "300m"}


async def test_limit_ranger_max_defaults_the_limit_and_rejects_above() -> None:
    store = MemoryStore()
    client = server(LimitRanger(store), store=store).client()
    await client.create(limit_range(max={"cpu": "2"}))
    created = await client.create(pod("a"))
    assert created.spec.containers[0].resources.limits == {"cpu": "2"}
    with pytest.raises(errors.Forbidden) as caught:
        await client.create(pod("b", container(limits={"cpu": "3"})))
    assert caught.value.message == (
        'pods "b" is forbidden: maximum cpu usage per Container is 2, but limit is 3'
    )


async def test_limit_ranger_min_and_ratio() -> None:
    store = MemoryStore()
    client = server(LimitRanger(store), store=store).client()
    await client.create(limit_range(min={"memory": "64Mi"}, max_limit_request_ratio={"cpu": "2"}))
    bad = container(requests={"memory": "32Mi", "cpu": "100m"}, limits={"cpu": "300m"})
    with pytest.raises(errors.Forbidden) as caught:
        await client.create(pod("a", bad))
    assert caught.value.message == (
        'pods "a" is forbidden: [minimum memory usage per Container is 64Mi, but request is '
        "32Mi, cpu max limit to request ratio per Container is 2, but provided ratio is "
        "3.000000]"
    )
    ok = container(requests={"memory": "64Mi", "cpu": "100m"}, limits={"cpu": "200m"})
    await client.create(pod("b", ok))


async def test_limit_ranger_pod_type_sums_containers() -> None:
    store = MemoryStore()
    client = server(LimitRanger(store), store=store).client()
    await client.create(limit_range(type="Pod", max={"cpu": "1"}))
    one = container("x", limits={"cpu": "600m"})
    two = container("y", limits={"cpu": "600m"})
    with pytest.raises(
        errors.Forbidden, match="maximum cpu usage per Pod is 1, but limit is 1200m"
    ):
        await client.create(pod("a", one, two))


async def test_limit_ranger_ignores_other_namespaces_and_kinds() -> None:
    store = MemoryStore()
    client = server(LimitRanger(store), store=store).client()
    await client.create(Namespace(metadata=ObjectMeta(name="other")))
    lr = limit_range(max={"cpu": "1"})
    await client.create(LimitRange(metadata=ObjectMeta(name="l", namespace="other"), spec=lr.spec))
    created = await client.create(pod("a", container(limits={"cpu": "5"})))
    assert created.spec.containers[0].resources.limits == {"cpu": "5"}
    await client.create(ConfigMap(metadata=ObjectMeta(name="cm", namespace="other")))


# -- ResourceQuota ---------------------------------------------------------------------


async def test_quota_rejects_exceeding_compute() -> None:
    store = MemoryStore()
    client = server(ResourceQuotaAdmission(store), store=store).client()
    await client.create(quota({"requests.cpu": "2", "pods": "5"}, name="compute"))
    await client.create(pod("a", container(requests={"cpu": "1500m"})))
    with pytest.raises(errors.Forbidden) as caught:
        await client.create(pod("b", container(requests={"cpu": "1"})))
    assert caught.value.message == (
        'pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=1, '
        "used: requests.cpu=1500m, limited: requests.cpu=2"
    )
    await client.create(pod("c", container(requests={"cpu": "500m"})))
    stored = await client.get(ResourceQuota, "compute")
    assert stored.status.used == {"requests.cpu": "2", "pods": "2"}
    assert stored.status.hard == {"requests.cpu": "2", "pods": "5"}


async def test_quota_requires_requests_for_constrained_resources() -> None:
    store = MemoryStore()
    client = server(ResourceQuotaAdmission(store), store=store).client()
    await client.create(quota({"limits.memory": "1Gi", "cpu": "4"}, name="compute"))
    with pytest.raises(errors.Forbidden) as caught:
        await client.create(pod("a"))
    assert caught.value.message == (
        'pods "a" is forbidden: failed quota: compute: must specify cpu,limits.memory'
    )


async def test_quota_counts_pods_and_objects() -> None:
    store = MemoryStore()
    client = server(ResourceQuotaAdmission(store), store=store).client()
    await client.create(quota({"pods": "1", "count/configmaps": "1", "secrets": "0"}))
    await client.create(pod("a"))
    with pytest.raises(errors.Forbidden, match="requested: pods=1, used: pods=1, limited: pods=1"):
        await client.create(pod("b"))
    await client.create(ConfigMap(metadata=ObjectMeta(name="one", namespace="default")))
    with pytest.raises(errors.Forbidden, match="count/configmaps=1"):
        await client.create(ConfigMap(metadata=ObjectMeta(name="two", namespace="default")))
    with pytest.raises(errors.Forbidden, match="limited: secrets=0"):
        await client.create(Secret(metadata=ObjectMeta(name="s", namespace="default")))


async def test_quota_dry_run_leaves_status_alone_and_deletes_free_room() -> None:
    store = MemoryStore()
    client = server(ResourceQuotaAdmission(store), store=store).client()
    await client.create(quota({"pods": "1"}))
    await client.create(pod("a"), dry_run=True)
    assert (await client.get(ResourceQuota, "q")).status.used == {}
    await client.create(pod("a"))
    await client.delete(Pod, "a", grace_period_seconds=0)
    await client.create(pod("b"))


async def test_quota_scopes() -> None:
    store = MemoryStore()
    client = server(ResourceQuotaAdmission(store), store=store).client()
    await client.create(quota({"pods": "1"}, scopes=["BestEffort"]))
    await client.create(pod("a"))
    await client.create(pod("b", container(requests={"cpu": "1"})))
    with pytest.raises(errors.Forbidden):
        await client.create(pod("c"))
    await client.create(ConfigMap(metadata=ObjectMeta(name="cm", namespace="default")))


async def test_default_chain_together() -> None:
    store = MemoryStore()
    client = server(*default_admission_chain(store), store=store).client()
    await client.create(limit_range(default={"cpu": "1"}))
    await client.create(quota({"limits.cpu": "1"}))
    first = await client.create(pod("a"))
    assert first.spec.service_account_name == "default"
    assert first.spec.containers[0].resources.limits == {"cpu": "1"}
    with pytest.raises(errors.Forbidden, match="exceeded quota: q"):
        await client.create(pod("b"))
