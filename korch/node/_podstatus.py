"""What the node agent knows about a pod's containers, and the PodStatus it reports.

Pure functions over :class:`ContainerRecord` values (no I/O), following the kubelet:

* **phase** — ``Pending`` while an init container has not succeeded or an app container
  has never run; ``Running`` while one runs (or will be restarted); ``Succeeded`` when all
  exited 0 and none will restart; ``Failed`` when all exited, one failed, and none will
  restart (restartPolicy Never, or an init container failed under Never).
* **conditions** — ``Initialized`` (every init container succeeded), ``ContainersReady``
  (every app container ready), ``Ready`` (ContainersReady and every readiness gate
  condition True), ``PodScheduled`` (kept as the scheduler wrote it, True otherwise).
  Conditions of other types (``DisruptionTarget``…) are kept; a condition's
  ``lastTransitionTime`` moves only when its status changes.
* **container statuses** — ``state`` is running, terminated, or waiting with the
  kubelet's reasons (``ContainerCreating``, ``PodInitializing``, ``CrashLoopBackOff``,
  ``CreateContainerError``, ``CreateContainerConfigError``); ``lastState`` holds the
  previous attempt's termination; ``restartCount`` counts restarts.
"""

from __future__ import annotations

import datetime

import attrs

from korch.api import (
    Container,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    HostIP,
    Pod,
    PodCondition,
    PodIP,
    PodStatus,
)
from korch.node import _probes
from korch.runtime import ContainerStatus as RuntimeContainerStatus

__all__ = ("ContainerRecord", "container_status", "pod_phase", "pod_status", "timestamp")

OWNED_CONDITIONS = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


def timestamp(seconds: float) -> datetime.datetime | None:
    """Epoch seconds as an aware UTC datetime (whole seconds, as metav1.Time); 0 → None."""
    if not seconds:
        return None
    return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)


class ContainerRecord:
    """One container of a pod as the agent tracks it across attempts."""

    __slots__ = (
        "backoff",
        "container_id",
        "handled_exit",
        "init",
        "last_terminated",
        "previous_id",
        "probes",
        "ready",
        "restart_at",
        "restart_count",
        "spec",
        "started",
        "status",
        "waiting_message",
        "waiting_reason",
    )

    def __init__(self, spec: Container, *, init: bool) -> None:
        self.spec = spec
        self.init = init
        self.container_id = ""
        self.previous_id = ""
        self.status: RuntimeContainerStatus | None = None
        self.restart_count = 0
        self.last_terminated: ContainerStateTerminated | None = None
        self.handled_exit = ""
        self.backoff = 0.0
        self.restart_at = 0.0
        self.waiting_reason = ""
        self.waiting_message = ""
        self.probes: dict[_probes.ProbeKind, _probes.ProbeState] = {}
        self.started = False
        self.ready = False

    @property
    def sidecar(self) -> bool:
        """An init container with restartPolicy Always (runs beside the app containers)."""
        return self.init and self.spec.restart_policy == "Always"

    @property
    def running(self) -> bool:
        return self.status is not None and self.status.state == "running"

    @property
    def exited(self) -> bool:
        return self.status is not None and self.status.state in ("exited", "unknown")

    @property
    def succeeded(self) -> bool:
        return self.exited and self.status is not None and self.status.exit_code == 0


def terminated_state(status: RuntimeContainerStatus, runtime: str) -> ContainerStateTerminated:
    """The API's terminated state of an exited runtime container."""
    return ContainerStateTerminated(
        exit_code=status.exit_code,
        reason=status.reason or ("Completed" if status.exit_code == 0 else "Error"),
        message=status.message,
        started_at=timestamp(status.started_at),
        finished_at=timestamp(status.finished_at),
        container_id=f"{runtime}://{status.id}",
    )


def container_status(
    record: ContainerRecord, *, runtime: str, initialized: bool, will_restart: bool
) -> ContainerStatus:
    """The API's ContainerStatus of one record (see the module docstring)."""
    status = record.status
    state: ContainerState
    last = ContainerState(terminated=record.last_terminated) if record.last_terminated else None
    if status is None or status.state == "created":
        reason = record.waiting_reason or (
            "ContainerCreating" if initialized or record.init else "PodInitializing"
        )
        state = ContainerState(
            waiting=ContainerStateWaiting(reason=reason, message=record.waiting_message)
        )
    elif status.state == "running":
        state = ContainerState(
            running=ContainerStateRunning(started_at=timestamp(status.started_at))
        )
    elif will_restart:
        last = ContainerState(terminated=terminated_state(status, runtime))
        state = ContainerState(
            waiting=ContainerStateWaiting(
                reason=record.waiting_reason or "CrashLoopBackOff",
                message=record.waiting_message,
            )
        )
    else:
        state = ContainerState(terminated=terminated_state(status, runtime))
    return ContainerStatus(
        name=record.spec.name,
        state=state,
        last_state=last or ContainerState(),
        ready=record.ready and record.running,
        restart_count=record.restart_count,
        image=record.spec.image,
        image_id=record.spec.image,
        container_id=f"{runtime}://{status.id}" if status is not None else "",
        started=record.started and record.running,
    )


def pod_phase(records: list[ContainerRecord], restart_policy: str, *, init_failed: bool) -> str:
    """The pod's phase from its containers (see the module docstring)."""
    if init_failed:
        return "Failed"
    if any(not r.succeeded and not (r.sidecar and r.running) for r in records if r.init):
        return "Pending"
    apps = [r for r in records if not r.init]
    running = sum(1 for r in apps if r.running)
    never_ran = sum(1 for r in apps if not r.running and not r.exited and not r.last_terminated)
    if never_ran:
        return "Pending"
    if running:
        return "Running"
    if restart_policy == "Always":
        return "Running"
    if all(r.succeeded for r in apps):
        return "Succeeded"
    if restart_policy == "Never":
        return "Failed"
    return "Running"  # OnFailure: the failed ones restart


def _condition(
    old: dict[str, PodCondition], kind: str, ok: bool, reason: str, message: str, now: float
) -> PodCondition:
    status = "True" if ok else "False"
    previous = old.get(kind)
    moved = previous is None or previous.status != status
    return PodCondition(
        type=kind,
        status=status,
        reason="" if ok else reason,
        message="" if ok else message,
        last_transition_time=timestamp(now)
        if moved or previous is None
        else previous.last_transition_time,
    )


def pod_status(
    pod: Pod,
    records: list[ContainerRecord],
    *,
    runtime: str,
    phase: str,
    now: float,
    pod_ip: str,
    host_ip: str,
    start_time: float,
    reason: str = "",
    message: str = "",
) -> PodStatus:
    """The PodStatus to report (see the module docstring)."""
    old = {c.type: c for c in pod.status.conditions}
    inits = [r for r in records if r.init]
    apps = [r for r in records if not r.init]
    initialized = all(r.succeeded or (r.sidecar and r.started and r.running) for r in inits)
    terminal = phase in ("Succeeded", "Failed")
    unready = [r.spec.name for r in apps if not (r.ready and r.running)]
    containers_ready = not unready
    gates = [g.condition_type for g in pod.spec.readiness_gates]
    gates_ok = all(old.get(g) is not None and old[g].status == "True" for g in gates)
    ready_reason, ready_message = (
        "ContainersNotReady",
        (f"containers with unready status: [{' '.join(unready)}]"),
    )
    if terminal:
        ready_reason, ready_message = "PodCompleted", ""
    elif containers_ready and not gates_ok:
        ready_reason = "ReadinessGatesNotReady"
        ready_message = "corresponding condition of pod readiness gate is not True"
    pending_inits = [r.spec.name for r in inits if not r.succeeded]
    owned = [
        _condition(
            old,
            "Initialized",
            initialized or (terminal and not pending_inits),
            "PodCompleted" if terminal else "ContainersNotInitialized",
            "" if terminal else f"containers with incomplete status: [{' '.join(pending_inits)}]",
            now,
        ),
        _condition(
            old,
            "ContainersReady",
            containers_ready and not terminal,
            ready_reason,
            ready_message,
            now,
        ),
        _condition(
            old,
            "Ready",
            containers_ready and gates_ok and not terminal,
            ready_reason,
            ready_message,
            now,
        ),
        old.get("PodScheduled")
        or PodCondition(type="PodScheduled", status="True", last_transition_time=timestamp(now)),
    ]
    others = [c for c in pod.status.conditions if c.type not in OWNED_CONDITIONS]
    restart_policy = pod.spec.restart_policy or "Always"

    def will_restart(record: ContainerRecord) -> bool:
        if terminal or not record.exited or record.status is None:
            return False
        if record.sidecar or (not record.init and restart_policy == "Always"):
            return True
        failed = record.status.exit_code != 0
        return (
            failed
            and (record.init or restart_policy == "OnFailure")
            and (not record.init or restart_policy != "Never")
        )

    return attrs.evolve(
        pod.status,
        phase=phase,
        conditions=[*others, *owned],
        reason=reason,
        message=message,
        host_ip=host_ip,
        host_ips=[HostIP(ip=host_ip)] if host_ip else [],
        pod_ip=pod_ip,
        pod_ips=[PodIP(ip=pod_ip)] if pod_ip else [],
        start_time=pod.status.start_time or timestamp(start_time),
        init_container_statuses=[
            container_status(r, runtime=runtime, initialized=True, will_restart=will_restart(r))
            for r in inits
        ],
        container_statuses=[
            container_status(
                r, runtime=runtime, initialized=initialized, will_restart=will_restart(r)
            )
            for r in apps
        ],
    )
