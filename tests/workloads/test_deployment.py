"""The Deployment controller: hashes, fenceposts, rolling updates, rollbacks, conditions."""

from __future__ import annotations

import datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api import (
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    ObjectMeta,
    Pod,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicaSetStatus,
    RollingUpdateDeployment,
)
from korch.testing import Environment
from korch.workloads import DeploymentReconciler, ReplicaSetReconciler, rollback
from korch.workloads import _deployment_rules as rules

from .conftest import pods, ready_all, selector, template

pytestmark = pytest.mark.anyio

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def deployment(
    replicas: int = 4,
    *,
    image: str = "nginx:1",
    surge: int | str = "25%",
    unavailable: int | str = "25%",
    strategy: str = "RollingUpdate",
    history: int = 10,
    deadline: int = 600,
) -> Deployment:
    labels = {"app": "web"}
    rolling = RollingUpdateDeployment(max_surge=surge, max_unavailable=unavailable)
    return Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=selector(labels),
            template=template(labels, image),
            strategy=DeploymentStrategy(
                type=strategy, rolling_update=rolling if strategy == "RollingUpdate" else None
            ),
            revision_history_limit=history,
            progress_deadline_seconds=deadline,
        ),
    )


def fake_rs(
    name: str, replicas: int, available: int, *, created: int, max_replicas: int | None = None
) -> ReplicaSet:
    annotations = {}
    if max_replicas is not None:
        annotations[rules.MAX_REPLICAS_ANNOTATION] = str(max_replicas)
    return ReplicaSet(
        metadata=ObjectMeta(
            name=name,
            uid=name,
            annotations=annotations,
            creation_timestamp=T0 + datetime.timedelta(seconds=created),
        ),
        spec=ReplicaSetSpec(replicas=replicas),
        status=ReplicaSetStatus(replicas=replicas, available_replicas=available),
    )


# -- pure rules ------------------------------------------------------------------------


def test_pod_template_hash_is_stable_and_safe() -> None:
    a = rules.pod_template_hash(template({"app": "web"}))
    assert a == rules.pod_template_hash(template({"app": "web"}))
    assert a != rules.pod_template_hash(template({"app": "web"}, "nginx:2"))
    assert a != rules.pod_template_hash(template({"app": "web"}), collision_count=1)
    assert set(a) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_templates_equal_ignores_the_hash_label() -> None:
    with_hash = template({"app": "web", rules.POD_TEMPLATE_HASH_LABEL: "abc"})
    assert rules.templates_equal(with_hash, template({"app": "web"}))
    assert not rules.templates_equal(with_hash, template({"app": "web"}, "nginx:2"))


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable rounds down
        ("25%", "25%", 1, (1, 0)),
        (0, 0, 5, (0, 1)),  # both zero: one may be unavailable
        ("0%", "0%", 5, (0, 1)),
        (2, "50%", 5, (2, 2)),
    ],
)
def test_resolve_fenceposts(
    surge: int | str, unavailable: int | str, desired: int, expected: tuple[int, int]
) -> None:
    assert rules.resolve_fenceposts(surge, unavailable, desired) == expected


def test_resolve_fenceposts_rejects_garbage() -> None:
    with pytest.raises(errors.BadRequest, match="percentage"):
        rules.resolve_fenceposts("lots", 1, 3)


def test_proportional_scaling_follows_the_kubernetes_docs_example() -> None:
    # 10 replicas, maxSurge 3, maxUnavailable 2: a stuck rollout has old 8, new 5; scale to 15
    d = deployment(15, surge=3, unavailable=2)
    old = fake_rs("old", 8, 8, created=0, max_replicas=13)
    new = fake_rs("new", 5, 0, created=10, max_replicas=13)
    assert rules.proportional_scale(d, new, [old]) == {"old": 11, "new": 7}


@given(
    st.integers(1, 60),
    st.integers(0, 60),
    st.integers(0, 60),
    st.integers(1, 90),
)
def test_proportional_scaling_hits_the_allowed_size(
    old_size: int, new_size: int, extra: int, target: int
) -> None:
    d = deployment(target, surge=3, unavailable=2)
    old = fake_rs("old", old_size, old_size, created=0, max_replicas=old_size + new_size + extra)
    new = fake_rs("new", new_size, 0, created=10, max_replicas=old_size + new_size + extra)
    sizes = rules.proportional_scale(d, new, [old])
    total = sizes.get("old", old_size) + sizes.get("new", new_size)
    if new_size > 0:
        assert total == target + 3
    assert all(size >= 0 for size in sizes.values())


def test_new_replica_set_grows_within_max_surge() -> None:
    d = deployment(10, surge=3, unavailable=2)
    old = fake_rs("old", 10, 10, created=0)
    assert rules.new_replica_set_replicas(d, [old], None) == 3
    new = fake_rs("new", 3, 0, created=1)
    assert rules.new_replica_set_replicas(d, [old, new], new) == 3  # at 13 already


def test_old_replica_sets_shrink_within_max_unavailable() -> None:
    d = deployment(10, surge=3, unavailable=2)
    old = fake_rs("old", 10, 10, created=0)
    new = fake_rs("new", 3, 0, created=1)
    # 13 pods, 10 available, min available 8, 3 new unavailable: may drop 13-8-3 = 2
    assert rules.old_replica_sets_scale_down(d, [old, new], [old], new) == {"old": 8}
    # unhealthy old pods go first, even below what the available budget alone allows
    sick = fake_rs("old", 10, 6, created=0)
    assert rules.old_replica_sets_scale_down(d, [sick, new], [sick], new) == {"old": 8}


def test_rollback_template_picks_the_revision() -> None:
    d = deployment()
    d = attrs.evolve(
        d, metadata=attrs.evolve(d.metadata, annotations={rules.REVISION_ANNOTATION: "3"})
    )
    sets = []
    for revision, image in ((1, "a"), (2, "b"), (3, "c")):
        labels = {"app": "web", rules.POD_TEMPLATE_HASH_LABEL: image}
        rs = ReplicaSet(
            metadata=ObjectMeta(name=image, annotations={rules.REVISION_ANNOTATION: str(revision)}),
            spec=ReplicaSetSpec(template=template(labels, image)),
        )
        sets.append(rs)
    assert rules.rollback_template(d, sets).spec.containers[0].image == "b"
    back = rules.rollback_template(d, sets, 1)
    assert back.spec.containers[0].image == "a"
    assert rules.POD_TEMPLATE_HASH_LABEL not in back.metadata.labels
    with pytest.raises(errors.NotFound, match="revision 9"):
        rules.rollback_template(d, sets, 9)


# -- the reconciler ----------------------------------------------------------------------


class Driver:
    """Runs the deployment and ReplicaSet reconcilers (and a stand-in kubelet) to rest."""

    def __init__(self, env: Environment, *, kubelet: bool = True) -> None:
        self.env = env
        self.kubelet = kubelet
        self.deployments = DeploymentReconciler(env.client, clock=env.clock)
        self.replica_sets = ReplicaSetReconciler(env.client, clock=env.clock)
        self.observed: list[tuple[int, int, int]] = []

    async def step(self) -> None:
        await self.deployments.reconcile("default/web")
        for rs in await self.sets():
            await self.replica_sets.reconcile(f"default/{rs.metadata.name}")
        if self.kubelet:
            await ready_all(self.env)
        for rs in await self.sets():
            await self.replica_sets.reconcile(f"default/{rs.metadata.name}")
        sets = await self.sets()
        available = sum(rs.status.available_replicas for rs in sets)
        total = sum(rs.spec.replicas or 0 for rs in sets)
        self.observed.append((total, available, len(await pods(self.env))))

    async def run(self, rounds: int = 40) -> None:
        last = None
        for _ in range(rounds):
            await self.step()
            state = await self.snapshot()
            if state == last:
                return
            last = state
        raise AssertionError("the controllers did not come to rest")

    async def snapshot(self) -> tuple[str, ...]:
        items = [*(await self.sets()), *(await pods(self.env))]
        d = await self.get()
        return (d.metadata.resource_version, *sorted(o.metadata.resource_version for o in items))

    async def sets(self) -> list[ReplicaSet]:
        return list((await self.env.client.list(ReplicaSet, namespace="default")).items)

    async def get(self) -> Deployment:
        return await self.env.client.get(Deployment, "web", namespace="default")


def condition(d: Deployment, type_: str) -> tuple[str, str]:
    for c in d.status.conditions:
        if c.type == type_:
            return c.status, c.reason
    raise AssertionError(f"no {type_} condition")


async def set_image(env: Environment, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    await env.client.patch(Deployment, "web", patch, namespace="default")


async def test_first_rollout_creates_a_hashed_replica_set(env: Environment) -> None:
    await env.client.create(deployment(4))
    driver = Driver(env)
    await driver.run()
    (rs,) = await driver.sets()
    d = await driver.get()
    template_hash = rs.metadata.labels[rules.POD_TEMPLATE_HASH_LABEL]
    assert rs.metadata.name == f"web-{template_hash}"
    assert rs.spec.selector is not None
    assert rs.spec.selector.match_labels[rules.POD_TEMPLATE_HASH_LABEL] == template_hash
    assert rs.metadata.annotations[rules.REVISION_ANNOTATION] == "1"
    assert d.metadata.annotations[rules.REVISION_ANNOTATION] == "1"
    assert len(await pods(env, selector=f"pod-template-hash={template_hash}")) == 4
    status = d.status
    assert (status.replicas, status.updated_replicas, status.available_replicas) == (4, 4, 4)
    assert status.observed_generation == d.metadata.generation
    assert condition(d, "Available") == ("True", "MinimumReplicasAvailable")
    assert condition(d, "Progressing") == ("True", "NewReplicaSetAvailable")


async def test_rolling_update_respects_surge_and_unavailable(env: Environment) -> None:
    await env.client.create(deployment(10, surge=3, unavailable=2))
    driver = Driver(env)
    await driver.run()
    driver.observed.clear()
    await set_image(env, "nginx:2")
    await driver.run()
    for total, available, _ in driver.observed:
        assert total <= 13
        assert available >= 8
    d = await driver.get()
    assert d.metadata.annotations[rules.REVISION_ANNOTATION] == "2"
    assert (d.status.replicas, d.status.updated_replicas, d.status.available_replicas) == (
        10,
        10,
        10,
    )
    assert condition(d, "Progressing") == ("True", "NewReplicaSetAvailable")
    sizes = sorted(
        (rs.spec.replicas, rs.metadata.annotations[rules.REVISION_ANNOTATION])
        for rs in await driver.sets()
    )
    assert sizes == [(0, "1"), (10, "2")]
    images = {p.spec.containers[0].image for p in await pods(env)}
    assert images == {"nginx:2"}


async def test_rollback_reuses_the_old_replica_set(env: Environment) -> None:
    await env.client.create(deployment(3))
    driver = Driver(env)
    await driver.run()
    first = {rs.metadata.name for rs in await driver.sets()}
    await set_image(env, "nginx:2")
    await driver.run()
    await rollback(env.client, "web", namespace="default")
    await driver.run()
    d = await driver.get()
    assert d.spec.template.spec.containers[0].image == "nginx:1"
    assert d.metadata.annotations[rules.REVISION_ANNOTATION] == "3"
    (active,) = [rs for rs in await driver.sets() if rs.spec.replicas]
    assert active.metadata.name in first
    assert active.metadata.annotations[rules.REVISION_HISTORY_ANNOTATION] == "1"
    with pytest.raises(errors.NotFound):
        await rollback(env.client, "web", namespace="default", to_revision=7)


async def test_revision_history_limit_deletes_oldest_empty_sets(env: Environment) -> None:
    await env.client.create(deployment(2, history=1))
    driver = Driver(env)
    await driver.run()
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        await set_image(env, image)
        await driver.run()
    revisions = sorted(
        rs.metadata.annotations[rules.REVISION_ANNOTATION] for rs in await driver.sets()
    )
    assert revisions == ["3", "4"]


async def test_recreate_scales_old_to_zero_before_creating_new(env: Environment) -> None:
    await env.client.create(deployment(3, strategy="Recreate"))
    driver = Driver(env)
    await driver.run()
    await set_image(env, "nginx:2")
    await driver.deployments.reconcile("default/web")
    (old,) = await driver.sets()
    assert old.spec.replicas == 0  # and no new set yet
    await driver.run()
    sizes = sorted(rs.spec.replicas for rs in await driver.sets())
    assert sizes == [0, 3]
    for total, _available, _ in driver.observed:
        assert total <= 3


async def test_pause_holds_the_rollout_and_resume_continues(env: Environment) -> None:
    await env.client.create(deployment(2))
    driver = Driver(env)
    await driver.run()
    await env.client.patch(Deployment, "web", {"spec": {"paused": True}}, namespace="default")
    await set_image(env, "nginx:2")
    await driver.run()
    assert len(await driver.sets()) == 1
    assert condition(await driver.get(), "Progressing") == ("Unknown", "DeploymentPaused")
    # scaling a paused deployment still works
    await env.client.patch(Deployment, "web", {"spec": {"replicas": 3}}, namespace="default")
    await driver.run()
    assert [rs.spec.replicas for rs in await driver.sets()] == [3]
    await env.client.patch(Deployment, "web", {"spec": {"paused": False}}, namespace="default")
    await driver.run()
    d = await driver.get()
    assert condition(d, "Progressing") == ("True", "NewReplicaSetAvailable")
    assert d.status.updated_replicas == 3


async def test_progress_deadline_exceeded(env: Environment) -> None:
    await env.client.create(deployment(2, deadline=60))
    driver = Driver(env)
    await driver.run()
    driver.kubelet = False  # the new pods never become ready
    await set_image(env, "nginx:broken")
    await driver.run()
    d = await driver.get()
    assert condition(d, "Progressing") == ("True", "ReplicaSetUpdated")
    result = await driver.deployments.reconcile("default/web")
    assert result.requeue_after is not None and 0 < result.requeue_after <= 61
    await env.advance(61)
    await driver.deployments.reconcile("default/web")
    d = await driver.get()
    assert condition(d, "Progressing") == ("False", "ProgressDeadlineExceeded")
    assert condition(d, "Available") == ("True", "MinimumReplicasAvailable")


async def test_scaling_mid_rollout_is_proportional(env: Environment) -> None:
    await env.client.create(deployment(10, surge=3, unavailable=2))
    driver = Driver(env)
    await driver.run()
    driver.kubelet = False
    await set_image(env, "nginx:broken")
    await driver.run()
    sizes = sorted(rs.spec.replicas or 0 for rs in await driver.sets())
    assert sizes == [5, 8]
    await env.client.patch(Deployment, "web", {"spec": {"replicas": 15}}, namespace="default")
    await driver.deployments.reconcile("default/web")
    sizes = sorted(rs.spec.replicas or 0 for rs in await driver.sets())
    assert sizes == [7, 11]


async def test_deleted_deployment_is_a_no_op(env: Environment) -> None:
    assert (
        await DeploymentReconciler(env.client, clock=env.clock).reconcile("default/x")
    ) is not None
    assert await pods(env) == []
    assert Pod  # keeps the import used for type readers


@given(
    replicas=st.integers(1, 40),
    surge=st.one_of(st.integers(0, 10), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])),
    unavailable=st.one_of(st.integers(0, 10), st.sampled_from(["0%", "10%", "25%", "50%"])),
    delays=st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_rolling_update_arithmetic_keeps_its_bounds_and_finishes(
    replicas: int, surge: int | str, unavailable: int | str, delays: list[bool]
) -> None:
    """Step the pure rules with pods that become available one step later (or, as
    ``delays`` says, a step later still): the bounds hold and the rollout ends."""
    d = deployment(replicas, surge=surge, unavailable=unavailable)
    max_surge, max_unavailable = rules.max_surge(d), rules.max_unavailable(d)
    old = fake_rs("old", replicas, replicas, created=0)
    new = fake_rs("new", 0, 0, created=1)
    for step in range(400):
        sets = [new, old]
        size = rules.new_replica_set_replicas(d, sets, new)
        if size != new.spec.replicas:
            new = attrs.evolve(new, spec=attrs.evolve(new.spec, replicas=size))
        else:
            sizes = rules.old_replica_sets_scale_down(d, sets, [old], new)
            if "old" in sizes:
                old = attrs.evolve(old, spec=attrs.evolve(old.spec, replicas=sizes["old"]))
                old = attrs.evolve(
                    old,
                    status=attrs.evolve(
                        old.status,
                        replicas=sizes["old"],
                        available_replicas=min(old.status.available_replicas, sizes["old"]),
                    ),
                )
        total = (new.spec.replicas or 0) + (old.spec.replicas or 0)
        assert total <= replicas + max_surge
        available = new.status.available_replicas + old.status.available_replicas
        assert available >= min(replicas - max_unavailable, replicas)
        # the kubelet: new pods become available (sometimes a step late)
        if not delays[step % len(delays)] or step % 2:
            n = new.spec.replicas or 0
            new = attrs.evolve(
                new, status=attrs.evolve(new.status, replicas=n, available_replicas=n)
            )
        if new.status.available_replicas == replicas and not old.spec.replicas:
            return
    raise AssertionError("the rollout never finished")


async def test_hash_collision_bumps_collision_count(env: Environment) -> None:
    d = await env.client.create(deployment(2))
    taken = rules.pod_template_hash(d.spec.template)
    squatter = ReplicaSet(
        metadata=ObjectMeta(name=f"web-{taken}", namespace="default"),
        spec=ReplicaSetSpec(
            replicas=0,
            selector=selector({"app": "other"}),
            template=template({"app": "other"}, "busybox"),
        ),
    )
    await env.client.create(squatter)
    reconciler = DeploymentReconciler(env.client, clock=env.clock)
    with pytest.raises(errors.Conflict, match="collisionCount is now 1"):
        await reconciler.reconcile("default/web")
    await reconciler.reconcile("default/web")
    current = await env.client.get(Deployment, "web", namespace="default")
    assert current.status.collision_count == 1
    listed = (await env.client.list(ReplicaSet, namespace="default")).items
    assert {rs.metadata.name for rs in listed} == {
        f"web-{taken}",
        f"web-{rules.pod_template_hash(d.spec.template, 1)}",
    }
