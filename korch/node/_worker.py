"""The pod worker: one task per pod that drives the runtime toward the pod's spec.

Each wake-up runs :meth:`PodWorker.sync` (the kubelet's SyncPod), which is level-triggered
and idempotent: it reads the containers' states from the runtime, decides, acts, reports
the status if it changed, and returns the next time it needs to look again (a probe due,
a back-off expiring, a deadline). The worker sleeps until then or until poked (the pod
changed, a container started or exited).

One sync:

1. Deleted or being deleted → stop every container with the grace period
   (``metadata.deletionGracePeriodSeconds``, else ``spec.terminationGracePeriodSeconds``,
   else 30 s), remove the sandbox, report the final status, then delete the pod object with
   grace 0 and the pod's uid as precondition (what the kubelet's status manager does).
2. No sandbox yet → make one (its IP is the pod IP).
3. Init containers, in order: each must exit 0 before the next starts; a failed one is
   restarted (with back-off) unless restartPolicy is Never, which fails the pod.
4. Then every app container: started if it never ran; restarted after exiting per
   restartPolicy (Always; OnFailure if the exit code is not 0; Never) — immediately the
   first time, then after a CrashLoopBackOff delay of 10 s doubling to 5 min, reset once a
   container ran for 10 minutes.
5. Probes that are due run (see :mod:`korch.node._probes`); a failed liveness or startup
   probe kills the container, which then restarts per restartPolicy.
6. ``activeDeadlineSeconds`` past → every container is killed, the pod Failed
   (``DeadlineExceeded``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import anyio
import attrs

from korch import errors
from korch.api import Container, Pod, Preconditions, Probe, Quantity, to_dict
from korch.node import _env, _podstatus, _probes
from korch.runtime import (
    CONTAINER_ATTEMPT_LABEL,
    CONTAINER_NAME_LABEL,
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    POD_UID_LABEL,
    ContainerConfig,
    ContainerNotFound,
    ContainerRuntimeError,
    PodSandboxConfig,
    ResourceLimits,
)
from korch.runtime import ContainerStatus as RuntimeContainerStatus

if TYPE_CHECKING:
    from korch.node._agent import NodeAgent

__all__ = ("PodWorker",)

logger = logging.getLogger("korch.node")

INITIAL_BACKOFF = 10.0
MAX_BACKOFF = 300.0
BACKOFF_RESET = 600.0
DEFAULT_GRACE = 30
_ERROR_RETRY = 1.0


def _limits(container: Container) -> ResourceLimits:
    limits = container.resources.limits or {}
    cpu = limits.get("cpu")
    memory = limits.get("memory")
    return ResourceLimits(
        cpu_millis=Quantity(str(cpu)).milli_value() if cpu is not None else 0,
        memory_bytes=Quantity(str(memory)).value() if memory is not None else 0,
    )


class PodWorker:
    """Runs one pod (see the module docstring)."""

    def __init__(self, agent: NodeAgent, pod: Pod) -> None:
        self.agent = agent
        self.pod = pod
        self.uid = pod.metadata.uid
        self.key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        self.records: dict[str, _podstatus.ContainerRecord] = {}
        for spec in pod.spec.init_containers:
            self.records[spec.name] = _podstatus.ContainerRecord(spec, init=True)
        for spec in pod.spec.containers:
            self.records[spec.name] = _podstatus.ContainerRecord(spec, init=False)
        for old in (*pod.status.init_container_statuses, *pod.status.container_statuses):
            record = self.records.get(old.name)
            if record is not None:  # restarted agent: keep counting where we left off
                record.restart_count = old.restart_count
                record.last_terminated = old.last_state.terminated
        self.sandbox_id = ""
        self.pod_ip = ""
        self.deleted = False
        self.finished = False
        self.terminal = False
        self.init_failed = False
        self.reason = ""
        self.message = ""
        self.start_time = 0.0
        self._reported: dict[str, object] | None = None
        self.wake = anyio.Event()

    # -- driving -------------------------------------------------------------------------

    def update(self, pod: Pod, *, deleted: bool = False) -> None:
        """A newer state of the pod (or its deletion) arrived: look again."""
        if not deleted and pod.metadata.resource_version == self.pod.metadata.resource_version:
            return  # our own status write coming back: nothing new to act on
        self.pod = pod
        self.deleted = self.deleted or deleted
        self.wake.set()

    def adopt(self, sandbox_id: str, ip: str, containers: list[RuntimeContainerStatus]) -> None:
        """Take over a sandbox and containers an earlier agent left running."""
        self.sandbox_id, self.pod_ip = sandbox_id, ip
        latest: dict[str, RuntimeContainerStatus] = {}
        for status in containers:
            best = latest.get(status.name)
            if best is None or (status.attempt, status.created_at) > (
                best.attempt,
                best.created_at,
            ):
                latest[status.name] = status
        for name, status in latest.items():
            record = self.records.get(name)
            if record is not None:
                record.container_id = status.id
                record.status = status
                record.restart_count = max(record.restart_count, status.attempt)
                record.handled_exit = status.id if status.state == "exited" else ""
                record.started = status.state == "running" and not record.spec.startup_probe

    async def run(self) -> None:
        """Sync whenever woken, until the pod is gone."""
        clock = self.agent.clock
        while not self.finished:
            self.wake = anyio.Event()
            try:
                next_at = await self.sync()
            except (errors.APIError, ContainerRuntimeError, OSError) as exc:
                logger.warning("pod %s: sync failed, retrying: %s", self.key, exc)
                next_at = clock.time() + _ERROR_RETRY
            if self.finished:
                break
            if next_at is not None:
                self.agent.schedule(self, next_at)
            await self.wake.wait()

    # -- the sync ------------------------------------------------------------------------

    async def sync(self) -> float | None:
        """One pass (see the module docstring); returns when to look again, or None."""
        pod = self.pod
        if self.deleted or pod.metadata.deletion_timestamp is not None:
            await self._terminate()
            return None
        if self.terminal or (not self.sandbox_id and pod.status.phase in ("Succeeded", "Failed")):
            return None  # finished pods are never run again
        runtime = self.agent.runtime
        now = self.agent.clock.time()
        if not self.sandbox_id:
            self.sandbox_id = await runtime.run_pod_sandbox(self._sandbox_config())
            self.pod_ip = (await runtime.pod_sandbox_status(self.sandbox_id)).ip
            self.agent.sandboxes[self.sandbox_id] = self
        if not self.start_time:
            self.start_time = now
        await self._refresh()
        deadlines: list[float] = []
        deadline = pod.spec.active_deadline_seconds
        if deadline is not None and now >= self._started() + deadline:
            await self._fail_deadline()
        else:
            if deadline is not None:
                deadlines.append(self._started() + deadline)
            initialized = await self._run_init_containers(now, deadlines)
            if initialized and not self.init_failed:
                for record in self.records.values():
                    if not record.init:
                        await self._run_container(record, now, deadlines)
            await self._probe(now, deadlines)
            await self._refresh()
        phase = _podstatus.pod_phase(
            list(self.records.values()),
            pod.spec.restart_policy or "Always",
            init_failed=self.init_failed,
        )
        if self.reason == "DeadlineExceeded":
            phase = "Failed"
        if phase in ("Succeeded", "Failed"):
            self.terminal = True
            await self._stop_all(grace=0)
            await runtime.stop_pod_sandbox(self.sandbox_id)
            await self._refresh()
        await self._report(phase)
        return None if self.terminal or not deadlines else min(deadlines)

    def _started(self) -> float:
        start = self.pod.status.start_time
        return start.timestamp() if start is not None else self.start_time

    async def _refresh(self) -> None:
        for record in self.records.values():
            if record.container_id:
                try:
                    record.status = await self.agent.runtime.container_status(record.container_id)
                except ContainerNotFound:
                    record.container_id, record.status = "", None
            if not record.running:
                record.ready = False

    async def _run_init_containers(self, now: float, deadlines: list[float]) -> bool:
        for record in self.records.values():
            if not record.init:
                continue
            if record.sidecar:
                await self._run_container(record, now, deadlines)
                if not record.running or not record.started:
                    return False
                continue
            if record.succeeded:
                continue
            if record.running or (record.status is not None and record.status.state == "created"):
                return False
            if record.exited and (self.pod.spec.restart_policy or "Always") == "Never":
                self.init_failed = True
                return False
            await self._ensure_started(record, now, deadlines)
            return False
        return True

    async def _run_container(
        self, record: _podstatus.ContainerRecord, now: float, deadlines: list[float]
    ) -> None:
        if record.running or (record.status is not None and record.status.state == "created"):
            return
        if record.exited:
            assert record.status is not None
            policy = "Always" if record.sidecar else (self.pod.spec.restart_policy or "Always")
            failed = record.status.exit_code != 0
            if policy == "Never" or (policy == "OnFailure" and not failed):
                return
        await self._ensure_started(record, now, deadlines)

    async def _ensure_started(
        self, record: _podstatus.ContainerRecord, now: float, deadlines: list[float]
    ) -> None:
        """Start the container's next attempt, unless it is backing off."""
        status = record.status
        if status is not None and status.state == "exited" and record.handled_exit != status.id:
            record.handled_exit = status.id
            ran = (status.finished_at or now) - (status.started_at or now)
            if record.backoff and ran >= BACKOFF_RESET:
                record.backoff = 0.0
            delay = record.backoff
            record.backoff = INITIAL_BACKOFF if not delay else min(delay * 2, MAX_BACKOFF)
            record.restart_at = (status.finished_at or now) + delay
        if record.restart_at > now:
            deadlines.append(record.restart_at)
            if status is not None and status.state == "exited":
                record.waiting_reason = "CrashLoopBackOff"
                record.waiting_message = (
                    f"back-off {record.restart_at - (status.finished_at or now):g}s "
                    f"restarting failed container={record.spec.name} "
                    f"pod={self.pod.metadata.name}_{self.pod.metadata.namespace}({self.uid})"
                )
            return
        attempt = record.restart_count
        if status is not None and status.state == "exited":
            attempt += 1
        try:
            config = await self._container_config(record, attempt)
            container_id = await self.agent.runtime.create_container(self.sandbox_id, config)
        except (_env.ConfigError, ContainerRuntimeError) as exc:
            config_error = isinstance(exc, _env.ConfigError)
            record.waiting_reason = (
                "CreateContainerConfigError" if config_error else getattr(exc, "reason", "")
            ) or "CreateContainerError"
            record.waiting_message = str(exc)
            delay = record.backoff or INITIAL_BACKOFF
            record.backoff = min(delay * 2, MAX_BACKOFF)
            record.restart_at = now + delay
            deadlines.append(record.restart_at)
            await self.agent.event(self.pod, "Failed", f"Error: {exc}", "Warning")
            return
        if status is not None and status.state == "exited":
            record.last_terminated = _podstatus.terminated_state(status, self.agent.runtime_name)
            record.restart_count = attempt
            if record.previous_id:
                await self.agent.runtime.remove_container(record.previous_id)
            record.previous_id = record.container_id
        record.container_id = container_id
        record.waiting_reason = record.waiting_message = ""
        record.probes = {}
        record.started = record.ready = False
        await self.agent.runtime.start_container(container_id)
        record.status = await self.agent.runtime.container_status(container_id)

    async def _container_config(
        self, record: _podstatus.ContainerRecord, attempt: int
    ) -> ContainerConfig:
        pod = self.pod
        if self.pod_ip and not pod.status.pod_ip:
            pod = attrs.evolve(
                pod, status=attrs.evolve(pod.status, pod_ip=self.pod_ip, host_ip=self.agent.ip)
            )
        spec = record.spec
        env: dict[str, str] = {}
        if spec.env or spec.env_from or self.agent.service_links:
            env = await _env.resolve_env(
                self.agent.client, pod, spec, service_links=self.agent.service_links
            )
        meta = pod.metadata
        return ContainerConfig(
            name=spec.name,
            image=spec.image,
            command=tuple(_env.expand(part, env) for part in spec.command),
            args=tuple(_env.expand(part, env) for part in spec.args),
            env=env,
            working_dir=spec.working_dir,
            limits=_limits(spec),
            labels={
                POD_UID_LABEL: meta.uid,
                POD_NAME_LABEL: meta.name,
                POD_NAMESPACE_LABEL: meta.namespace,
                CONTAINER_NAME_LABEL: spec.name,
                CONTAINER_ATTEMPT_LABEL: str(attempt),
            },
            attempt=attempt,
        )

    def _sandbox_config(self) -> PodSandboxConfig:
        meta = self.pod.metadata
        return PodSandboxConfig(
            name=meta.name,
            namespace=meta.namespace,
            uid=meta.uid,
            hostname=self.pod.spec.hostname or meta.name,
            labels={
                POD_UID_LABEL: meta.uid,
                POD_NAME_LABEL: meta.name,
                POD_NAMESPACE_LABEL: meta.namespace,
            },
            annotations=dict(meta.annotations),
        )

    # -- probes --------------------------------------------------------------------------

    async def _probe(self, now: float, deadlines: list[float]) -> None:
        for record in self.records.values():
            if not record.running or record.status is None:
                continue
            spec = record.spec
            started_at = record.status.started_at or now
            if not record.probes:
                if spec.startup_probe is not None:
                    record.probes["startup"] = _probes.ProbeState(
                        "startup", spec.startup_probe, started_at
                    )
                else:
                    record.started = True
            if record.started:
                kinds: tuple[tuple[_probes.ProbeKind, Probe | None], ...] = (
                    ("liveness", spec.liveness_probe),
                    ("readiness", spec.readiness_probe),
                )
                for kind, probe in kinds:
                    if probe is not None and kind not in record.probes:
                        record.probes[kind] = _probes.ProbeState(kind, probe, started_at)
                if spec.readiness_probe is None:
                    record.ready = True
            for state in list(record.probes.values()):
                if state.kind == "startup" and record.started:
                    continue
                if state.next_at <= now and not await self._run_probe(record, state, now):
                    return
                deadlines.append(state.next_at)

    async def _run_probe(
        self, record: _podstatus.ContainerRecord, state: _probes.ProbeState, now: float
    ) -> bool:
        """Run one due probe; False if it killed the container (stop probing this sync)."""
        success, why = await _probes.run_probe(
            state.probe,
            runtime=self.agent.runtime,
            container_id=record.container_id,
            container=record.spec,
            pod_ip=self.pod_ip,
            http=self.agent.http(),
        )
        changed = state.record(success, self.agent.clock.time())
        if not success:
            await self.agent.event(
                self.pod, "Unhealthy", f"{state.kind.capitalize()} probe failed: {why}", "Warning"
            )
        if state.kind == "readiness":
            record.ready = state.result is True
        elif state.kind == "startup" and changed and state.result:
            record.started = True
        elif changed and state.result is False:  # liveness or startup failed: restart
            message = f"Container {record.spec.name} failed {state.kind} probe, will be restarted"
            await self.agent.event(self.pod, "Killing", message)
            grace = state.probe.termination_grace_period_seconds
            await self.agent.runtime.stop_container(record.container_id, self._grace(grace))
            record.probes = {}
            record.ready = False
            await self._refresh()
            return False
        return True

    # -- termination ---------------------------------------------------------------------

    def _grace(self, override: int | None = None) -> float:
        if override is not None:
            return float(override)
        meta_grace = self.pod.metadata.deletion_grace_period_seconds
        if meta_grace is not None:
            return float(meta_grace)
        spec_grace = self.pod.spec.termination_grace_period_seconds
        return float(spec_grace if spec_grace is not None else DEFAULT_GRACE)

    async def _stop_all(self, *, grace: float) -> None:
        running = [r for r in self.records.values() if r.container_id and not r.exited]
        if not running:
            return
        async with anyio.create_task_group() as group:
            for record in running:
                group.start_soon(self.agent.runtime.stop_container, record.container_id, grace)

    async def _fail_deadline(self) -> None:
        await self._stop_all(grace=self._grace())
        self.reason = "DeadlineExceeded"
        self.message = "Pod was active on the node longer than the specified deadline"
        await self._refresh()

    async def _terminate(self) -> None:
        """Graceful deletion (see the module docstring, step 1)."""
        runtime = self.agent.runtime
        if self.sandbox_id:
            await self._stop_all(grace=self._grace())
            await self._refresh()
            await runtime.stop_pod_sandbox(self.sandbox_id)
        if not self.deleted:
            phase = self.pod.status.phase
            if phase not in ("Succeeded", "Failed"):
                phase = _podstatus.pod_phase(
                    list(self.records.values()),
                    self.pod.spec.restart_policy or "Always",
                    init_failed=self.init_failed,
                )
            await self._report(phase if phase in ("Succeeded", "Failed") else "Failed")
            # NotFound: already gone; Conflict: a new pod of that name, not ours to delete
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.agent.client.delete(
                    Pod,
                    self.pod.metadata.name,
                    namespace=self.pod.metadata.namespace,
                    grace_period_seconds=0,
                    preconditions=Preconditions(uid=self.uid),
                )
        if self.sandbox_id:
            await runtime.remove_pod_sandbox(self.sandbox_id)
            self.agent.sandboxes.pop(self.sandbox_id, None)
            self.sandbox_id = ""
        self.finished = True

    # -- status --------------------------------------------------------------------------

    async def _report(self, phase: str) -> None:
        """Write the pod's status if it changed (the status subresource; on a conflict the
        pod is read again and the status recomputed over it)."""
        for _ in range(5):
            status = _podstatus.pod_status(
                self.pod,
                list(self.records.values()),
                runtime=self.agent.runtime_name,
                phase=phase,
                now=self.agent.clock.time(),
                pod_ip=self.pod_ip,
                host_ip=self.agent.ip,
                start_time=self.start_time,
                reason=self.reason,
                message=self.message,
            )
            wire = to_dict(status)
            if self._reported is None:
                self._reported = to_dict(self.pod.status)
            if wire == self._reported:
                return
            try:
                stored = await self.agent.client.update_status(
                    attrs.evolve(self.pod, status=status)
                )
            except errors.NotFound:
                return
            except errors.Conflict:
                try:
                    self.pod = await self.agent.client.get(
                        Pod, self.pod.metadata.name, namespace=self.pod.metadata.namespace
                    )
                except errors.NotFound:
                    return
                if self.pod.metadata.uid != self.uid:
                    return  # a new pod of the same name: not ours
                self._reported = None
                continue
            if stored.metadata.uid == self.uid:
                self.pod = stored
            self._reported = wire
            return
