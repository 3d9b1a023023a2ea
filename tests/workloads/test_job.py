"""The Job controller: completions, parallelism, back-off, deadlines, indexes, policies."""

from __future__ import annotations

import datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch.api import (
    ContainerState,
    ContainerStateTerminated,
    ContainerStatus,
    Job,
    JobSpec,
    ObjectMeta,
    Pod,
    PodCondition,
    PodFailurePolicy,
    PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern,
    PodFailurePolicyRule,
)
from korch.testing import Environment
from korch.workloads import (
    JobReconciler,
    backoff_delay,
    format_indexes,
    parse_indexes,
)

from .conftest import now, template

pytestmark = pytest.mark.anyio

KEY = "default/work"


def job(**spec: object) -> Job:
    pod_template = template({"app": "work"})
    pod_template = attrs.evolve(
        pod_template, spec=attrs.evolve(pod_template.spec, restart_policy="Never")
    )
    return Job(
        metadata=ObjectMeta(name="work", namespace="default"),
        spec=JobSpec(template=pod_template, **spec),  # type: ignore[arg-type]
    )


async def live_pods(env: Environment) -> list[Pod]:
    listed = await env.client.list(Pod, namespace="default")
    return [p for p in listed.items if p.metadata.deletion_timestamp is None]


async def running(env: Environment) -> list[Pod]:
    return [p for p in await live_pods(env) if p.status.phase not in ("Succeeded", "Failed")]


async def end(env: Environment, pod: Pod, phase: str, exit_code: int = 0, **extra: object) -> None:
    terminated = ContainerStateTerminated(exit_code=exit_code, finished_at=now(env))
    status = attrs.evolve(
        pod.status,
        phase=phase,
        container_statuses=[ContainerStatus(name="c", state=ContainerState(terminated=terminated))],
        **extra,  # type: ignore[arg-type]
    )
    await env.client.update_status(attrs.evolve(pod, status=status))


async def get(env: Environment) -> Job:
    return await env.client.get(Job, "work", namespace="default")


def condition(j: Job, type_: str) -> tuple[str, str] | None:
    for c in j.status.conditions:
        if c.type == type_:
            return c.status, c.reason
    return None


def test_backoff_doubles_from_ten_seconds_up_to_six_minutes() -> None:
    assert [backoff_delay(n) for n in range(8)] == [0, 10, 20, 40, 80, 160, 320, 360]
    assert backoff_delay(1000) == 360


@given(st.sets(st.integers(0, 200)))
def test_index_intervals_round_trip(indexes: set[int]) -> None:
    assert parse_indexes(format_indexes(indexes)) == indexes


def test_format_indexes() -> None:
    assert format_indexes([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"


async def test_completions_and_parallelism(env: Environment) -> None:
    await env.client.create(job(completions=3, parallelism=2))
    reconciler = JobReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    first = await running(env)
    assert len(first) == 2
    for pod in first:
        assert "batch.kubernetes.io/job-tracking" in pod.metadata.finalizers
        await end(env, pod, "Succeeded")
    await reconciler.reconcile(KEY)
    assert len(await running(env)) == 1  # only one completion left
    j = await get(env)
    assert (j.status.succeeded, j.status.active) == (2, 1)
    assert j.status.start_time is not None
    (last,) = await running(env)
    await end(env, last, "Succeeded")
    await reconciler.reconcile(KEY)
    j = await get(env)
    assert condition(j, "Complete") == ("True", "CompletionsReached")
    assert j.status.succeeded == 3 and j.status.completion_time is not None
    # counted pods lose the tracking finalizer; the uncounted list is empty again
    assert all(not p.metadata.finalizers for p in await live_pods(env))
    assert j.status.uncounted_terminated_pods is None


async def test_failures_back_off_exponentially_then_fail_the_job(env: Environment) -> None:
    await env.client.create(job(backoff_limit=2))
    reconciler = JobReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    delays = []
    for _ in range(3):
        (pod,) = await running(env)
        await end(env, pod, "Failed", exit_code=1)
        result = await reconciler.reconcile(KEY)
        if await get(env) and condition(await get(env), "Failed"):
            break
        assert await running(env) == []  # waiting out the back-off
        assert result.requeue_after is not None
        delays.append(result.requeue_after)
        await env.advance(result.requeue_after)
        await reconciler.reconcile(KEY)
    assert delays == [10, 20]
    j = await get(env)
    assert condition(j, "Failed") == ("True", "BackoffLimitExceeded")
    assert j.status.failed == 3


async def test_active_deadline(env: Environment) -> None:
    await env.client.create(job(active_deadline_seconds=30, parallelism=2, completions=2))
    reconciler = JobReconciler(env.client, clock=env.clock)
    result = await reconciler.reconcile(KEY)
    assert result.requeue_after == 30
    await env.advance(30)
    await reconciler.reconcile(KEY)
    j = await get(env)
    assert condition(j, "Failed") == ("True", "DeadlineExceeded")
    assert await running(env) == []


async def test_ttl_after_finished_deletes_the_job(env: Environment) -> None:
    await env.client.create(job(ttl_seconds_after_finished=100))
    reconciler = JobReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    (pod,) = await running(env)
    await end(env, pod, "Succeeded")
    result = await reconciler.reconcile(KEY)
    assert result.requeue_after == 100
    await env.advance(100)
    await reconciler.reconcile(KEY)
    j = await get(env)  # foreground deletion: the garbage collector removes pods, then it
    assert j.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in j.metadata.finalizers


async def test_indexed_job(env: Environment) -> None:
    await env.client.create(job(completions=3, parallelism=3, completion_mode="Indexed"))
    reconciler = JobReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    current = sorted(
        await running(env),
        key=lambda p: p.metadata.annotations["batch.kubernetes.io/job-completion-index"],
    )
    assert [
        p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in current
    ] == ["0", "1", "2"]
    assert current[1].spec.hostname == "work-1"
    assert current[1].metadata.name.startswith("work-1-")
    env_vars = {e.name: e.value for e in current[1].spec.containers[0].env}
    assert env_vars["JOB_COMPLETION_INDEX"] == "1"
    await end(env, current[0], "Succeeded")
    await end(env, current[2], "Succeeded")
    await end(env, current[1], "Failed", exit_code=2)
    result = await reconciler.reconcile(KEY)
    assert (await get(env)).status.completed_indexes == "0,2"
    await env.advance(result.requeue_after or 0)
    await reconciler.reconcile(KEY)
    (retry,) = await running(env)
    assert retry.metadata.annotations["batch.kubernetes.io/job-completion-index"] == "1"
    await end(env, retry, "Succeeded")
    await reconciler.reconcile(KEY)
    j = await get(env)
    assert j.status.completed_indexes == "0-2"
    assert condition(j, "Complete") == ("True", "CompletionsReached")


async def test_pod_failure_policy_fail_job_and_ignore(env: Environment) -> None:
    policy = PodFailurePolicy(
        rules=[
            PodFailurePolicyRule(
                action="FailJob",
                on_exit_codes=PodFailurePolicyOnExitCodesRequirement(operator="In", values=[42]),
            ),
            PodFailurePolicyRule(
                action="Ignore",
                on_pod_conditions=[PodFailurePolicyOnPodConditionsPattern(type="DisruptionTarget")],
            ),
        ]
    )
    await env.client.create(job(pod_failure_policy=policy, backoff_limit=0))
    reconciler = JobReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    (pod,) = await running(env)
    disrupted = [PodCondition(type="DisruptionTarget", status="True")]
    await end(env, pod, "Failed", exit_code=137, conditions=disrupted)
    await reconciler.reconcile(KEY)
    j = await get(env)
    assert j.status.failed == 0 and condition(j, "Failed") is None  # ignored, replaced now
    (pod,) = await running(env)
    await end(env, pod, "Failed", exit_code=42)
    await reconciler.reconcile(KEY)
    j = await get(env)
    assert condition(j, "Failed") == ("True", "PodFailurePolicy")


async def test_suspend_and_resume(env: Environment) -> None:
    await env.client.create(job(parallelism=2, completions=4))
    reconciler = JobReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    assert len(await running(env)) == 2
    await env.client.patch(Job, "work", {"spec": {"suspend": True}}, namespace="default")
    await reconciler.reconcile(KEY)
    assert await running(env) == []
    j = await get(env)
    assert condition(j, "Suspended") == ("True", "JobSuspended")
    await env.advance(50)
    await env.client.patch(Job, "work", {"spec": {"suspend": False}}, namespace="default")
    await reconciler.reconcile(KEY)
    j = await get(env)
    assert condition(j, "Suspended") == ("False", "JobResumed")
    assert j.status.start_time == now(env)
    assert len(await running(env)) == 2
    assert j.status.failed == 0


async def test_work_queue_job_completes_on_first_success(env: Environment) -> None:
    await env.client.create(job(parallelism=3, completions=None))
    reconciler = JobReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    pods = await running(env)
    assert len(pods) == 3
    for pod in pods:
        await end(env, pod, "Succeeded")
    await reconciler.reconcile(KEY)
    assert condition(await get(env), "Complete") == ("True", "CompletionsReached")


async def test_finished_pod_deleted_by_someone_is_still_counted(env: Environment) -> None:
    await env.client.create(job(completions=2, parallelism=2))
    reconciler = JobReconciler(env.client, clock=env.clock)
    await reconciler.reconcile(KEY)
    first, _second = await running(env)
    await end(env, first, "Succeeded")
    await env.client.delete(Pod, first.metadata.name, namespace="default")  # held by finalizer
    await reconciler.reconcile(KEY)
    assert (await get(env)).status.succeeded == 1
    assert datetime
