"""The ReplicaSet controller: replicas, slow start, delete order, adoption, status."""

from __future__ import annotations

import datetime
from typing import TypeVar

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api import (
    ContainerStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicationController,
    ReplicationControllerSpec,
)
from korch.testing import Environment
from korch.workloads import (
    ClientReader,
    ReplicaSetReconciler,
    deletion_order,
    replica_set_status,
    slow_start_batches,
)

from .conftest import names, pods, ready_all, selector, set_pod, template

pytestmark = pytest.mark.anyio

T = TypeVar("T")

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def rs(name: str = "web", replicas: int = 3, min_ready: int = 0) -> ReplicaSet:
    labels = {"app": name}
    return ReplicaSet(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=ReplicaSetSpec(
            replicas=replicas,
            selector=selector(labels),
            template=template(labels),
            min_ready_seconds=min_ready,
        ),
    )


def fake_pod(
    name: str,
    *,
    node: str = "",
    phase: str = "Pending",
    ready_at: int | None = None,
    restarts: int = 0,
    created: int = 0,
) -> Pod:
    conditions = []
    if ready_at is not None:
        when = T0 + datetime.timedelta(seconds=ready_at)
        conditions.append(PodCondition(type="Ready", status="True", last_transition_time=when))
    return Pod(
        metadata=ObjectMeta(
            name=name, uid=name, creation_timestamp=T0 + datetime.timedelta(seconds=created)
        ),
        spec=PodSpec(node_name=node),
        status=PodStatus(
            phase=phase,
            conditions=conditions,
            container_statuses=[ContainerStatus(name="c", restart_count=restarts)],
        ),
    )


def test_slow_start_batches_double() -> None:
    assert slow_start_batches(1) == [1]
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert slow_start_batches(0) == []


@given(st.integers(min_value=0, max_value=5000))
def test_slow_start_batches_sum_to_count(count: int) -> None:
    batches = slow_start_batches(count)
    assert sum(batches) == count
    assert all(b == 2**i for i, b in enumerate(batches[:-1]))


def test_deletion_order_follows_kubernetes() -> None:
    candidates = [
        fake_pod("ready-old", node="n1", phase="Running", ready_at=0, created=0),
        fake_pod("ready-new", node="n2", phase="Running", ready_at=50, created=10),
        fake_pod("unassigned", phase="Pending", created=0),
        fake_pod("pending", node="n3", phase="Pending", created=0),
        fake_pod("unknown", node="n4", phase="Unknown", created=0),
        fake_pod("running-not-ready", node="n5", phase="Running", created=0),
        fake_pod("restarty", node="n6", phase="Running", ready_at=0, restarts=5, created=0),
    ]
    order = [p.metadata.name for p in deletion_order(candidates)]
    assert order == [
        "unassigned",
        "pending",
        "unknown",
        "running-not-ready",
        "ready-new",  # ready for a shorter time
        "restarty",  # more restarts
        "ready-old",
    ]


def test_deletion_order_prefers_doubled_up_nodes_then_newer() -> None:
    a = fake_pod("a", node="n1", phase="Running", ready_at=0, created=0)
    b = fake_pod("b", node="n1", phase="Running", ready_at=0, created=1)
    c = fake_pod("c", node="n2", phase="Running", ready_at=0, created=5)
    assert [p.metadata.name for p in deletion_order([a, b, c])] == ["b", "a", "c"]


def test_status_counts_available_after_min_ready_seconds() -> None:
    now = (T0 + datetime.timedelta(seconds=30)).timestamp()
    group = [
        fake_pod("a", phase="Running", ready_at=0),
        fake_pod("b", phase="Running", ready_at=25),
        fake_pod("c"),
    ]
    counts = replica_set_status(group, {}, 10, now)
    assert (counts.replicas, counts.ready_replicas, counts.available_replicas) == (3, 2, 1)


async def test_creates_replicas_and_reports_status(env: Environment) -> None:
    created = await env.client.create(rs(replicas=3))
    reconciler = ReplicaSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile("default/web")
    current = await pods(env)
    assert len(current) == 3
    for pod in current:
        assert pod.metadata.name.startswith("web-")
        ref = pod.metadata.owner_references[0]
        assert (ref.uid, ref.controller, ref.block_owner_deletion) == (
            created.metadata.uid,
            True,
            True,
        )
    await ready_all(env)
    await reconciler.reconcile("default/web")
    status = (await env.client.get(ReplicaSet, "web", namespace="default")).status
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (3, 3, 3)
    assert status.fully_labeled_replicas == 3
    assert status.observed_generation == 1


async def test_min_ready_seconds_requeues_until_available(env: Environment) -> None:
    await env.client.create(rs(replicas=1, min_ready=20))
    reconciler = ReplicaSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile("default/web")
    await ready_all(env)
    result = await reconciler.reconcile("default/web")
    assert result.requeue_after == 20
    status = (await env.client.get(ReplicaSet, "web", namespace="default")).status
    assert (status.ready_replicas, status.available_replicas) == (1, 0)
    await env.advance(20)
    assert (await reconciler.reconcile("default/web")).requeue_after is None
    status = (await env.client.get(ReplicaSet, "web", namespace="default")).status
    assert status.available_replicas == 1


async def test_scale_down_deletes_unready_and_unscheduled_first(env: Environment) -> None:
    await env.client.create(rs(replicas=4))
    reconciler = ReplicaSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile("default/web")
    first, second, third, _fourth = await pods(env)
    await set_pod(env, first, node="n1")
    await set_pod(env, second, node="n2")
    await set_pod(env, third, node="n3", ready=False)
    await env.client.patch(ReplicaSet, "web", {"spec": {"replicas": 2}}, namespace="default")
    await reconciler.reconcile("default/web")
    alive = [p for p in await pods(env) if p.metadata.deletion_timestamp is None]
    assert names(alive) == sorted([first.metadata.name, second.metadata.name])


async def test_adopts_orphans_and_releases_mismatches(env: Environment) -> None:
    orphan = Pod(
        metadata=ObjectMeta(name="orphan", namespace="default", labels={"app": "web"}),
        spec=template({}).spec,
    )
    await env.client.create(orphan)
    owned_elsewhere = Pod(
        metadata=ObjectMeta(
            name="theirs",
            namespace="default",
            labels={"app": "web"},
            owner_references=[
                OwnerReference(api_version="v1", kind="X", name="x", uid="other", controller=True)
            ],
        ),
        spec=template({}).spec,
    )
    await env.client.create(owned_elsewhere)
    await env.client.create(rs(replicas=2))
    reconciler = ReplicaSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile("default/web")
    adopted = await env.client.get(Pod, "orphan", namespace="default")
    assert adopted.metadata.owner_references[0].kind == "ReplicaSet"
    assert len(await pods(env, selector="app=web")) == 3  # orphan + one new + theirs
    # relabel the adopted pod: it is released and replaced
    await env.client.patch(Pod, "orphan", {"metadata": {"labels": {"app": "other"}}})
    await reconciler.reconcile("default/web")
    released = await env.client.get(Pod, "orphan", namespace="default")
    assert released.metadata.owner_references == []
    ours = [p for p in await pods(env, selector="app=web") if p.metadata.name != "theirs"]
    assert len(ours) == 2


async def test_replaces_finished_pods(env: Environment) -> None:
    await env.client.create(rs(replicas=1))
    reconciler = ReplicaSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile("default/web")
    (pod,) = await pods(env)
    await set_pod(env, pod, phase="Failed", ready=False)
    await reconciler.reconcile("default/web")
    assert len(await pods(env)) == 2


async def test_failed_create_stops_slow_start_and_sets_replica_failure(
    env: Environment,
) -> None:
    bad = rs(replicas=5)
    bad = attrs.evolve(
        bad,
        spec=attrs.evolve(
            bad.spec,
            template=attrs.evolve(bad.spec.template, spec=PodSpec(containers=[])),
        ),
    )
    with pytest.raises(errors.Invalid):
        await env.client.create(bad)  # the API validates the template itself
    calls = 0

    class FailingClient:
        def __getattr__(self, name: str) -> object:
            return getattr(env.client, name)

        async def create(self, obj: object, **kwargs: object) -> object:
            nonlocal calls
            calls += 1
            raise errors.Forbidden("exceeded quota")

    await env.client.create(rs(replicas=5))
    reconciler = ReplicaSetReconciler(FailingClient(), clock=env.clock)  # type: ignore[arg-type]
    with pytest.raises(errors.Forbidden):
        await reconciler.reconcile("default/web")
    assert calls == 1
    status = (await env.client.get(ReplicaSet, "web", namespace="default")).status
    assert status.conditions[0].type == "ReplicaFailure"
    assert status.conditions[0].reason == "FailedCreate"


async def test_replication_controller(env: Environment) -> None:
    rc = ReplicationController(
        metadata=ObjectMeta(name="rc", namespace="default"),
        spec=ReplicationControllerSpec(
            replicas=2, selector={"app": "rc"}, template=template({"app": "rc"})
        ),
    )
    await env.client.create(rc)
    await ReplicaSetReconciler(env.client, clock=env.clock, kind=ReplicationController).reconcile(
        "default/rc"
    )
    assert len(await pods(env, selector="app=rc")) == 2


async def test_missing_set_is_a_no_op(env: Environment) -> None:
    result = await ReplicaSetReconciler(env.client, clock=env.clock).reconcile("default/none")
    assert result.requeue_after is None


class StaleReader(ClientReader):
    """A cache that stops seeing pod changes while ``frozen`` (an informer lagging behind)."""

    def __init__(self, client: object) -> None:
        super().__init__(client)  # type: ignore[arg-type]
        self.frozen: list[Pod] | None = None

    async def list(self, kind: type[T], **kwargs: object) -> list[T]:
        if kind is Pod and self.frozen is not None:
            return list(self.frozen)  # type: ignore[arg-type]
        return await super().list(kind, **kwargs)  # type: ignore[arg-type]


async def test_a_lagging_cache_does_not_double_create(env: Environment) -> None:
    await env.client.create(rs(replicas=3))
    reader = StaleReader(env.client)
    reader.frozen = []
    reconciler = ReplicaSetReconciler(env.client, clock=env.clock, reader=reader)
    await reconciler.reconcile("default/web")
    await reconciler.reconcile("default/web")  # the cache still shows no pods
    assert len(await pods(env)) == 3
    reader.frozen = None  # the cache caught up
    await reconciler.reconcile("default/web")
    assert len(await pods(env)) == 3
    assert len(reconciler.expectations) == 0


async def test_expectations_time_out(env: Environment) -> None:
    await env.client.create(rs(replicas=1))
    reader = StaleReader(env.client)
    reader.frozen = []
    reconciler = ReplicaSetReconciler(env.client, clock=env.clock, reader=reader)
    await reconciler.reconcile("default/web")
    await env.advance(301)
    await reconciler.reconcile("default/web")  # the cache never saw it: act again
    assert len(await pods(env)) == 2
