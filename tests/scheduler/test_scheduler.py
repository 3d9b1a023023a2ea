"""Scheduler end to end: list+watch through a Client, bind, FailedScheduling, requeue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import korch.testing
from korch.api import Event, Node, Pod
from korch.scheduler import (
    Code,
    Handle,
    Scheduler,
    Status,
    build_profile,
    default_profile,
    register_plugin,
)
from korch.testing import Environment

from ._builders import node, pod

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async for value in korch.testing.environment():
        yield value


async def running(env: Environment, scheduler: Scheduler, group: Any) -> None:
    group.start_soon(scheduler.run)
    await env.settle()


async def placement(env: Environment) -> dict[str, str]:
    return {p.metadata.name: p.spec.node_name for p in await env.client.list(Pod)}


async def test_binds_pending_pods_through_the_api(env: Environment) -> None:
    for name in ("a", "b"):
        await env.client.create(node(name))
    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        for i in range(4):
            await env.client.create(pod(f"p{i}"))
        await env.settle()
        pods = (await env.client.list(Pod)).items
        assert all(p.spec.node_name in ("a", "b") for p in pods)
        assert {p.spec.node_name for p in pods} == {"a", "b"}  # LeastAllocated spreads
        condition = pods[0].status.conditions[-1]
        assert (condition.type, condition.status) == ("PodScheduled", "True")
        assert scheduler.stats.scheduled == 4
        group.cancel_scope.cancel()


async def test_failed_scheduling_event_condition_and_wake_up(env: Environment) -> None:
    await env.client.create(node("small", cpu="1"))
    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(pod("big", cpu="2"))
        await env.settle()
        stored = await env.client.get(Pod, "big", namespace="default")
        condition = stored.status.conditions[-1]
        message = (
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
            "available: 1 No preemption victims found for incoming pod."
        )
        assert (condition.status, condition.reason, condition.message) == (
            "False",
            "Unschedulable",
            message,
        )
        events = [e for e in await env.client.list(Event) if e.reason == "FailedScheduling"]
        assert [(e.type, e.message) for e in events] == [("Warning", message)]
        assert scheduler.queue.pending()["unschedulable"] == ["default/big"]
        # a new node is an event NodeResourcesFit registered for: the pod is tried again
        await env.client.create(node("large", cpu="4"))
        await env.advance(1)
        assert (await placement(env))["big"] == "large"
        group.cancel_scope.cancel()


async def test_a_deleted_pod_frees_room(env: Environment) -> None:
    await env.client.create(node("a", cpu="1"))
    await env.client.create(pod("first", cpu="800m"))
    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(pod("second", cpu="800m"))
        await env.settle()
        assert (await placement(env))["second"] == ""
        await env.client.delete(Pod, "first", namespace="default", grace_period_seconds=0)
        await env.advance(1)
        assert (await placement(env))["second"] == "a"
        group.cancel_scope.cancel()


async def test_profiles_by_scheduler_name(env: Environment) -> None:
    await env.client.create(node("a", labels={"gpu": "true"}))
    await env.client.create(node("b"))
    scheduler = Scheduler(env.client, clock=env.clock, profiles=[]) if False else None
    handle = Handle()
    scheduler = Scheduler(
        env.client,
        clock=env.clock,
        profiles=[
            default_profile(handle=handle),
            build_profile(
                "gpu-scheduler",
                args={"NodeResourcesFit": {"strategy": "MostAllocated"}},
                handle=handle,
            ),
        ],
    )
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(
            pod("mine", scheduler_name="gpu-scheduler", nodeSelector={"gpu": "true"})
        )
        await env.client.create(pod("other", scheduler_name="someone-else"))
        await env.settle()
        assert await placement(env) == {"mine": "a", "other": ""}
        group.cancel_scope.cancel()


async def test_scheduling_gates_hold_pods_until_removed(env: Environment) -> None:
    await env.client.create(node("a"))
    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(pod("gated", schedulingGates=[{"name": "example.com/hold"}]))
        await env.settle()
        assert scheduler.queue.pending()["gated"] == ["default/gated"]
        await env.client.patch(
            Pod, "gated", {"spec": {"schedulingGates": None}}, namespace="default", type="merge"
        )
        await env.settle()
        assert (await placement(env))["gated"] == "a"
        group.cancel_scope.cancel()


class WaitForPartner:
    """A Permit plugin: the pod labelled ``role=first`` waits until ``role=second`` is
    permitted (a two-pod gang), or 10 s."""

    name = "WaitForPartner"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def permit(self, state: Any, pod: Any, node_name: str) -> tuple[Status, float]:
        scheduler = self.handle.extra["scheduler"]
        if pod.labels.get("role") == "first":
            return Status(Code.WAIT), 10.0
        for waiting in scheduler.waiting:
            scheduler.waiting.allow(waiting.info.key, self.name)
        return Status(), 0.0


async def test_permit_wait_allow_and_timeout(env: Environment) -> None:
    await env.client.create(node("a"))
    register_plugin("WaitForPartner", lambda args, handle: WaitForPartner(handle))
    handle = Handle()
    scheduler = Scheduler(
        env.client,
        clock=env.clock,
        profiles=[build_profile(enabled=["WaitForPartner"], handle=handle)],
    )
    handle.extra["scheduler"] = scheduler
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(pod("one", labels={"role": "first"}))
        await env.settle()
        assert (await placement(env))["one"] == ""  # waiting at Permit
        await env.client.create(pod("two", labels={"role": "second"}))
        await env.settle()
        assert await placement(env) == {"one": "a", "two": "a"}
        await env.client.create(pod("three", labels={"role": "first"}))
        await env.advance(10)  # nobody allows it: rejected at the timeout, back to the queue
        assert (await placement(env))["three"] == ""
        assert scheduler.cache.node_of("default/three") is None  # no longer assumed
        group.cancel_scope.cancel()


async def test_nodes_and_pods_known_before_start_are_listed(env: Environment) -> None:
    await env.client.create(node("a", cpu="1"))
    await env.client.create(pod("bound", cpu="800m", node_name="a"))
    await env.client.create(pod("pending", cpu="800m"))
    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        assert (await placement(env))["pending"] == ""
        assert scheduler.cache.node_of("default/bound") == "a"
        await env.client.delete(Node, "a")
        await env.settle()
        assert scheduler.cache.node_count == 0
        group.cancel_scope.cancel()


async def finish_deletions(env: Environment) -> None:
    """What a node agent would do: pods being deleted go away."""
    for p in await env.client.list(Pod):
        if p.metadata.deletion_timestamp is not None:
            await env.client.delete(
                Pod, p.metadata.name, namespace="default", grace_period_seconds=0
            )


async def test_preemption_evicts_lower_priority_pods(env: Environment) -> None:
    await env.client.create(node("a", cpu="1"))
    await env.client.create(pod("low", cpu="800m", priority=0, node_name="a"))
    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(pod("high", cpu="800m", priority=100))
        await env.settle()
        high = await env.client.get(Pod, "high", namespace="default")
        assert high.status.nominated_node_name == "a"
        assert high.spec.node_name == ""
        await finish_deletions(env)
        await env.advance(2)
        assert await placement(env) == {"high": "a"}
        events = [e.reason for e in await env.client.list(Event)]
        assert "Preempted" in events
        group.cancel_scope.cancel()


async def test_preemption_prefers_victims_without_a_disruption_budget(env: Environment) -> None:
    from korch.api import PodDisruptionBudget, _codec

    await env.client.create(node("a", cpu="1"))
    await env.client.create(node("b", cpu="1"))
    await env.client.create(pod("guarded", cpu="800m", labels={"app": "db"}, node_name="a"))
    await env.client.create(pod("plain", cpu="800m", labels={"app": "web"}, node_name="b"))
    await env.client.create(
        _codec.from_dict(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "db", "namespace": "default"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}},
            },
            PodDisruptionBudget,
        )
    )
    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(pod("high", cpu="800m", priority=100))
        await env.settle()
        high = await env.client.get(Pod, "high", namespace="default")
        assert high.status.nominated_node_name == "b"
        guarded = await env.client.get(Pod, "guarded", namespace="default")
        assert guarded.metadata.deletion_timestamp is None
        group.cancel_scope.cancel()


async def test_preemption_policy_never_does_not_preempt(env: Environment) -> None:
    await env.client.create(node("a", cpu="1"))
    await env.client.create(pod("low", cpu="800m", priority=0, node_name="a"))
    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(pod("polite", cpu="800m", priority=100, preemptionPolicy="Never"))
        await env.settle()
        low = await env.client.get(Pod, "low", namespace="default")
        assert low.metadata.deletion_timestamp is None
        group.cancel_scope.cancel()


GANG = "pod-group.scheduling.sigs.k8s.io/name"
MIN = "pod-group.scheduling.sigs.k8s.io/min-available"


async def test_gang_is_placed_all_or_nothing(env: Environment) -> None:
    for name in ("a", "b"):
        await env.client.create(node(name))
    scheduler = Scheduler(
        env.client, clock=env.clock, profiles=[build_profile(enabled=["Coscheduling"])]
    )
    gang = {GANG: "train", MIN: "3"}
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(pod("w0", labels=gang))
        await env.client.create(pod("w1", labels=gang))
        await env.settle()
        assert await placement(env) == {"w0": "", "w1": ""}  # fewer than minMember
        stored = await env.client.get(Pod, "w0", namespace="default")
        assert "pod group train has" in stored.status.conditions[-1].message
        await env.client.create(pod("w2", labels=gang))
        await env.advance(2)  # the ADD event re-tries the members (after their backoff)
        placed = await placement(env)
        assert all(placed.values()), placed
        group.cancel_scope.cancel()


async def test_gang_members_waiting_at_permit_time_out_together(env: Environment) -> None:
    await env.client.create(node("a", cpu="1"))
    scheduler = Scheduler(
        env.client,
        clock=env.clock,
        profiles=[
            build_profile(enabled=["Coscheduling"], args={"Coscheduling": {"permit_timeout": 5}})
        ],
    )
    gang = {GANG: "big", MIN: "3"}
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        for i in range(3):  # only two fit on the node: the third never reaches Permit
            await env.client.create(pod(f"w{i}", labels=gang, cpu="400m"))
        await env.settle()
        assert len(list(scheduler.waiting)) == 2
        await env.advance(5)
        assert set((await placement(env)).values()) == {""}  # nobody was bound
        group.cancel_scope.cancel()


async def test_volume_binding_and_zone(env: Environment) -> None:
    from korch.api import PersistentVolume, PersistentVolumeClaim, _codec

    zone = "topology.kubernetes.io/zone"
    await env.client.create(node("a", labels={zone: "z1"}))
    await env.client.create(node("b", labels={zone: "z2"}))
    await env.client.create(
        _codec.from_dict(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": "pv1", "labels": {zone: "z2"}},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": "/data"},
                },
            },
            PersistentVolume,
        )
    )
    for name, volume in (("bound", "pv1"), ("unbound", "")):
        await env.client.create(
            _codec.from_dict(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": name, "namespace": "default"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                        **({"volumeName": volume} if volume else {}),
                    },
                },
                PersistentVolumeClaim,
            )
        )

    def with_claim(name: str, claim: str) -> Pod:
        return pod(name, volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}])

    scheduler = Scheduler(env.client, clock=env.clock)
    async with anyio.create_task_group() as group:
        await running(env, scheduler, group)
        await env.client.create(with_claim("zoned", "bound"))
        await env.client.create(with_claim("waiting", "unbound"))
        await env.client.create(with_claim("missing", "nope"))
        await env.settle()
        assert await placement(env) == {"zoned": "b", "waiting": "", "missing": ""}
        messages = {
            p.metadata.name: p.status.conditions[-1].message
            for p in await env.client.list(Pod)
            if p.metadata.name != "zoned"
        }
        assert messages["waiting"].startswith(
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        )
        assert 'persistentvolumeclaim "nope" not found' in messages["missing"]
        group.cancel_scope.cancel()
