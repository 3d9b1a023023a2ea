"""Node lifecycle: lease heartbeats, Unknown nodes, NoExecute taints and timed evictions."""

from __future__ import annotations

import datetime

import attrs
import pytest

from korch.api import (
    Lease,
    LeaseSpec,
    Node,
    NodeCondition,
    NodeStatus,
    ObjectMeta,
    Pod,
    ReplicaSet,
    ReplicaSetSpec,
    Taint,
    Toleration,
)
from korch.testing import Environment
from korch.workloads import (
    UNREACHABLE_TAINT,
    NodeLifecycleReconciler,
    ReplicaSetReconciler,
    eviction_time,
)

from .conftest import now, selector, set_pod, template

pytestmark = pytest.mark.anyio

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def test_eviction_time_rules() -> None:
    taint = Taint(key=UNREACHABLE_TAINT, effect="NoExecute", time_added=T0)
    t0 = T0.timestamp()
    assert eviction_time([taint], []) == t0 + 300  # DefaultTolerationSeconds
    assert eviction_time([taint], [], default_toleration_seconds=None) == float("-inf")
    tolerate_60 = Toleration(
        key=UNREACHABLE_TAINT, operator="Exists", effect="NoExecute", toleration_seconds=60
    )
    assert eviction_time([taint], [tolerate_60]) == t0 + 60
    forever = Toleration(operator="Exists")
    assert eviction_time([taint], [forever]) is None
    custom = Taint(key="dedicated", value="gpu", effect="NoExecute", time_added=T0)
    assert eviction_time([taint, custom], [tolerate_60]) == float("-inf")
    assert eviction_time([Taint(key="x", effect="NoSchedule")], []) is None


async def make_node(env: Environment, name: str = "n1") -> None:
    ready = NodeCondition(
        type="Ready", status="True", last_heartbeat_time=now(env), last_transition_time=now(env)
    )
    await env.client.create(
        Node(metadata=ObjectMeta(name=name), status=NodeStatus(conditions=[ready]))
    )
    node = await env.client.get(Node, name)
    await env.client.update_status(attrs.evolve(node, status=NodeStatus(conditions=[ready])))
    lease = Lease(
        metadata=ObjectMeta(name=name, namespace="kube-node-lease"),
        spec=LeaseSpec(holder_identity=name, lease_duration_seconds=40, renew_time=now(env)),
    )
    await env.client.create(lease)


async def renew(env: Environment, name: str = "n1") -> None:
    lease = await env.client.get(Lease, name, namespace="kube-node-lease")
    await env.client.update(attrs.evolve(lease, spec=attrs.evolve(lease.spec, renew_time=now(env))))


def ready(node: Node) -> tuple[str, str]:
    (condition,) = [c for c in node.status.conditions if c.type == "Ready"]
    return condition.status, condition.reason


async def test_lease_renewals_keep_a_node_ready(env: Environment) -> None:
    await make_node(env)
    reconciler = NodeLifecycleReconciler(env.client, clock=env.clock)
    result = await reconciler.reconcile("n1")
    assert result.requeue_after == pytest.approx(40, abs=0.01)
    for _ in range(5):
        await env.advance(30)
        await renew(env)
        await reconciler.reconcile("n1")
    node = await env.client.get(Node, "n1")
    assert ready(node)[0] == "True"
    assert node.spec.taints == []


async def test_missed_heartbeats_make_the_node_unknown_and_tainted(env: Environment) -> None:
    await make_node(env)
    reconciler = NodeLifecycleReconciler(env.client, clock=env.clock)
    await env.advance(41)
    await reconciler.reconcile("n1")
    node = await env.client.get(Node, "n1")
    assert ready(node) == ("Unknown", "NodeStatusUnknown")
    assert {(t.key, t.effect) for t in node.spec.taints} == {
        (UNREACHABLE_TAINT, "NoSchedule"),
        (UNREACHABLE_TAINT, "NoExecute"),
    }


async def test_a_node_that_never_reports(env: Environment) -> None:
    await env.client.create(Node(metadata=ObjectMeta(name="silent")))
    reconciler = NodeLifecycleReconciler(env.client, clock=env.clock)
    assert (await reconciler.reconcile("silent")).requeue_after is not None
    await env.advance(41)
    await reconciler.reconcile("silent")
    assert ready(await env.client.get(Node, "silent")) == ("Unknown", "NodeStatusNeverUpdated")


async def test_pods_are_evicted_after_toleration_seconds_and_replaced(env: Environment) -> None:
    await make_node(env)
    labels = {"app": "web"}
    await env.client.create(
        ReplicaSet(
            metadata=ObjectMeta(name="web", namespace="default"),
            spec=ReplicaSetSpec(replicas=1, selector=selector(labels), template=template(labels)),
        )
    )
    replica_sets = ReplicaSetReconciler(env.client, clock=env.clock)
    await replica_sets.reconcile("default/web")
    (pod,) = (await env.client.list(Pod, namespace="default")).items
    pod = await set_pod(env, pod, node="n1")
    patient = Pod(
        metadata=ObjectMeta(name="patient", namespace="default"),
        spec=attrs.evolve(
            template({}).spec,
            tolerations=[Toleration(key=UNREACHABLE_TAINT, operator="Exists", effect="NoExecute")],
        ),
    )
    await set_pod(env, await env.client.create(patient), node="n1")
    nodes = NodeLifecycleReconciler(env.client, clock=env.clock)
    await env.advance(41)
    result = await nodes.reconcile("n1")
    assert result.requeue_after == pytest.approx(300)
    pod = await env.client.get(Pod, pod.metadata.name, namespace="default")
    assert pod.metadata.deletion_timestamp is None
    assert [c.status for c in pod.status.conditions if c.type == "Ready"] == ["False"]
    await env.advance(300)
    await nodes.reconcile("n1")
    evicted = await env.client.get(Pod, pod.metadata.name, namespace="default")
    assert evicted.metadata.deletion_timestamp is not None  # graceful: the node is gone
    assert any(c.type == "DisruptionTarget" for c in evicted.status.conditions)
    still = await env.client.get(Pod, "patient", namespace="default")
    assert still.metadata.deletion_timestamp is None  # tolerates forever
    await replica_sets.reconcile("default/web")
    alive = [
        p
        for p in (await env.client.list(Pod, namespace="default", label_selector="app=web")).items
        if p.metadata.deletion_timestamp is None
    ]
    assert len(alive) == 1 and alive[0].metadata.name != pod.metadata.name


async def test_recovery_removes_the_taints(env: Environment) -> None:
    await make_node(env)
    nodes = NodeLifecycleReconciler(env.client, clock=env.clock)
    await env.advance(41)
    await nodes.reconcile("n1")
    node = await env.client.get(Node, "n1")
    back = NodeCondition(
        type="Ready", status="True", last_heartbeat_time=now(env), last_transition_time=now(env)
    )
    await env.client.update_status(attrs.evolve(node, status=NodeStatus(conditions=[back])))
    await renew(env)
    await nodes.reconcile("n1")
    assert (await env.client.get(Node, "n1")).spec.taints == []
