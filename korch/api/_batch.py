"""batch/v1: Job and CronJob.

Modelling rules are those of :mod:`korch.api._meta`.
"""

from __future__ import annotations

import datetime

import attrs

from korch.api._core_pod import PodTemplateSpec
from korch.api._core_volume import ObjectReference
from korch.api._meta import LabelSelector, Model, ObjectMeta, field_info

__all__ = (
    "CronJob",
    "CronJobSpec",
    "CronJobStatus",
    "Job",
    "JobCondition",
    "JobSpec",
    "JobStatus",
    "JobTemplateSpec",
    "PodFailurePolicy",
    "PodFailurePolicyOnExitCodesRequirement",
    "PodFailurePolicyOnPodConditionsPattern",
    "PodFailurePolicyRule",
    "SuccessPolicy",
    "SuccessPolicyRule",
    "UncountedTerminatedPods",
)

_REQ = field_info(always=True, required=True)


# -- job -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PodFailurePolicyOnExitCodesRequirement(Model):
    """Matches containers exiting with codes In / NotIn ``values``."""

    container_name: str | None = None
    operator: str = attrs.field(default="", metadata=_REQ)
    values: list[int] = attrs.field(factory=list, metadata=field_info(required=True))


@attrs.frozen(kw_only=True)
class PodFailurePolicyOnPodConditionsPattern(Model):
    """Matches a pod condition (``DisruptionTarget`` True…)."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = ""


@attrs.frozen(kw_only=True)
class PodFailurePolicyRule(Model):
    """FailJob, FailIndex, Ignore or Count when a failed pod matches."""

    action: str = attrs.field(default="", metadata=_REQ)
    on_exit_codes: PodFailurePolicyOnExitCodesRequirement | None = None
    on_pod_conditions: list[PodFailurePolicyOnPodConditionsPattern] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class PodFailurePolicy(Model):
    """How failed pods count against the backoff limit."""

    rules: list[PodFailurePolicyRule] = attrs.field(
        factory=list, metadata=field_info(required=True)
    )


@attrs.frozen(kw_only=True)
class SuccessPolicyRule(Model):
    """The job succeeds once these indexes / this many indexes succeeded."""

    succeeded_indexes: str | None = None
    succeeded_count: int | None = None


@attrs.frozen(kw_only=True)
class SuccessPolicy(Model):
    """Early success criteria of an Indexed job."""

    rules: list[SuccessPolicyRule] = attrs.field(factory=list, metadata=field_info(required=True))


@attrs.frozen(kw_only=True)
class JobSpec(Model):
    """Run pods from ``template`` until ``completions`` succeed."""

    parallelism: int | None = None
    completions: int | None = None
    active_deadline_seconds: int | None = None
    pod_failure_policy: PodFailurePolicy | None = None
    success_policy: SuccessPolicy | None = None
    backoff_limit: int | None = None
    backoff_limit_per_index: int | None = None
    max_failed_indexes: int | None = None
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    template: PodTemplateSpec = attrs.Factory(PodTemplateSpec)
    ttl_seconds_after_finished: int | None = None
    completion_mode: str | None = None
    suspend: bool | None = None
    pod_replacement_policy: str | None = None
    managed_by: str | None = None


@attrs.frozen(kw_only=True)
class JobCondition(Model):
    """Complete, Failed, Suspended, FailureTarget, SuccessCriteriaMet."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    last_probe_time: datetime.datetime | None = None
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class UncountedTerminatedPods(Model):
    """UIDs of finished pods not yet counted in the status."""

    succeeded: list[str] = attrs.Factory(list)
    failed: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class JobStatus(Model):
    """Observed job progress."""

    conditions: list[JobCondition] = attrs.Factory(list)
    start_time: datetime.datetime | None = None
    completion_time: datetime.datetime | None = None
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    terminating: int | None = None
    completed_indexes: str = ""
    failed_indexes: str | None = None
    uncounted_terminated_pods: UncountedTerminatedPods | None = None
    ready: int | None = None


@attrs.frozen(kw_only=True)
class Job(Model):
    """batch/v1 Job: run pods to completion."""

    api_version: str = "batch/v1"
    kind: str = "Job"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: JobSpec = attrs.Factory(JobSpec)
    status: JobStatus = attrs.Factory(JobStatus)


# -- cron job --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class JobTemplateSpec(Model):
    """The job a cron job creates."""

    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: JobSpec = attrs.Factory(JobSpec)


@attrs.frozen(kw_only=True)
class CronJobSpec(Model):
    """Create a job from ``job_template`` on a cron ``schedule``."""

    schedule: str = attrs.field(default="", metadata=_REQ)
    time_zone: str | None = None
    starting_deadline_seconds: int | None = None
    concurrency_policy: str = ""
    suspend: bool | None = None
    job_template: JobTemplateSpec = attrs.field(
        factory=JobTemplateSpec, metadata=field_info(required=True)
    )
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None


@attrs.frozen(kw_only=True)
class CronJobStatus(Model):
    """Active jobs and last schedule times."""

    active: list[ObjectReference] = attrs.Factory(list)
    last_schedule_time: datetime.datetime | None = None
    last_successful_time: datetime.datetime | None = None


@attrs.frozen(kw_only=True)
class CronJob(Model):
    """batch/v1 CronJob."""

    api_version: str = "batch/v1"
    kind: str = "CronJob"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: CronJobSpec = attrs.Factory(CronJobSpec)
    status: CronJobStatus = attrs.Factory(CronJobStatus)
