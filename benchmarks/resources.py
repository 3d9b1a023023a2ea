"""Resource-model benchmark: decode, default and validate typical Pod manifests.

    python benchmarks/resources.py [--objects 10000] [--repeat 3] [--json results.json]

Generates ``--objects`` distinct Pod manifests shaped like the pods a cluster runs (created by
a ReplicaSet: generateName, labels, owner reference; one container, a quarter of them two
(an app and a sidecar), with ports,
env from literals, fields and config maps, resources, probes, mounts; config-map, secret,
projected token and emptyDir volumes; some with init containers, tolerations, affinity or
spreading), then times, on the whole list:

* ``from_dict`` — wire dicts to typed Pods (``korch.api.from_dict``);
* ``from_json`` — the same from JSON text (stdlib ``json`` parsing included);
* ``default`` — ``korch.api._defaults.default`` on every Pod;
* ``validate`` — ``korch.api._validate_kinds.validate`` on every defaulted Pod;
* ``total`` — the API server's write path per manifest: ``from_dict``, ``default``,
  ``validate`` one manifest after the other;
* ``total_from_json`` — the same starting from each manifest's JSON text (the issue's
  "parse + validate 10,000 Pod manifests ≤ 2 s" target).

Each is the best of ``--repeat`` wall-clock runs, with the prepared inputs frozen out of the
cyclic GC (``gc.freeze``) so a run pays for the garbage of its own operation only. Prints a
table and, with ``--json PATH``, writes a list of ``{"operation", "objects", "seconds",
"per_object_us"}`` objects. This is a benchmark, not a test: nothing asserts on the times.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from korch.api import _codec, _defaults, _validate_kinds

IMAGES = (
    "nginx:1.25",
    "registry.example.com/shop/web:2.3.{i}",
    "redis:7.2",
    "busybox",
    "ghcr.io/acme/worker:v{i}",
    "quay.io/prometheus/node-exporter:v1.7.0",
    "example.com/api@sha256:4b7c3f6a9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809112",
)
APPS = ("web", "api", "worker", "cache", "auth", "search", "billing", "frontend")


def _container(rng: random.Random, i: int, c: int, app: str) -> dict[str, Any]:
    port = rng.choice((80, 8080, 9090, 6379, 3000))
    container: dict[str, Any] = {
        "name": f"{app}-{c}" if c else app,
        "image": rng.choice(IMAGES).format(i=i % 13),
        "ports": [{"name": "http", "containerPort": port}],
        "env": [
            {"name": "APP", "value": app},
            {"name": "REPLICA", "value": str(i)},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "resources": {
            "requests": {"cpu": f"{rng.choice((50, 100, 250, 500))}m", "memory": "128Mi"},
            "limits": {"memory": rng.choice(("256Mi", "512Mi", "1Gi"))},
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True}],
    }
    if rng.random() < 0.7:
        container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": port}}
        container["livenessProbe"] = {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 10,
        }
    if rng.random() < 0.5:
        container["env"].append(
            {"name": "DB_HOST", "valueFrom": {"configMapKeyRef": {"name": "db", "key": "host"}}}
        )
        container["envFrom"] = [{"secretRef": {"name": f"{app}-secrets"}}]
    if rng.random() < 0.3:
        container["args"] = ["--port", str(port), "--log-level=info"]
        container["securityContext"] = {"runAsNonRoot": True, "readOnlyRootFilesystem": True}
    return container


def pod_manifest(i: int, rng: random.Random) -> dict[str, Any]:
    """One typical, distinct Pod manifest (a wire dict)."""
    app = APPS[i % len(APPS)]
    template_hash = f"{rng.getrandbits(32):08x}"[:9]
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app}-{template_hash}-{i:05d}",
            "generateName": f"{app}-{template_hash}-",
            "namespace": rng.choice(("default", "shop", "jobs", "monitoring")),
            "labels": {"app": app, "pod-template-hash": template_hash, "tier": "backend"},
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-{template_hash}",
                    "uid": f"6c7d8e9f-aaaa-bbbb-cccc-{i:012d}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [_container(rng, i, c, app) for c in range(rng.choice((1, 1, 1, 2)))],
            "volumes": [
                {"name": "config", "configMap": {"name": f"{app}-config"}},
                {"name": "scratch", "emptyDir": {}},
                {
                    "name": "kube-api-access",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt"}},
                        ]
                    },
                },
            ],
            "serviceAccountName": app,
        },
    }
    spec = pod["spec"]
    if rng.random() < 0.2:
        spec["initContainers"] = [
            {"name": "migrate", "image": "example.com/migrate:1", "command": ["migrate", "up"]}
        ]
    if rng.random() < 0.3:
        spec["nodeSelector"] = {"kubernetes.io/os": "linux"}
        spec["tolerations"] = [
            {"key": "dedicated", "operator": "Equal", "value": app, "effect": "NoSchedule"}
        ]
    if rng.random() < 0.2:
        spec["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {"app": app}},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        }
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": app}},
            }
        ]
    return pod


def _best(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def run_benchmark(objects: int, repeat: int, seed: int) -> list[dict[str, Any]]:
    """Time every operation of the module docstring; returns the result objects."""
    rng = random.Random(seed)
    manifests = [pod_manifest(i, rng) for i in range(objects)]
    texts = [json.dumps(m) for m in manifests]
    from_dict, default, validate = _codec.from_dict, _defaults.default, _validate_kinds.validate
    pods = [from_dict(m) for m in manifests]
    defaulted = [default(p) for p in pods]
    for pod in defaulted:
        validate(pod)  # every generated manifest is valid: fail loudly if not
    # The inputs live for the whole run: move them out of the collector's sight, so each
    # timing pays for the garbage its own operation makes, not for rescanning the inputs.
    gc.collect()
    gc.freeze()

    def pipeline() -> None:
        for manifest in manifests:
            validate(default(from_dict(manifest)))

    def pipeline_from_text() -> None:
        for text in texts:
            validate(default(_codec.from_json(text)))

    timings = {
        "from_dict": _best(repeat, lambda: [from_dict(m) for m in manifests]),
        "from_json": _best(repeat, lambda: [_codec.from_json(t) for t in texts]),
        "default": _best(repeat, lambda: [default(p) for p in pods]),
        "validate": _best(repeat, lambda: [validate(p) for p in defaulted]),
        "total": _best(repeat, pipeline),
        "total_from_json": _best(repeat, pipeline_from_text),
    }
    gc.unfreeze()
    return [
        {
            "operation": operation,
            "objects": objects,
            "seconds": round(seconds, 4),
            "per_object_us": round(seconds / objects * 1e6, 2),
        }
        for operation, seconds in timings.items()
    ]


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark, print the table, write JSON if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000, help="Pods to generate.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per operation (best).")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the manifest generator.")
    parser.add_argument("--json", dest="json_path", type=Path, help="Write results here.")
    args = parser.parse_args(argv)
    results = run_benchmark(args.objects, args.repeat, args.seed)
    table = Table(title=f"korch resource model: {args.objects} Pods, best of {args.repeat}")
    for column in ("operation", "objects", "seconds", "per_object_us"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for result in results:
        table.add_row(*(str(result[key]) for key in result))
    Console().print(table)
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
