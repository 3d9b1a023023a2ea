"""The manager: many controllers, shared informers, leader election, graceful drain.

``Manager(client)`` runs every controller added to it in one anyio task group::

    manager = Manager(client, leader_election=True, name="mysql-operator")
    manager.add(databases)                 # a Controller (korch.controllers.controller(...))
    async with anyio.create_task_group() as tg:
        tg.start_soon(manager.run)         # until cancelled

What ``run`` does, in order:

1. sets up each controller on the manager's :class:`InformerFactory` — controllers asking
   for the same kind share one informer (one watch, one cache);
2. starts the informers and waits until every cache has synced (**warm caches before
   leading**: a standby replica keeps its caches current, so a hand-over starts at once);
3. with ``leader_election``, campaigns for the Lease ``<name>`` (``<name>-shard-<i>`` when
   sharded) in ``namespace`` — see :class:`LeaderElector`;
4. while leading, queues every cached key at low priority and runs the workers;
5. on cancellation or lost leadership, **drains**: workers take no new key, reconciles in
   flight finish (at most ``drain_timeout`` seconds of the clock, then they are cancelled),
   and the Lease is released.

**Sharding.** ``shard=(index, count)`` makes this replica own the keys whose CRC-32 modulo
``count`` is ``index``; each shard has its own Lease, so several replicas per shard index
give each shard a leader and standbys. Caches still hold every object.
"""

from __future__ import annotations

import logging
import random
import zlib
from typing import Any, TypeVar

import anyio

from korch import clock as clock_module
from korch.api import _selector
from korch.client import _protocol
from korch.controllers import _cache, _controller, _factory, _informer, _leader

__all__ = ("CacheReader", "Manager")

T = TypeVar("T")
log = logging.getLogger("korch.controllers.manager")


def shard_of(key: str, count: int) -> int:
    """The shard (0 … count-1) that owns ``key``: CRC-32 of the key modulo ``count``."""
    return zlib.crc32(key.encode()) % count


class CacheReader:
    """Reads answered from the manager's shared informers (their caches, after sync).

    Satisfies the ``Reader`` protocol of :mod:`korch.workloads` (``get``/``list``).
    """

    def __init__(self, factory: _factory.InformerFactory) -> None:
        self.factory = factory

    async def get(self, kind: type[T], name: str, *, namespace: str = "") -> T | None:
        informer: _informer.Informer[T] = self.factory.informer(kind)
        await informer.wait_synced()
        return informer.get(f"{namespace}/{name}" if namespace else name)

    async def list(
        self,
        kind: type[T],
        *,
        namespace: str | None = None,
        selector: _selector.Selector | None = None,
    ) -> list[T]:
        informer: _informer.Informer[T] = self.factory.informer(kind)
        await informer.wait_synced()
        return informer.list(namespace=namespace, label_selector=selector or "")


class Manager:
    """Runs controllers (see the module docstring).

    Args:
        client: the client of every controller and informer.
        clock: the clock of every timer (default: the system clock).
        name: the manager's name: the Lease name and the default identity prefix.
        namespace: where the Lease lives.
        leader_election: campaign for the Lease before running controllers.
        identity: this replica's candidate identity (default: hostname and a uuid).
        lease_duration, renew_deadline, retry_period: leader-election timing (15, 10, 2 s).
        shard: ``(index, count)`` to own only a hash share of the keys.
        drain_timeout: seconds in-flight reconciles get to finish on shutdown.
        resync_period: informers re-deliver their caches this often (``None``: never).
        transform: the informers' transform (default: :func:`default_transform`).
        rng: randomness for jitter.
    """

    def __init__(
        self,
        client: _protocol.Client,
        *,
        clock: clock_module.Clock | None = None,
        name: str = "korch-controller-manager",
        namespace: str = "default",
        leader_election: bool = False,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        shard: tuple[int, int] | None = None,
        drain_timeout: float = 30.0,
        resync_period: float | None = None,
        transform: _cache.Transform | None = _cache.default_transform,
        rng: random.Random | None = None,
    ) -> None:
        if shard is not None and not (shard[1] > 0 and 0 <= shard[0] < shard[1]):
            raise ValueError(f"shard must be (index, count) with 0 <= index < count, not {shard}")
        self.client = client
        self.clock = clock or clock_module.SystemClock()
        self.name = name
        self.namespace = namespace
        self.shard = shard
        self.drain_timeout = drain_timeout
        self._rng = rng or random.Random()
        self.factory = _factory.InformerFactory(
            client,
            clock=self.clock,
            transform=transform,
            resync_period=resync_period,
            rng=random.Random(self._rng.random()),
        )
        self.reader = CacheReader(self.factory)
        self.controllers: list[_controller.Controller] = []
        self.elector: _leader.LeaderElector | None = None
        if leader_election:
            lease = name if shard is None else f"{name}-shard-{shard[0]}"
            self.elector = _leader.LeaderElector(
                client,
                lease,
                namespace=namespace,
                identity=identity,
                lease_duration=lease_duration,
                renew_deadline=renew_deadline,
                retry_period=retry_period,
                clock=self.clock,
                rng=random.Random(self._rng.random()),
            )
        self._leading = False
        self._leading_changed = anyio.Event()
        self._running = False

    def add(self, controller: _controller.Controller) -> _controller.Controller:
        """Add a controller (before :meth:`run`); returns it.

        Raises:
            ValueError: a controller of the same name was added already.
            RuntimeError: the manager is running.
        """
        if self._running:
            raise RuntimeError("add controllers before the manager runs")
        if any(c.name == controller.name for c in self.controllers):
            raise ValueError(f"the manager already has a controller named {controller.name!r}")
        self.controllers.append(controller)
        return controller

    def informer(self, kind: Any, **scope: Any) -> _informer.Informer[Any]:
        """The shared informer of ``kind`` (see :meth:`InformerFactory.informer`)."""
        return self.factory.informer(kind, **scope)

    @property
    def is_leader(self) -> bool:
        """Controllers are running (always, once synced, without leader election)."""
        return self._leading

    async def wait_leading(self, leading: bool = True) -> None:
        """Wait until :attr:`is_leader` equals ``leading``."""
        while self._leading != leading:
            await self._leading_changed.wait()

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        self._leading_changed.set()
        self._leading_changed = anyio.Event()

    def _owns(self, key: str) -> bool:
        assert self.shard is not None
        return shard_of(key, self.shard[1]) == self.shard[0]

    async def run(self) -> None:
        """Run until cancelled (see the module docstring).

        Raises:
            RuntimeError: the manager is already running.
        """
        if self._running:
            raise RuntimeError(f"manager {self.name!r} is already running")
        self._running = True
        try:
            for controller in self.controllers:
                controller.setup(self.client, self.factory, clock=self.clock)
                if self.shard is not None:
                    controller.key_filter = self._owns
            async with anyio.create_task_group() as group:
                group.start_soon(self.factory.run)
                await self.factory.wait_synced()
                if self.elector is None:
                    await self._lead()
                else:
                    await self.elector.run(self._lead)
        finally:
            self._running = False

    async def _lead(self) -> None:
        self._set_leading(True)
        try:
            async with anyio.create_task_group() as group:
                for controller in self.controllers:
                    controller.enqueue_all()
                    group.start_soon(controller.run_workers)
                try:
                    await anyio.sleep_forever()
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._drain()
        finally:
            self._set_leading(False)

    async def _drain(self) -> None:
        """Let in-flight reconciles finish for up to ``drain_timeout`` seconds."""
        busy = [c for c in self.controllers if c.in_flight]
        if not busy:
            return
        drained = anyio.Event()

        async def wait_drained() -> None:
            for controller in busy:
                await controller.queue.wait_drained()
            drained.set()

        async def deadline() -> None:
            await self.clock.sleep(self.drain_timeout)
            drained.set()

        async with anyio.create_task_group() as group:
            group.start_soon(wait_drained)
            group.start_soon(deadline)
            await drained.wait()
            group.cancel_scope.cancel()
        for controller in busy:
            if controller.in_flight:
                log.warning("%s: drain timed out; cancelling reconciles", controller.name)
                controller.cancel_in_flight()

    def __repr__(self) -> str:
        return f"<Manager {self.name!r} controllers={[c.name for c in self.controllers]}>"
