"""The DaemonSet controller: eligible nodes, nodes joining and leaving, rolling updates."""

from __future__ import annotations

import attrs
import pytest

from korch.api import (
    Affinity,
    DaemonSet,
    DaemonSetSpec,
    DaemonSetUpdateStrategy,
    Node,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    NodeSpec,
    ObjectMeta,
    Pod,
    RollingUpdateDaemonSet,
    Taint,
    Toleration,
)
from korch.testing import Environment
from korch.workloads import DaemonSetReconciler, daemon_tolerations, should_run_on

from .conftest import selector, set_pod, template

pytestmark = pytest.mark.anyio

KEY = "default/agent"


def node(name: str, labels: dict[str, str] | None = None, **spec: object) -> Node:
    return Node(metadata=ObjectMeta(name=name, labels=labels or {}), spec=NodeSpec(**spec))  # type: ignore[arg-type]


def daemon_set(max_unavailable: int | str | None = None, **pod_spec: object) -> DaemonSet:
    labels = {"app": "agent"}
    pod_template = template(labels)
    pod_template = attrs.evolve(pod_template, spec=attrs.evolve(pod_template.spec, **pod_spec))
    rolling = RollingUpdateDaemonSet(max_unavailable=max_unavailable) if max_unavailable else None
    return DaemonSet(
        metadata=ObjectMeta(name="agent", namespace="default"),
        spec=DaemonSetSpec(
            selector=selector(labels),
            template=pod_template,
            update_strategy=DaemonSetUpdateStrategy(type="RollingUpdate", rolling_update=rolling),
        ),
    )


def pinned_node(pod: Pod) -> str:
    assert pod.spec.affinity is not None and pod.spec.affinity.node_affinity is not None
    required = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert required is not None
    return required.node_selector_terms[0].match_fields[0].values[0]


async def placement(env: Environment) -> dict[str, str]:
    """node -> image of the live daemon pod there (binding pending pods, as a scheduler)."""
    out = {}
    for pod in (await env.client.list(Pod, namespace="default")).items:
        if pod.metadata.deletion_timestamp is not None:
            continue
        if not pod.spec.node_name:
            pod = await set_pod(env, pod, node=pinned_node(pod))
        assert pod.spec.node_name not in out, "two daemon pods on one node"
        out[pod.spec.node_name] = pod.spec.containers[0].image
    return out


def test_should_run_on_rules() -> None:
    t = template({})
    assert should_run_on(t, node("n"))
    assert should_run_on(t, node("n", unschedulable=True))  # daemon pods tolerate cordons
    tainted = node("n", taints=[Taint(key="dedicated", value="db", effect="NoSchedule")])
    assert not should_run_on(t, tainted)
    assert should_run_on(t, tainted, effects=("NoExecute",))  # a running pod may stay
    tolerant = attrs.evolve(
        t, spec=attrs.evolve(t.spec, tolerations=[Toleration(key="dedicated", operator="Exists")])
    )
    assert should_run_on(tolerant, tainted)
    not_ready = node("n", taints=[Taint(key="node.kubernetes.io/not-ready", effect="NoExecute")])
    assert should_run_on(t, not_ready)
    picky = attrs.evolve(t, spec=attrs.evolve(t.spec, node_selector={"disk": "ssd"}))
    assert should_run_on(picky, node("n", {"disk": "ssd"}))
    assert not should_run_on(picky, node("n", {"disk": "hdd"}))
    term = NodeSelectorTerm(
        match_expressions=[NodeSelectorRequirement(key="zone", operator="In", values=["a"])]
    )
    affine = attrs.evolve(
        t,
        spec=attrs.evolve(
            t.spec,
            affinity=Affinity(
                node_affinity=NodeAffinity(
                    required_during_scheduling_ignored_during_execution=NodeSelector(
                        node_selector_terms=[term]
                    )
                )
            ),
        ),
    )
    assert should_run_on(affine, node("n", {"zone": "a"}))
    assert not should_run_on(affine, node("n", {"zone": "b"}))
    keys = {t.key for t in daemon_tolerations(t.spec)}
    assert "node.kubernetes.io/unschedulable" in keys


async def test_one_pod_per_eligible_node_following_joins_and_leaves(env: Environment) -> None:
    for name in ("n1", "n2"):
        await env.client.create(node(name))
    await env.client.create(node("gpu", taints=[Taint(key="gpu", effect="NoSchedule")]))
    await env.client.create(daemon_set())
    reconciler = DaemonSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    assert sorted(await placement(env)) == ["n1", "n2"]
    pod = (await env.client.list(Pod, namespace="default")).items[0]
    assert pod.metadata.labels["controller-revision-hash"].startswith("agent-")
    await env.client.create(node("n3"))
    await reconciler.reconcile(KEY)
    assert sorted(await placement(env)) == ["n1", "n2", "n3"]
    await env.client.delete(Node, "n2")
    await reconciler.reconcile(KEY)
    assert sorted(await placement(env)) == ["n1", "n3"]
    ds = await env.client.get(DaemonSet, "agent", namespace="default")
    assert (ds.status.desired_number_scheduled, ds.status.current_number_scheduled) == (2, 2)
    assert ds.status.number_ready == 2 and ds.status.number_available == 2
    assert ds.status.observed_generation == ds.metadata.generation


async def test_untolerated_no_execute_taint_removes_the_pod(env: Environment) -> None:
    await env.client.create(node("n1"))
    await env.client.create(daemon_set())
    reconciler = DaemonSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    assert list(await placement(env)) == ["n1"]
    n1 = await env.client.get(Node, "n1")
    taints = [Taint(key="maintenance", effect="NoSchedule")]
    await env.client.update(attrs.evolve(n1, spec=attrs.evolve(n1.spec, taints=taints)))
    await reconciler.reconcile(KEY)
    assert list(await placement(env)) == ["n1"]  # NoSchedule: it stays
    n1 = await env.client.get(Node, "n1")
    taints = [Taint(key="maintenance", effect="NoExecute")]
    await env.client.update(attrs.evolve(n1, spec=attrs.evolve(n1.spec, taints=taints)))
    await reconciler.reconcile(KEY)
    assert await placement(env) == {}


async def test_rolling_update_respects_max_unavailable(env: Environment) -> None:
    for i in range(4):
        await env.client.create(node(f"n{i}"))
    await env.client.create(daemon_set(max_unavailable=2))
    reconciler = DaemonSetReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    await placement(env)
    await reconciler.reconcile(KEY)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}
    await env.client.patch(DaemonSet, "agent", patch, namespace="default")
    await reconciler.reconcile(KEY)
    assert len(await placement(env)) == 2  # two old pods go at once
    await reconciler.reconcile(KEY)
    images = await placement(env)
    # the emptied nodes got new pods; the other two wait for them to be available
    assert sorted(images.values()) == ["nginx:1", "nginx:1", "nginx:2", "nginx:2"]
    for _ in range(3):
        await reconciler.reconcile(KEY)
        await placement(env)
    assert set((await placement(env)).values()) == {"nginx:2"}
    ds = await env.client.get(DaemonSet, "agent", namespace="default")
    assert ds.status.updated_number_scheduled == 4
