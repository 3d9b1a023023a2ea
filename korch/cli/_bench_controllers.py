"""``korch bench controllers``: reconcile throughput and informer memory.

Two workloads, in one process:

* ``reconcile`` — ``--objects`` custom objects (kind ``Widget``, group
  ``bench.korch.dev``, with a status subresource) are created on a MemoryStore-backed
  APIServer before a :class:`korch.controllers.Manager` starts with one controller that
  owns ConfigMaps. Each reconcile server-side-applies a child ConfigMap named after its
  Widget and sets a ``Ready`` condition (written once, by the framework). The clock runs
  from ``manager.run`` until every Widget is Ready and every child exists; the figure is
  objects / seconds. Then the settled state is checked: exactly one child per Widget with
  the right owner and data (``lost_children``, ``duplicate_children``, ``not_ready``), and
  the number of child writes (``child_writes`` = objects when each was reconciled into its
  child once; later reconciles triggered by the writes' own events are no-ops). The
  workload runs twice: with Python's default cyclic-GC thresholds, and with
  ``--gc-threshold`` (default 50,000) as the first-generation threshold, a common setting
  for allocation-heavy servers — with the default (700) collections that walk the ever
  growing set of live objects take about half the time at 10,000 objects.
* ``informer memory`` — ``--pods`` typical running Pods (1-2 containers with env, probes,
  resources, mounts; volumes; a running status; managedFields of two managers) are stored
  through the server; an informer with the default transform then lists them through a
  client that decodes every object afresh from JSON text (as a remote client does, so the
  cache shares nothing, not even strings, with the server). tracemalloc measures what the
  synced cache holds: bytes still allocated after the sync minus before, per Pod
  (``bytes_per_pod``); the same without the transform is given beside it, and so is the
  in-process case (the informer on the server's own ``LocalClient``, whose objects it
  shares with the server's watch cache, so only what the transform copies and the cache's
  own entries count).

Results: a table and, with ``--json PATH``, a list of ``{"workload", "objects", "seconds",
"per_second", "bytes_per_pod", "target", "met", ...}`` objects.
"""

from __future__ import annotations

import gc
import json
import platform
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import click

__all__ = ("bench_controllers", "run_memory_bench", "run_reconcile_bench")

WIDGET = ("bench.korch.dev/v1", "Widget")
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.bench.korch.dev"},
    "spec": {
        "group": "bench.korch.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "string"}},
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


async def run_reconcile_bench(
    objects: int, workers: int, *, gc_threshold: int = 0
) -> dict[str, Any]:
    """The ``reconcile`` workload (see the module docstring); ``gc_threshold`` > 0 sets the
    cyclic GC's first-generation threshold for the timed part (0: Python's default)."""
    import anyio

    from korch.api import ConfigMap, GenericResource, ObjectMeta, from_dict
    from korch.apiserver import APIServer
    from korch.controllers import Context, Manager, controller
    from korch.store import MemoryStore

    child_writes = 0

    async def reconcile(ctx: Context) -> None:
        nonlocal child_writes
        widget = ctx.object
        if widget is None:
            return
        size = str(widget.spec.get("size", ""))
        child = ConfigMap(metadata=ObjectMeta(name=ctx.name), data={"size": size})
        before = ctx.get(ConfigMap, ctx.name)
        applied = await ctx.apply(child)
        if applied is not before:
            child_writes += 1
        ctx.conditions.set("Ready", True, "ConfigMapApplied", f"size {size}")

    widgets = controller(WIDGET).owns(ConfigMap).options(workers=workers).build(reconcile)
    async with APIServer(MemoryStore()) as api:
        client = api.client()
        await client.create(from_dict(CRD))
        for i in range(objects):
            await client.create(
                GenericResource(
                    api_version=WIDGET[0],
                    kind=WIDGET[1],
                    metadata=ObjectMeta(name=f"w{i:05d}", namespace="default"),
                    body={"spec": {"size": str(i)}},
                )
            )
        manager = Manager(client)
        manager.add(widgets)
        ready_names: set[str] = set()
        settled = anyio.Event()

        def watch_ready(widget: Any) -> None:  # the status write's event reached the cache
            conditions = widget.status.get("conditions", [])
            if any(c.get("type") == "Ready" for c in conditions):
                ready_names.add(widget.metadata.name)
                if len(ready_names) == objects:
                    settled.set()

        manager.informer(WIDGET).add_handler(watch_ready)
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        if gc_threshold:
            gc.set_threshold(gc_threshold, 20, 100)
        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            group.start_soon(manager.run)
            await settled.wait()
            seconds = time.perf_counter() - start
            await widgets.queue.wait_idle()
            group.cancel_scope.cancel()
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        children = (await client.list(ConfigMap, namespace="default")).items
        listed = (await client.list(WIDGET, namespace="default")).items
    by_owner: dict[str, int] = {}
    for child in children:
        for ref in child.metadata.owner_references:
            if ref.kind == "Widget" and ref.name == child.metadata.name:
                by_owner[ref.name] = by_owner.get(ref.name, 0) + 1
    ready = sum(
        any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in w.status.get("conditions", [])
        )
        for w in listed
    )
    metrics = widgets.metrics
    return {
        "workload": "reconcile" if not gc_threshold else f"reconcile (gc threshold {gc_threshold})",
        "objects": objects,
        "gc_threshold": gc_threshold or gc.get_threshold()[0],
        "workers": workers,
        "seconds": seconds,
        "per_second": objects / seconds,
        "reconciles": metrics.reconciles,
        "child_writes": child_writes,
        "status_writes": metrics.status_writes,
        "lost_children": sum(1 for w in listed if w.metadata.name not in by_owner),
        "duplicate_children": sum(n - 1 for n in by_owner.values() if n > 1),
        "not_ready": len(listed) - ready,
        "target": ">= 2000 reconciles/s",
        "met": objects / seconds >= 2000,
    }


def _pod(i: int) -> Any:
    from korch.api import from_dict

    app = ("web", "api", "worker", "cache")[i % 4]
    containers = []
    for c in range(1 + (i % 4 == 0)):
        name = f"{app}-{c}" if c else app
        containers.append(
            {
                "name": name,
                "image": f"registry.example.com/shop/{app}:2.{i % 13}",
                "ports": [{"name": "http", "containerPort": 8080}],
                "env": [
                    {"name": "APP", "value": app},
                    {"name": "REPLICA", "value": str(i)},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"memory": "256Mi"},
                },
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True}],
            }
        )
    return from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{app}-7f9c6d5b8-{i:05d}",
                "namespace": ("default", "shop")[i % 2],
                "labels": {"app": app, "pod-template-hash": "7f9c6d5b8"},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": f"{app}-7f9c6d5b8",
                        "uid": f"6c7d8e9f-aaaa-bbbb-cccc-{i % 4:012d}",
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "containers": containers,
                "volumes": [
                    {"name": "config", "configMap": {"name": f"{app}-config"}},
                    {"name": "scratch", "emptyDir": {}},
                ],
                "nodeName": f"node-{i % 50}",
            },
        }
    )


def _running_status(pod: Any, i: int) -> Any:
    import attrs

    from korch.api import Pod, from_dict

    now = "2026-11-22T06:00:00Z"
    status = {
        "phase": "Running",
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "hostIP": f"10.0.0.{i % 50}",
        "podIP": f"10.244.{i // 250}.{i % 250}",
        "podIPs": [{"ip": f"10.244.{i // 250}.{i % 250}"}],
        "startTime": now,
        "qosClass": "Burstable",
        "containerStatuses": [
            {
                "name": c.name,
                "ready": True,
                "restartCount": 0,
                "started": True,
                "image": c.image,
                "imageID": f"{c.image}@sha256:{i:064x}",
                "containerID": f"containerd://{i:064x}",
                "state": {"running": {"startedAt": now}},
            }
            for c in pod.spec.containers
        ],
    }
    decoded = from_dict({"apiVersion": "v1", "kind": "Pod", "status": status}, Pod)
    return attrs.evolve(pod, status=decoded.status)


class _DecodingClient:
    """Lists through a real client, handing out freshly decoded copies; watches block."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def list(self, kind: Any, **options: Any) -> Any:
        import attrs

        from korch.api import from_json, to_json

        listed = await self.client.list(kind, **options)
        return attrs.evolve(listed, items=[from_json(to_json(item)) for item in listed.items])

    @asynccontextmanager
    async def watch(self, kind: Any, **options: Any) -> AsyncIterator[Any]:
        import anyio

        class _Quiet:
            def __aiter__(self) -> _Quiet:
                return self

            async def __anext__(self) -> Any:
                await anyio.sleep_forever()

        yield _Quiet()


async def run_memory_bench(pods: int) -> list[dict[str, Any]]:
    """The ``informer memory`` workload (see the module docstring)."""
    import anyio

    from korch.api import Namespace, ObjectMeta, Pod
    from korch.apiserver import APIServer
    from korch.controllers import Informer, default_transform
    from korch.store import MemoryStore

    results = []
    async with APIServer(MemoryStore()) as api:
        client = api.client()
        await client.create(Namespace(metadata=ObjectMeta(name="shop")))
        for i in range(pods):
            pod = await client.create(_pod(i), field_manager="kube-controller-manager")
            await client.update_status(_running_status(pod, i), field_manager="kubelet")
        decoding = _DecodingClient(client)
        await client.list(Pod, resource_version="0")  # the server's watch cache is warm
        await decoding.list(Pod, limit=10)  # the codec's generated decoders exist
        runs = (
            ("default transform", default_transform, decoding),
            ("no transform", None, decoding),
            ("default transform, in-process", default_transform, client),
        )
        for label, transform, source in runs:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            informer: Informer[Pod] = Informer(
                source,  # type: ignore[arg-type]
                Pod,
                transform=transform,
            )
            async with anyio.create_task_group() as group:
                group.start_soon(informer.run)
                await informer.wait_synced()
                group.cancel_scope.cancel()
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            assert len(informer.cache) == pods
            per_pod = held / pods
            results.append(
                {
                    "workload": f"informer memory ({label})",
                    "objects": pods,
                    "seconds": None,
                    "per_second": None,
                    "bytes_per_pod": round(per_pod),
                    "target": "<= 3072 bytes/pod" if label == "default transform" else None,
                    "met": per_pod <= 3072 if label == "default transform" else None,
                }
            )
            del informer
    return results


@click.command("controllers")
@click.option(
    "--objects", default=10_000, show_default=True, type=click.IntRange(1), help="Custom objects."
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1))
@click.option(
    "--gc-threshold",
    default=50_000,
    show_default=True,
    type=click.IntRange(0),
    help="Also run the reconcile workload with this first-generation GC threshold (0: skip).",
)
@click.option(
    "--pods", default=10_000, show_default=True, type=click.IntRange(0), help="Pods (0: skip)."
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Write results as JSON here."
)
def bench_controllers(
    objects: int, workers: int, gc_threshold: int, pods: int, json_path: str | None
) -> None:
    """Reconciles per second (custom objects into child ConfigMaps plus a status condition)
    and informer cache bytes per Pod, in-process on MemoryStore."""
    import anyio
    from rich.console import Console
    from rich.table import Table

    console = Console()

    async def run() -> list[dict[str, Any]]:
        console.log(f"reconcile: {objects} objects")
        results = [await run_reconcile_bench(objects, workers)]
        if gc_threshold:
            console.log(f"reconcile: {objects} objects, gc threshold {gc_threshold}")
            results.append(await run_reconcile_bench(objects, workers, gc_threshold=gc_threshold))
        if pods:
            console.log(f"informer memory: {pods} pods")
            results.extend(await run_memory_bench(pods))
        return results

    results = anyio.run(run)
    table = Table(
        title=f"korch bench controllers — {platform.node()}, "
        f"{platform.processor() or platform.machine()}"
    )
    for column in ("workload", "objects", "seconds", "per second", "bytes/pod", "target", "met"):
        table.add_column(column, justify="left" if column in ("workload", "target") else "right")
    for r in results:
        table.add_row(
            r["workload"],
            str(r["objects"]),
            "" if r["seconds"] is None else f"{r['seconds']:.2f}",
            "" if r["per_second"] is None else f"{r['per_second']:,.0f}",
            "" if r.get("bytes_per_pod") is None else f"{r['bytes_per_pod']:,}",
            r["target"] or "",
            "" if r["met"] is None else ("yes" if r["met"] else "no"),
        )
    console.print(table)
    for r in results:
        if r["workload"].startswith("reconcile"):
            console.print(
                f"{r['workload']}: reconciles {r['reconciles']}, child writes "
                f"{r['child_writes']}, status writes {r['status_writes']}, lost "
                f"{r['lost_children']}, duplicate {r['duplicate_children']}, not ready "
                f"{r['not_ready']}",
                highlight=False,
            )
    if json_path:
        with open(json_path, "w") as out:
            json.dump(results, out, indent=2)
            out.write("\n")
