"""``korch bench store``: the store benchmark, every backend side by side.

Workloads, each run on a fresh store per backend (memory, SQLite with fsync'd commits, and a
real single-member etcd started by the benchmark on loopback):

* ``put`` / ``get`` / ``range`` / ``txn`` — operations per second with 1 and with 64
  concurrent tasks (``range``: a prefix of 10 keys; ``txn``: compare-and-swap on one key per
  task, as the API server does for updates);
* ``watch`` — fan-out: ``watchers`` watchers on one prefix while a writer puts ``rate`` events
  per second for ``duration`` seconds; delivery latency per (watcher, event) from just before
  the put to the watcher receiving it, p50/p99. Watchers read whole responses
  (``stream.responses()``), the way korch's own watch cache consumes a store.

Results are printed as a table and, with ``--json``, written as a list of objects with keys
``backend, workload, concurrency, operations, seconds, ops_per_s, p50_ms, p99_ms,
delivered_events_per_s``.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import attrs
import numpy as np

from korch.store import Compare, EtcdStore, Get, MemoryStore, Put, SQLiteStore, Store

__all__ = ("StoreBenchResult", "run_store_bench")

BACKENDS = ("memory", "sqlite", "etcd")


@attrs.frozen
class StoreBenchResult:
    backend: str
    workload: str
    concurrency: int
    operations: int
    seconds: float
    ops_per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    delivered_events_per_s: float | None = None

    def to_json(self) -> dict[str, object]:
        return attrs.asdict(self)


@asynccontextmanager
async def open_backend(name: str, workdir: str) -> AsyncIterator[Store]:
    """A fresh store of backend ``name`` (etcd: a new etcd server on loopback)."""
    async with AsyncExitStack() as stack:
        if name == "memory":
            store: Store = MemoryStore()
        elif name == "sqlite":
            path = os.path.join(workdir, f"bench-{time.monotonic_ns()}.db")
            store = SQLiteStore(path, fsync=True)
        elif name == "etcd":
            from korch.testing import EtcdServer

            server = await stack.enter_async_context(EtcdServer())
            store = EtcdStore([server.client_url], timeout=30.0)
        else:
            raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
        try:
            yield store
        finally:
            await store.close()


async def _timed(
    concurrency: int, operations: int, op: Callable[[int, int], Awaitable[object]]
) -> float:
    per_task = max(1, operations // concurrency)

    async def worker(w: int) -> None:
        for i in range(per_task):
            await op(w, i)

    start = time.perf_counter()
    if concurrency == 1:
        await worker(0)
    else:
        async with anyio.create_task_group() as group:
            for w in range(concurrency):
                group.start_soon(worker, w)
    return time.perf_counter() - start


async def bench_operations(
    backend: str, store: Store, operations: int, concurrencies: Sequence[int]
) -> list[StoreBenchResult]:
    results = []
    value = b"x" * 256  # about a small Kubernetes object's size in protobuf
    for concurrency in concurrencies:
        total = max(concurrency, operations // concurrency * concurrency)
        tag = b"/bench/%d/" % concurrency

        async def put(w: int, i: int, tag: bytes = tag) -> object:
            return await store.put(tag + b"%d/%d" % (w, i), value)

        async def get(w: int, i: int, tag: bytes = tag) -> object:
            return await store.get(tag + b"%d/%d" % (w, i))

        async def range_(w: int, i: int, tag: bytes = tag) -> object:
            return await store.range(tag + b"%d/" % w, prefix=True, limit=10)

        async def txn(w: int, i: int, tag: bytes = tag) -> object:
            key = tag + b"cas/%d" % w
            kv = await store.get(key)
            revision = 0 if kv is None else kv.mod_revision
            return await store.txn([Compare.mod(key) == revision], [Put(key, value)], [Get(key)])

        for workload, op in (("put", put), ("get", get), ("range", range_), ("txn", txn)):
            seconds = await _timed(concurrency, total, op)
            results.append(
                StoreBenchResult(backend, workload, concurrency, total, seconds, total / seconds)
            )
    return results


async def bench_watch(
    backend: str,
    store: Store,
    *,
    watchers: int,
    rate: float,
    duration: float,
    writers: int = 64,
) -> StoreBenchResult:
    prefix = b"/watch-bench/"
    events = max(writers, int(rate * duration)) // writers * writers
    put_times = np.zeros(events + 2 * writers + 1, dtype=np.float64)
    received: list[tuple[float, int, int]] = []  # (time, first index, last index) per response
    ready = anyio.Event()
    done = anyio.Event()
    opened = finished = 0
    base_revision = await store.current_revision()

    async def watcher() -> None:
        nonlocal opened, finished
        async with store.watch(prefix, prefix=True, start_revision=base_revision + 1) as stream:
            opened += 1
            if opened == watchers:
                ready.set()
            seen = 0
            async for response in stream.responses():
                if not response.events:
                    continue
                now = time.perf_counter()
                first = response.events[0].kv.mod_revision - base_revision
                last = response.events[-1].kv.mod_revision - base_revision
                received.append((now, first, last))
                seen += len(response.events)
                if seen >= events:
                    break
        finished += 1
        if finished == watchers:
            done.set()

    async def writer(w: int, start: float) -> None:
        # each writer paces itself to rate / writers; a late writer catches up at once
        for i in range(events // writers):
            lag = start + (i * writers + w) / rate - time.perf_counter()
            if lag > 0.0005:
                await anyio.sleep(lag)
            before = time.perf_counter()
            result = await store.put(prefix + b"%d/%d" % (w, i), b"event")
            put_times[result.revision - base_revision] = before

    async with anyio.create_task_group() as group:
        for _ in range(watchers):
            group.start_soon(watcher)
        await ready.wait()
        start = time.perf_counter()
        async with anyio.create_task_group() as writing:
            for w in range(writers):
                writing.start_soon(writer, w, start)
        write_seconds = time.perf_counter() - start
        with anyio.fail_after(max(60.0, duration * 20)):
            await done.wait()
        deliver_seconds = time.perf_counter() - start
    latencies = _latencies(received, put_times)
    return StoreBenchResult(
        backend,
        f"watch x{watchers}",
        watchers,
        events,
        write_seconds,
        events / write_seconds,
        float(np.percentile(latencies, 50) * 1000),
        float(np.percentile(latencies, 99) * 1000),
        events * watchers / deliver_seconds,
    )


def _latencies(received: list[tuple[float, int, int]], put_times: np.ndarray) -> np.ndarray:
    """One latency per (watcher, event): receive time minus that event's put time."""
    arr = np.array(received, dtype=np.float64)
    now, first, last = arr[:, 0], arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64)
    counts = last - first + 1
    index = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    result: np.ndarray = np.repeat(now, counts) - put_times[index]
    return result


async def run_store_bench(
    *,
    backends: Sequence[str] = BACKENDS,
    operations: int = 20_000,
    concurrencies: Sequence[int] = (1, 64),
    watchers: int = 1000,
    rate: float = 10_000,
    duration: float = 2.0,
    etcd_operations: int | None = 5_000,
    etcd_duration: float = 1.0,
    etcd_watchers: int = 100,
    progress: Callable[[str], None] = lambda message: None,
) -> list[StoreBenchResult]:
    """Run every workload on every backend; returns the results in order."""
    results: list[StoreBenchResult] = []
    with tempfile.TemporaryDirectory(prefix="korch-bench-") as workdir:
        for backend in backends:
            ops = operations if backend != "etcd" or etcd_operations is None else etcd_operations
            progress(f"{backend}: operations")
            async with open_backend(backend, workdir) as store:
                results.extend(await bench_operations(backend, store, ops, concurrencies))
            if watchers > 0:
                progress(f"{backend}: watch fan-out")
                # etcd: the same rate with fewer watchers — every etcd watcher is its own HTTP
                # stream whose every event the client decodes from JSON, and 1,000 of them
                # at 10,000 events/s are beyond one Python process
                etcd = backend == "etcd"
                async with open_backend(backend, workdir) as store:
                    results.append(
                        await bench_watch(
                            backend,
                            store,
                            watchers=min(watchers, etcd_watchers) if etcd else watchers,
                            rate=rate,
                            duration=etcd_duration if etcd else duration,
                        )
                    )
    return results


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
