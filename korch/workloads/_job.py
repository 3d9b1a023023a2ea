"""The Job controller: run pods until ``completions`` succeed, within limits.

One reconcile (kube-controller-manager's ``job`` controller, simplified where noted):

* **pods** — the job's pods (claimed by selector; without one, by the
  ``batch.kubernetes.io/controller-uid`` label) carry the ``batch.kubernetes.io/job-tracking``
  finalizer, so a finished pod is counted exactly once even if someone deletes it: its uid
  goes into ``status.uncountedTerminatedPods`` together with the new counts, then its
  finalizer is removed, then the uid leaves the list.
* **podFailurePolicy** — the first rule whose ``onExitCodes`` (a container's non-zero exit
  code In/NotIn the values, optionally for one container) or ``onPodConditions`` match a
  failed pod decides: ``FailJob`` fails the job (reason ``PodFailurePolicy``), ``Ignore``
  does not count the failure, ``Count`` (and ``FailIndex`` here) count it.
* **failure** — more counted failures than ``backoffLimit`` (default 6) fails the job with
  ``BackoffLimitExceeded``; running longer than ``activeDeadlineSeconds`` (from
  ``startTime``) with ``DeadlineExceeded``. A failing job deletes its active pods and gets
  ``Failed=True``.
* **back-off** — after ``n`` counted failures a replacement pod waits
  :func:`backoff_delay` (10 s, doubling, at most 6 min) from the last failure.
* **success** — ``NonIndexed``: ``succeeded >= completions``; without ``completions`` (a work
  queue) the first success ends the job once no pod is active. ``Indexed``: every index in
  ``[0, completions)`` succeeded (``status.completedIndexes`` as ``"0-2,5"``); each pod gets
  the ``batch.kubernetes.io/job-completion-index`` annotation and label, the
  ``JOB_COMPLETION_INDEX`` environment variable and hostname ``<job>-<index>``. A complete job
  gets ``Complete=True`` (reason ``CompletionsReached``) and ``completionTime``.
* **suspend** — active pods are deleted and ``Suspended=True/JobSuspended`` is set; resuming
  sets ``Suspended=False/JobResumed`` and restarts ``startTime``.
* **ttlSecondsAfterFinished** — a finished job is deleted (foreground) that many seconds
  after it finished (the TTL-after-finished controller).

A pod deleted by someone else before it finished counts as failed (pods the controller
itself stops — suspension, excess parallelism, a finished job — do not), so a
``DisruptionTarget`` rule with ``Ignore`` keeps evictions from using up the back-off limit.

Not done: ``backoffLimitPerIndex``/``maxFailedIndexes``, ``successPolicy``,
``podReplacementPolicy`` and the interim ``FailureTarget``/``SuccessCriteriaMet`` conditions.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Iterable
from typing import Any, Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _batch, _core_container, _core_pod, _meta, _selector
from korch.client import Client
from korch.workloads import _common, _expectations, _replicaset

__all__ = (
    "JobReconciler",
    "backoff_delay",
    "format_indexes",
    "parse_indexes",
    "pod_failure_policy_action",
)

logger = logging.getLogger(__name__)

TRACKING_FINALIZER: Final = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX: Final = "batch.kubernetes.io/job-completion-index"
CONTROLLER_UID_LABEL: Final = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL: Final = "batch.kubernetes.io/job-name"
DEFAULT_BACKOFF: Final = 10.0
MAX_BACKOFF: Final = 360.0


def backoff_delay(failures: int) -> float:
    """Seconds a replacement pod waits after ``failures`` counted failures (0, 10, 20, 40…, 360)."""
    if failures <= 0:
        return 0.0
    return min(DEFAULT_BACKOFF * float(2 ** min(failures - 1, 32)), MAX_BACKOFF)


def format_indexes(indexes: Iterable[int]) -> str:
    """Sorted indexes as intervals: ``{0, 1, 2, 5}`` -> ``"0-2,5"``."""
    out: list[str] = []
    ordered = sorted(set(indexes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def parse_indexes(text: str | None) -> set[int]:
    """The inverse of :func:`format_indexes` (bad items are ignored, as Kubernetes does)."""
    found: set[int] = set()
    for item in (text or "").split(","):
        first, _, last = item.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            found.update(range(int(first), int(last or first) + 1))
    return found


def _exit_codes(pod: _core_pod.Pod, container: str | None) -> list[int]:
    codes = []
    for status in (*pod.status.init_container_statuses, *pod.status.container_statuses):
        terminated = status.state.terminated
        if terminated is None or (container and status.name != container):
            continue
        if terminated.exit_code != 0:
            codes.append(terminated.exit_code)
    return codes


def pod_failure_policy_action(
    policy: _batch.PodFailurePolicy | None, pod: _core_pod.Pod
) -> tuple[str, int] | None:
    """The action (``FailJob``, ``Ignore``, ``Count``, ``FailIndex``) and rule index of the
    first rule matching failed ``pod``; ``None`` when no rule matches."""
    if policy is None:
        return None
    for index, rule in enumerate(policy.rules):
        exit_rule = rule.on_exit_codes
        if exit_rule is not None:
            values = set(exit_rule.values)
            for code in _exit_codes(pod, exit_rule.container_name):
                if (code in values) == (exit_rule.operator == "In"):
                    return rule.action, index
        for pattern in rule.on_pod_conditions:
            condition = _common.pod_condition(pod, pattern.type)
            if condition is not None and condition.status == (pattern.status or "True"):
                return rule.action, index
    return None


def _job_condition(job: _batch.Job, type_: str) -> _batch.JobCondition | None:
    for condition in job.status.conditions:
        if condition.type == type_:
            return condition
    return None


def finished(job: _batch.Job) -> str | None:
    """``"Complete"`` or ``"Failed"`` for a finished job, else ``None``."""
    for type_ in ("Complete", "Failed"):
        condition = _job_condition(job, type_)
        if condition is not None and condition.status == "True":
            return type_
    return None


def _index_of(pod: _core_pod.Pod) -> int | None:
    value = pod.metadata.annotations.get(COMPLETION_INDEX)
    return int(value) if value is not None and value.isdigit() else None


def _finish_time(pod: _core_pod.Pod) -> datetime.datetime | None:
    times = [
        s.state.terminated.finished_at
        for s in pod.status.container_statuses
        if s.state.terminated is not None and s.state.terminated.finished_at is not None
    ]
    if times:
        return max(times)
    ready = _common.pod_condition(pod, "Ready")
    if ready is not None and ready.last_transition_time is not None:
        return ready.last_transition_time
    return pod.metadata.creation_timestamp


class JobReconciler:
    """Reconciles one Job per key (see the module docstring).

    Args:
        client: writes pods and the job's status.
        reader: reads jobs and pods (default: live reads via ``client``).
        clock: back-offs, deadlines and TTLs are measured on it.
    """

    def __init__(
        self,
        client: Client,
        *,
        reader: _common.Reader | None = None,
        clock: clock_module.Clock | None = None,
    ) -> None:
        self.client = client
        self.reader = reader or _common.ClientReader(client)
        self.clock = clock or clock_module.SystemClock()
        self.expectations = _expectations.Expectations(self.clock)
        # uids whose tracking finalizer this controller removed: a stale cache may still
        # show the finalizer, and the pod must not be counted twice
        self._released: dict[str, set[str]] = {}

    def _now(self) -> datetime.datetime:
        return _common.to_datetime(self.clock.time())

    def _condition(self, type_: str, status: str, reason: str, message: str) -> Any:
        now = self._now()
        return _batch.JobCondition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_probe_time=now,
            last_transition_time=now,
        )

    async def reconcile(self, key: str) -> _common.Result:
        """Move the job named by ``key`` towards completion (or failure) one step."""
        namespace, name = _common.split_key(key)
        job = await self.reader.get(_batch.Job, name, namespace=namespace)
        if job is None:
            self.expectations.forget(key)
            self._released.pop(key, None)
            return _common.Result()
        pods = await self._claim(job)
        settled = self.expectations.satisfied(key, pods)
        if finished(job) is not None:
            await self._drop_finalizers(key, pods)
            return await self._ttl(job)
        job, failed_by_policy = await self._count(key, job, pods)
        active = [p for p in pods if _common.is_pod_active(p)]
        now = self.clock.time()
        spec = job.spec
        status = job.status
        failure = failed_by_policy
        backoff_limit = 6 if spec.backoff_limit is None else spec.backoff_limit
        if failure is None and status.failed > backoff_limit:
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        deadline_at = None
        if spec.active_deadline_seconds is not None and status.start_time is not None:
            deadline_at = _common.to_seconds(status.start_time) + spec.active_deadline_seconds
            if failure is None and now >= deadline_at and not spec.suspend:
                failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        if failure is not None:
            await self._delete_pods(key, active)
            condition = self._condition("Failed", "True", *failure)
            await self._finish(job, condition, completion_time=None)
            return await self._ttl_after(job, condition)
        if self._complete(job, active):
            await self._delete_pods(key, active)
            condition = self._condition(
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            await self._finish(job, condition, completion_time=self._now())
            return await self._ttl_after(job, condition)
        if spec.suspend:
            await self._delete_pods(key, active)
            return await self._suspend(job)
        job = await self._resume(job)
        if spec.active_deadline_seconds is not None and job.status.start_time is not None:
            deadline_at = _common.to_seconds(job.status.start_time) + spec.active_deadline_seconds
        result = _common.Result()
        wait = self._backoff_remaining(job, pods, now)
        if wait > 0:
            result = _common.Result(wait)
        else:
            if settled:
                active = await self._manage(key, job, active)
        if deadline_at is not None:
            result = _common.Result.sooner(result, _common.Result(max(deadline_at - now, 0.0)))
        await self._write_status(job, self._counts(job, active))
        return result

    # -- pods ----------------------------------------------------------------------------

    def _selector(self, job: _batch.Job) -> _selector.Selector:
        if job.spec.selector is None:
            return _selector.selector_from_set({CONTROLLER_UID_LABEL: job.metadata.uid})
        return _selector.label_selector_as_selector(job.spec.selector)

    async def _claim(self, job: _batch.Job) -> list[_core_pod.Pod]:
        candidates = await self.reader.list(_core_pod.Pod, namespace=job.metadata.namespace)
        claimed = _common.claim(job, self._selector(job), candidates)
        for pod in claimed.release:
            await _common.release(self.client, job, pod)
        owned = list(claimed.owned)
        for pod in claimed.adopt:
            try:
                owned.append(await _common.adopt(self.client, job, pod))
            except (errors.NotFound, errors.Conflict):
                continue
        return owned

    async def _drop_finalizers(self, key: str, pods: Iterable[_core_pod.Pod]) -> None:
        released = self._released.setdefault(key, set())
        for pod in pods:
            if TRACKING_FINALIZER not in pod.metadata.finalizers:
                continue
            released.add(pod.metadata.uid)
            kept = [f for f in pod.metadata.finalizers if f != TRACKING_FINALIZER]
            patch = {"metadata": {"uid": pod.metadata.uid, "finalizers": kept}}
            with contextlib.suppress(errors.NotFound):
                await self.client.patch(
                    _core_pod.Pod,
                    pod.metadata.name,
                    patch,
                    namespace=pod.metadata.namespace,
                    type="merge",
                )

    async def _delete_pods(self, key: str, pods: Iterable[_core_pod.Pod]) -> None:
        pods = list(pods)
        await self._drop_finalizers(key, pods)  # pods the controller stops are not failures
        for pod in pods:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(
                    _core_pod.Pod, pod.metadata.name, namespace=pod.metadata.namespace
                )

    def _new_pod(self, job: _batch.Job, index: int | None) -> _core_pod.Pod:
        labels = {CONTROLLER_UID_LABEL: job.metadata.uid, JOB_NAME_LABEL: job.metadata.name}
        prefix = _common.generate_name_prefix(job.metadata.name)
        template = job.spec.template
        if index is not None:
            labels[COMPLETION_INDEX] = str(index)
            prefix = _common.generate_name_prefix(f"{job.metadata.name}-{index}")
            env = _core_container.EnvVar(name="JOB_COMPLETION_INDEX", value=str(index))
            containers = [attrs.evolve(c, env=[*c.env, env]) for c in template.spec.containers]
            spec = attrs.evolve(
                template.spec,
                containers=containers,
                hostname=template.spec.hostname or f"{job.metadata.name}-{index}",
            )
            template = attrs.evolve(template, spec=spec)
        pod = _common.pod_from_template(template, job, generate_name=prefix, extra_labels=labels)
        annotations = dict(pod.metadata.annotations)
        if index is not None:
            annotations[COMPLETION_INDEX] = str(index)
        meta = attrs.evolve(
            pod.metadata,
            annotations=annotations,
            finalizers=[*pod.metadata.finalizers, TRACKING_FINALIZER],
        )
        return attrs.evolve(pod, metadata=meta)

    async def _manage(
        self, key: str, job: _batch.Job, active: list[_core_pod.Pod]
    ) -> list[_core_pod.Pod]:
        spec = job.spec
        parallelism = 1 if spec.parallelism is None else spec.parallelism
        if spec.completion_mode == "Indexed" and spec.completions is not None:
            return await self._manage_indexed(key, job, active, parallelism, spec.completions)
        if spec.completions is None:
            want = 0 if job.status.succeeded > 0 else parallelism
        else:
            want = max(min(parallelism, spec.completions - job.status.succeeded), 0)
        diff = want - len(active)
        if diff > 0:
            created: list[_core_pod.Pod] = []

            async def create() -> None:
                created.append(await self.client.create(self._new_pod(job, None)))

            try:
                await _replicaset.slow_start(diff, create)
            finally:
                active = active + created
                self.expectations.expect(key, created=[p.metadata.name for p in created])
        elif diff < 0:
            doomed = _replicaset.deletion_order(active)[:-diff]
            self.expectations.expect(key, deleted=[p.metadata.uid for p in doomed])
            await self._delete_pods(key, doomed)
            active = [p for p in active if p not in doomed]
        return active

    async def _manage_indexed(
        self,
        key: str,
        job: _batch.Job,
        active: list[_core_pod.Pod],
        parallelism: int,
        completions: int,
    ) -> list[_core_pod.Pod]:
        done = parse_indexes(job.status.completed_indexes)
        seen: set[int] = set()
        doomed = []
        for pod in active:
            index = _index_of(pod)
            if index is None or index >= completions or index in done or index in seen:
                doomed.append(pod)
            else:
                seen.add(index)
        self.expectations.expect(key, deleted=[p.metadata.uid for p in doomed])
        await self._delete_pods(key, doomed)
        active = [p for p in active if p not in doomed]
        missing = [i for i in range(completions) if i not in done and i not in seen]
        room = max(parallelism - len(active), 0)
        for index in missing[:room]:
            pod = await self.client.create(self._new_pod(job, index))
            self.expectations.expect(key, created=[pod.metadata.name])
            active.append(pod)
        return active

    # -- counting ------------------------------------------------------------------------

    async def _count(
        self, key: str, job: _batch.Job, pods: list[_core_pod.Pod]
    ) -> tuple[_batch.Job, tuple[str, str] | None]:
        """Count newly finished pods into the status (see the module docstring)."""
        released = self._released.setdefault(key, set())
        released &= {p.metadata.uid for p in pods if TRACKING_FINALIZER in p.metadata.finalizers}
        status = job.status
        uncounted = status.uncounted_terminated_pods or _batch.UncountedTerminatedPods()
        in_transit = set(uncounted.succeeded) | set(uncounted.failed)
        new_succeeded: list[str] = []
        new_failed: list[str] = []
        ignored: list[_core_pod.Pod] = []
        completed = parse_indexes(status.completed_indexes)
        failure: tuple[str, str] | None = None
        for pod in pods:
            uid = pod.metadata.uid
            if TRACKING_FINALIZER not in pod.metadata.finalizers or uid in in_transit:
                continue
            if uid in released:
                continue  # a stale view: this controller already took the finalizer off
            if pod.status.phase == "Succeeded":
                new_succeeded.append(uid)
                index = _index_of(pod)
                if index is not None:
                    completed.add(index)
            elif pod.status.phase == "Failed" or pod.metadata.deletion_timestamp is not None:
                if pod.status.phase != "Failed" and job.spec.suspend:
                    ignored.append(pod)  # stopped by the suspension: not a failure
                    continue
                matched = pod_failure_policy_action(job.spec.pod_failure_policy, pod)
                if matched is not None and matched[0] == "Ignore":
                    ignored.append(pod)
                    continue
                if matched is not None and matched[0] == "FailJob" and failure is None:
                    failure = (
                        "PodFailurePolicy",
                        f"Pod {pod.metadata.namespace}/{pod.metadata.name} failed matching "
                        f"FailJob rule at index {matched[1]}",
                    )
                new_failed.append(uid)
        finished_pods = [
            p
            for p in pods
            if p.metadata.uid in in_transit
            or p.metadata.uid in new_succeeded
            or p.metadata.uid in new_failed
        ]
        if new_succeeded or new_failed:
            indexed = job.spec.completion_mode == "Indexed"
            status = attrs.evolve(
                status,
                succeeded=len(completed) if indexed else status.succeeded + len(new_succeeded),
                failed=status.failed + len(new_failed),
                completed_indexes=format_indexes(completed)
                if indexed
                else status.completed_indexes,
                uncounted_terminated_pods=_batch.UncountedTerminatedPods(
                    succeeded=[*uncounted.succeeded, *new_succeeded],
                    failed=[*uncounted.failed, *new_failed],
                ),
            )
            job = await self._write_status(job, status)
        await self._drop_finalizers(key, [*finished_pods, *ignored])
        if job.status.uncounted_terminated_pods is not None:
            job = await self._write_status(
                job, attrs.evolve(job.status, uncounted_terminated_pods=None)
            )
        return job, failure

    def _complete(self, job: _batch.Job, active: list[_core_pod.Pod]) -> bool:
        spec, status = job.spec, job.status
        if spec.completions is None:
            return status.succeeded > 0 and not active
        if spec.completion_mode == "Indexed":
            return parse_indexes(status.completed_indexes) >= set(range(spec.completions))
        return status.succeeded >= spec.completions

    def _backoff_remaining(self, job: _batch.Job, pods: list[_core_pod.Pod], now: float) -> float:
        delay = backoff_delay(job.status.failed)
        if delay == 0:
            return 0.0
        times = [_finish_time(p) for p in pods if p.status.phase == "Failed"]
        last = max((t for t in times if t is not None), default=None)
        if last is None:
            return 0.0
        return max(_common.to_seconds(last) + delay - now, 0.0)

    def _counts(self, job: _batch.Job, active: list[_core_pod.Pod]) -> _batch.JobStatus:
        ready = sum(1 for p in active if _common.is_pod_ready(p))
        return attrs.evolve(job.status, active=len(active), ready=ready)

    # -- conditions ----------------------------------------------------------------------

    async def _finish(
        self,
        job: _batch.Job,
        condition: _batch.JobCondition,
        completion_time: datetime.datetime | None,
    ) -> None:
        conditions = [c for c in job.status.conditions if c.type != condition.type]
        status = attrs.evolve(
            job.status,
            conditions=[*conditions, condition],
            active=0,
            ready=0,
            completion_time=completion_time,
        )
        await self._write_status(job, status)

    async def _suspend(self, job: _batch.Job) -> _common.Result:
        current = _job_condition(job, "Suspended")
        status = attrs.evolve(job.status, active=0, ready=0)
        if current is None or current.status != "True":
            condition = self._condition("Suspended", "True", "JobSuspended", "Job suspended")
            conditions = [c for c in job.status.conditions if c.type != "Suspended"]
            status = attrs.evolve(status, conditions=[*conditions, condition])
        await self._write_status(job, status)
        return _common.Result()

    async def _resume(self, job: _batch.Job) -> _batch.Job:
        current = _job_condition(job, "Suspended")
        status = job.status
        if current is not None and current.status == "True":
            condition = self._condition("Suspended", "False", "JobResumed", "Job resumed")
            conditions = [c for c in job.status.conditions if c.type != "Suspended"]
            status = attrs.evolve(
                status, conditions=[*conditions, condition], start_time=self._now()
            )
        elif status.start_time is None:
            status = attrs.evolve(status, start_time=self._now())
        return await self._write_status(job, status)

    # -- ttl -----------------------------------------------------------------------------

    async def _ttl(self, job: _batch.Job) -> _common.Result:
        condition = _job_condition(job, finished(job) or "")
        if condition is None:
            return _common.Result()
        return await self._ttl_after(job, condition)

    async def _ttl_after(self, job: _batch.Job, condition: _batch.JobCondition) -> _common.Result:
        ttl = job.spec.ttl_seconds_after_finished
        if ttl is None or job.metadata.deletion_timestamp is not None:
            return _common.Result()
        finished_at = job.status.completion_time or condition.last_transition_time
        if finished_at is None:
            return _common.Result()
        remaining = _common.to_seconds(finished_at) + ttl - self.clock.time()
        if remaining > 0:
            return _common.Result(remaining)
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(
                _batch.Job,
                job.metadata.name,
                namespace=job.metadata.namespace,
                propagation_policy="Foreground",
                preconditions=_meta.Preconditions(uid=job.metadata.uid),
            )
        return _common.Result()

    async def _write_status(self, job: _batch.Job, status: _batch.JobStatus) -> _batch.Job:
        if status == job.status:
            return job
        try:
            updated: _batch.Job = await self.client.update_status(attrs.evolve(job, status=status))
        except errors.NotFound:
            return attrs.evolve(job, status=status)
        return updated
