"""ControllerManager: the controllers running on korch.controllers, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import attrs
import pytest

from korch import errors
from korch.api import (
    DaemonSet,
    DaemonSetSpec,
    Deployment,
    DeploymentSpec,
    Endpoints,
    Job,
    JobSpec,
    Lease,
    LeaseSpec,
    Node,
    NodeCondition,
    NodeStatus,
    ObjectMeta,
    Pod,
    ReplicaSet,
    Service,
    ServicePort,
    ServiceSpec,
)
from korch.testing import Environment
from korch.workloads import CONTROLLERS, ENDPOINT_SLICE, ControllerManager, rollback

from .conftest import now, pods, ready_all, selector, set_pod, template

pytestmark = pytest.mark.anyio


@pytest.fixture
async def manager(env: Environment) -> AsyncIterator[ControllerManager]:
    cm = ControllerManager(env.client, clock=env.clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(cm.run)
        await env.settle()
        yield cm
        tg.cancel_scope.cancel()


async def kubelet(env: Environment, rounds: int = 30) -> None:
    """Settle, mark new pods Running and Ready, and finish deletions, until quiet."""
    for _ in range(rounds):
        await env.settle()
        changed = await ready_all(env)
        for pod in await pods(env):
            if pod.metadata.deletion_timestamp is not None:
                await env.client.delete(
                    Pod, pod.metadata.name, namespace="default", grace_period_seconds=0
                )
                changed += 1
        if not changed:
            return
    raise AssertionError("the cluster did not come to rest")


def test_unknown_controller_names_are_rejected() -> None:
    with pytest.raises(errors.BadRequest, match="unknown controller"):
        ControllerManager(object(), disable={"replicaset", "nope"})  # type: ignore[arg-type]


async def test_enable_and_disable(env: Environment) -> None:
    cm = ControllerManager(env.client, clock=env.clock, enable=["deployment", "replicaset"])
    assert sorted(cm.controllers) == ["deployment", "replicaset"]
    cm = ControllerManager(env.client, clock=env.clock, disable={"cronjob"})
    assert set(cm.controllers) == set(CONTROLLERS) - {"cronjob"}


async def test_rolling_update_and_rollback(env: Environment, manager: ControllerManager) -> None:
    labels = {"app": "web"}
    await env.client.create(
        Deployment(
            metadata=ObjectMeta(name="web", namespace="default"),
            spec=DeploymentSpec(replicas=4, selector=selector(labels), template=template(labels)),
        )
    )
    await kubelet(env)
    d = await env.client.get(Deployment, "web", namespace="default")
    assert (d.status.updated_replicas, d.status.available_replicas) == (4, 4)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}
    await env.client.patch(Deployment, "web", patch, namespace="default")
    await kubelet(env)
    d = await env.client.get(Deployment, "web", namespace="default")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert (d.status.replicas, d.status.updated_replicas, d.status.available_replicas) == (4, 4, 4)
    assert {p.spec.containers[0].image for p in await pods(env)} == {"nginx:2"}
    await rollback(env.client, "web", namespace="default")
    await kubelet(env)
    d = await env.client.get(Deployment, "web", namespace="default")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert {p.spec.containers[0].image for p in await pods(env)} == {"nginx:1"}
    sets = (await env.client.list(ReplicaSet, namespace="default")).items
    assert sorted(rs.spec.replicas or 0 for rs in sets) == [0, 4]
    assert manager.controllers["deployment"].metrics.reconciles > 0


async def test_endpoints_follow_pods(env: Environment, manager: ControllerManager) -> None:
    await env.client.create(
        Service(
            metadata=ObjectMeta(name="web", namespace="default"),
            spec=ServiceSpec(selector={"app": "web"}, ports=[ServicePort(port=80)]),
        )
    )
    pod = await env.client.create(
        Pod(
            metadata=ObjectMeta(name="a", namespace="default", labels={"app": "web"}),
            spec=template({}).spec,
        )
    )
    pod = await set_pod(env, pod, node="n1")
    await env.client.update_status(
        attrs.evolve(pod, status=attrs.evolve(pod.status, pod_ip="10.1.0.7"))
    )
    await env.settle()
    endpoints = await env.client.get(Endpoints, "web", namespace="default")
    assert [a.ip for s in endpoints.subsets for a in s.addresses] == ["10.1.0.7"]
    (endpoint_slice,) = (await env.client.list(ENDPOINT_SLICE, namespace="default")).items
    assert [e["addresses"] for e in endpoint_slice.body["endpoints"]] == [["10.1.0.7"]]


async def test_job_runs_to_completion(env: Environment, manager: ControllerManager) -> None:
    spec = template({})
    spec = attrs.evolve(spec, spec=attrs.evolve(spec.spec, restart_policy="Never"))
    await env.client.create(
        Job(metadata=ObjectMeta(name="once", namespace="default"), spec=JobSpec(template=spec))
    )
    await env.settle()
    (pod,) = await pods(env)
    await env.client.update_status(
        attrs.evolve(pod, status=attrs.evolve(pod.status, phase="Succeeded"))
    )
    await env.settle()
    job = await env.client.get(Job, "once", namespace="default")
    assert [c.type for c in job.status.conditions] == ["Complete"]


async def test_node_failure_moves_pods(env: Environment, manager: ControllerManager) -> None:
    ready = NodeCondition(
        type="Ready", status="True", last_heartbeat_time=now(env), last_transition_time=now(env)
    )
    node = await env.client.create(Node(metadata=ObjectMeta(name="n1")))
    await env.client.update_status(attrs.evolve(node, status=NodeStatus(conditions=[ready])))
    await env.client.create(
        Lease(
            metadata=ObjectMeta(name="n1", namespace="kube-node-lease"),
            spec=LeaseSpec(holder_identity="n1", renew_time=now(env)),
        )
    )
    labels = {"app": "web"}
    await env.client.create(
        Deployment(
            metadata=ObjectMeta(name="web", namespace="default"),
            spec=DeploymentSpec(replicas=1, selector=selector(labels), template=template(labels)),
        )
    )
    await env.settle()
    (pod,) = await pods(env)
    await set_pod(env, pod, node="n1")
    await env.advance(41)  # no lease renewal: the node becomes Unknown and tainted
    node = await env.client.get(Node, "n1")
    assert [c.status for c in node.status.conditions if c.type == "Ready"] == ["Unknown"]
    await env.advance(300)  # DefaultTolerationSeconds
    gone = await env.client.get(Pod, pod.metadata.name, namespace="default")
    assert gone.metadata.deletion_timestamp is not None
    alive = [p for p in await pods(env) if p.metadata.deletion_timestamp is None]
    assert len(alive) == 1 and alive[0].metadata.name != pod.metadata.name


async def test_daemon_set_follows_nodes(env: Environment, manager: ControllerManager) -> None:
    labels = {"app": "agent"}
    await env.client.create(
        DaemonSet(
            metadata=ObjectMeta(name="agent", namespace="default"),
            spec=DaemonSetSpec(selector=selector(labels), template=template(labels)),
        )
    )
    await env.client.create(Node(metadata=ObjectMeta(name="n1")))
    await env.settle()
    assert len(await pods(env)) == 1
    await env.client.create(Node(metadata=ObjectMeta(name="n2")))
    await env.settle()
    assert len(await pods(env)) == 2
    await env.client.delete(Node, "n1")
    await env.settle()
    assert len(await pods(env)) == 1
