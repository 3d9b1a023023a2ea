"""Cluster composition: components start with the cluster and stop with it."""

from __future__ import annotations

import anyio
import pytest

from korch import errors
from korch.api import ConfigMap, ObjectMeta
from korch.client import Client
from korch.clock import FakeClock
from korch.cluster import Cluster
from korch.store import MemoryStore

pytestmark = pytest.mark.anyio


class Recorder:
    """A component that notes it ran and was cancelled."""

    def __init__(self, client: Client, log: list[str]) -> None:
        self.client = client
        self.log = log
        self.started = anyio.Event()

    async def run(self) -> None:
        self.log.append("started")
        self.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.log.append("stopped")


async def test_components_run_with_the_cluster() -> None:
    log: list[str] = []
    made: list[Recorder] = []

    def factory(client: Client) -> Recorder:
        made.append(Recorder(client, log))
        return made[-1]

    store = MemoryStore()
    cluster = Cluster(store=store, nodes=0, controllers=factory, scheduler=False, clock=FakeClock())
    async with cluster:
        await made[0].started.wait()
        await cluster.client.create(ConfigMap(metadata=ObjectMeta(name="c")))
        assert made[0].client is cluster.client
    assert log == ["started", "stopped"]
    await store.get(b"/still-open")  # the caller's store stays open
    await store.close()


async def test_a_cluster_it_made_the_store_for_closes_it() -> None:
    async with Cluster(nodes=0, controllers=False, scheduler=False) as cluster:
        store = cluster.store
        assert "running" in repr(cluster)
    with pytest.raises(errors.StoreClosed):
        await store.get(b"/k")


async def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="nodes must be >= 0"):
        Cluster(nodes=-1)
    async with Cluster(nodes=0, controllers=False, scheduler=False) as cluster:
        with pytest.raises(KeyError, match="no running node agent"):
            await cluster.stop_node("nope")
    with pytest.raises(RuntimeError, match="not running"):
        await cluster.add_node("late")
