"""Fixtures: an Environment (API server on a FakeClock), a FakeRuntime and a running agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from korch.api import Container, ObjectMeta, Pod, PodSpec
from korch.node import NodeAgent
from korch.runtime import FakeRuntime
from korch.testing import Environment


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async with Environment() as environment:
        yield environment


@pytest.fixture
def runtime(env: Environment) -> FakeRuntime:
    return FakeRuntime(clock=env.clock)


@pytest.fixture
async def agent(env: Environment, runtime: FakeRuntime) -> AsyncIterator[NodeAgent]:
    # heartbeats are tested on their own; here they would only make fake time slower to move
    node_agent = NodeAgent(env.client, runtime, "n1", clock=env.clock, heartbeat_seconds=3600)
    async with anyio.create_task_group() as group:
        group.start_soon(node_agent.run)
        await env.settle()
        yield node_agent
        group.cancel_scope.cancel()


def pod(
    name: str,
    *containers: Container,
    init: tuple[Container, ...] = (),
    node: str = "n1",
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Pod:
    """A pod bound to ``node`` (default: one container ``app``)."""
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default", annotations=annotations or {}),
        spec=PodSpec(
            node_name=node,
            containers=list(containers) or [Container(name="app", image="busybox")],
            init_containers=list(init),
            **spec,
        ),
    )
