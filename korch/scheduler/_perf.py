"""scheduler_perf's workloads, run against korch's API layer on a MemoryStore.

A :class:`Workload` is nodes from a template, *init* pods (scheduled, or attempted, before
measuring) and *measured* pods. :func:`run_workload`:

1. creates the nodes, the init pods and the measured pods through a ``LocalClient`` of an
   in-process ``APIServer`` on a ``MemoryStore`` (creation is setup, not measured: in
   scheduler_perf the creating client runs on other cores than the scheduler, while here
   everything shares one Python thread);
2. starts a :class:`~korch.scheduler.Scheduler` whose profile has one extra PreEnqueue
   plugin holding the measured pods back, and waits until the init pods are bound (or, for
   unschedulable init pods, attempted and their failures recorded);
3. releases the measured pods at once and measures until the last one is bound: throughput
   is measured pods bound per second over that phase (scheduler_perf samples pods bound
   per second and averages the samples; with every pod pending the two agree), latency is
   each pod's scheduling attempt — from leaving the queue to the end of its ``pods/binding``
   call — and peak RSS is the process's.

The node template is scheduler_perf's ``node-default.yaml`` (4 CPU, 32Gi, 110 pods; plus a
hostname label, and zone labels where a workload spreads over zones); the pod template is
``pod-default.yaml`` (one ``pause`` container requesting 100m and 500Mi).
"""

from __future__ import annotations

import math
import random
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import attrs
import numpy as np

from korch import errors
from korch.api import _codec, _core_node, _core_pod
from korch.scheduler import _framework as fw
from korch.scheduler import _plugins_node, _podinfo, _registry, _scheduler

__all__ = ("WORKLOADS", "PerfResult", "Workload", "load_workloads", "run_workload")

BENCH_LABEL = "korch.io/bench-phase"
HOSTNAME = _podinfo.HOSTNAME_LABEL
ZONE = _podinfo.ZONE_LABEL

Manifest = dict[str, Any]


def node_template(zones: int = 0) -> Manifest:
    status = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"labels": {}},
        "status": {
            "capacity": status,
            "allocatable": status,
            "conditions": [{"type": "Ready", "status": "True"}],
            "phase": "Running",
        },
        "_zones": zones,
    }


def pod_template(**spec: Any) -> Manifest:
    requests = {"cpu": "100m", "memory": "500Mi"}
    container = {
        "name": "pause",
        "image": "registry.k8s.io/pause:3.10",
        "ports": [{"containerPort": 80}],
        "resources": {"requests": requests, "limits": requests},
    }
    labels = spec.pop("labels", {})
    if "cpu" in spec:
        cpu = spec.pop("cpu")
        container["resources"] = {"requests": {"cpu": cpu, "memory": "500Mi"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": labels},
        "spec": {"containers": [container], **spec},
    }


def _term(labels: Mapping[str, str], key: str) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": dict(labels)}, "topologyKey": key}


def _affinity(kind: str, labels: Mapping[str, str], key: str, *, preferred: bool = False) -> Any:
    if preferred:
        terms = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "podAffinityTerm": _term(labels, key)}
        ]}  # fmt: skip
    else:
        terms = {"requiredDuringSchedulingIgnoredDuringExecution": [_term(labels, key)]}
    return {kind: terms}


def _spread(labels: Mapping[str, str], when: str) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": 5,
            "topologyKey": ZONE,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": dict(labels)},
        }
    ]


@attrs.frozen
class Workload:
    """One scheduler_perf workload; ``threshold`` is kube-scheduler's (pods/s), ``target``
    korch's from the issue (``None``: none published)."""

    name: str
    nodes: int
    init_pods: int
    measured_pods: int
    node: Manifest = attrs.field(factory=node_template)
    init_pod: Manifest | Sequence[Manifest] = attrs.field(factory=pod_template)
    measured_pod: Manifest = attrs.field(factory=pod_template)
    threshold: float | None = None
    target: float | None = None
    daemonset: bool = False
    churn: bool = False
    init_schedulable: bool = True

    def resized(self, *, nodes: int | None = None, pods: int | None = None) -> Workload:
        return attrs.evolve(
            self,
            nodes=nodes if nodes is not None else self.nodes,
            measured_pods=pods if pods is not None else self.measured_pods,
        )


_GREEN, _BLUE = {"color": "green"}, {"color": "blue"}
_MIXED_INIT = (
    pod_template(),
    pod_template(labels=_GREEN, affinity=_affinity("podAntiAffinity", _GREEN, HOSTNAME)),
    pod_template(labels=_BLUE, affinity=_affinity("podAffinity", _BLUE, ZONE)),
    pod_template(
        labels=_GREEN,
        affinity=_affinity("podAffinity", _GREEN, ZONE, preferred=True),
    ),
    pod_template(
        labels=_BLUE,
        affinity=_affinity("podAntiAffinity", _BLUE, HOSTNAME, preferred=True),
    ),
)
_NODE_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone1"]}]}
            ]
        }
    }
}

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("SchedulingBasic", 5000, 1000, 10000, threshold=680, target=4000),
        Workload("SchedulingBasic/50k", 5000, 1000, 50000, threshold=810, target=4000),
        Workload(
            "SchedulingNodeAffinity",
            5000,
            5000,
            10000,
            node={**node_template(), "_zone_value": "zone1"},
            init_pod=pod_template(affinity=_NODE_AFFINITY),
            measured_pod=pod_template(affinity=_NODE_AFFINITY),
            threshold=220,
            target=1100,
        ),
        Workload(
            "TopologySpreading",
            5000,
            5000,
            5000,
            node=node_template(zones=3),
            measured_pod=pod_template(
                labels=_BLUE, topologySpreadConstraints=_spread(_BLUE, "DoNotSchedule")
            ),
            threshold=460,
            target=1400,
        ),
        Workload(
            "PreferredTopologySpreading",
            5000,
            5000,
            5000,
            node=node_template(zones=3),
            measured_pod=pod_template(
                labels=_BLUE, topologySpreadConstraints=_spread(_BLUE, "ScheduleAnyway")
            ),
        ),
        Workload(
            "SchedulingPodAntiAffinity",
            5000,
            1000,
            1000,
            init_pod=pod_template(
                labels=_GREEN, affinity=_affinity("podAntiAffinity", _GREEN, HOSTNAME)
            ),
            measured_pod=pod_template(
                labels=_GREEN, affinity=_affinity("podAntiAffinity", _GREEN, HOSTNAME)
            ),
            threshold=60,
            target=300,
        ),
        Workload(
            "SchedulingPodAffinity",
            5000,
            5000,
            5000,
            node={**node_template(), "_zone_value": "zone1"},
            init_pod=pod_template(labels=_BLUE, affinity=_affinity("podAffinity", _BLUE, ZONE)),
            measured_pod=pod_template(labels=_BLUE, affinity=_affinity("podAffinity", _BLUE, ZONE)),
            threshold=35,
            target=175,
        ),
        Workload(
            "MixedSchedulingBasePod",
            5000,
            5000,
            10000,
            node=node_template(zones=3),
            init_pod=_MIXED_INIT,
        ),
        Workload(
            "Unschedulable",
            5000,
            20000,
            10000,
            init_pod=pod_template(cpu="9"),
            threshold=600,
            target=1800,
            init_schedulable=False,
        ),
        Workload(
            "PreemptionBasic",
            1000,
            4000,
            1000,
            init_pod=pod_template(cpu="900m", priority=0, terminationGracePeriodSeconds=0),
            measured_pod=pod_template(cpu="3", priority=1000, terminationGracePeriodSeconds=0),
        ),
        Workload(
            "SchedulingWithMixedChurn", 5000, 0, 10000, threshold=710, target=2100, churn=True
        ),
        Workload(
            "SchedulingDaemonset", 15000, 0, 15000, threshold=1100, target=3300, daemonset=True
        ),
    )
}


@attrs.frozen
class PerfResult:
    """One workload's figures (``to_json`` gives the benchmark's snake_case keys)."""

    workload: str
    nodes: int
    init_pods: int
    measured_pods: int
    throughput_avg: float
    latency_p50_ms: float
    latency_p99_ms: float
    peak_rss_mb: float
    cycle_us: float  # mean scheduling-cycle CPU time per measured pod (filter + score)
    seconds: float
    implementation: str = "fast"
    threshold: float | None = None
    target: float | None = None
    bound: int = 0

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


class _Gate(_plugins_node.PluginBase):
    """PreEnqueue: holds the measured pods until the measured phase starts."""

    name = "BenchGate"

    def __init__(self) -> None:
        self.open = False

    def pre_enqueue(self, pod: _podinfo.PodInfo) -> fw.Status:
        if self.open or pod.labels.get(BENCH_LABEL) != "measured":
            return fw.SUCCESS
        return fw.Status.unresolvable("waiting for the measured phase", plugin=self.name)


def _node(workload: Workload, i: int) -> _core_node.Node:
    manifest = {k: v for k, v in workload.node.items() if not k.startswith("_")}
    name = f"node-{i:06d}"
    labels = {**manifest["metadata"].get("labels", {}), HOSTNAME: name}
    zones = workload.node.get("_zones", 0)
    if zones:
        labels[ZONE] = f"zone{i % zones + 1}"
    if "_zone_value" in workload.node:
        labels[ZONE] = workload.node["_zone_value"]
    manifest = {**manifest, "metadata": {**manifest["metadata"], "name": name, "labels": labels}}
    return _codec.from_dict(manifest, _core_node.Node)


def _pod(template: Manifest, name: str, phase: str, **spec: Any) -> _core_pod.Pod:
    meta = template.get("metadata", {})
    labels = {**meta.get("labels", {}), BENCH_LABEL: phase}
    manifest = {
        **template,
        "metadata": {**meta, "name": name, "namespace": "default", "labels": labels},
        "spec": {**template["spec"], **spec},
    }
    return _codec.from_dict(manifest, _core_pod.Pod)


def _daemon_affinity(node: str) -> dict[str, Any]:
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _until(condition: Callable[[], bool], limit: float) -> None:
    """Poll ``condition`` every 5 ms (benchmark plumbing: the scheduler has no hook for
    "this many pods bound", and polling costs the measured loop nothing noticeable)."""
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.005)


async def run_workload(
    workload: Workload,
    *,
    reference: bool = False,
    seed: int = 1,
    progress: Callable[[str], None] = lambda message: None,
    time_limit: float = 1800.0,
) -> PerfResult:
    """Run one workload (see the module docstring) and return its figures."""
    from korch.apiserver import APIServer  # the API layer under test, not a dependency
    from korch.store import MemoryStore

    async with APIServer(MemoryStore()) as api:
        client = api.client()
        progress(f"{workload.name}: creating {workload.nodes} nodes")
        for i in range(workload.nodes):
            await client.create(_node(workload, i))
        templates = workload.init_pod
        if isinstance(templates, Mapping):
            templates = [templates]
        progress(f"{workload.name}: creating {workload.init_pods + workload.measured_pods} pods")
        for i in range(workload.init_pods):
            await client.create(_pod(templates[i % len(templates)], f"init-{i:06d}", "init"))
        for i in range(workload.measured_pods):
            extra = {}
            if workload.daemonset:
                extra["affinity"] = _daemon_affinity(f"node-{i % workload.nodes:06d}")
            await client.create(
                _pod(workload.measured_pod, f"measured-{i:06d}", "measured", **extra)
            )
        gate = _Gate()
        # init pods are placed by the fast path either way; ``reference`` times the measured ones
        scheduler = _scheduler.Scheduler(client, rng=random.Random(seed))
        profile = _registry.default_profile(handle=scheduler.handle)
        profile = type(profile)(
            [gate, *profile.plugins],
            weights=profile.weights,
            scheduler_name=profile.scheduler_name,
        )
        scheduler.profiles = {profile.scheduler_name: profile}
        stats = scheduler.stats
        async with anyio.create_task_group() as group:
            group.start_soon(scheduler.run)
            progress(f"{workload.name}: scheduling {workload.init_pods} init pods")
            if workload.init_schedulable:
                await _until(lambda: stats.scheduled >= workload.init_pods, time_limit)
            else:
                await _until(
                    lambda: stats.unschedulable >= workload.init_pods and not stats.background,
                    time_limit,
                )
            await _until(lambda: not stats.background, time_limit)
            bound_before = stats.scheduled
            attempts_before = len(stats.attempt_seconds)
            cycle_before = stats.cycle_seconds
            progress(f"{workload.name}: measuring {workload.measured_pods} pods")
            start = time.perf_counter()
            clock_start = scheduler.clock.monotonic()
            gate.open = True
            scheduler.reference = reference
            scheduler.queue.activate(list(scheduler.queue.gated))
            if workload.churn:
                group.start_soon(_churn, client, workload)
            await _measure(workload, scheduler, bound_before + workload.measured_pods, time_limit)
            seconds = time.perf_counter() - start
            group.cancel_scope.cancel()
    latencies = np.array(stats.attempt_seconds[attempts_before:]) * 1000
    bound_at = np.array(stats.bound_at[bound_before:]) - clock_start
    measured = workload.measured_pods
    return PerfResult(
        workload=workload.name,
        nodes=workload.nodes,
        init_pods=workload.init_pods,
        measured_pods=measured,
        throughput_avg=_throughput(bound_at, measured, seconds),
        latency_p50_ms=float(np.percentile(latencies, 50)) if latencies.size else math.nan,
        latency_p99_ms=float(np.percentile(latencies, 99)) if latencies.size else math.nan,
        peak_rss_mb=peak_rss_mb(),
        cycle_us=(stats.cycle_seconds - cycle_before) / max(1, measured) * 1e6,
        seconds=seconds,
        implementation="reference" if reference else "fast",
        threshold=workload.threshold,
        target=workload.target,
        bound=stats.scheduled - bound_before,
    )


async def _measure(
    workload: Workload, scheduler: _scheduler.Scheduler, target: int, limit: float
) -> None:
    """Wait until ``target`` pods are bound; give up when nothing moved for 60 s while no
    pod is left to try (the rest cannot be scheduled)."""
    stats, queue = scheduler.stats, scheduler.queue
    last, since = stats.scheduled, time.perf_counter()
    with anyio.fail_after(limit):
        while stats.scheduled < target:
            await anyio.sleep(0.005)
            now = time.perf_counter()
            if stats.scheduled != last or queue.active_count or stats.background:
                last, since = stats.scheduled, now
            elif now - since > 60:
                raise errors.Timeout(
                    f"{workload.name}: {target - stats.scheduled} measured pods stayed "
                    "unschedulable (is the cluster big enough for the workload?)"
                )


def _throughput(bound_at: Any, measured: int, seconds: float) -> float:
    """scheduler_perf's way: pods bound in each whole second, averaged; a phase shorter
    than two seconds is measured as a whole."""
    if seconds < 2 or bound_at.size == 0:
        return measured / seconds
    whole = int(bound_at.max())
    if whole < 1:
        return measured / seconds
    samples = np.bincount(bound_at.astype(np.int64), minlength=whole + 1)[:whole]
    return float(samples.mean())


async def _churn(client: Any, workload: Workload) -> None:
    """SchedulingWithMixedChurn: every 100 ms create a node and a pod, and delete the ones
    created a second earlier (scheduler_perf's churn op in ``recreate`` mode)."""
    made: list[tuple[str, str]] = []
    i = 0
    while True:
        await anyio.sleep(0.1)
        pod = f"churn-pod-{i:06d}"
        await client.create(_node(attrs.evolve(workload, node=node_template()), 10**6 + i))
        await client.create(_pod(pod_template(), pod, "churn"))
        made.append((f"node-{10**6 + i:06d}", pod))
        i += 1
        if len(made) > 10:
            old_node, old_pod = made.pop(0)
            for kind, name in (("Node", old_node), ("Pod", old_pod)):
                try:
                    if kind == "Node":
                        await client.delete(_core_node.Node, name)
                    else:
                        await client.delete(_core_pod.Pod, name, namespace="default")
                except errors.NotFound:
                    pass


def load_workloads(text: str) -> list[Workload]:
    """Workloads from YAML (one document per workload, or a ``workloads:`` list)::

        name: GpuNodes
        nodes: 1000
        initPods: 500
        measuredPods: 2000
        nodeTemplate: {metadata: {labels: {gpu: "true"}}, status: {...}}  # optional
        initPodTemplate: {...}                                              # optional
        podTemplate: {spec: {nodeSelector: {gpu: "true"}}}                  # optional
        zones: 3                                                            # optional
        threshold: 500                                                      # optional

    Templates are merged over scheduler_perf's default node and pod.

    Raises:
        korch.errors.BadRequest: missing or invalid fields (named in the message).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        documents = list(YAML(typ="safe").load_all(text))
    except YAMLError as exc:
        raise errors.BadRequest(f"workload file: invalid YAML: {exc}") from exc
    specs: list[Any] = []
    for doc in documents:
        if isinstance(doc, dict) and "workloads" in doc:
            specs.extend(doc["workloads"])
        elif doc is not None:
            specs.append(doc)
    return [_workload(spec, i) for i, spec in enumerate(specs)]


def _merge(base: Manifest, override: Mapping[str, Any]) -> Manifest:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _workload(spec: Any, index: int) -> Workload:
    where = f"workloads[{index}]"
    if not isinstance(spec, Mapping):
        raise errors.BadRequest(f"{where}: must be a mapping, not {type(spec).__name__}")
    for field in ("name", "nodes", "measuredPods"):
        if field not in spec:
            raise errors.BadRequest(f"{where}.{field}: Required value")
    for field in ("nodes", "initPods", "measuredPods", "zones"):
        if field in spec and (not isinstance(spec[field], int) or spec[field] < 0):
            raise errors.BadRequest(f"{where}.{field}: must be a non-negative integer")
    node = _merge(node_template(spec.get("zones", 0)), spec.get("nodeTemplate", {}))
    pod = _merge(pod_template(), spec.get("podTemplate", {}))
    init = _merge(pod_template(), spec.get("initPodTemplate", spec.get("podTemplate", {})))
    try:
        _codec.from_dict({k: v for k, v in node.items() if not k.startswith("_")}, _core_node.Node)
        _codec.from_dict(pod, _core_pod.Pod)
        _codec.from_dict(init, _core_pod.Pod)
    except errors.KorchError as exc:
        raise errors.BadRequest(f"{where}: invalid template: {exc}") from exc
    return Workload(
        name=str(spec["name"]),
        nodes=spec["nodes"],
        init_pods=spec.get("initPods", 0),
        measured_pods=spec["measuredPods"],
        node=node,
        init_pod=init,
        measured_pod=pod,
        threshold=spec.get("threshold"),
    )
