"""The controller: informers feed a work queue of keys; workers reconcile one key at a time.

Built by :func:`korch.controllers.controller` and run by a
:class:`~korch.controllers.Manager`. Per key, a worker:

1. waits (at most ``ryow_timeout`` seconds) until the caches reflect every write the
   previous reconcile of that key made (read-your-own-writes), so a reconcile never acts
   on a state older than its own last write;
2. calls the reconciler with a :class:`~korch.controllers.Context` holding the cached
   object (``None`` when it is gone) — async reconcilers on the event loop, plain
   functions in a thread pool bounded by ``max_threads``;
3. writes the collected status once (:meth:`Context.flush_status`);
4. acts on the outcome: ``Result(requeue_after=t)`` → again in ``t`` s (else, with a
   ``period``, again in ``period`` s); ``Retry(after)`` → again after ``after`` s or with
   backoff; ``Terminal`` → no retry; any other exception → backoff. Success resets the
   key's backoff.

A reconcile is bounded by ``timeout`` seconds of the clock when one is set. While the
manager drains (shutdown, lost leadership), reconciles in flight finish; no new key starts.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import attrs

from korch import clock as clock_module
from korch import errors
from korch.client import _protocol
from korch.controllers import (
    _cache,
    _context,
    _factory,
    _informer,
    _kinds,
    _predicates,
    _queue,
    _ratelimit,
    _result,
)

__all__ = ("Controller", "ControllerMetrics", "Reconciler", "Watch")

log = logging.getLogger("korch.controllers")

Reconciler = Callable[[Any], Any]
"""``async def reconcile(ctx) -> Result | None`` (or a plain function, run in a thread)."""


@attrs.frozen
class Watch:
    """A kind a controller watches and how its objects map to keys of the primary kind.

    ``map`` is ``None`` for the primary kind, the owner handler for owned kinds, else the
    user's function ``map(obj) -> iterable of keys``.
    """

    kind: Any
    map: Callable[[Any], Iterable[str]] | None = None
    predicates: tuple[_predicates.Predicate, ...] = ()
    owned: bool = False


@attrs.define
class ControllerMetrics:
    """Counters of a controller (controller-runtime's reconcile metrics)."""

    reconciles: int = 0
    successes: int = 0
    errors: int = 0
    requeues: int = 0
    retries: int = 0
    terminal: int = 0
    timeouts: int = 0
    status_writes: int = 0
    ryow_waits: int = 0
    ryow_timeouts: int = 0
    reconcile_seconds_total: float = 0.0


class Controller:
    """A reconciler for one kind with its watches (see the module docstring).

    Build one with :func:`korch.controllers.controller`; a :class:`Manager` runs it.
    """

    def __init__(
        self,
        kind: Any,
        reconciler: Reconciler,
        *,
        name: str = "",
        watches: Iterable[Watch] = (),
        predicates: Iterable[_predicates.Predicate] = (),
        workers: int = 1,
        timeout: float | None = None,
        period: float | None = None,
        max_threads: int = 4,
        ryow_timeout: float = 10.0,
        field_manager: str = "",
        rate_limiter: Callable[[clock_module.Clock], _ratelimit.RateLimiter] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a controller needs at least one worker (got {workers})")
        for value, label in ((timeout, "timeout"), (period, "period")):
            if value is not None and value <= 0:
                raise ValueError(f"{label} must be positive or None (got {value})")
        self.kind = kind
        self.kind_pair = _kinds.kind_pair(kind)
        self.group_kind = _kinds.group_kind(*self.kind_pair)
        self.reconciler = reconciler
        self.name = name or self.kind_pair[1].lower()
        self.watches = (Watch(kind, None, tuple(predicates)), *watches)
        self.workers = workers
        self.timeout = timeout
        self.period = period
        self.max_threads = max_threads
        self.ryow_timeout = ryow_timeout
        self.field_manager = field_manager or f"korch-{self.name}"
        self.is_async = inspect.iscoroutinefunction(reconciler) or inspect.iscoroutinefunction(
            getattr(reconciler, "__call__", None)  # noqa: B004 - async callable objects
        )
        self.metrics = ControllerMetrics()
        self.key_filter: Callable[[str], bool] | None = None
        self._rate_limiter = rate_limiter
        self._client: _protocol.Client | None = None
        self._clock: clock_module.Clock | None = None
        self._queue: _queue.WorkQueue[str] | None = None
        self._informers: dict[tuple[str, str], _informer.Informer[Any]] = {}
        self._primary: _informer.Informer[Any] | None = None
        self._pending: dict[str, dict[tuple[str, str], int]] = {}
        self._limiter: anyio.CapacityLimiter | None = None
        self._inflight: dict[anyio.CancelScope, str] = {}
        self.threads_running = 0

    # -- setup ------------------------------------------------------------------------------

    @property
    def client(self) -> _protocol.Client:
        if self._client is None:
            raise RuntimeError(f"controller {self.name!r} is not set up (add it to a Manager)")
        return self._client

    @property
    def clock(self) -> clock_module.Clock:
        return self._clock or clock_module.SystemClock()

    @property
    def queue(self) -> _queue.WorkQueue[str]:
        if self._queue is None:
            raise RuntimeError(f"controller {self.name!r} is not set up (add it to a Manager)")
        return self._queue

    @property
    def primary(self) -> _informer.Informer[Any]:
        if self._primary is None:
            raise RuntimeError(f"controller {self.name!r} is not set up (add it to a Manager)")
        return self._primary

    @property
    def informers(self) -> list[_informer.Informer[Any]]:
        return list(self._informers.values())

    def setup(
        self,
        client: _protocol.Client,
        factory: _factory.InformerFactory,
        *,
        clock: clock_module.Clock,
    ) -> None:
        """Take informers from ``factory`` and register the event handlers (once).

        Raises:
            RuntimeError: the controller is already set up.
        """
        if self._client is not None:
            raise RuntimeError(f"controller {self.name!r} is already set up")
        self._client = client
        self._clock = clock
        limiter = self._rate_limiter(clock) if self._rate_limiter else None
        self._queue = _queue.WorkQueue(clock=clock, rate_limiter=limiter, name=self.name)
        for watch in self.watches:
            informer = factory.informer(watch.kind)
            self._informers[_kinds.kind_pair(watch.kind)] = informer
            if watch.map is None and not watch.owned:
                self._primary = informer
            self._register(informer, watch)

    def _register(self, informer: _informer.Informer[Any], watch: Watch) -> None:
        mapper = self.owner_keys if watch.owned else watch.map
        predicates = watch.predicates

        def enqueue(old: Any, new: Any) -> None:
            for predicate in predicates:
                if not predicate(old, new):
                    return
            priority = _queue.PRIORITY_LOW if informer.replaying else _queue.PRIORITY_NORMAL
            if mapper is None:
                self.enqueue(_cache.object_key(new if new is not None else old), priority)
                return
            for obj in (old, new):
                if obj is not None:
                    for key in mapper(obj):
                        self.enqueue(key, priority)

        informer.add_handler(
            on_add=lambda obj: enqueue(None, obj),
            on_update=enqueue,
            on_delete=lambda obj: enqueue(obj, None),
        )

    def owner_keys(self, obj: Any) -> list[str]:
        """Keys of the primary objects that control ``obj`` (its controller reference)."""
        group_kind = self.group_kind
        namespace = obj.metadata.namespace
        for ref in obj.metadata.owner_references:
            if ref.controller and _kinds.group_kind(ref.api_version, ref.kind) == group_kind:
                return [f"{namespace}/{ref.name}" if namespace else ref.name]
        return []

    def informer_or_none(self, kind: Any) -> _informer.Informer[Any] | None:
        return self._informers.get(_kinds.kind_pair(kind))

    def informer_for(self, kind: Any) -> _informer.Informer[Any]:
        """The informer of a kind this controller watches.

        Raises:
            LookupError: the controller does not watch ``kind``.
        """
        informer = self.informer_or_none(kind)
        if informer is None:
            raise LookupError(
                f"controller {self.name!r} does not watch {_kinds.kind_name(kind)}; add "
                ".owns() or .watches() for it, or read through ctx.client"
            )
        return informer

    def enqueue(self, key: str, priority: int = _queue.PRIORITY_NORMAL) -> None:
        """Queue ``key`` (unless this replica's shard does not own it)."""
        if self.key_filter is not None and not self.key_filter(key):
            return
        self.queue.add(key, priority=priority)

    def enqueue_all(self, priority: int = _queue.PRIORITY_LOW) -> None:
        """Queue every cached primary key (done on gaining leadership)."""
        for key in self.primary.keys():  # noqa: SIM118 - Informer.keys() is a list
            self.enqueue(key, priority)

    # -- running ---------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def run_workers(self) -> None:
        """Run the workers until cancelled; reconciles in flight finish first (drain)."""
        self._limiter = self._limiter or anyio.CapacityLimiter(self.max_threads)
        async with anyio.create_task_group() as group:
            for _ in range(self.workers):
                group.start_soon(self._worker)

    def cancel_in_flight(self) -> None:
        """Cancel the reconciles still running (the drain deadline passed)."""
        for scope in list(self._inflight):
            scope.cancel()

    async def _worker(self) -> None:
        queue = self.queue
        while True:
            await anyio.lowlevel.checkpoint_if_cancelled()  # draining: take no new key
            key = await queue.get()
            if key is None:
                return
            scope = anyio.CancelScope(shield=True)
            self._inflight[scope] = key
            try:
                with scope:
                    await self._process(key)
            finally:
                del self._inflight[scope]
                queue.done(key)

    async def _process(self, key: str) -> None:
        metrics = self.metrics
        clock = self.clock
        queue = self.queue
        pending = self._pending.pop(key, None)
        if pending:
            await self._read_own_writes(pending)
        obj = self.primary.get(key)
        ctx = _context.Context(self, key, obj)
        metrics.reconciles += 1
        started = clock.monotonic()
        outcome: Any = None
        failure: BaseException | None = None
        try:
            outcome = await self._call(ctx)
        except Exception as exc:
            failure = exc
        try:
            if await ctx.flush_status():
                metrics.status_writes += 1
        except Exception as exc:
            failure = failure or exc
        finally:
            metrics.reconcile_seconds_total += clock.monotonic() - started
            if ctx._written:
                self._pending[key] = ctx._written
        self._outcome(key, queue, outcome, failure)

    def _outcome(
        self,
        key: str,
        queue: _queue.WorkQueue[str],
        outcome: Any,
        failure: BaseException | None,
    ) -> None:
        metrics = self.metrics
        if failure is None:
            metrics.successes += 1
            queue.forget(key)
            after = outcome.requeue_after if isinstance(outcome, _result.Result) else None
            if after is None:
                after = self.period
            if after is not None:
                metrics.requeues += 1
                queue.add_after(key, after)
        elif isinstance(failure, _result.Retry):
            metrics.retries += 1
            if failure.after is None:
                queue.add_rate_limited(key)
            else:
                queue.add_after(key, failure.after)
        elif isinstance(failure, _result.Terminal):
            metrics.terminal += 1
            queue.forget(key)
            log.warning("%s: %s: not retried: %s", self.name, key, failure.reason)
        else:
            metrics.errors += 1
            if isinstance(failure, errors.Timeout) and self.timeout is not None:
                metrics.timeouts += 1
            delay = queue.add_rate_limited(key)
            log.warning(
                "%s: %s failed (retry in %.1fs): %r", self.name, key, delay, failure,
                exc_info=not isinstance(failure, errors.KorchError),
            )  # fmt: skip

    async def _call(self, ctx: _context.Context) -> Any:
        if self.timeout is None:
            return await self._invoke(ctx)
        clock = self.clock
        outcome: list[Any] = []
        scope = anyio.CancelScope()
        timed_out = False

        async def deadline() -> None:
            nonlocal timed_out
            await clock.sleep(self.timeout or 0)
            timed_out = True
            scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(deadline)
            failure: Exception | None = None
            with scope:
                try:
                    outcome.append(await self._invoke(ctx))
                except Exception as exc:
                    failure = exc
            group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if timed_out and not outcome:
            raise errors.Timeout(f"reconcile of {ctx.key} took longer than {self.timeout}s")
        return outcome[0] if outcome else None

    async def _invoke(self, ctx: _context.Context) -> Any:
        if self.is_async:
            return await self.reconciler(ctx)
        from korch.controllers import _sync

        call = functools.partial(self.reconciler, _sync.SyncContext(ctx))
        self.threads_running += 1
        try:
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)
        finally:
            self.threads_running -= 1

    async def _read_own_writes(self, pending: dict[tuple[str, str], int]) -> None:
        waits = [
            (informer, rv)
            for pair, rv in pending.items()
            if (informer := self._informers.get(pair)) is not None
            and int(informer.resource_version or 0) < rv
        ]
        if not waits:
            return
        self.metrics.ryow_waits += 1
        done = anyio.Event()
        caught_up = False

        async def wait_all() -> None:
            nonlocal caught_up
            for informer, rv in waits:
                await informer.wait_for(rv)
            caught_up = True
            done.set()

        async def deadline() -> None:
            await self.clock.sleep(self.ryow_timeout)
            done.set()

        async with anyio.create_task_group() as group:
            group.start_soon(wait_all)
            group.start_soon(deadline)
            await done.wait()
            group.cancel_scope.cancel()
        if not caught_up:
            self.metrics.ryow_timeouts += 1

    def __repr__(self) -> str:
        return f"<Controller {self.name!r} for {self.kind_pair[1]}>"
