"""The CronJob controller on the fake clock: schedules, concurrency, deadlines, history."""

from __future__ import annotations

import datetime
from typing import TypeVar

import attrs
import pytest

from korch.api import (
    CronJob,
    CronJobSpec,
    Event,
    Job,
    JobCondition,
    JobSpec,
    JobTemplateSpec,
    ObjectMeta,
)
from korch.testing import Environment
from korch.workloads import ClientReader, CronJobReconciler
from korch.workloads._cron import parse_schedule
from korch.workloads._cronjob import job_name_for, most_recent_schedule_time

from .conftest import now, template

pytestmark = pytest.mark.anyio

T = TypeVar("T")

KEY = "default/tick"


def cron_job(schedule: str = "*/5 * * * *", **spec: object) -> CronJob:
    job_spec = JobSpec(
        template=attrs.evolve(
            template({"app": "tick"}), spec=attrs.evolve(template({}).spec, restart_policy="Never")
        )
    )
    return CronJob(
        metadata=ObjectMeta(name="tick", namespace="default"),
        spec=CronJobSpec(
            schedule=schedule,
            job_template=JobTemplateSpec(
                metadata=ObjectMeta(labels={"from": "tick"}), spec=job_spec
            ),
            **spec,  # type: ignore[arg-type]
        ),
    )


async def jobs(env: Environment) -> list[Job]:
    listed = await env.client.list(Job, namespace="default")
    return sorted(
        (j for j in listed.items if j.metadata.deletion_timestamp is None),
        key=lambda j: j.metadata.name,
    )


async def finish(env: Environment, job: Job, outcome: str = "Complete") -> None:
    condition = JobCondition(type=outcome, status="True", last_transition_time=now(env))
    status = attrs.evolve(
        job.status,
        conditions=[condition],
        start_time=now(env),
        completion_time=now(env) if outcome == "Complete" else None,
    )
    await env.client.update_status(attrs.evolve(job, status=status))


async def test_creates_a_job_at_each_schedule_time(env: Environment) -> None:
    # the fake clock starts at 2023-11-14 22:13:20 UTC
    await env.client.create(cron_job("*/5 * * * *"))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    result = await reconciler.reconcile(KEY)
    assert await jobs(env) == []
    assert result.requeue_after == pytest.approx(100.1)  # 22:15:00
    await env.advance(result.requeue_after)
    await reconciler.reconcile(KEY)
    (job,) = await jobs(env)
    scheduled = datetime.datetime(2023, 11, 14, 22, 15, tzinfo=datetime.UTC)
    assert job.metadata.name == job_name_for("tick", scheduled)
    assert job.metadata.labels == {"from": "tick"}
    assert job.metadata.owner_references[0].kind == "CronJob"
    cj = await env.client.get(CronJob, "tick", namespace="default")
    assert cj.status.last_schedule_time == scheduled
    assert [ref.name for ref in cj.status.active] == [job.metadata.name]
    # reconciling again at the same time does not run the time twice
    await reconciler.reconcile(KEY)
    assert len(await jobs(env)) == 1


async def test_forbid_skips_while_a_job_runs(env: Environment) -> None:
    await env.client.create(cron_job("* * * * *", concurrency_policy="Forbid"))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    await env.advance(60)
    await reconciler.reconcile(KEY)
    await env.advance(60)
    await reconciler.reconcile(KEY)
    (running,) = await jobs(env)
    await finish(env, running)
    await reconciler.reconcile(KEY)
    assert len(await jobs(env)) == 2
    cj = await env.client.get(CronJob, "tick", namespace="default")
    assert cj.status.last_successful_time is not None


async def test_replace_deletes_the_running_job(env: Environment) -> None:
    await env.client.create(cron_job("* * * * *", concurrency_policy="Replace"))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    await env.advance(60)
    await reconciler.reconcile(KEY)
    (first,) = await jobs(env)
    await env.advance(60)
    await reconciler.reconcile(KEY)
    (second,) = await jobs(env)
    assert second.metadata.name != first.metadata.name
    cj = await env.client.get(CronJob, "tick", namespace="default")
    assert [ref.name for ref in cj.status.active] == [second.metadata.name]


async def test_allow_runs_side_by_side(env: Environment) -> None:
    await env.client.create(cron_job("* * * * *"))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    for _ in range(3):
        await env.advance(60)
        await reconciler.reconcile(KEY)
    assert len(await jobs(env)) == 3


async def test_suspend_creates_nothing(env: Environment) -> None:
    await env.client.create(cron_job("* * * * *", suspend=True))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    await env.advance(120)
    assert (await reconciler.reconcile(KEY)).requeue_after is None
    assert await jobs(env) == []


async def test_starting_deadline_misses_old_times(env: Environment) -> None:
    await env.client.create(cron_job("0 * * * *", starting_deadline_seconds=60))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    await env.advance(3600)  # the controller was down at 23:00:00; it is now 23:13:20
    await reconciler.reconcile(KEY)
    assert await jobs(env) == []
    without = cron_job("0 * * * *")
    without = attrs.evolve(without, metadata=attrs.evolve(without.metadata, name="late"))
    await env.client.create(without)
    await env.advance(3600)  # 00:13:20: "late" runs its 00:00 time late
    await reconciler.reconcile("default/late")
    assert [j.metadata.name for j in await jobs(env)] == [
        job_name_for("late", datetime.datetime(2023, 11, 15, 0, 0, tzinfo=datetime.UTC))
    ]


async def test_too_many_missed_times_warns_and_runs_the_latest(env: Environment) -> None:
    await env.client.create(cron_job("* * * * *"))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    await env.advance(200 * 60)
    await reconciler.reconcile(KEY)
    assert len(await jobs(env)) == 1
    events = (await env.client.list(Event, namespace="default")).items
    assert "TooManyMissedTimes" in {e.reason for e in events}


def test_most_recent_schedule_time_counts_missed() -> None:
    schedule = parse_schedule("*/10 * * * *")
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    latest, missed = most_recent_schedule_time(
        schedule, datetime.UTC, start, start + datetime.timedelta(minutes=35)
    )
    assert latest == start + datetime.timedelta(minutes=30)
    assert missed == 3
    latest, missed = most_recent_schedule_time(
        schedule, datetime.UTC, start, start + datetime.timedelta(days=30, minutes=5)
    )
    assert latest == start + datetime.timedelta(days=30)
    assert missed == 101


async def test_history_limits(env: Environment) -> None:
    await env.client.create(
        cron_job("* * * * *", successful_jobs_history_limit=2, failed_jobs_history_limit=1)
    )
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    for i in range(5):
        await env.advance(60)
        await reconciler.reconcile(KEY)
        for job in await jobs(env):
            if not job.status.conditions:
                await finish(env, job, "Failed" if i in (0, 1) else "Complete")
    await reconciler.reconcile(KEY)
    outcomes = [j.status.conditions[0].type for j in await jobs(env) if j.status.conditions]
    assert sorted(outcomes) == ["Complete", "Complete", "Failed"]


async def test_time_zone_schedule(env: Environment) -> None:
    await env.client.create(cron_job("0 9 * * *", time_zone="Asia/Tokyo"))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    result = await reconciler.reconcile(KEY)
    # 22:13:20 UTC is 07:13:20 in Tokyo: 09:00 JST is 1 h 46 m 40 s away
    assert result.requeue_after == pytest.approx(6400.1)


async def test_bad_time_zone_is_reported(env: Environment) -> None:
    # the API server validates timeZone; a stale cache or an old object may still carry one
    await env.client.create(cron_job("0 9 * * *"))

    class Reader(ClientReader):
        async def get(self, kind: type[T], name: str, *, namespace: str = "") -> T | None:
            obj = await super().get(kind, name, namespace=namespace)
            if isinstance(obj, CronJob):
                return attrs.evolve(obj, spec=attrs.evolve(obj.spec, time_zone="Mars/Olympus"))  # type: ignore[return-value]
            return obj

    reconciler = CronJobReconciler(env.client, clock=env.clock, reader=Reader(env.client))
    assert (await reconciler.reconcile(KEY)).requeue_after is None
    events = (await env.client.list(Event, namespace="default")).items
    assert [e.reason for e in events] == ["InvalidSchedule"]
    assert "Mars/Olympus" in events[0].message


async def test_spring_forward_in_the_cron_jobs_time_zone(env: Environment) -> None:
    # 2024-03-10 02:30 does not exist in New York: that day's run is skipped
    env.clock.set(datetime.datetime(2024, 3, 9, 12, tzinfo=datetime.UTC).timestamp())
    await env.client.create(cron_job("30 2 * * *", time_zone="America/New_York"))
    reconciler = CronJobReconciler(env.client, clock=env.clock)
    result = await reconciler.reconcile(KEY)
    monday = datetime.datetime(2024, 3, 11, 6, 30, tzinfo=datetime.UTC)  # 02:30 EDT
    assert result.requeue_after == pytest.approx(monday.timestamp() - env.clock.time() + 0.1)
    await env.advance(result.requeue_after or 0)
    await reconciler.reconcile(KEY)
    (job,) = await jobs(env)
    assert job.metadata.name == job_name_for("tick", monday)
    stamp = job.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert stamp == "2024-03-11T02:30:00-04:00"
