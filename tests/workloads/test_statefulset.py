"""The StatefulSet controller: ordinals, ordered scaling, claims, partitions, revisions."""

from __future__ import annotations

import attrs
import pytest

from korch.api import (
    ControllerRevision,
    ObjectMeta,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    Pod,
    RollingUpdateStatefulSetStrategy,
    StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec,
    StatefulSetUpdateStrategy,
    VolumeResourceRequirements,
)
from korch.testing import Environment
from korch.workloads import StatefulSetReconciler
from korch.workloads._statefulset import parse_ordinal

from .conftest import selector, set_pod, template

pytestmark = pytest.mark.anyio

KEY = "default/db"


def stateful_set(
    replicas: int = 3, *, policy: str = "", strategy: str = "", partition: int | None = None
) -> StatefulSet:
    labels = {"app": "db"}
    claim = PersistentVolumeClaim(
        metadata=ObjectMeta(name="data"),
        spec=PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=VolumeResourceRequirements(requests={"storage": "1Gi"}),
        ),
    )
    rolling = (
        RollingUpdateStatefulSetStrategy(partition=partition) if partition is not None else None
    )
    return StatefulSet(
        metadata=ObjectMeta(name="db", namespace="default"),
        spec=StatefulSetSpec(
            replicas=replicas,
            selector=selector(labels),
            template=template(labels),
            service_name="db",
            volume_claim_templates=[claim],
            pod_management_policy=policy,
            update_strategy=StatefulSetUpdateStrategy(type=strategy, rolling_update=rolling),
        ),
    )


async def members(env: Environment) -> dict[str, Pod]:
    listed = await env.client.list(Pod, namespace="default")
    return {p.metadata.name: p for p in listed.items if p.metadata.deletion_timestamp is None}


async def run_all_ready(
    env: Environment, reconciler: StatefulSetReconciler, rounds: int = 20
) -> None:
    """Reconcile, and let a stand-in kubelet start pods and finish deletions, until idle."""
    for _ in range(rounds):
        await reconciler.reconcile(KEY)
        changed = False
        for pod in (await env.client.list(Pod, namespace="default")).items:
            if pod.metadata.deletion_timestamp is not None:
                await env.client.delete(
                    Pod, pod.metadata.name, namespace="default", grace_period_seconds=0
                )
                changed = True
            elif pod.status.phase != "Running":
                await set_pod(env, pod, node="n1")
                changed = True
        if not changed:
            await reconciler.reconcile(KEY)
            return
    raise AssertionError("the stateful set did not come to rest")


def test_parse_ordinal() -> None:
    assert parse_ordinal("web", "web-0") == 0
    assert parse_ordinal("web", "web-12") == 12
    assert parse_ordinal("web", "web-01") is None
    assert parse_ordinal("web", "web-x") is None
    assert parse_ordinal("web", "webby-1") is None


async def test_ordered_ready_creates_one_at_a_time(env: Environment) -> None:
    await env.client.create(stateful_set(3))
    reconciler = StatefulSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    await reconciler.reconcile(KEY)
    assert list(await members(env)) == ["db-0"]  # db-1 waits for db-0 to be ready
    pod = (await members(env))["db-0"]
    assert pod.spec.hostname == "db-0" and pod.spec.subdomain == "db"
    assert pod.metadata.labels["apps.kubernetes.io/pod-index"] == "0"
    (volume,) = pod.spec.volumes
    assert volume.persistent_volume_claim is not None
    assert volume.persistent_volume_claim.claim_name == "data-db-0"
    await set_pod(env, pod, node="n1")
    await reconciler.reconcile(KEY)
    assert sorted(await members(env)) == ["db-0", "db-1"]
    await run_all_ready(env, reconciler)
    assert sorted(await members(env)) == ["db-0", "db-1", "db-2"]
    claims = (await env.client.list(PersistentVolumeClaim, namespace="default")).items
    assert sorted(c.metadata.name for c in claims) == ["data-db-0", "data-db-1", "data-db-2"]
    sts = await env.client.get(StatefulSet, "db", namespace="default")
    assert (sts.status.replicas, sts.status.ready_replicas, sts.status.updated_replicas) == (
        3,
        3,
        3,
    )
    assert sts.status.current_revision == sts.status.update_revision != ""


async def test_parallel_creates_all_at_once(env: Environment) -> None:
    await env.client.create(stateful_set(3, policy="Parallel"))
    await StatefulSetReconciler(env.client, clock=env.clock).reconcile(KEY)
    assert sorted(await members(env)) == ["db-0", "db-1", "db-2"]


async def test_scale_down_removes_highest_ordinal_first_and_keeps_claims(env: Environment) -> None:
    await env.client.create(stateful_set(3))
    reconciler = StatefulSetReconciler(env.client, clock=env.clock)
    await run_all_ready(env, reconciler)
    await env.client.patch(StatefulSet, "db", {"spec": {"replicas": 1}}, namespace="default")
    await reconciler.reconcile(KEY)
    assert sorted(await members(env)) == ["db-0", "db-1"]  # db-2 goes first, alone
    await run_all_ready(env, reconciler)
    assert sorted(await members(env)) == ["db-0"]
    claims = (await env.client.list(PersistentVolumeClaim, namespace="default")).items
    assert len(claims) == 3


async def test_rolling_update_in_reverse_ordinal_order_with_partition(env: Environment) -> None:
    await env.client.create(stateful_set(3, partition=1))
    reconciler = StatefulSetReconciler(env.client, clock=env.clock)
    await run_all_ready(env, reconciler)
    old = (await env.client.get(StatefulSet, "db", namespace="default")).status.current_revision
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}
    await env.client.patch(StatefulSet, "db", patch, namespace="default")
    await reconciler.reconcile(KEY)
    assert "db-2" not in await members(env)  # the highest ordinal is replaced first
    await run_all_ready(env, reconciler)
    images = {n: p.spec.containers[0].image for n, p in (await members(env)).items()}
    assert images == {"db-0": "nginx:1", "db-1": "nginx:2", "db-2": "nginx:2"}
    sts = await env.client.get(StatefulSet, "db", namespace="default")
    assert sts.status.current_revision == old
    assert sts.status.updated_replicas == 2
    revisions = (await env.client.list(ControllerRevision, namespace="default")).items
    assert sorted(r.revision for r in revisions) == [1, 2]
    # dropping the partition finishes the rollout
    patch = {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}
    await env.client.patch(StatefulSet, "db", patch, namespace="default")
    await run_all_ready(env, reconciler)
    sts = await env.client.get(StatefulSet, "db", namespace="default")
    assert sts.status.current_revision == sts.status.update_revision
    assert sts.status.updated_replicas == 3


async def test_on_delete_waits_for_the_user(env: Environment) -> None:
    await env.client.create(stateful_set(2, strategy="OnDelete"))
    reconciler = StatefulSetReconciler(env.client, clock=env.clock)
    await run_all_ready(env, reconciler)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}
    await env.client.patch(StatefulSet, "db", patch, namespace="default")
    await run_all_ready(env, reconciler)
    assert {p.spec.containers[0].image for p in (await members(env)).values()} == {"nginx:1"}
    await env.client.delete(Pod, "db-1", namespace="default", grace_period_seconds=0)
    await run_all_ready(env, reconciler)
    images = {n: p.spec.containers[0].image for n, p in (await members(env)).items()}
    assert images == {"db-0": "nginx:1", "db-1": "nginx:2"}


async def test_failed_pod_is_recreated_with_its_name(env: Environment) -> None:
    await env.client.create(stateful_set(1))
    reconciler = StatefulSetReconciler(env.client, clock=env.clock)
    await run_all_ready(env, reconciler)
    pod = (await members(env))["db-0"]
    await env.client.update_status(
        attrs.evolve(pod, status=attrs.evolve(pod.status, phase="Failed"))
    )
    await reconciler.reconcile(KEY)
    # on a node: the failed pod is finished, so its deletion is immediate
    await run_all_ready(env, reconciler)
    again = (await members(env))["db-0"]
    assert again.metadata.uid != pod.metadata.uid


async def test_claims_are_owned_by_the_set_only_with_when_deleted_delete(env: Environment) -> None:
    sts = stateful_set(1)
    policy = StatefulSetPersistentVolumeClaimRetentionPolicy(
        when_deleted="Delete", when_scaled="Retain"
    )
    sts = attrs.evolve(
        sts, spec=attrs.evolve(sts.spec, persistent_volume_claim_retention_policy=policy)
    )
    created = await env.client.create(sts)
    await StatefulSetReconciler(env.client, clock=env.clock).reconcile(KEY)
    claim = await env.client.get(PersistentVolumeClaim, "data-db-0", namespace="default")
    assert [r.uid for r in claim.metadata.owner_references] == [created.metadata.uid]
    assert claim.metadata.labels == {"app": "db"}
