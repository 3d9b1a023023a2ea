"""The context of a plain-function (sync) reconciler, which runs in a worker thread.

A reconciler defined with ``def`` instead of ``async def`` runs in anyio's thread pool,
bounded per controller by ``options(max_threads=N)``. Its :class:`SyncContext` offers the
same operations as :class:`~korch.controllers.Context`, blocking: each write is run on the
event loop (``anyio.from_thread.run``) and waited for. Cache reads, ``status`` and
``conditions`` are the same objects as the async context's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import anyio.from_thread

from korch.controllers import _context

__all__ = ("SyncContext",)

T = TypeVar("T")


class SyncContext:
    """Blocking access to a reconcile :class:`~korch.controllers.Context` from a thread."""

    def __init__(self, context: _context.Context) -> None:
        self.context = context
        self.key = context.key
        self.namespace = context.namespace
        self.name = context.name
        self.status = context.status
        self.conditions = context.conditions
        self.clock = context.clock
        self.log = context.log

    @property
    def object(self) -> Any:
        return self.context.object

    @property
    def deleting(self) -> bool:
        return self.context.deleting

    def get(self, kind: Any, name: str, *, namespace: str | None = None) -> Any:
        return self.context.get(kind, name, namespace=namespace)

    def list(self, kind: Any, **kwargs: Any) -> list[Any]:
        return self.context.list(kind, **kwargs)

    def call(self, func: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run ``await func(*args)`` on the event loop and return its result (e.g.
        ``ctx.call(ctx.client.delete, Secret, "old")``)."""
        return anyio.from_thread.run(func, *args)

    @property
    def client(self) -> Any:
        """The async client: call its methods through :meth:`call`."""
        return self.context.client

    def apply(self, child: T, *, force: bool = True, owned: bool = True) -> T:
        async def apply() -> T:
            return await self.context.apply(child, force=force, owned=owned)

        return anyio.from_thread.run(apply)

    def event(self, reason: str, message: str, type: str = "Normal") -> None:
        anyio.from_thread.run(self.context.event, reason, message, type)

    @contextlib.contextmanager
    def finalizer(self, name: str) -> Iterator[bool]:
        """``with ctx.finalizer("example.com/cleanup") as deleting:`` (see
        :meth:`Context.finalizer`)."""
        manager = self.context.finalizer(name)
        deleting = anyio.from_thread.run(manager.__aenter__)
        try:
            yield deleting
        except BaseException as exc:
            anyio.from_thread.run(manager.__aexit__, type(exc), exc, exc.__traceback__)
            raise
        anyio.from_thread.run(manager.__aexit__, None, None, None)
