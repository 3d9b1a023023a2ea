"""HTTP API benchmark: korch's Kubernetes-compatible HTTPS API under load.

    python benchmarks/http_api.py [--creates 3000] [--gets 6000] [--pods 10000]
                                  [--watchers 1000] [--changes 20] [--json results.json]

The server (APIServer on a MemoryStore, watch caches running, the ASGI app under uvicorn
with TLS and x509 client-certificate authentication — what ``korch up`` serves) runs in a
child process of its own, so the load generator does not share its interpreter; it is
started with ``--pods`` Pods already stored (created in-process before it listens).
Workloads, every request over HTTPS with the admin kubeconfig written by korch's PKI:

* ``create x64`` — ``--creates`` ConfigMaps created by 64 concurrent clients (64
  :class:`korch.client.HTTPClient` objects, one keep-alive connection each, connected
  before timing); throughput and per-request latency (target ≥ 2,000/s, p99 ≤ 100 ms).
  The 64 clients share one Python process, which is itself a bottleneck: one process
  drives at most ~500-900 HTTPS requests/s with httpx on this machine, so the figures are
  a lower bound of what the server can do;
* ``get x64`` — ``--gets`` gets of those ConfigMaps, same concurrency (target ≥ 5,000/s,
  p99 ≤ 100 ms);
* ``kubectl get pods -A`` — the real kubectl listing the ``--pods`` Pods (server-side
  printing, kubectl's default 500-item pages), wall time of the whole command, best of 3
  (target ≤ 2 s);
* ``watch fan-out`` — ``--watchers`` concurrent HTTPS watches of ConfigMaps; ``--changes``
  ConfigMaps are created one at a time and the time from the start of each create to each
  watcher decoding its event is recorded (target p99 ≤ 100 ms).

Prints a table and, with ``--json PATH``, writes a list of ``{"workload", "operations",
"seconds", "ops_per_s", "p50_ms", "p99_ms", "target", "met"}`` objects. This is a benchmark,
not a test: nothing asserts on the figures. The issue's kopf-versus-korch reconcile
comparison is not implemented yet.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from korch.api import ConfigMap, Container, Namespace, ObjectMeta, Pod, PodSpec
from korch.apiserver import APIServer
from korch.apiserver.http import APIServerApp, serve
from korch.client._http import HTTPClient
from korch.security._pki import ensure_cluster_pki
from korch.security._x509 import X509Authenticator
from korch.store import MemoryStore

CONCURRENCY = 64


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def row(
    workload: str, count: int, seconds: float, latencies: list[float], target: str, met: bool
) -> dict[str, Any]:
    return {
        "workload": workload,
        "operations": count,
        "seconds": round(seconds, 3),
        "ops_per_s": round(count / seconds, 1) if seconds else None,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "target": target,
        "met": met,
    }


# -- the server process ------------------------------------------------------------------


async def run_server(data_dir: str, port: int, pods: int) -> None:
    pki = ensure_cluster_pki(data_dir, server=f"https://127.0.0.1:{port}")
    async with APIServer(MemoryStore()) as api:
        client = api.client()
        for i in range(pods):
            ns = f"ns-{i % 10}"
            if i < 10:
                await client.create(Namespace(metadata=ObjectMeta(name=ns)))
            pod = Pod(
                metadata=ObjectMeta(name=f"pod-{i}", namespace=ns, labels={"app": f"app-{i % 8}"}),
                spec=PodSpec(containers=[Container(name="c", image="nginx:1.25")]),
            )
            await client.create(pod)
        # what a long-running server does after loading its state: keep the objects that
        # live for good out of the cyclic collector's way (each full collection would
        # otherwise walk all 10,000 Pods)
        gc.collect()
        gc.freeze()
        app = APIServerApp(api, authenticators=[X509Authenticator()])
        async with serve(
            app, port=port, certfile=pki.serving_cert_file, keyfile=pki.serving_key_file,
            client_ca_file=pki.ca_file,
        ):  # fmt: skip
            print("ready", flush=True)
            await asyncio.Event().wait()


# -- the load generator ------------------------------------------------------------------


async def concurrently(
    clients: list[HTTPClient], count: int, work: Any
) -> tuple[float, list[float]]:
    """Run ``work(client, i)`` for i < count, one task per client; (seconds, latencies)."""
    latencies: list[float] = []
    next_index = iter(range(count))

    async def worker(client: HTTPClient) -> None:
        for i in next_index:
            start = time.perf_counter()
            await work(client, i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for client in clients:
            tasks.start_soon(worker, client)
    return time.perf_counter() - start, latencies


async def bench_writes_and_reads(kubeconfig: Path, creates: int, gets: int) -> list[dict[str, Any]]:
    out = []
    # 64 clients, one connection each (httpx's pool slows down with many connections)
    clients = [
        HTTPClient.from_kubeconfig(kubeconfig, max_connections=1) for _ in range(CONCURRENCY)
    ]
    try:
        for client in clients:  # connect (TLS handshakes) before timing
            await client.get(Namespace, "default")

        async def create(client: HTTPClient, i: int) -> None:
            await client.create(ConfigMap(metadata=ObjectMeta(name=f"cm-{i}"), data={"i": str(i)}))

        seconds, latencies = await concurrently(clients, creates, create)
        p99 = percentile(latencies, 0.99)
        out.append(row("create x64", creates, seconds, latencies, ">= 2000/s, p99 <= 100 ms",
                       creates / seconds >= 2000 and p99 <= 0.1))  # fmt: skip

        async def get(client: HTTPClient, i: int) -> None:
            await client.get(ConfigMap, f"cm-{i % creates}")

        seconds, latencies = await concurrently(clients, gets, get)
        p99 = percentile(latencies, 0.99)
        out.append(row("get x64", gets, seconds, latencies, ">= 5000/s, p99 <= 100 ms",
                       gets / seconds >= 5000 and p99 <= 0.1))  # fmt: skip
    finally:
        for client in clients:
            await client.aclose()
    return out


def bench_kubectl(kubeconfig: Path, pods: int) -> dict[str, Any]:
    if shutil.which("kubectl") is None:
        return row("kubectl get pods -A", pods, 0.0, [], "<= 2 s (kubectl missing)", False)
    cache = tempfile.mkdtemp(prefix="kubectl-cache-")
    command = [
        "kubectl",
        "--kubeconfig",
        str(kubeconfig),
        "--cache-dir",
        cache,
        "get",
        "pods",
        "-A",
    ]
    subprocess.run([*command[:-3], "api-resources"], capture_output=True, check=True)  # discovery
    times = []
    lines = 0
    for _ in range(3):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
        lines = result.stdout.count(b"\n") - 1
    best = min(times)
    shutil.rmtree(cache, ignore_errors=True)
    return row(f"kubectl get pods -A ({lines} rows)", pods, best, times, "<= 2 s", best <= 2.0)


async def bench_watches(kubeconfig: Path, watchers: int, changes: int) -> dict[str, Any]:
    latencies: list[float] = []
    started: dict[str, float] = {}
    async with HTTPClient.from_kubeconfig(kubeconfig) as client:
        current = (await client.list(ConfigMap, limit=1)).metadata.resource_version
        ready = 0
        all_ready = anyio.Event()
        received: dict[str, int] = {}
        done: dict[str, anyio.Event] = {}

        async def watch() -> None:
            nonlocal ready
            async with client.watch(
                ConfigMap, resource_version=current, label_selector="w=1"
            ) as events:
                ready += 1
                if ready == watchers:
                    all_ready.set()
                async for event in events:
                    name = event.object.metadata.name
                    latencies.append(time.perf_counter() - started[name])
                    received[name] = received.get(name, 0) + 1
                    if received[name] == watchers:
                        done[name].set()

        async with anyio.create_task_group() as tasks:
            for _ in range(watchers):
                tasks.start_soon(watch)
            with anyio.fail_after(120):
                await all_ready.wait()
            start = time.perf_counter()
            for i in range(changes):
                name = f"watched-{i}"
                done[name] = anyio.Event()
                started[name] = time.perf_counter()
                await client.create(ConfigMap(metadata=ObjectMeta(name=name, labels={"w": "1"})))
                with anyio.fail_after(60):
                    await done[name].wait()
            seconds = time.perf_counter() - start
            tasks.cancel_scope.cancel()
    p99 = percentile(latencies, 0.99)
    return row(f"watch fan-out ({watchers} watches)", len(latencies), seconds, latencies,
               "p99 <= 100 ms", p99 <= 0.1)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--creates", type=int, default=3000)
    parser.add_argument("--gets", type=int, default=6000)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(run_server(args.serve[0], int(args.serve[1]), args.pods))
        return
    data_dir = tempfile.mkdtemp(prefix="korch-http-bench-")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", data_dir, str(port), "--pods", str(args.pods)],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise SystemExit("the server did not start")
        kubeconfig = Path(data_dir, "kubeconfig")
        results = anyio.run(bench_writes_and_reads, kubeconfig, args.creates, args.gets)
        results.append(bench_kubectl(kubeconfig, args.pods))
        results.append(anyio.run(bench_watches, kubeconfig, args.watchers, args.changes))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"{'workload':<36} {'ops':>7} {'s':>7} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}  target")
    for r in results:
        rate = r["ops_per_s"] or "-"
        print(
            f"{r['workload']:<36} {r['operations']:>7} {r['seconds']:>7} {rate:>9} "
            f"{r['p50_ms'] or '-':>8} {r['p99_ms'] or '-':>8}  {r['target']} "
            f"{'met' if r['met'] else 'NOT met'}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
