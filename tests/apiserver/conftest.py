"""Fixtures: a MemoryStore on a FakeClock, and API servers over it (idle and running)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from korch.api import (
    Container,
    Deployment,
    DeploymentSpec,
    LabelSelector,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
)
from korch.apiserver import APIServer
from korch.clock import FakeClock
from korch.store import MemoryStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock=clock)


@pytest.fixture
def api(store: MemoryStore, clock: FakeClock) -> APIServer:
    """A server that is not running: every watch uses its own store watch."""
    return APIServer(store, clock=clock, rng=random.Random(7))


@pytest.fixture(params=["idle", "running"])
async def any_api(
    request: pytest.FixtureRequest, store: MemoryStore, clock: FakeClock
) -> AsyncIterator[APIServer]:
    """The same tests against an idle server and a running one (watch caches on)."""
    server = APIServer(store, clock=clock, rng=random.Random(7))
    if request.param == "idle":
        yield server
    else:
        async with server:
            yield server


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    node: str = "",
    image: str = "nginx",
) -> Pod:
    """A minimal valid Pod."""
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels or {}),
        spec=PodSpec(containers=[Container(name="c", image=image)], node_name=node),
    )


def make_deployment(name: str, *, replicas: int = 1, namespace: str = "default") -> Deployment:
    """A minimal valid Deployment selecting ``app=<name>``."""
    labels = {"app": name}
    return Deployment(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=[Container(name="c", image="nginx")]),
            ),
        ),
    )
