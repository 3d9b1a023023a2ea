"""APIServer: kube-apiserver's semantics over a :class:`korch.store.Store`, in-process.

The verbs come from mixins, one module each — :mod:`~korch.apiserver._reads` (get, list),
:mod:`~korch.apiserver._writes` (create, update, patch), :mod:`~korch.apiserver._deletes`
(delete, delete_collection), :mod:`~korch.apiserver._scale` (the scale subresource) and
:mod:`~korch.apiserver._watching` (watch) — over the shared state of
:class:`~korch.apiserver._core.ServerCore`. This module assembles them and owns the
server's life cycle:

* usable at once: ``api = APIServer(store)`` serves every verb; the built-in namespaces
  (``default``, ``kube-system``, ``kube-public``, ``kube-node-lease``) are created
  idempotently before the first request;
* running: ``async with APIServer(store) as api:`` (or ``await api.run()``) also runs the
  watch caches — one store watch per watched type, started on first use — so watches and
  ``resourceVersion="0"`` reads are served from memory. Without it, every watch opens its
  own store watch: correct, just costlier with many watchers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING

import anyio

from korch import clock as clock_module
from korch.api import _registry
from korch.apiserver import _admission, _crd, _pods, _scale, _types, _watching
from korch.store import _types as store_types

if TYPE_CHECKING:
    from korch.client import Client

__all__ = ("APIServer",)


class APIServer(_crd.CustomResources, _pods.PodSubresources, _scale.Scales, _watching.Watching):
    """The in-process API server (see the module docstring and ``docs/api.md``).

    Args:
        store: where objects live (any :class:`korch.store.Store`).
        clock: timestamps, bookmarks (default: the system clock).
        registry: the served kinds (default: a copy of the built-in registry; register
            custom resources on ``api.registry``).
        admission: admission plugins (mutating ones run first, in order; then validating).
        authorizer: decides every request (default: allow everything).
        rng: randomness for uids and generated names (seed it for reproducible tests).
        watch_cache_size: events of history kept per watched type.
        bookmark_interval: seconds between watch bookmarks.
    """

    def __init__(
        self,
        store: store_types.Store,
        *,
        clock: clock_module.Clock | None = None,
        registry: _registry.Registry | None = None,
        admission: Iterable[object] = (),
        authorizer: _admission.Authorizer | None = None,
        rng: random.Random | None = None,
        watch_cache_size: int = 10_000,
        bookmark_interval: float = 60.0,
    ) -> None:
        super().__init__(
            store,
            clock=clock,
            registry=registry,
            admission=admission,
            authorizer=authorizer,
            rng=rng,
            watch_cache_size=watch_cache_size,
            bookmark_interval=bookmark_interval,
        )

    async def __aenter__(self) -> APIServer:
        if self._task_group is not None:
            raise RuntimeError("this APIServer is already running")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await self.ensure_bootstrapped()
        except BaseException:
            await self._stop(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop(exc_type, exc, traceback)

    async def _stop(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task_group, self._task_group = self._task_group, None
        for cache in list(self._caches.values()):
            cache.close()
        self._caches.clear()
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(exc_type, exc, traceback)

    async def run(self) -> None:
        """Run the server's background work (watch caches) until cancelled."""
        async with self:
            await anyio.sleep_forever()

    @property
    def running(self) -> bool:
        """Whether the watch caches run (inside ``async with`` or :meth:`run`)."""
        return self._task_group is not None

    def client(
        self,
        *,
        user: _types.UserInfo | None = None,
        field_manager: str = "korch",
        namespace: str = "default",
    ) -> Client:
        """A :class:`korch.client.LocalClient` talking to this server, typed as the
        :class:`korch.client.Client` protocol (so ``await client.get(Pod, …)`` is a Pod).

        Args:
            user: the identity its requests run as (authorizer, admission).
            field_manager: the manager recorded in managedFields for its writes.
            namespace: the namespace of one-object requests that name none.
        """
        # korch.client sits above this layer: imported on use, for this convenience only
        from korch.client import _local

        return _local.LocalClient(self, user=user, field_manager=field_manager, namespace=namespace)

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"<APIServer over {self.store!r} ({state})>"
