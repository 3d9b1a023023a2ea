"""korch.testing.Environment: settle() and advance() without sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

import korch.testing
from korch.api import ConfigMap, ObjectMeta
from korch.testing import Environment

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async for value in korch.testing.environment():
        yield value


async def test_settle_lets_watchers_see_every_write(env: Environment) -> None:
    seen: list[str] = []

    async def watch() -> None:
        async with env.client.watch(ConfigMap, resource_version="0") as events:
            async for event in events:
                seen.append(event.object.metadata.name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await env.settle()
        for i in range(5):
            await env.client.create(ConfigMap(metadata=ObjectMeta(name=f"c{i}")))
        await env.settle()
        assert seen == [f"c{i}" for i in range(5)]
        tg.cancel_scope.cancel()


async def test_advance_fires_timers_in_order(env: Environment) -> None:
    fired: list[float] = []

    async def timer(delay: float) -> None:
        await env.clock.sleep(delay)
        fired.append(env.clock.time() - start)

    start = env.clock.time()
    async with anyio.create_task_group() as tg:
        for delay in (30, 10, 20):
            tg.start_soon(timer, delay)
        await env.advance(15)
        assert fired == [10]
        await env.advance(15)
        assert fired == [10, 20, 30]
    assert env.clock.time() == start + 30


async def test_environment_is_reproducible() -> None:
    uids = []
    for _ in range(2):
        async with Environment(seed=3) as env:
            cm = await env.client.create(ConfigMap(metadata=ObjectMeta(name="c")))
            uids.append(cm.metadata.uid)
    assert uids[0] == uids[1]


async def test_advance_rejects_negative(env: Environment) -> None:
    with pytest.raises(ValueError, match="backwards"):
        await env.advance(-1)
