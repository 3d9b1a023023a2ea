"""An in-process test environment: a MemoryStore, a running APIServer and a FakeClock.

:class:`Environment` is what a test of a controller or an operator needs, without sleeps::

    async with Environment() as env:
        await env.client.create(pod)
        await env.settle()           # every watch cache caught up, every ready task ran
        await env.advance(30)        # fake time moves 30 s; timers fire; settle again

**settle()** is deterministic: it loops until (1) every watch cache of the server has
applied every revision the store has written and (2) no task of the event loop can make
progress (``anyio.wait_all_tasks_blocked``). Each round that finds a cache
behind waits for it (asking the store for a progress notification when its type saw no
write); the loop ends when a whole round found nothing to do, so work started by work (a
controller reacting to an event, writing, and its write reaching the caches) settles too.
Tasks sleeping on the fake clock count as blocked: they only run
when :meth:`advance` moves the clock past their deadline.

Invariant: an Environment is used by tasks of one event loop (the FakeClock's rule).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from korch import clock as clock_module
from korch import errors
from korch.apiserver import _server
from korch.store import _memory

if TYPE_CHECKING:
    from korch.client import Client

__all__ = ("Environment", "environment")

_MAX_ROUNDS = 10_000


class Environment:
    """A MemoryStore, an APIServer running its watch caches, and a FakeClock.

    Args:
        clock: the fake clock (default: a new :class:`korch.clock.FakeClock`).
        admission: admission plugins for the server.
        seed: seeds the server's randomness (uids, generated names) for reproducible runs.

    Attributes (valid inside ``async with``): ``store``, ``api``, ``clock``, ``client``.
    """

    def __init__(
        self,
        *,
        clock: clock_module.FakeClock | None = None,
        admission: Iterable[object] = (),
        seed: int | None = 0,
    ) -> None:
        self.clock = clock or clock_module.FakeClock()
        self.store = _memory.MemoryStore(clock=self.clock)
        rng = random.Random(seed) if seed is not None else None
        self.api = _server.APIServer(self.store, clock=self.clock, admission=admission, rng=rng)
        self.client: Client = self.api.client()
        self._entered = False

    async def __aenter__(self) -> Environment:
        if self._entered:
            raise RuntimeError("this Environment is already in use")
        await self.api.__aenter__()
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._entered = False
        await self.api.__aexit__(exc_type, exc, traceback)
        await self.store.close()

    async def _revision(self) -> int:
        return (await self.store.range(b"\x00", limit=1)).revision

    def _lagging(self, revision: int) -> list[Any]:
        # the server's watch caches are private to korch; the environment is korch's own tool
        caches = list(self.api._caches.values())
        return [c for c in caches if not c.closed and c.revision < revision]

    async def settle(self) -> None:
        """Wait until every watch cache reached the store's revision and no task can run.

        Raises:
            RuntimeError: the environment never settled (something keeps producing work
                without the fake clock advancing, e.g. a busy loop).
        """
        for _ in range(_MAX_ROUNDS):
            await anyio.wait_all_tasks_blocked()
            revision = await self._revision()
            lagging = self._lagging(revision)
            if not lagging:
                await anyio.wait_all_tasks_blocked()
                if await self._revision() == revision and not self._lagging(revision):
                    return
                continue
            for cache in lagging:
                with contextlib.suppress(errors.Timeout):  # closed meanwhile: nothing to wait for
                    await cache.wait_for_revision(revision)
        raise RuntimeError("the environment did not settle")

    async def advance(self, seconds: float) -> None:
        """Move the fake clock forward by ``seconds``, then :meth:`settle`.

        Timers due before the new time fire in deadline order: the clock steps to each due
        deadline and settles there, so work a timer starts sees the time it was due at.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        target = self.clock.time() + seconds
        await self.settle()
        while True:
            deadline = self.clock.next_deadline
            if deadline is None or deadline > target:
                break
            self.clock.set(max(deadline, self.clock.time()))
            await self.settle()
        self.clock.set(target)
        await self.settle()


async def environment(**kwargs: Any) -> AsyncIterator[Environment]:
    """An async generator for a pytest fixture (anyio plugin)::

        @pytest.fixture
        async def env():
            async for value in korch.testing.environment():
                yield value

    Args:
        kwargs: passed to :class:`Environment`.

    Yields:
        A running environment, closed when the fixture finalizes.
    """
    async with Environment(**kwargs) as env:
        yield env
