"""API-server benchmark: the API-machinery issue's workloads through ``LocalClient``.

    python benchmarks/apiserver.py [--pods 10000] [--watchers 1000] [--json results.json]

Everything runs in one process on a :class:`korch.store.MemoryStore`, with the server started
(``async with api:``) so its watch caches serve reads and watches, and every request goes
through ``api.client()`` (a :class:`korch.client.LocalClient`). The Pods are the typical,
distinct ReplicaSet-made Pods of ``benchmarks/resources.py`` (``pod_manifest``), decoded to
typed objects before any timing starts. Workloads:

* ``create`` — ``--pods`` sequential ``client.create(pod)`` (target ≥ 20,000/s);
* ``create x64 (small pods)`` — ``--pods`` small Pods (one container, an image, a label)
  created by 64 concurrent tasks on a fresh server, the shape the target was first stated
  in (same target; ``p50_ms``/``p99_ms`` are per-create latencies, which overlap);
* ``get`` — one sequential ``client.get(Pod, name, namespace=…)`` per stored Pod
  (target ≥ 50,000/s);
* ``list (rv="")`` / ``list (rv="0")`` — ``client.list(Pod, label_selector="app=web")``
  over all namespaces (an eighth of the Pods match), ``--lists`` times each; the target
  (≤ 50 ms) is checked against p99;
* ``watch fan-out`` — ``--watchers`` watches on Pods; ``--changes`` times one Pod's labels
  are updated and the latency from the start of the update call to each watcher receiving
  the event is recorded (target p99 ≤ 20 ms);
* ``memory per pod`` — a fresh server whose Pod watch cache runs (a ``resourceVersion="0"``
  list starts it, as any controller's watch does); ``tracemalloc`` traces every Python
  allocation while ``--pods`` Pods are created; then the cache catches up, the store is
  compacted to its current revision (the issue's figure excludes history), the cyclic GC
  runs, and the traced bytes still held minus those held before the first create, divided
  by the Pod count, is the figure. It counts all the server keeps per Pod: the stored bytes
  and key in the store and the decoded object in the watch cache (target ≤ 4 KB = 4,096
  bytes); the watch cache's bounded event history (one small record per write, ~0.1 KB)
  is not separated out. tracemalloc counts allocated Python memory, not resident pages, so
  allocator overhead and fragmentation are not included; ``rss_delta_bytes_per_pod``
  (Linux ``/proc/self/statm``, same window, no tracing) is given beside it as a
  cross-check;
* ``memory per pod (store only)`` — the same with no watch cache running (no list or watch
  of Pods): what the store alone keeps, i.e. the stored JSON value and key of each Pod.

Prints a table and, with ``--json PATH``, writes a list of ``{"workload", "operations",
"seconds", "ops_per_s", "p50_ms", "p99_ms", "target", "met"}`` objects (the memory row adds
``bytes_per_pod`` and ``rss_delta_bytes_per_pod``; figures that do not apply are ``null``).
This is a benchmark, not a test: nothing asserts on the figures.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resources import pod_manifest

from korch.api import Container, Namespace, ObjectMeta, Pod, PodSpec, _codec
from korch.apiserver import APIServer
from korch.store import MemoryStore

NAMESPACES = ("shop", "jobs", "monitoring")  # "default" exists already
SELECTOR = "app=web"
NOTHING = "benchmark=nothing"
TASKS = 64


def _pods(count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [_codec.from_dict(pod_manifest(i, rng)) for i in range(count)]


def _percentile(samples: list[float], q: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def _result(
    workload: str,
    latencies: list[float],
    seconds: float,
    target: str,
    met: bool,
) -> dict[str, Any]:
    ms = [s * 1000 for s in latencies]
    return {
        "workload": workload,
        "operations": len(latencies),
        "seconds": round(seconds, 4),
        "ops_per_s": round(len(latencies) / seconds, 1) if seconds else None,
        "p50_ms": round(_percentile(ms, 50), 4),
        "p99_ms": round(_percentile(ms, 99), 4),
        "target": target,
        "met": met,
    }


async def _timed(calls: list[Callable[[], Awaitable[object]]]) -> tuple[list[float], float]:
    latencies = []
    clock = time.perf_counter
    start = clock()
    for call in calls:
        t0 = clock()
        await call()
        latencies.append(clock() - t0)
    return latencies, clock() - start


async def _prepare(api: APIServer) -> None:
    client = api.client()
    for name in NAMESPACES:
        await client.create(Namespace(metadata=ObjectMeta(name=name)))


def _small_pods(count: int) -> list[Any]:
    container = Container(name="app", image="nginx:1.25")
    return [
        Pod(
            metadata=ObjectMeta(name=f"small-{i:06d}", namespace="default", labels={"app": "s"}),
            spec=PodSpec(containers=[container]),
        )
        for i in range(count)
    ]


async def _concurrent_creates(pods: list[Any]) -> tuple[list[float], float]:
    """Create ``pods`` from TASKS concurrent tasks on a fresh server: latencies, seconds."""
    api = APIServer(MemoryStore())
    latencies: list[float] = []
    clock = time.perf_counter
    async with api:
        client = api.client()

        async def worker(share: list[Any]) -> None:
            for pod in share:
                t0 = clock()
                await client.create(pod)
                latencies.append(clock() - t0)

        await client.get(Namespace, "default")  # bootstrap before timing
        gc.collect()
        start = clock()
        async with anyio.create_task_group() as group:
            for task in range(TASKS):
                group.start_soon(worker, pods[task::TASKS])
        seconds = clock() - start
    return latencies, seconds


async def _fan_out(api: APIServer, pod: Any, watchers: int, changes: int) -> list[float]:
    client = api.client()
    received: list[list[float]] = [[] for _ in range(changes)]
    pending = anyio.Event()
    remaining = [0]
    ready = [0]
    all_ready = anyio.Event()
    # From "now": an older version would replay every write since as events.
    listed = await client.list(Pod, namespace=pod.metadata.namespace, limit=1)
    resource_version = listed.metadata.resource_version

    async def watch() -> None:
        async with client.watch(
            Pod, namespace=pod.metadata.namespace, resource_version=resource_version
        ) as events:
            ready[0] += 1
            if ready[0] == watchers:
                all_ready.set()
            index = 0
            async for _event in events:
                received[index].append(time.perf_counter())
                index += 1
                remaining[0] -= 1
                if remaining[0] == 0:
                    pending.set()
                if index == changes:
                    return

    latencies: list[float] = []
    async with anyio.create_task_group() as group:
        for _ in range(watchers):
            group.start_soon(watch)
        await all_ready.wait()
        current = pod
        for change in range(changes):
            pending = anyio.Event()
            remaining[0] = watchers
            labels = {**current.metadata.labels, "change": str(change)}
            updated = attrs.evolve(current, metadata=attrs.evolve(current.metadata, labels=labels))
            gc.collect()
            start = time.perf_counter()
            current = await client.update(updated)
            await pending.wait()
            latencies.extend(t - start for t in received[change])
    return latencies


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _memory(pods: list[Any], tracing: bool, cache: bool = True) -> tuple[float, float]:
    """Bytes held per stored Pod (tracemalloc if ``tracing``, else RSS delta) and seconds;
    with ``cache``, the Pod watch cache runs and its objects are counted too."""
    store = MemoryStore()
    api = APIServer(store)
    async with api:
        await _prepare(api)
        client = api.client()
        await client.create(pods[0])  # warm the caches and code paths
        await client.delete(Pod, pods[0].metadata.name, namespace=pods[0].metadata.namespace)
        if cache:
            await client.list(Pod, resource_version="0")  # starts the watch cache
        rest = pods[1:]
        gc.collect()
        if tracing:
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
        else:
            before = _rss_bytes()
        start = time.perf_counter()
        for pod in rest:
            await client.create(pod)
        seconds = time.perf_counter() - start
        latest = await _revision(store)
        if cache:  # a list at the latest revision waits for the cache to catch up
            await client.list(Pod, label_selector=NOTHING, resource_version=str(latest))
        await store.compact(latest)
        gc.collect()
        if tracing:
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
        else:
            after = _rss_bytes()
        return (after - before) / len(rest), seconds


async def _revision(store: Any) -> int:
    result = await store.range(b"/", prefix=True, limit=1)
    return int(result.revision)


async def run_benchmark(
    pods: int, watchers: int, lists: int, changes: int, seed: int
) -> list[dict[str, Any]]:
    """Run every workload of the module docstring; returns the result objects."""
    objects = _pods(pods, seed)
    results: list[dict[str, Any]] = []
    api = APIServer(MemoryStore())
    async with api:
        await _prepare(api)
        client = api.client()
        gc.collect()
        gc.freeze()
        latencies, seconds = await _timed([functools.partial(client.create, p) for p in objects])
        rate = len(latencies) / seconds
        results.append(_result("create", latencies, seconds, "≥ 20,000/s", rate >= 20_000))
        latencies, seconds = await _concurrent_creates(_small_pods(pods))
        rate = len(latencies) / seconds
        workload = f"create x{TASKS} (small pods)"
        results.append(_result(workload, latencies, seconds, "≥ 20,000/s", rate >= 20_000))
        # Reads are measured in steady state: let the watch cache catch up with the burst
        # of creates first (a list at the latest resourceVersion waits for it).
        latest = await _revision(api.store)
        await client.list(Pod, label_selector=SELECTOR, resource_version=str(latest))
        latencies, seconds = await _timed(
            [
                functools.partial(client.get, Pod, p.metadata.name, namespace=p.metadata.namespace)
                for p in objects
            ]
        )
        rate = len(latencies) / seconds
        results.append(_result("get", latencies, seconds, "≥ 50,000/s", rate >= 50_000))
        for rv in ("", "0"):
            latencies, seconds = await _timed(
                [
                    functools.partial(
                        client.list, Pod, label_selector=SELECTOR, resource_version=rv
                    )
                    for _ in range(lists)
                ]
            )
            met = _percentile(latencies, 99) <= 0.050
            results.append(_result(f'list (rv="{rv}")', latencies, seconds, "p99 ≤ 50 ms", met))
        first = await client.get(
            Pod, objects[0].metadata.name, namespace=objects[0].metadata.namespace
        )
        start = time.perf_counter()
        latencies = await _fan_out(api, first, watchers, changes)
        seconds = time.perf_counter() - start
        met = _percentile(latencies, 99) <= 0.020
        result = _result(f"watch fan-out x{watchers}", latencies, seconds, "p99 ≤ 20 ms", met)
        result["ops_per_s"] = None  # a latency workload: deliveries overlap
        results.append(result)
    gc.unfreeze()
    for workload, cache in (("memory per pod", True), ("memory per pod (store only)", False)):
        rss_per_pod, _ = await _memory(objects, tracing=False, cache=cache)
        per_pod, seconds = await _memory(objects, tracing=True, cache=cache)
        results.append(
            {
                "workload": workload,
                "operations": pods - 1,
                "seconds": round(seconds, 4),
                "ops_per_s": None,
                "p50_ms": None,
                "p99_ms": None,
                "target": "≤ 4,096 B/pod",
                "met": per_pod <= 4096,
                "bytes_per_pod": round(per_pod),
                "rss_delta_bytes_per_pod": round(rss_per_pod),
            }
        )
    return results


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark, print the table, write JSON if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000, help="Pods to create.")
    parser.add_argument("--watchers", type=int, default=1_000, help="Watchers for fan-out.")
    parser.add_argument("--lists", type=int, default=50, help="Lists per variant.")
    parser.add_argument("--changes", type=int, default=20, help="Changes fanned out.")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the manifest generator.")
    parser.add_argument("--json", dest="json_path", type=Path, help="Write results here.")
    args = parser.parse_args(argv)
    results = anyio.run(
        run_benchmark, args.pods, args.watchers, args.lists, args.changes, args.seed
    )
    table = Table(title=f"korch API server: LocalClient on MemoryStore, {args.pods} Pods")
    columns = ("workload", "operations", "seconds", "ops_per_s", "p50_ms", "p99_ms")
    for column in (*columns, "result", "target", "met"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for result in results:
        figure = ""
        if "bytes_per_pod" in result:
            figure = (
                f"{result['bytes_per_pod']:,} B/pod (RSS Δ {result['rss_delta_bytes_per_pod']:,})"
            )
        cells = [_cell(result[c]) for c in columns]
        table.add_row(*cells, figure, result["target"], _cell(result["met"]))
    Console(width=160).print(table)
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
