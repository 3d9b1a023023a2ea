"""Server-side printing: ``meta.k8s.io/v1`` Tables with kubectl's columns.

``kubectl get`` asks for ``as=Table`` and prints what the server sends, so the columns are
the server's business. The built-in kinds get the columns kube-apiserver's printers give
them (pods: NAME READY STATUS RESTARTS AGE, and with ``-o wide`` — columns of priority 1 —
IP NODE NOMINATED NODE READINESS GATES; deployments: NAME READY UP-TO-DATE AVAILABLE AGE…);
custom resources get their CRD version's ``additionalPrinterColumns`` (``jsonPath`` of the
simple ``.a.b[0].c`` form) after NAME, or NAME and AGE without any; every other kind NAME
and AGE. Cells are computed from the object's wire form. Ages are printed as kubectl prints
durations (``45s``, ``3m12s``, ``5h``, ``2d3h``…) against the server's clock.

``includeObject`` chooses what each row's ``object`` holds: ``Metadata`` (the default, a
PartialObjectMetadata — kubectl reads namespaces and labels from it), ``Object`` or
``None``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from korch.api import _apiextensions

__all__ = ("Column", "human_duration", "table_for")

Column = tuple[str, str, int, str]  # name, type, priority, description
Row = Callable[[dict[str, Any], float], list[Any]]

_NAME: Final[Column] = ("Name", "string", 0, "Name must be unique within a namespace.")
_AGE: Final[Column] = ("Age", "string", 0, "Time since the object was created.")


def human_duration(seconds: float) -> str:
    """A duration the way kubectl prints ages (``HumanDuration``)."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def _age(obj: dict[str, Any], now: float) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    return _since(created, now)


def _since(stamp: str, now: float) -> str:
    try:
        when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    return human_duration(now - when.timestamp())


def _get(obj: Any, *path: str | int) -> Any:
    for part in path:
        if isinstance(part, int):
            obj = obj[part] if isinstance(obj, list) and len(obj) > part else None
        else:
            obj = obj.get(part) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


def _none(value: Any) -> Any:
    return "<none>" if value in (None, "", []) else value


def _containers(spec: Any) -> list[str]:
    names = [c.get("name", "") for c in _get(spec, "containers") or []]
    return [
        ",".join(names) or "<none>",
        ",".join(c.get("image", "") for c in _get(spec, "containers") or []) or "<none>",
    ]


def _selector(selector: Any) -> str:
    if not isinstance(selector, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(expr.get("values") or [])
        op = expr.get("operator", "")
        key = expr.get("key", "")
        if op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {op.lower()} ({values})")
    return ",".join(parts) or "<none>"


# -- pods ---------------------------------------------------------------------------


def _pod_status(pod: dict[str, Any]) -> tuple[str, int, int, int]:
    """(STATUS, restarts, ready containers, total containers) as kubectl's printPod does."""
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    total = len(spec.get("containers") or [])
    restarts = ready = 0
    init_statuses = status.get("initContainerStatuses") or []
    initializing = False
    for i, cs in enumerate(init_statuses):
        restarts += cs.get("restartCount", 0)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        if terminated:
            reason = "Init:" + (
                terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}"
            )
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    if not initializing:
        running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                code = state["terminated"].get("exitCode", 0)
                signal = state["terminated"].get("signal", 0)
                reason = f"Signal:{signal}" if signal else f"ExitCode:{code}"
            elif state.get("running") and cs.get("ready"):
                running = True
                ready += 1
            elif state.get("running"):
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating" if status.get("reason") != "NodeLost" else "Unknown"
    return reason, restarts, ready, total


def _pod_row(pod: dict[str, Any], now: float) -> list[Any]:
    reason, restarts, ready, total = _pod_status(pod)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    gates = spec.get("readinessGates") or []
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    gates_text = "<none>"
    if gates:
        true = sum(conditions.get(g.get("conditionType")) == "True" for g in gates)
        gates_text = f"{true}/{len(gates)}"
    return [
        f"{ready}/{total}", reason, restarts, _age(pod, now),
        _none(status.get("podIP")), _none(spec.get("nodeName")),
        _none(status.get("nominatedNodeName")), gates_text,
    ]  # fmt: skip


_POD_COLUMNS: Final[list[Column]] = [
    ("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
    ("Status", "string", 0, "The aggregate status of the containers in this pod."),
    (
        "Restarts",
        "string",
        0,
        "The number of times the containers in this pod have been restarted.",
    ),
    _AGE,
    ("IP", "string", 1, "IP address allocated to the pod."),
    ("Node", "string", 1, "Name of the node the pod is assigned to."),
    ("Nominated Node", "string", 1, "Name of the node nominated by the scheduler."),
    ("Readiness Gates", "string", 1, "The readiness gates of the pod."),
]

_WORKLOAD_WIDE: Final[list[Column]] = [
    ("Containers", "string", 1, "Names of each container in the template."),
    ("Images", "string", 1, "Images referenced by each container in the template."),
    ("Selector", "string", 1, "The label selector of the workload."),
]


def _template_wide(obj: dict[str, Any]) -> list[Any]:
    spec = obj.get("spec") or {}
    return [*_containers(_get(spec, "template", "spec")), _selector(spec.get("selector"))]


def _deployment_row(d: dict[str, Any], now: float) -> list[Any]:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    desired = spec.get("replicas", 1)
    return [
        f"{status.get('readyReplicas', 0)}/{desired}", status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0), _age(d, now), *_template_wide(d),
    ]  # fmt: skip


def _replicaset_row(r: dict[str, Any], now: float) -> list[Any]:
    spec, status = r.get("spec") or {}, r.get("status") or {}
    return [
        spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0),
        _age(r, now), *_template_wide(r),
    ]  # fmt: skip


def _statefulset_row(s: dict[str, Any], now: float) -> list[Any]:
    spec, status = s.get("spec") or {}, s.get("status") or {}
    containers = _containers(_get(spec, "template", "spec"))
    return [
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        _age(s, now),
        *containers,
    ]


def _daemonset_row(d: dict[str, Any], now: float) -> list[Any]:
    status = d.get("status") or {}
    node_selector = _get(d, "spec", "template", "spec", "nodeSelector") or {}
    return [
        status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0), status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in node_selector.items()) or "<none>",
        _age(d, now), *_template_wide(d),
    ]  # fmt: skip


def _job_row(j: dict[str, Any], now: float) -> list[Any]:
    spec, status = j.get("spec") or {}, j.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    state = "Running"
    for kind in ("Complete", "Failed", "Suspended"):
        if conditions.get(kind) == "True":
            state = kind
    if conditions.get("FailureTarget") == "True" or conditions.get("SuccessCriteriaMet") == "True":
        state = "Failing" if conditions.get("FailureTarget") == "True" else "Completing"
    completions = spec.get("completions")
    total = str(completions) if completions is not None else "1"
    if spec.get("completionMode") != "Indexed" and completions is None:
        total = str(spec.get("parallelism", 1) or 1) if status.get("succeeded") else "1"
    duration = ""
    start, end = status.get("startTime"), status.get("completionTime")
    if start:
        started = datetime.datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
        finished = (
            datetime.datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp() if end else now
        )
        duration = human_duration(finished - started)
    return [
        state, f"{status.get('succeeded', 0)}/{total}", duration, _age(j, now), *_template_wide(j),
    ]  # fmt: skip


def _cronjob_row(c: dict[str, Any], now: float) -> list[Any]:
    spec, status = c.get("spec") or {}, c.get("status") or {}
    last = status.get("lastScheduleTime")
    template = _get(spec, "jobTemplate", "spec", "template", "spec")
    return [
        spec.get("schedule", ""), _none(spec.get("timeZone")), bool(spec.get("suspend", False)),
        len(status.get("active") or []), _since(last, now) if last else "<none>", _age(c, now),
        *_containers(template), _selector(_get(spec, "jobTemplate", "spec", "selector")),
    ]  # fmt: skip


def _ports(spec: dict[str, Any]) -> str:
    out = []
    for p in spec.get("ports") or []:
        text = str(p.get("port", ""))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _service_row(s: dict[str, Any], now: float) -> list[Any]:
    spec = s.get("spec") or {}
    external = spec.get("externalIPs") or []
    ingress = _get(s, "status", "loadBalancer", "ingress") or []
    external += [i.get("ip") or i.get("hostname") for i in ingress]
    if spec.get("type") == "ExternalName":
        external = [spec.get("externalName", "")]
    kind = spec.get("type", "ClusterIP")
    ext = ",".join(e for e in external if e) or (
        "<pending>" if kind == "LoadBalancer" else "<none>"
    )
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [kind, _none(spec.get("clusterIP")), ext, _ports(spec), _age(s, now), selector]


def _node_row(n: dict[str, Any], now: float) -> list[Any]:
    status = n.get("status") or {}
    ready = {c.get("type"): c.get("status") for c in status.get("conditions") or []}.get("Ready")
    state = "Ready" if ready == "True" else "NotReady" if ready == "False" else "Unknown"
    if _get(n, "spec", "unschedulable"):
        state += ",SchedulingDisabled"
    labels = _get(n, "metadata", "labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        state, ",".join(roles) or "<none>", _age(n, now), info.get("kubeletVersion", ""),
        _none(addresses.get("InternalIP")), _none(addresses.get("ExternalIP")),
        _none(info.get("osImage")), _none(info.get("kernelVersion")),
        _none(info.get("containerRuntimeVersion")),
    ]  # fmt: skip


def _event_row(e: dict[str, Any], now: float) -> list[Any]:
    obj = e.get("involvedObject") or {}
    last = e.get("lastTimestamp") or e.get("eventTime") or _get(e, "metadata", "creationTimestamp")
    return [
        _since(last, now) if last else "<unknown>", e.get("type", ""), e.get("reason", ""),
        f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}", e.get("message", ""),
    ]  # fmt: skip


_S: Final = "string"
_I: Final = "integer"
_BUILTIN: Final[dict[tuple[str, str], tuple[list[Column], Row]]] = {
    ("", "Pod"): (_POD_COLUMNS, _pod_row),
    ("apps", "Deployment"): (
        [("Ready", _S, 0, "Ready pods out of desired."),
         ("Up-to-date", _I, 0, "Pods with the desired template."),
         ("Available", _I, 0, "Pods available for at least minReadySeconds."),
         _AGE, *_WORKLOAD_WIDE],
        _deployment_row,
    ),
    ("apps", "ReplicaSet"): (
        [("Desired", _I, 0, "Desired pods."), ("Current", _I, 0, "Actual pods."),
         ("Ready", _I, 0, "Ready pods."), _AGE, *_WORKLOAD_WIDE],
        _replicaset_row,
    ),
    ("apps", "StatefulSet"): (
        [("Ready", _S, 0, "Ready pods out of desired."), _AGE, *_WORKLOAD_WIDE[:2]],
        _statefulset_row,
    ),
    ("apps", "DaemonSet"): (
        [("Desired", _I, 0, "Desired pods."), ("Current", _I, 0, "Current pods."),
         ("Ready", _I, 0, "Ready pods."), ("Up-to-date", _I, 0, "Up-to-date pods."),
         ("Available", _I, 0, "Available pods."), ("Node Selector", _S, 0, "Node selector."),
         _AGE, *_WORKLOAD_WIDE],
        _daemonset_row,
    ),
    ("batch", "Job"): (
        [("Status", _S, 0, "Status of the job."),
         ("Completions", _S, 0, "Succeeded pods out of completions."),
         ("Duration", _S, 0, "Time the job ran."), _AGE, *_WORKLOAD_WIDE],
        _job_row,
    ),
    ("batch", "CronJob"): (
        [("Schedule", _S, 0, "The schedule."), ("Timezone", _S, 0, "The time zone."),
         ("Suspend", "boolean", 0, "Whether it is suspended."), ("Active", _I, 0, "Active jobs."),
         ("Last Schedule", _S, 0, "When it last ran."), _AGE, *_WORKLOAD_WIDE],
        _cronjob_row,
    ),
    ("", "Service"): (
        [("Type", _S, 0, "The type of service."), ("Cluster-IP", _S, 0, "The cluster IP."),
         ("External-IP", _S, 0, "External IPs."), ("Port(s)", _S, 0, "The ports."), _AGE,
         ("Selector", _S, 1, "The pod selector.")],
        _service_row,
    ),
    ("", "ConfigMap"): (
        [("Data", _I, 0, "Number of data entries."), _AGE],
        lambda c, now: [len(c.get("data") or {}) + len(c.get("binaryData") or {}), _age(c, now)],
    ),
    ("", "Secret"): (
        [("Type", _S, 0, "The type of secret."), ("Data", _I, 0, "Number of data entries."), _AGE],
        lambda s, now: [s.get("type", "Opaque"), len(s.get("data") or {}), _age(s, now)],
    ),
    ("", "Namespace"): (
        [("Status", _S, 0, "The phase of the namespace."), _AGE],
        lambda n, now: [_get(n, "status", "phase") or "", _age(n, now)],
    ),
    ("", "Node"): (
        [("Status", _S, 0, "The status of the node."), ("Roles", _S, 0, "Its roles."), _AGE,
         ("Version", _S, 0, "Kubelet version."), ("Internal-IP", _S, 1, "Internal IP."),
         ("External-IP", _S, 1, "External IP."), ("OS-Image", _S, 1, "OS image."),
         ("Kernel-Version", _S, 1, "Kernel version."), ("Container-Runtime", _S, 1, "Runtime.")],
        _node_row,
    ),
    ("", "Event"): (
        [("Last Seen", _S, 0, "When it was last seen."), ("Type", _S, 0, "Normal or Warning."),
         ("Reason", _S, 0, "Why."), ("Object", _S, 0, "What it is about."),
         ("Message", _S, 0, "What happened.")],
        _event_row,
    ),
    ("coordination.k8s.io", "Lease"): (
        [("Holder", _S, 0, "The holder."), _AGE],
        lambda lease, now: [_get(lease, "spec", "holderIdentity") or "", _age(lease, now)],
    ),
}  # fmt: skip

_JSON_PATH = re.compile(r"\.([A-Za-z0-9_\-$]+)|\[(\d+)\]|\['([^']+)'\]")


def _json_path(obj: Any, path: str) -> Any:
    parts: list[str | int] = []
    for name, index, quoted in _JSON_PATH.findall(path.strip().strip("{}")):
        parts.append(int(index) if index else name or quoted)
    return _get(obj, *parts) if parts else None


def _crd_columns(
    crd: _apiextensions.CustomResourceDefinition, version: str
) -> tuple[list[Column], Row] | None:
    for v in crd.spec.versions:
        if v.name != version or not v.additional_printer_columns:
            continue
        specs = list(v.additional_printer_columns)
        columns: list[Column] = [
            (c.name, "string" if c.type == "date" else c.type, c.priority, c.description)
            for c in specs
        ]

        def row(obj: dict[str, Any], now: float, specs: Sequence[Any] = specs) -> list[Any]:
            cells = []
            for spec in specs:
                value = _json_path(obj, spec.json_path)
                if spec.type == "date" and isinstance(value, str):
                    value = _since(value, now)
                cells.append(value)
            return cells

        return columns, row
    return None


def table_for(
    group: str,
    kind: str,
    objects: Sequence[dict[str, Any]],
    *,
    now: float,
    crd: _apiextensions.CustomResourceDefinition | None = None,
    version: str = "",
    include_object: str = "Metadata",
    with_columns: bool = True,
    resource_version: str = "",
    continue_: str = "",
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (wire dicts of one kind).

    Args:
        group, kind: the objects' kind (picks the columns).
        objects: the objects, wire form.
        now: the time ages are measured to (epoch seconds).
        crd: the kind's CustomResourceDefinition (its printer columns), if a custom resource.
        version: the version served (the CRD's columns are per version).
        include_object: ``Metadata``, ``Object`` or ``None``.
        with_columns: include columnDefinitions (watch events after the first omit them).
        resource_version, continue_: the list metadata.
    """
    chosen = _BUILTIN.get((group, kind))
    if chosen is None and crd is not None:
        chosen = _crd_columns(crd, version)
    if chosen is None:
        chosen = ([_AGE], lambda obj, now: [_age(obj, now)])
    columns, row = chosen
    rows = []
    for obj in objects:
        metadata = obj.get("metadata") or {}
        out: dict[str, Any] = {"cells": [metadata.get("name", ""), *row(obj, now)]}
        if include_object == "Object":
            out["object"] = obj
        elif include_object != "None":
            out["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
            }
        rows.append(out)
    metadata_out: dict[str, Any] = {}
    if resource_version:
        metadata_out["resourceVersion"] = resource_version
    if continue_:
        metadata_out["continue"] = continue_
    table: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata_out,
    }
    if with_columns:
        table["columnDefinitions"] = [
            {
                "name": n,
                "type": t,
                "format": "name" if n == "Name" else "",
                "description": d,
                "priority": p,
            }
            for n, t, p, d in [_NAME, *columns]
        ]
    else:
        table["columnDefinitions"] = None
    table["rows"] = rows
    return table
