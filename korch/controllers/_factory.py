"""Shared informers: one informer per (kind, scope) for every controller of a process.

client-go's ``SharedInformerFactory``: ``factory.informer(Pod)`` returns the same
:class:`~korch.controllers.Informer` to every caller asking for the same kind with the same
namespace, selectors and metadata-only mode, so ten controllers watching Pods cost one
watch and one cache. Informers asked for while the factory runs start at once.
"""

from __future__ import annotations

import random
from typing import Any, TypeVar, overload

import anyio
import anyio.abc

from korch import clock as clock_module
from korch.client import _protocol
from korch.controllers import _cache, _informer

__all__ = ("InformerFactory",)

T = TypeVar("T")

_Key = tuple[Any, str | None, str, str, bool]


class InformerFactory:
    """Hands out shared informers and runs them (see the module docstring).

    Args:
        client: the client every informer uses.
        clock: the clock of every informer.
        transform: the transform of every informer (default :func:`default_transform`).
        resync_period: default resync period of the informers (``None``: no resync).
        rng: randomness for jitter (seed it for reproducible tests).
    """

    def __init__(
        self,
        client: _protocol.Client,
        *,
        clock: clock_module.Clock | None = None,
        transform: _cache.Transform | None = _cache.default_transform,
        resync_period: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.clock = clock or clock_module.SystemClock()
        self.transform = transform
        self.resync_period = resync_period
        self._rng = rng or random.Random()
        self._informers: dict[_Key, _informer.Informer[Any]] = {}
        self._group: anyio.abc.TaskGroup | None = None

    @overload
    def informer(
        self,
        kind: type[T],
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        metadata_only: bool = False,
    ) -> _informer.Informer[T]: ...

    @overload
    def informer(
        self,
        kind: _protocol.GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        metadata_only: bool = False,
    ) -> _informer.Informer[Any]: ...

    def informer(
        self,
        kind: type[T] | _protocol.GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        metadata_only: bool = False,
    ) -> _informer.Informer[Any]:
        """The shared informer of ``kind`` in this scope (created on first request)."""
        key: _Key = (kind, namespace, label_selector, field_selector, metadata_only)
        existing = self._informers.get(key)
        if existing is not None:
            return existing
        created: _informer.Informer[Any] = _informer.Informer(
            self.client,
            kind,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            transform=self.transform,
            metadata_only=metadata_only,
            resync_period=self.resync_period,
            clock=self.clock,
            rng=random.Random(self._rng.random()),
        )
        self._informers[key] = created
        if self._group is not None:
            self._group.start_soon(created.run)
        return created

    @property
    def informers(self) -> list[_informer.Informer[Any]]:
        return list(self._informers.values())

    @property
    def has_synced(self) -> bool:
        return all(i.has_synced for i in self._informers.values())

    async def wait_synced(self) -> None:
        """Wait until every informer handed out so far has synced."""
        for informer in list(self._informers.values()):
            await informer.wait_synced()

    async def run(self) -> None:
        """Run every informer (and those asked for later) until cancelled.

        Raises:
            RuntimeError: the factory is already running.
        """
        if self._group is not None:
            raise RuntimeError("this InformerFactory is already running")
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                for informer in self._informers.values():
                    group.start_soon(informer.run)
                await anyio.sleep_forever()
        finally:
            self._group = None
