"""The CronJob controller: a Job per schedule time, on the injected clock.

One reconcile (kube-controller-manager's ``cronjob`` v2 controller):

1. **active list** — jobs the cron job controls that finished (Complete/Failed) or vanished
   leave ``status.active`` (a Complete one sets ``lastSuccessfulTime``); running jobs it
   controls but does not list are added;
2. **history** — finished jobs beyond ``successfulJobsHistoryLimit`` (default 3) and
   ``failedJobsHistoryLimit`` (default 1) are deleted, oldest first (background propagation);
3. a cron job being deleted, **suspended**, or with a bad schedule/time zone stops here;
4. **the most recent missed time** — the last schedule time in ``(lastScheduleTime or
   creationTimestamp, now]``, not earlier than ``now - startingDeadlineSeconds``; more than
   100 missed times records a ``TooManyMissedTimes`` warning (and still runs the latest);
   a time older than ``startingDeadlineSeconds`` is missed (``MissSchedule``);
5. **concurrencyPolicy** — ``Allow`` runs jobs side by side; ``Forbid`` skips a time while
   a job is active; ``Replace`` deletes the active jobs first;
6. the job ``<cronjob>-<minutes since the epoch>`` is created from ``jobTemplate`` (so a time
   is never run twice), with the ``batch.kubernetes.io/cronjob-scheduled-timestamp``
   annotation; ``lastScheduleTime`` is written.

The reconcile returns ``requeue_after`` = seconds until the next schedule time (+0.1 s).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from typing import Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _batch, _core_volume, _meta
from korch.client import Client
from korch.workloads import _common, _cron

__all__ = ("CronJobReconciler", "job_name_for", "most_recent_schedule_time")

logger = logging.getLogger(__name__)

SCHEDULED_TIMESTAMP_ANNOTATION: Final = "batch.kubernetes.io/cronjob-scheduled-timestamp"
_MANY_MISSED: Final = 100
_NEXT_SLACK: Final = 0.1


def job_name_for(cron_job_name: str, scheduled: datetime.datetime) -> str:
    """``<cronjob>-<minutes since the epoch>`` (``getJobName``)."""
    return f"{cron_job_name}-{int(scheduled.timestamp()) // 60}"


def most_recent_schedule_time(
    schedule: _cron.Schedule,
    zone: datetime.tzinfo,
    earliest: datetime.datetime,
    now: datetime.datetime,
) -> tuple[datetime.datetime | None, int]:
    """The latest fire time in ``(earliest, now]`` and how many there were (capped at 101).

    Returns:
        ``(None, 0)`` when nothing was due.
    """
    first = schedule.next(earliest, zone)
    if first is None or first > now:
        return None, 0
    latest, missed = first, 1
    while missed <= _MANY_MISSED:
        following = schedule.next(latest, zone)
        if following is None or following > now:
            return latest, missed
        latest, missed = following, missed + 1
    # too many to walk: search backwards from now with growing windows for the latest one
    window = datetime.timedelta(minutes=2)
    while True:
        candidate = schedule.next(max(now - window, latest), zone)
        if candidate is not None and candidate <= now:
            while True:
                following = schedule.next(candidate, zone)
                if following is None or following > now:
                    return candidate, missed
                candidate = following
        window *= 2


def _finished(job: _batch.Job) -> str | None:
    for condition in job.status.conditions:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition.type
    return None


def _job_ref(job: _batch.Job) -> _core_volume.ObjectReference:
    return _core_volume.ObjectReference(
        api_version="batch/v1",
        kind="Job",
        name=job.metadata.name,
        namespace=job.metadata.namespace,
        uid=job.metadata.uid,
        resource_version=job.metadata.resource_version,
    )


class CronJobReconciler:
    """Reconciles one CronJob per key (see the module docstring).

    Args:
        client: creates and deletes jobs, writes status and events.
        reader: reads cron jobs and jobs (default: live reads via ``client``).
        clock: the time schedules are evaluated at.
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

    async def reconcile(self, key: str) -> _common.Result:
        """Start the cron job's due job, if any, and keep its status and history."""
        namespace, name = _common.split_key(key)
        cj = await self.reader.get(_batch.CronJob, name, namespace=namespace)
        if cj is None:
            return _common.Result()
        jobs = [
            j
            for j in await self.reader.list(_batch.Job, namespace=namespace)
            if (ref := _common.controller_ref(j)) is not None and ref.uid == cj.metadata.uid
        ]
        status = self._sync_active(cj, jobs)
        await self._cleanup_history(cj, jobs)
        return await self._schedule(cj, status, jobs)

    def _sync_active(self, cj: _batch.CronJob, jobs: list[_batch.Job]) -> _batch.CronJobStatus:
        by_uid = {j.metadata.uid: j for j in jobs}
        active: list[_core_volume.ObjectReference] = []
        last_success = cj.status.last_successful_time
        for ref in cj.status.active:
            job = by_uid.get(ref.uid)
            if job is None:
                continue
            outcome = _finished(job)
            if outcome is None:
                active.append(ref)
            elif outcome == "Complete" and job.status.completion_time is not None:
                done = job.status.completion_time
                last_success = done if last_success is None else max(last_success, done)
        listed = {ref.uid for ref in active}
        for job in jobs:
            running = _finished(job) is None and job.metadata.deletion_timestamp is None
            if running and job.metadata.uid not in listed:
                active.append(_job_ref(job))
        return attrs.evolve(cj.status, active=active, last_successful_time=last_success)

    async def _cleanup_history(self, cj: _batch.CronJob, jobs: list[_batch.Job]) -> None:
        limits = {
            "Complete": cj.spec.successful_jobs_history_limit,
            "Failed": cj.spec.failed_jobs_history_limit,
        }
        for outcome, limit in limits.items():
            if limit is None:
                continue
            done = [
                j for j in jobs if _finished(j) == outcome and j.metadata.deletion_timestamp is None
            ]
            done.sort(key=lambda j: (_start(j), j.metadata.name))
            for job in done[: max(len(done) - limit, 0)]:
                await self._delete_job(job)

    async def _delete_job(self, job: _batch.Job) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(
                _batch.Job,
                job.metadata.name,
                namespace=job.metadata.namespace,
                propagation_policy="Background",
            )

    async def _schedule(
        self, cj: _batch.CronJob, status: _batch.CronJobStatus, jobs: list[_batch.Job]
    ) -> _common.Result:
        if cj.metadata.deletion_timestamp is not None or cj.spec.suspend:
            await self._write_status(cj, status)
            return _common.Result()
        try:
            schedule = _cron.parse_schedule(cj.spec.schedule)
            zone = _cron.zone_for(cj.spec.time_zone)
        except errors.BadRequest as exc:
            await self._write_status(cj, status)
            await self.client.record_event(cj, "InvalidSchedule", str(exc), "Warning")
            return _common.Result()
        now = _common.to_datetime(self.clock.time())
        now_exact = datetime.datetime.fromtimestamp(self.clock.time(), datetime.UTC)
        earliest = status.last_schedule_time or cj.metadata.creation_timestamp or now
        deadline = cj.spec.starting_deadline_seconds
        if deadline is not None:
            earliest = max(earliest, now - datetime.timedelta(seconds=deadline))
        scheduled, missed = most_recent_schedule_time(schedule, zone, earliest, now_exact)
        if scheduled is None:
            await self._write_status(cj, status)
            return self._requeue(schedule, zone, now_exact)
        if missed > _MANY_MISSED:
            await self.client.record_event(
                cj,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
                "or check clock skew",
                "Warning",
            )
        if deadline is not None and scheduled + datetime.timedelta(seconds=deadline) < now_exact:
            await self.client.record_event(
                cj,
                "MissSchedule",
                f"Missed scheduled time to start a job: {scheduled.isoformat()}",
                "Warning",
            )
            await self._write_status(cj, status)
            return self._requeue(schedule, zone, now_exact)
        name = job_name_for(cj.metadata.name, scheduled)
        if any(ref.name == name for ref in status.active) or any(
            j.metadata.name == name for j in jobs
        ):
            await self._write_status(cj, status)
            return self._requeue(schedule, zone, now_exact)
        policy = cj.spec.concurrency_policy or "Allow"
        if policy == "Forbid" and status.active:
            await self._write_status(cj, status)
            return self._requeue(schedule, zone, now_exact)
        if policy == "Replace":
            for ref in status.active:
                job = next((j for j in jobs if j.metadata.uid == ref.uid), None)
                if job is not None:
                    await self._delete_job(job)
            status = attrs.evolve(status, active=[])
        job = await self._create_job(cj, name, scheduled, zone)
        status = attrs.evolve(
            status,
            active=[*status.active, _job_ref(job)],
            last_schedule_time=scheduled,
        )
        await self._write_status(cj, status)
        return self._requeue(schedule, zone, now_exact)

    async def _create_job(
        self, cj: _batch.CronJob, name: str, scheduled: datetime.datetime, zone: datetime.tzinfo
    ) -> _batch.Job:
        template = cj.spec.job_template
        annotations = dict(template.metadata.annotations)
        annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = scheduled.astimezone(zone).isoformat()
        job = _batch.Job(
            metadata=_meta.ObjectMeta(
                name=name,
                namespace=cj.metadata.namespace,
                labels=dict(template.metadata.labels),
                annotations=annotations,
                owner_references=[_common.owner_reference(cj)],
            ),
            spec=template.spec,
        )
        try:
            created: _batch.Job = await self.client.create(job)
        except errors.AlreadyExists:
            existing: _batch.Job = await self.client.get(
                _batch.Job, name, namespace=cj.metadata.namespace
            )
            return existing
        await self.client.record_event(cj, "SuccessfulCreate", f"Created job {name}")
        return created

    def _requeue(
        self, schedule: _cron.Schedule, zone: datetime.tzinfo, now: datetime.datetime
    ) -> _common.Result:
        following = schedule.next(now, zone)
        if following is None:
            return _common.Result()
        return _common.Result((following - now).total_seconds() + _NEXT_SLACK)

    async def _write_status(self, cj: _batch.CronJob, status: _batch.CronJobStatus) -> None:
        if status == cj.status:
            return
        with contextlib.suppress(errors.NotFound):
            await self.client.update_status(attrs.evolve(cj, status=status))


def _start(job: _batch.Job) -> float:
    when = job.status.start_time or job.metadata.creation_timestamp
    return when.timestamp() if when else 0.0
