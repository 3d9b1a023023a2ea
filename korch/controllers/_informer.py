"""The informer: list + watch one kind into a local cache and tell handlers what changed.

``Informer(client, Pod, namespace=None, label_selector="", field_selector="")`` keeps a
:class:`~korch.controllers.Cache` of the selected objects current (client-go's reflector,
store and shared informer in one object)::

    informer = Informer(client, Pod, label_selector="app=web")
    informer.add_handler(lambda obj: queue.add(object_key(obj)))
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await informer.wait_synced()
        pod = informer.get("default/web")

How it stays correct (what Kubernetes' reflector does; choices where it is silent are in
``docs/controllers.md``):

* **list, then watch from the list's resourceVersion**, paged (``page_size`` per request);
  the cache is replaced by the list: objects gone since the last list are reported deleted;
* **bookmarks** are asked for and only move :attr:`Informer.resource_version` forward;
* **Expired (410)** from the watch or a list page → list again (``metrics.relists``);
* **other errors** (network, 5xx, a kind not served yet) → reconnect after a jittered
  exponential backoff (0.8 s → 30 s, up to +100 % jitter, reset once a watch succeeds),
  resuming the watch from the last resourceVersion without a relist;
* **watch timeout** — each watch is ended after a random 1-2 x ``watch_timeout`` seconds
  and resumed (kube-apiserver's ``timeoutSeconds``), and after ``inactivity_timeout``
  seconds without any event or bookmark it is assumed frozen and reopened;
* **resync** — every ``resync_period`` seconds every cached object is re-delivered to the
  handlers as an update (old is new);
* **transform** runs once per object before it is cached (:func:`default_transform` by
  default; :func:`metadata_only` with ``metadata_only=True``).

Handlers are plain callables run synchronously by the informer task, so they must be cheap
(enqueue a key). A handler registered after sync first receives every cached object as an
add. While list results, resyncs and such replays are delivered, :attr:`Informer.replaying`
is ``True`` — a controller queues those at low priority. All timers use the ``clock``.

:meth:`Informer.wait_for` waits until the cache has seen a resourceVersion (korch's
resourceVersions are store revisions, so they compare as integers, as with an etcd-backed
kube-apiserver); this is what read-your-own-writes is built on.
"""

from __future__ import annotations

import builtins
import heapq
import itertools
import logging
import random
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _selector
from korch.client import _protocol
from korch.controllers import _cache

__all__ = ("Handler", "HandlerRegistration", "Informer", "InformerMetrics")

T = TypeVar("T")
log = logging.getLogger("korch.controllers.informer")

_BOOKMARK = "BOOKMARK"
_DELETED = "DELETED"


@attrs.define
class InformerMetrics:
    """Counters of an :class:`Informer`."""

    lists: int = 0
    relists: int = 0
    watches: int = 0
    reconnects: int = 0
    inactivity_timeouts: int = 0
    events: int = 0
    bookmarks: int = 0
    resyncs: int = 0
    handler_errors: int = 0


@attrs.frozen
class Handler:
    """What an informer calls on changes; any of the three may be ``None``."""

    on_add: Callable[[Any], None] | None = None
    on_update: Callable[[Any, Any], None] | None = None
    on_delete: Callable[[Any], None] | None = None


class HandlerRegistration:
    """Returned by :meth:`Informer.add_handler`; :meth:`remove` unregisters the handler."""

    def __init__(self, informer: Informer[Any], handler: Handler) -> None:
        self._informer = informer
        self.handler = handler

    def remove(self) -> None:
        handlers = self._informer._handlers
        if self.handler in handlers:
            handlers.remove(self.handler)


def _to_int(resource_version: str | int) -> int:
    try:
        return int(resource_version or 0)
    except ValueError:
        raise errors.BadRequest(
            f"resourceVersion {resource_version!r} is not a korch resourceVersion (an integer)"
        ) from None


class Informer(Generic[T]):
    """A cache of one kind kept current by list + watch (see the module docstring).

    Args:
        client: any :class:`korch.client.Client`.
        kind: a kind class (``Pod``) or ``(apiVersion, kind)``.
        namespace: one namespace, or ``None`` for all.
        label_selector: server-side label selection (``"app=web"``).
        field_selector: server-side field selection (``"spec.nodeName=n1"``).
        transform: applied to every object before caching (default
            :func:`default_transform`; ``None`` keeps objects as they come).
        metadata_only: cache :class:`korch.api.PartialObjectMetadata` only.
        indexers: secondary indexes ``{name: func(obj) -> values}``.
        resync_period: seconds between re-deliveries of the whole cache (``None``: never).
        page_size: objects per list request (0: one request).
        watch_timeout: a watch is resumed after 1-2 x this many seconds.
        inactivity_timeout: a watch silent this long (no event, no bookmark) is reopened.
        backoff_initial, backoff_max: reconnect backoff bounds (seconds).
        clock: the clock of every timer (default: the system clock).
        rng: randomness for jitter.
    """

    def __init__(
        self,
        client: _protocol.Client,
        kind: type[T] | _protocol.GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        transform: _cache.Transform | None = _cache.default_transform,
        metadata_only: bool = False,
        indexers: dict[str, _cache.IndexFunc] | None = None,
        resync_period: float | None = None,
        page_size: int = 500,
        watch_timeout: float = 300.0,
        inactivity_timeout: float = 180.0,
        backoff_initial: float = 0.8,
        backoff_max: float = 30.0,
        clock: clock_module.Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if resync_period is not None and resync_period <= 0:
            raise ValueError(f"resync_period must be positive or None (got {resync_period})")
        if watch_timeout <= 0 or inactivity_timeout <= 0:
            raise ValueError("watch_timeout and inactivity_timeout must be positive")
        if label_selector:
            _selector.parse_selector(label_selector)  # a bad selector fails here, not in run()
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        if metadata_only:
            base = transform
            transform = (
                _cache.metadata_only
                if base is None or base is _cache.default_transform
                else lambda obj: _cache.metadata_only(base(obj))
            )
        self.transform = transform
        self.metadata_only = metadata_only
        self.resync_period = resync_period
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.inactivity_timeout = inactivity_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock or clock_module.SystemClock()
        self.metrics = InformerMetrics()
        self.cache: _cache.Cache[T] = _cache.Cache(indexers)
        self.replaying = False
        self._rng = rng or random.Random()
        self._handlers: list[Handler] = []
        self._synced = anyio.Event()
        self._rv = 0
        self._rv_text = ""
        self._rv_waiters: list[tuple[int, int, anyio.Event]] = []
        self._sequence = itertools.count()
        self._running = False
        self._last_activity = 0.0

    # -- reading --------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        """The first list has been loaded into the cache."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Wait until the first list has been loaded into the cache."""
        await self._synced.wait()

    @property
    def resource_version(self) -> str:
        """The newest resourceVersion the cache reflects (list, event or bookmark)."""
        return self._rv_text

    async def wait_for(self, resource_version: str | int) -> None:
        """Wait until the cache reflects ``resource_version`` (or a newer one).

        Events out of the informer's selection do not move it, so wait for versions of
        objects this informer sees, and bound the wait (the controller does).

        Raises:
            korch.errors.BadRequest: not an integer resourceVersion.
        """
        target = _to_int(resource_version)
        if self._rv >= target:
            return
        event = anyio.Event()
        heapq.heappush(self._rv_waiters, (target, next(self._sequence), event))
        await event.wait()

    def get(self, key: str) -> T | None:
        """The cached object with key ``"namespace/name"`` (or ``"name"``), or ``None``."""
        return self.cache.get(key)

    def list(
        self, *, namespace: str | None = None, label_selector: str | _selector.Selector = ""
    ) -> builtins.list[T]:
        """Cached objects (of ``namespace``, matching ``label_selector``)."""
        return self.cache.list(namespace=namespace, label_selector=label_selector)

    def keys(self) -> builtins.list[str]:
        return self.cache.keys()

    def by_index(self, name: str, value: str) -> builtins.list[T]:
        """Cached objects whose index ``name`` produced ``value``."""
        return self.cache.by_index(name, value)

    def add_indexer(self, name: str, func: _cache.IndexFunc) -> None:
        """Add a secondary index (built at once over the cached objects)."""
        self.cache.add_indexer(name, func)

    # -- handlers -------------------------------------------------------------------------

    def add_handler(
        self,
        callback: Callable[[Any], None] | None = None,
        *,
        on_add: Callable[[Any], None] | None = None,
        on_update: Callable[[Any, Any], None] | None = None,
        on_delete: Callable[[Any], None] | None = None,
    ) -> HandlerRegistration:
        """Call handlers on changes; ``callback(obj)`` alone stands for all three (with the
        new object on add and update, the last state on delete).

        Objects already cached are delivered to the new handler as adds at once.
        """
        if callback is not None:
            if on_add or on_update or on_delete:
                raise ValueError("pass either one callback or on_add/on_update/on_delete")
            one = callback
            handler = Handler(one, lambda old, new: one(new), one)
        else:
            handler = Handler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if handler.on_add is not None and len(self.cache):
            self.replaying = True
            try:
                for obj in self.cache.values():
                    self._call(handler.on_add, obj)
            finally:
                self.replaying = False
        return HandlerRegistration(self, handler)

    def _call(self, func: Callable[..., None], *args: Any) -> None:
        try:
            func(*args)
        except Exception:
            self.metrics.handler_errors += 1
            log.exception("an event handler of the %s informer failed", self._kind_name)

    def _notify_add(self, obj: Any) -> None:
        for handler in self._handlers:
            if handler.on_add is not None:
                self._call(handler.on_add, obj)

    def _notify_update(self, old: Any, new: Any) -> None:
        for handler in self._handlers:
            if handler.on_update is not None:
                self._call(handler.on_update, old, new)

    def _notify_delete(self, obj: Any) -> None:
        for handler in self._handlers:
            if handler.on_delete is not None:
                self._call(handler.on_delete, obj)

    @property
    def _kind_name(self) -> str:
        kind = self.kind
        return kind[1] if isinstance(kind, tuple) else kind.__name__

    # -- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled (see the module docstring).

        Raises:
            RuntimeError: the informer is already running.
        """
        if self._running:
            raise RuntimeError(f"the {self._kind_name} informer is already running")
        self._running = True
        try:
            if self.resync_period is None:
                await self._list_and_watch()
                return
            async with anyio.create_task_group() as group:
                group.start_soon(self._resync_loop)
                await self._list_and_watch()
        finally:
            self._running = False

    async def _list_and_watch(self) -> None:
        need_list = not self.has_synced
        failures = 0
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                progressed = await self._watch()
                if progressed:
                    failures = 0
                    continue
            except errors.Expired as exc:
                log.info("%s informer: %s; listing again", self._kind_name, exc)
                self.metrics.relists += 1
                need_list = True
                continue
            except (errors.KorchError, OSError) as exc:
                log.warning("%s informer: %s; reconnecting", self._kind_name, exc)
            self.metrics.reconnects += 1
            delay = min(self.backoff_max, self.backoff_initial * 2.0 ** min(failures, 30))
            failures += 1
            await self.clock.sleep(delay * (1.0 + self._rng.random()))

    async def _list(self) -> None:
        self.metrics.lists += 1
        items: list[Any] = []
        token = ""
        revision = ""
        while True:
            page = await self.client.list(
                self.kind,
                namespace=self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_=token,
            )
            items.extend(page.items)
            revision = revision or page.metadata.resource_version
            token = page.metadata.continue_
            if not token:
                break
        self._replace(items, revision)
        self._synced.set()

    def _replace(self, items: builtins.list[Any], revision: str) -> None:
        transform = self.transform
        cache = self.cache
        seen = set()
        self.replaying = True
        try:
            for obj in items:
                new = transform(obj) if transform is not None else obj
                key = _cache.object_key(new)
                seen.add(key)
                old = cache.put(key, new)
                if old is None:
                    self._notify_add(new)
                else:
                    self._notify_update(old, new)
            for key in cache.keys():  # noqa: SIM118 - a copy: the loop deletes
                if key not in seen:
                    gone = cache.delete(key)
                    if gone is not None:
                        self._notify_delete(gone)
        finally:
            self.replaying = False
        self._advance(revision)

    async def _watch(self) -> bool:
        """One watch; returns whether it delivered anything (errors propagate)."""
        self.metrics.watches += 1
        clock = self.clock
        scope = anyio.CancelScope()
        now = clock.monotonic()
        self._last_activity = now
        end = now + self.watch_timeout * (1.0 + self._rng.random())
        progressed = False

        async def watchdog() -> None:
            while True:
                due = min(end, self._last_activity + self.inactivity_timeout)
                if clock.monotonic() >= due:
                    if due < end:
                        self.metrics.inactivity_timeouts += 1
                    scope.cancel()
                    return
                await clock.sleep_until(due)

        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(watchdog)
            with scope:
                try:
                    async with self.client.watch(
                        self.kind,
                        namespace=self.namespace,
                        label_selector=self.label_selector,
                        field_selector=self.field_selector,
                        resource_version=self._rv_text,
                        allow_watch_bookmarks=True,
                    ) as events:
                        async for event in events:
                            self._last_activity = clock.monotonic()
                            progressed = True
                            self._apply(event.type, event.object)
                except Exception as exc:  # raised after the task group, not inside a group
                    failure = exc
            group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return progressed or scope.cancel_called

    def _apply(self, type: str, obj: Any) -> None:
        metrics = self.metrics
        revision = obj.metadata.resource_version
        if type == _BOOKMARK:
            metrics.bookmarks += 1
            self._advance(revision)
            return
        metrics.events += 1
        new = self.transform(obj) if self.transform is not None else obj
        key = _cache.object_key(new)
        if type == _DELETED:
            old = self.cache.delete(key)
            self._notify_delete(old if old is not None else new)
        else:
            old = self.cache.put(key, new)
            if old is None:
                self._notify_add(new)
            else:
                self._notify_update(old, new)
        self._advance(revision)

    def _advance(self, resource_version: str) -> None:
        if not resource_version:
            return
        value = int(resource_version)
        if value <= self._rv:
            return
        self._rv = value
        self._rv_text = resource_version
        waiters = self._rv_waiters
        while waiters and waiters[0][0] <= value:
            heapq.heappop(waiters)[2].set()

    async def _resync_loop(self) -> None:
        assert self.resync_period is not None
        await self._synced.wait()
        while True:
            await self.clock.sleep(self.resync_period)
            self.metrics.resyncs += 1
            self.replaying = True
            try:
                for obj in self.cache.values():
                    self._notify_update(obj, obj)
            finally:
                self.replaying = False

    def __repr__(self) -> str:
        scope = f" namespace={self.namespace!r}" if self.namespace else ""
        return (
            f"<Informer {self._kind_name}{scope} objects={len(self.cache)} "
            f"rv={self._rv_text!r} synced={self.has_synced}>"
        )
