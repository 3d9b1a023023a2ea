"""Test controllers and operators: an :class:`Environment` that also runs a Manager.

:class:`ControllerEnvironment` is :class:`korch.testing.Environment` (MemoryStore, running
APIServer, FakeClock) plus a :class:`korch.controllers.Manager` running the controllers
under test on the same fake clock::

    async with ControllerEnvironment(databases, objects=[crd]) as env:
        await env.client.create(database)
        await env.settle()                  # caches caught up, every queue empty and idle
        assert env.client ... settled state
        await env.advance(300)              # periodic reconciles, backoffs, lease renewals

``settle()`` extends the environment's: once every task of the loop is blocked, it also
waits for reconciles running in threads (plain-function reconcilers, which the event loop
cannot see) and settles again, until nothing runs. Keys waiting for a requeue or a
backoff count as settled: they run when :meth:`advance` moves the fake clock past their
time (so do reconciles that sleep on the clock).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from korch.controllers import Controller, Manager
from korch.testing import _env

__all__ = ("ControllerEnvironment",)


class ControllerEnvironment(_env.Environment):
    """An :class:`Environment` running ``controllers`` in a Manager (see module docstring).

    Args:
        controllers: the controllers under test.
        objects: created (in order) before the manager starts — CRDs, namespaces, fixtures.
        manager_options: keyword arguments for :class:`korch.controllers.Manager` (its
            client and clock are the environment's).
        env_options: keyword arguments for :class:`Environment` (``admission``, ``seed``;
            the seed also seeds the manager's jitter).

    Attributes (inside ``async with``): those of :class:`Environment`, plus ``manager``.
    """

    def __init__(
        self,
        *controllers: Controller,
        objects: Iterable[Any] = (),
        manager_options: dict[str, Any] | None = None,
        **env_options: Any,
    ) -> None:
        super().__init__(**env_options)
        self.controllers = controllers
        self.objects = list(objects)
        seed = env_options.get("seed", 0)
        rng = random.Random(seed) if seed is not None else None
        options = {"rng": rng, **(manager_options or {})}
        self.manager = Manager(self.client, clock=self.clock, **options)
        for controller in controllers:
            self.manager.add(controller)
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> ControllerEnvironment:
        await super().__aenter__()
        try:
            for obj in self.objects:
                await self.client.create(obj)
            await super().settle()
            group: anyio.abc.TaskGroup = await self._stack.enter_async_context(
                anyio.create_task_group()
            )
            group.start_soon(self.manager.run)
            self._stack.callback(group.cancel_scope.cancel)
            await self.settle()
        except BaseException:
            await self._stack.aclose()
            await super().__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._stack.__aexit__(exc_type, exc, traceback)
        finally:
            await super().__aexit__(exc_type, exc, traceback)

    async def settle(self) -> None:
        """Settle the environment and every controller's queue (see the module docstring).

        Raises:
            RuntimeError: the environment did not settle.
        """
        for _ in range(1000):
            await super().settle()
            # every task is blocked: only reconciles running in threads can still progress
            threaded = [c for c in self.controllers if c.threads_running]
            if not threaded:
                return
            for controller in threaded:
                await controller.queue.wait_drained()
        raise RuntimeError("the controllers did not settle")
