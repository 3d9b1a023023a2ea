"""Runtime and node-agent benchmark: real processes to Ready, and simulated pods at scale.

    python benchmarks/runtime.py [--replicas 100] [--pods 10000] [--nodes 100] [--json PATH]

Two workloads, each in one process over an in-process :class:`korch.apiserver.APIServer` on
a :class:`korch.store.MemoryStore` with the system clock:

* ``process: create -> Ready`` — one :class:`korch.node.NodeAgent` with a
  :class:`korch.runtime.ProcessRuntime`; ``--replicas`` Pods, each a real
  ``python -m http.server`` on its own loopback port with an ``httpGet`` readiness probe
  (``periodSeconds: 1``), created at once and already bound to the node (the scheduler and
  the Deployment controller are other packages; binding directly leaves them out of the
  figure). Latency is per Pod, from the start of its ``create`` call until a watch sees its
  ``Ready`` condition True. Target: p99 ≤ 1 s. The ``baseline`` row starts the same
  servers with plain ``subprocess`` and times until each accepts a connection: the floor
  the machine sets (100 interpreters starting at once share its cores).
* ``fake: all Running`` — ``--nodes`` agents, each with its own
  :class:`korch.runtime.FakeRuntime` (no start latency), and ``--pods`` Pods spread over
  them round-robin (created by 64 concurrent tasks, bound directly). Reported: seconds from
  the first create until a watch has seen every Pod Running, peak RSS of the process
  (``ru_maxrss``), and the RSS growth over that window per Pod (everything the process keeps
  per pod: stored object, watch caches, agent worker, runtime records). The issue's target
  is 150,000 Pods on 5,000 nodes in ≤ 120 s and ≤ 6 GB; this run is smaller and the
  ``extrapolated_*`` figures scale it linearly (time by pods, memory by pods) — an
  estimate, not a measurement.
* ``fake runtime alone`` — tracemalloc's bytes per simulated pod (sandbox + one running
  container) held by a bare FakeRuntime, without the API server or an agent.

Prints a table and, with ``--json PATH``, writes a list of result objects with snake_case
keys. A benchmark, not a test: nothing asserts on the figures.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.table import Table

from korch.api import (
    Container,
    ContainerPort,
    HTTPGetAction,
    ObjectMeta,
    Pod,
    PodSpec,
    Probe,
)
from korch.apiserver import APIServer
from korch.client import Client
from korch.node import NodeAgent
from korch.runtime import ContainerConfig, FakeRuntime, PodSandboxConfig, ProcessRuntime
from korch.store import MemoryStore


def _rss_bytes() -> int:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * resource.getpagesize()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [int(s.getsockname()[1]) for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _is_ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


async def _watch_until(
    client: Client, names: set[str], done: Any, seen: dict[str, float], rv: str
) -> None:
    async with client.watch(Pod, namespace="default", resource_version=rv) as events:
        async for event in events:
            name = event.object.metadata.name
            if name in names and name not in seen and done(event.object):
                seen[name] = time.perf_counter()
                if len(seen) == len(names):
                    return


async def process_workload(replicas: int) -> dict[str, Any]:
    """``replicas`` http.server processes on one node: create -> Ready latencies."""
    store = MemoryStore()
    ports = _free_ports(replicas)
    with tempfile.TemporaryDirectory(prefix="korch-bench-") as state:
        async with APIServer(store) as api:
            client = api.client()
            runtime = ProcessRuntime(state)
            agent = NodeAgent(client, runtime, "node-1")
            started: dict[str, float] = {}
            seen: dict[str, float] = {}
            names = {f"web-{i}" for i in range(replicas)}
            async with anyio.create_task_group() as group:
                group.start_soon(agent.run)
                await agent.synced.wait()
                rv = (await client.list(Pod, namespace="default")).metadata.resource_version
                watcher = anyio.create_task_group()
                async with watcher:
                    watcher.start_soon(_watch_until, client, names, _is_ready, seen, rv)

                    async def create(index: int, port: int) -> None:
                        container = Container(
                            name="web",
                            image="python:3.12",
                            command=["python", "-m", "http.server", str(port)],
                            args=["--bind", "127.0.0.1"],
                            ports=[ContainerPort(name="http", container_port=port)],
                            readiness_probe=Probe(
                                http_get=HTTPGetAction(path="/", port="http"), period_seconds=1
                            ),
                        )
                        pod = Pod(
                            metadata=ObjectMeta(
                                name=f"web-{index}", namespace="default", labels={"app": "web"}
                            ),
                            spec=PodSpec(
                                node_name="node-1",
                                containers=[container],
                                termination_grace_period_seconds=2,
                            ),
                        )
                        started[pod.metadata.name] = time.perf_counter()
                        await client.create(pod)

                    begin = time.perf_counter()
                    with anyio.fail_after(120):
                        async with anyio.create_task_group() as creators:
                            for index, port in enumerate(ports):
                                creators.start_soon(create, index, port)
                    watcher.cancel_scope.deadline = anyio.current_time() + 120
                total = time.perf_counter() - begin  # the watcher saw every pod Ready
                await client.delete_collection(Pod, namespace="default")
                with anyio.fail_after(60):
                    while await runtime.list_pod_sandboxes():  # noqa: ASYNC110 - cleanup only
                        await anyio.sleep(0.1)
                group.cancel_scope.cancel()
    await store.close()
    latencies = [seen[name] - started[name] for name in names]
    p99 = _percentile(latencies, 0.99)
    return {
        "workload": "process: create -> Ready",
        "pods": replicas,
        "nodes": 1,
        "seconds": round(total, 3),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p99_ms": round(p99 * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "target": "p99 <= 1000 ms",
        "met": p99 <= 1.0,
    }


def process_baseline(replicas: int) -> dict[str, Any]:
    """The floor without korch: start the same servers with subprocess, time until each
    accepts a TCP connection (polled every 10 ms)."""
    ports = _free_ports(replicas)
    begin = time.perf_counter()
    command = [sys.executable, "-m", "http.server"]
    processes = [
        subprocess.Popen(
            [*command, str(port), "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    ready: dict[int, float] = {}
    try:
        while len(ready) < replicas and time.perf_counter() - begin < 120:
            for port in ports:
                if port not in ready:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                        ready[port] = time.perf_counter() - begin
                    except OSError:
                        pass
            time.sleep(0.01)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
    latencies = list(ready.values())
    return {
        "workload": "baseline: same servers, no korch",
        "pods": replicas,
        "nodes": 1,
        "seconds": round(max(latencies), 3),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1),
        "target": None,
        "met": None,
    }


async def fake_workload(pods: int, nodes: int) -> dict[str, Any]:
    """``pods`` simulated pods on ``nodes`` agents: time to all Running and memory."""
    store = MemoryStore()
    async with APIServer(store) as api:
        client = api.client()
        agents = [
            NodeAgent(
                client,
                FakeRuntime(),
                f"node-{i + 1}",
                capacity={"cpu": "32", "memory": "128Gi", "pods": "110"},
            )
            for i in range(nodes)
        ]
        async with anyio.create_task_group() as group:
            for agent in agents:
                group.start_soon(agent.run)
            for agent in agents:
                await agent.synced.wait()
            gc.collect()
            rss_before = _rss_bytes()
            rv = (await client.list(Pod, namespace="default")).metadata.resource_version
            seen: dict[str, float] = {}
            names = {f"sim-{i}" for i in range(pods)}
            counter = itertools.count()
            container = Container(name="app", image="registry.k8s.io/pause:3.9")

            async def creator() -> None:
                while (index := next(counter)) < pods:
                    await client.create(
                        Pod(
                            metadata=ObjectMeta(
                                name=f"sim-{index}", namespace="default", labels={"app": "sim"}
                            ),
                            spec=PodSpec(
                                node_name=f"node-{index % nodes + 1}", containers=[container]
                            ),
                        )
                    )

            begin = time.perf_counter()
            async with anyio.create_task_group() as work:
                work.start_soon(
                    _watch_until, client, names, lambda p: p.status.phase == "Running", seen, rv
                )
                async with anyio.create_task_group() as creators:
                    for _ in range(64):
                        creators.start_soon(creator)
                created = time.perf_counter() - begin
            total = time.perf_counter() - begin
            gc.collect()
            per_pod = (_rss_bytes() - rss_before) / pods
            group.cancel_scope.cancel()
    await store.close()
    scale = 150_000 / pods
    return {
        "workload": "fake: all Running",
        "pods": pods,
        "nodes": nodes,
        "seconds": round(total, 2),
        "create_seconds": round(created, 2),
        "pods_per_s": round(pods / total, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_bytes_per_pod": round(per_pod),
        "extrapolated_seconds_150k": round(total * scale, 1),
        "extrapolated_rss_gb_150k": round((per_pod * 150_000 + rss_before) / 1e9, 2),
        "target": "150,000 pods / 5,000 nodes: <= 120 s, <= 6 GB",
        "met": None,
    }


async def fake_runtime_alone(pods: int) -> dict[str, Any]:
    """tracemalloc bytes per sandbox + running container of a bare FakeRuntime."""
    runtime = FakeRuntime()
    labels = {"io.kubernetes.pod.namespace": "default"}
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for index in range(pods):
        sandbox = await runtime.run_pod_sandbox(
            PodSandboxConfig(name=f"p{index}", namespace="default", uid=f"uid-{index}")
        )
        container = await runtime.create_container(
            sandbox, ContainerConfig(name="app", image="pause", labels=labels)
        )
        await runtime.start_container(container)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "workload": "fake runtime alone",
        "pods": pods,
        "nodes": 1,
        "bytes_per_pod": round(held / pods),
        "target": None,
        "met": None,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the workloads, print a table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replicas", type=int, default=100, help="process-runtime pods")
    parser.add_argument("--pods", type=int, default=10_000, help="fake-runtime pods")
    parser.add_argument("--nodes", type=int, default=100, help="fake-runtime nodes")
    parser.add_argument("--json", dest="json_path", type=Path, help="Write results here.")
    parser.add_argument("--skip-process", action="store_true", help="only the fake workloads")
    args = parser.parse_args(argv)
    results = []
    if not args.skip_process:
        results.append(process_baseline(args.replicas))
        results.append(anyio.run(process_workload, args.replicas))
    results.append(anyio.run(fake_runtime_alone, args.pods))
    results.append(anyio.run(fake_workload, args.pods, args.nodes))
    table = Table(title="korch runtime and node agent")
    for column in ("workload", "pods", "nodes", "result", "target", "met"):
        table.add_column(column)
    for row in results:
        if "latency_p99_ms" in row:
            result = (
                f"p50 {row['latency_p50_ms']} ms, p99 {row['latency_p99_ms']} ms, "
                f"max {row['latency_max_ms']} ms"
            )
        elif "bytes_per_pod" in row:
            result = f"{row['bytes_per_pod']} bytes/pod"
        else:
            result = (
                f"{row['seconds']} s ({row['pods_per_s']} pods/s), peak RSS "
                f"{row['peak_rss_mb']} MB, {row['rss_bytes_per_pod']} B/pod RSS; "
                f"150k extrapolated: {row['extrapolated_seconds_150k']} s, "
                f"{row['extrapolated_rss_gb_150k']} GB"
            )
        table.add_row(
            row["workload"],
            str(row["pods"]),
            str(row["nodes"]),
            result,
            str(row["target"] or ""),
            "" if row["met"] is None else str(row["met"]),
        )
    Console().print(table)
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
