"""The manager: leader election hand-over, warm standby caches, drain, sharding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import korch.testing
from korch import errors
from korch.api import Lease
from korch.controllers import Context, LeaderElector, Manager, controller, shard_of
from korch.testing import Environment

from .conftest import WIDGET, widget, widget_crd

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async for value in korch.testing.environment():
        await value.client.create(widget_crd())
        await value.settle()
        yield value


class Cuttable:
    """A client that can be cut off (a replica whose network failed)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cut = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not callable(attribute) or name in ("watch", "pod_log"):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.cut:
                raise errors.StoreUnavailable("network unreachable")
            return await attribute(*args, **kwargs)

        return call


def recording_controller(log: list[tuple[str, str]], replica: str) -> Any:
    async def reconcile(ctx: Context) -> None:
        log.append((replica, ctx.key))

    return controller(WIDGET, name="widgets").build(reconcile)


def replica(client: Any, env: Environment, identity: str, log: list[tuple[str, str]]) -> Manager:
    manager = Manager(
        client, clock=env.clock, leader_election=True, identity=identity, name="widgets-operator"
    )
    manager.add(recording_controller(log, identity))
    return manager


async def test_standby_takes_over_when_the_leader_stops_renewing(env: Environment) -> None:
    log: list[tuple[str, str]] = []
    flaky = Cuttable(env.client)
    first = replica(flaky, env, "a", log)
    second = replica(env.client, env, "b", log)
    await env.client.create(widget("w1"))
    async with anyio.create_task_group() as group:
        group.start_soon(first.run)
        await env.settle()
        group.start_soon(second.run)
        await env.settle()
        assert first.is_leader and not second.is_leader
        assert second.factory.has_synced  # the standby's caches are warm
        assert log == [("a", "default/w1")]
        lease = await env.client.get(Lease, "widgets-operator")
        assert lease.spec.holder_identity == "a" and lease.spec.lease_duration_seconds == 15

        flaky.cut = True  # "a" can no longer renew
        await env.advance(10)
        assert not first.is_leader  # gave up after the 10 s renew deadline
        assert not second.is_leader  # the lease has not expired yet
        await env.advance(7.5)  # 15 s after the last renewal, plus a retry period
        assert second.is_leader
        lease = await env.client.get(Lease, "widgets-operator")
        assert lease.spec.holder_identity == "b" and lease.spec.lease_transitions == 1
        assert ("b", "default/w1") in log  # the new leader reconciles everything once
        await env.client.create(widget("w2"))
        await env.settle()
        assert ("b", "default/w2") in log and ("a", "default/w2") not in log
        group.cancel_scope.cancel()


async def test_a_graceful_shutdown_releases_the_lease_at_once(env: Environment) -> None:
    log: list[tuple[str, str]] = []
    first = replica(env.client, env, "a", log)
    second = replica(env.client, env, "b", log)
    async with anyio.create_task_group() as group:
        scope = anyio.CancelScope()

        async def run_first() -> None:
            with scope:
                await first.run()

        group.start_soon(run_first)
        await env.settle()
        group.start_soon(second.run)
        await env.settle()
        scope.cancel()
        await env.settle()
        lease = await env.client.get(Lease, "widgets-operator")
        assert lease.spec.holder_identity == ""
        await env.advance(2.5)  # one retry period, not a lease duration
        assert second.is_leader
        group.cancel_scope.cancel()


async def test_shutdown_drains_reconciles_in_flight(env: Environment) -> None:
    finished: list[str] = []
    release = anyio.Event()

    async def reconcile(ctx: Context) -> None:
        await release.wait()
        finished.append(ctx.key)

    manager = Manager(env.client, clock=env.clock)
    manager.add(controller(WIDGET).build(reconcile))
    await env.client.create(widget("w1"))
    stopped = anyio.Event()
    async with anyio.create_task_group() as group:
        scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                await manager.run()
            stopped.set()

        group.start_soon(run)
        await env.settle()
        scope.cancel()  # shutdown while the reconcile waits
        await env.settle()
        assert not stopped.is_set()  # draining
        release.set()
        await env.settle()
        assert stopped.is_set() and finished == ["default/w1"]


async def test_drain_gives_up_after_its_timeout(env: Environment) -> None:
    cancelled: list[str] = []

    async def reconcile(ctx: Context) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(ctx.key)
            raise

    manager = Manager(env.client, clock=env.clock, drain_timeout=5)
    manager.add(controller(WIDGET).build(reconcile))
    await env.client.create(widget("w1"))
    async with anyio.create_task_group() as group:
        scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                await manager.run()

        group.start_soon(run)
        await env.settle()
        scope.cancel()
        await env.advance(4)
        assert cancelled == []
        await env.advance(1)
        assert cancelled == ["default/w1"]


async def test_shards_split_the_keys_between_replicas(env: Environment) -> None:
    log: list[tuple[str, str]] = []
    names = [f"w{i}" for i in range(12)]
    for name in names:
        await env.client.create(widget(name))
    managers = []
    for index in range(2):
        manager = Manager(
            env.client,
            clock=env.clock,
            leader_election=True,
            identity=f"r{index}",
            name="widgets-operator",
            shard=(index, 2),
        )
        manager.add(recording_controller(log, str(index)))
        managers.append(manager)
    async with anyio.create_task_group() as group:
        for manager in managers:
            group.start_soon(manager.run)
        await env.settle()
        assert all(m.is_leader for m in managers)  # one lease per shard
        leases = {lease.metadata.name for lease in (await env.client.list(Lease)).items}
        assert {"widgets-operator-shard-0", "widgets-operator-shard-1"} <= leases
        group.cancel_scope.cancel()
    by_replica = {(shard, key) for shard, key in log}
    assert {key for _, key in by_replica} == {f"default/{n}" for n in names}
    for shard, key in by_replica:
        assert shard_of(key, 2) == int(shard)


async def test_controllers_share_informers(env: Environment) -> None:
    async def noop(ctx: Context) -> None:
        return None

    manager = Manager(env.client, clock=env.clock)
    manager.add(controller(WIDGET, name="one").build(noop))
    manager.add(controller(WIDGET, name="two").build(noop))
    with pytest.raises(ValueError, match="already has a controller"):
        manager.add(controller(WIDGET, name="two").build(noop))
    async with anyio.create_task_group() as group:
        group.start_soon(manager.run)
        await env.settle()
        assert len(manager.factory.informers) == 1
        assert manager.is_leader
        assert await manager.reader.get(Lease, "nothing", namespace="default") is None
        group.cancel_scope.cancel()


async def test_leader_elector_checks_its_timing(env: Environment) -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline"):
        LeaderElector(env.client, "x", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError, match="shard"):
        Manager(env.client, shard=(2, 2))
