"""Endpoints for Services, namespace teardown, and PodDisruptionBudget status."""

from __future__ import annotations

import attrs
import pytest

from korch import errors
from korch.api import (
    ConfigMap,
    Container,
    ContainerPort,
    Deployment,
    DeploymentSpec,
    Endpoints,
    LabelSelector,
    Namespace,
    ObjectMeta,
    Pod,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodSpec,
    ReplicaSet,
    Service,
    ServicePort,
    ServiceSpec,
)
from korch.testing import Environment
from korch.workloads import (
    ENDPOINT_SLICE,
    DeploymentReconciler,
    DisruptionReconciler,
    EndpointSliceReconciler,
    EndpointsReconciler,
    NamespaceReconciler,
    ReplicaSetReconciler,
    eviction_allowed,
)

from .conftest import ready_all, selector, set_pod, template

pytestmark = pytest.mark.anyio


async def web_pod(
    env: Environment, name: str, ip: str, *, ready: bool = True, port_name: str = "http"
) -> Pod:
    pod = Pod(
        metadata=ObjectMeta(name=name, namespace="default", labels={"app": "web"}),
        spec=PodSpec(
            containers=[
                Container(
                    name="c",
                    image="nginx",
                    ports=[ContainerPort(name=port_name, container_port=8080)],
                )
            ],
            hostname=name,
            subdomain="web",
        ),
    )
    created = await env.client.create(pod)
    created = await set_pod(env, created, ready=ready, node="n1")
    status = attrs.evolve(created.status, pod_ip=ip)
    return await env.client.update_status(attrs.evolve(created, status=status))


async def web_service(env: Environment) -> None:
    await env.client.create(
        Service(
            metadata=ObjectMeta(name="web", namespace="default", labels={"tier": "front"}),
            spec=ServiceSpec(
                selector={"app": "web"},
                ports=[
                    ServicePort(name="http", port=80, target_port="http"),
                    ServicePort(name="metrics", port=9090, target_port=9100),
                ],
            ),
        )
    )


async def test_endpoints_from_ready_pods(env: Environment) -> None:
    await web_service(env)
    await web_pod(env, "b", "10.0.0.2")
    await web_pod(env, "a", "10.0.0.1")
    await web_pod(env, "slow", "10.0.0.3", ready=False)
    await web_pod(env, "other", "10.0.0.4", port_name="grpc")
    reconciler = EndpointsReconciler(env.client, clock=env.clock)
    await reconciler.reconcile("default/web")
    endpoints = await env.client.get(Endpoints, "web", namespace="default")
    assert endpoints.metadata.labels == {"tier": "front"}
    by_ports = {tuple((p.name, p.port) for p in s.ports): s for s in endpoints.subsets}
    full = by_ports[(("http", 8080), ("metrics", 9100))]
    assert [a.ip for a in full.addresses] == ["10.0.0.1", "10.0.0.2"]
    assert [a.ip for a in full.not_ready_addresses] == ["10.0.0.3"]
    assert full.addresses[0].hostname == "a" and full.addresses[0].node_name == "n1"
    assert full.addresses[0].target_ref is not None and full.addresses[0].target_ref.name == "a"
    # the pod without an "http" port only serves the numeric target port
    partial = by_ports[(("metrics", 9100),)]
    assert [a.ip for a in partial.addresses] == ["10.0.0.4"]
    # unchanged world: no write
    version = endpoints.metadata.resource_version
    await reconciler.reconcile("default/web")
    again = await env.client.get(Endpoints, "web", namespace="default")
    assert again.metadata.resource_version == version
    # the service goes: so do its endpoints
    await env.client.delete(Service, "web", namespace="default")
    await reconciler.reconcile("default/web")
    with pytest.raises(errors.NotFound):
        await env.client.get(Endpoints, "web", namespace="default")


async def test_endpoint_slices(env: Environment) -> None:
    await web_service(env)
    for i in range(5):
        await web_pod(env, f"p{i}", f"10.0.0.{i + 1}", ready=i != 4)
    reconciler = EndpointSliceReconciler(env.client, clock=env.clock, max_endpoints_per_slice=3)
    await reconciler.reconcile("default/web")
    slices = sorted(
        (await env.client.list(ENDPOINT_SLICE, namespace="default")).items,
        key=lambda s: s.body["endpoints"][0]["addresses"][0],
    )
    assert [len(s.body["endpoints"]) for s in slices] == [3, 2]
    first = slices[0]
    assert first.metadata.labels["kubernetes.io/service-name"] == "web"
    assert first.metadata.owner_references[0].kind == "Service"
    assert first.body["addressType"] == "IPv4"
    assert first.body["ports"] == [
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9100, "protocol": "TCP"},
    ]
    endpoint = first.body["endpoints"][0]
    assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert endpoint["targetRef"]["name"] == "p0" and endpoint["nodeName"] == "n1"
    not_ready = [e for s in slices for e in s.body["endpoints"] if not e["conditions"]["ready"]]
    assert [e["addresses"] for e in not_ready] == [["10.0.0.5"]]
    versions = sorted(s.metadata.resource_version for s in slices)
    await reconciler.reconcile("default/web")  # unchanged: nothing written
    again = (await env.client.list(ENDPOINT_SLICE, namespace="default")).items
    assert sorted(s.metadata.resource_version for s in again) == versions
    for i in range(3):
        await env.client.delete(Pod, f"p{i}", namespace="default", grace_period_seconds=0)
    await reconciler.reconcile("default/web")
    (remaining,) = (await env.client.list(ENDPOINT_SLICE, namespace="default")).items
    assert [e["addresses"][0] for e in remaining.body["endpoints"]] == ["10.0.0.4", "10.0.0.5"]


async def test_service_without_selector_keeps_user_endpoints(env: Environment) -> None:
    await env.client.create(
        Service(
            metadata=ObjectMeta(name="ext", namespace="default"),
            spec=ServiceSpec(ports=[ServicePort(port=80)]),
        )
    )
    await EndpointsReconciler(env.client, clock=env.clock).reconcile("default/ext")
    with pytest.raises(errors.NotFound):
        await env.client.get(Endpoints, "ext", namespace="default")


async def test_namespace_deletion_empties_it_then_removes_it(env: Environment) -> None:
    await env.client.create(Namespace(metadata=ObjectMeta(name="team")))
    await env.client.create(ConfigMap(metadata=ObjectMeta(name="c", namespace="team")))
    pod = Pod(metadata=ObjectMeta(name="p", namespace="team"), spec=template({}).spec)
    pod = await env.client.create(pod)
    await set_pod(env, pod, node="n1")  # on a node: graceful deletion keeps it a while
    await env.client.delete(Namespace, "team")
    reconciler = NamespaceReconciler(env.client, clock=env.clock)
    result = await reconciler.reconcile("team")
    assert result.requeue_after == 5.0
    with pytest.raises(errors.NotFound):
        await env.client.get(ConfigMap, "c", namespace="team")
    ns = await env.client.get(Namespace, "team")
    assert ns.status.phase == "Terminating"
    assert [c.type for c in ns.status.conditions] == ["NamespaceContentRemaining"]
    # the node agent finishes the pod's deletion
    await env.client.delete(Pod, "p", namespace="team", grace_period_seconds=0)
    assert (await reconciler.reconcile("team")).requeue_after is None
    with pytest.raises(errors.NotFound):
        await env.client.get(Namespace, "team")


async def test_active_namespace_is_untouched(env: Environment) -> None:
    await env.client.create(ConfigMap(metadata=ObjectMeta(name="c", namespace="default")))
    await NamespaceReconciler(env.client, clock=env.clock).reconcile("default")
    await env.client.get(ConfigMap, "c", namespace="default")


async def test_disruption_budget_status_and_eviction(env: Environment) -> None:
    labels = {"app": "web"}
    await env.client.create(
        Deployment(
            metadata=ObjectMeta(name="web", namespace="default"),
            spec=DeploymentSpec(replicas=4, selector=selector(labels), template=template(labels)),
        )
    )
    deployments = DeploymentReconciler(env.client, clock=env.clock)
    replica_sets = ReplicaSetReconciler(env.client, clock=env.clock)
    await deployments.reconcile("default/web")
    (rs,) = (await env.client.list(ReplicaSet, namespace="default")).items
    await replica_sets.reconcile(f"default/{rs.metadata.name}")
    for pod in (await env.client.list(Pod, namespace="default")).items:
        await set_pod(env, pod, node="n1")
    await env.client.create(
        PodDisruptionBudget(
            metadata=ObjectMeta(name="web", namespace="default"),
            spec=PodDisruptionBudgetSpec(
                max_unavailable="25%", selector=LabelSelector(match_labels=labels)
            ),
        )
    )
    budgets = DisruptionReconciler(env.client, clock=env.clock)
    await budgets.reconcile("default/web")
    pdb = await env.client.get(PodDisruptionBudget, "web", namespace="default")
    status = pdb.status
    assert (status.expected_pods, status.desired_healthy, status.current_healthy) == (4, 3, 4)
    assert status.disruptions_allowed == 1
    assert status.observed_generation == pdb.metadata.generation
    pods = (await env.client.list(Pod, namespace="default")).items
    assert eviction_allowed(pods[0], [pdb])
    await env.client.evict(pods[0].metadata.name, namespace="default")
    pdb = await env.client.get(PodDisruptionBudget, "web", namespace="default")
    assert not eviction_allowed(pods[1], [pdb])
    with pytest.raises(errors.TooManyRequests):
        await env.client.evict(pods[1].metadata.name, namespace="default")
    await budgets.reconcile("default/web")
    pdb = await env.client.get(PodDisruptionBudget, "web", namespace="default")
    assert (pdb.status.current_healthy, pdb.status.disruptions_allowed) == (3, 0)
    assert [(c.type, c.status, c.reason) for c in pdb.status.conditions] == [
        ("DisruptionAllowed", "False", "InsufficientPods")
    ]
    await ready_all(env)


async def test_min_available_counts_the_pods_found(env: Environment) -> None:
    for name in ("a", "b"):
        pod = await env.client.create(
            Pod(
                metadata=ObjectMeta(name=name, namespace="default", labels={"app": "x"}),
                spec=template({}).spec,
            )
        )
        await set_pod(env, pod, node="n1")
    await env.client.create(
        PodDisruptionBudget(
            metadata=ObjectMeta(name="x", namespace="default"),
            spec=PodDisruptionBudgetSpec(
                min_available=1, selector=LabelSelector(match_labels={"app": "x"})
            ),
        )
    )
    await DisruptionReconciler(env.client, clock=env.clock).reconcile("default/x")
    pdb = await env.client.get(PodDisruptionBudget, "x", namespace="default")
    assert (pdb.status.expected_pods, pdb.status.disruptions_allowed) == (2, 1)
