"""The live view of ``korch up``: workloads and pods, in kubectl's words.

Columns follow ``kubectl get``: Deployments READY / UP-TO-DATE / AVAILABLE, StatefulSets
READY, DaemonSets DESIRED / READY, Jobs COMPLETIONS, and pods READY / STATUS / RESTARTS /
NODE / AGE with kubectl's status word (``Running``, ``ContainerCreating``,
``CrashLoopBackOff``, ``Completed``, ``Terminating``…) and its age format (``2m5s``).
"""

from __future__ import annotations

import datetime
from typing import Any

from rich.console import Group
from rich.table import Table

from korch import clock as clock_module
from korch.api import DaemonSet, Deployment, Job, Pod, StatefulSet
from korch.client import Client

__all__ = ("human_duration", "pod_status", "render")


def human_duration(seconds: float) -> str:
    """kubectl's age format: ``45s``, ``2m5s``, ``15m``, ``3h20m``, ``2d4h``, ``40d``…"""
    if seconds < -1:
        return "<invalid>"
    s = max(0, int(seconds))
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d" if hours % 24 == 0 else f"{days}d{hours % 24}h"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    return f"{years}y" if days % 365 == 0 or years >= 8 else f"{years}y{days % 365}d"


def pod_status(pod: Pod) -> str:
    """The STATUS column of ``kubectl get pods`` for one pod."""
    status = pod.status
    reason = status.reason or status.phase or "Pending"
    for i, init in enumerate(status.init_container_statuses):
        state = init.state
        if state is not None and state.terminated is not None and state.terminated.exit_code == 0:
            continue
        total = len(pod.spec.init_containers)
        if state is not None and state.terminated is not None:
            term = state.terminated
            reason = "Init:" + (term.reason or f"ExitCode:{term.exit_code}")
        elif (
            state is not None
            and state.waiting is not None
            and state.waiting.reason
            not in (
                "",
                "PodInitializing",
            )
        ):
            reason = "Init:" + state.waiting.reason
        else:
            reason = f"Init:{i}/{total}"
        break
    else:
        running = False
        for container in reversed(status.container_statuses):
            state = container.state
            if state is None:
                continue
            if state.waiting is not None and state.waiting.reason:
                reason = state.waiting.reason
            elif state.terminated is not None:
                term = state.terminated
                reason = term.reason or (
                    f"Signal:{term.signal}" if term.signal else f"ExitCode:{term.exit_code}"
                )
            elif state.running is not None and container.ready:
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if pod.metadata.deletion_timestamp is not None:
        reason = "Unknown" if status.reason == "NodeLost" else "Terminating"
    return reason


def _age(obj: Any, now: datetime.datetime) -> str:
    created = obj.metadata.creation_timestamp
    return human_duration((now - created).total_seconds()) if created is not None else ""


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True)
    return table


async def render(client: Client, clock: clock_module.Clock) -> Group:
    """One frame of the live view."""
    now = datetime.datetime.fromtimestamp(clock.time(), datetime.UTC)
    parts: list[Table] = []
    deployments = (await client.list(Deployment)).items
    if deployments:
        table = _table("Deployments", ("NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE"))
        for d in deployments:
            s = d.status
            table.add_row(
                d.metadata.namespace,
                d.metadata.name,
                f"{s.ready_replicas}/{d.spec.replicas if d.spec.replicas is not None else 1}",
                str(s.updated_replicas),
                str(s.available_replicas),
            )
        parts.append(table)
    statefulsets = (await client.list(StatefulSet)).items
    daemonsets = (await client.list(DaemonSet)).items
    jobs = (await client.list(Job)).items
    if statefulsets or daemonsets or jobs:
        table = _table("Other workloads", ("KIND", "NAMESPACE", "NAME", "STATUS"))
        for ss in statefulsets:
            replicas = ss.spec.replicas if ss.spec.replicas is not None else 1
            table.add_row(
                "StatefulSet",
                ss.metadata.namespace,
                ss.metadata.name,
                f"{ss.status.ready_replicas}/{replicas} ready",
            )
        for ds in daemonsets:
            table.add_row(
                "DaemonSet",
                ds.metadata.namespace,
                ds.metadata.name,
                f"{ds.status.number_ready}/{ds.status.desired_number_scheduled} ready",
            )
        for job in jobs:
            completions = job.spec.completions if job.spec.completions is not None else 1
            table.add_row(
                "Job",
                job.metadata.namespace,
                job.metadata.name,
                f"{job.status.succeeded}/{completions} complete",
            )
        parts.append(table)
    pods = (await client.list(Pod)).items
    table = _table("Pods", ("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "NODE", "AGE"))
    for pod in pods:
        statuses = pod.status.container_statuses
        ready = sum(1 for c in statuses if c.ready)
        restarts = sum(c.restart_count for c in statuses)
        table.add_row(
            pod.metadata.namespace,
            pod.metadata.name,
            f"{ready}/{len(pod.spec.containers)}",
            pod_status(pod),
            str(restarts),
            pod.spec.node_name or "<none>",
            _age(pod, now),
        )
    parts.append(table)
    return Group(*parts)
