"""Fixtures and helpers: an Environment, and a stand-in kubelet that marks pods ready."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

import korch.testing
from korch.api import (
    Binding,
    Container,
    ContainerStatus,
    LabelSelector,
    ObjectMeta,
    ObjectReference,
    Pod,
    PodCondition,
    PodSpec,
    PodTemplateSpec,
)
from korch.testing import Environment


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async for value in korch.testing.environment():
        yield value


def template(labels: dict[str, str], image: str = "nginx:1") -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(labels=labels),
        spec=PodSpec(containers=[Container(name="c", image=image)]),
    )


def selector(labels: dict[str, str]) -> LabelSelector:
    return LabelSelector(match_labels=labels)


def now(env: Environment) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(env.clock.time()), datetime.UTC)


async def set_pod(
    env: Environment,
    pod: Pod,
    *,
    phase: str = "Running",
    ready: bool = True,
    node: str | None = None,
    restarts: int | None = None,
) -> Pod:
    """What a kubelet would report: phase and the Ready condition (transition: now)."""
    if node is not None and not pod.spec.node_name:
        target = ObjectReference(kind="Node", name=node)
        binding = Binding(metadata=ObjectMeta(name=pod.metadata.name), target=target)
        await env.client.bind(binding, namespace=pod.metadata.namespace)
        pod = await env.client.get(Pod, pod.metadata.name, namespace=pod.metadata.namespace)
    conditions = [
        PodCondition(
            type="Ready", status="True" if ready else "False", last_transition_time=now(env)
        )
    ]
    status = attrs.evolve(pod.status, phase=phase, conditions=conditions)
    if restarts is not None:
        status = attrs.evolve(
            status, container_statuses=[ContainerStatus(name="c", restart_count=restarts)]
        )
    return await env.client.update_status(attrs.evolve(pod, status=status))


async def pods(env: Environment, namespace: str = "default", selector: str = "") -> list[Pod]:
    return list((await env.client.list(Pod, namespace=namespace, label_selector=selector)).items)


async def ready_all(env: Environment, namespace: str = "default", selector: str = "") -> int:
    """Mark every pending, undeleted pod Running and Ready; return how many changed."""
    changed = 0
    for pod in await pods(env, namespace, selector):
        if pod.metadata.deletion_timestamp is None and pod.status.phase != "Running":
            await set_pod(env, pod)
            changed += 1
    return changed


def names(objs: list[Any]) -> list[str]:
    return sorted(o.metadata.name for o in objs)
