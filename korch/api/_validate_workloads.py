"""Validation of workloads: Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, RC.

kube-apiserver's ``pkg/apis/apps/validation`` and ``pkg/apis/batch/validation`` rules with
their messages: non-negative counts, a required non-empty selector that matches the template
(``spec.template.metadata.labels: Invalid value: …: `selector` does not match template
`labels```), ``restartPolicy: Always`` for long-running workloads and ``OnFailure``/``Never``
for Jobs, rollout strategies (``maxSurge``/``maxUnavailable`` non-negative ints or
percentages, not both zero), Job completion modes and failure policies, CronJob schedules
(five cron fields or ``@yearly``/``@annually``/``@monthly``/``@weekly``/``@daily``/
``@midnight``/``@hourly``; not ``@every``) and IANA time zones.

Pod templates are validated by :func:`korch.api._validate_pod.pod_spec` under
``spec.template.spec``. A Job without a selector is accepted unless ``manualSelector`` is
true: the API server generates it at create time (``_defaults.job_selector_defaults``).
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any, Final

from korch.api import _apps, _batch, _meta
from korch.api import _core_other as co
from korch.api import _core_pod as cp
from korch.api import _core_volume as cv
from korch.api import _validate_common as vc
from korch.api import _validate_cron as cron
from korch.api import _validate_pod as vp
from korch.api import _validate_volumes as vv
from korch.api import _validation as fv

__all__ = (
    "claim_spec",
    "cron_job",
    "daemon_set",
    "deployment",
    "job",
    "pod_template",
    "replica_set",
    "replication_controller",
    "stateful_set",
)

Causes = vc.Causes

JOB_UID_LABEL: Final = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL: Final = "batch.kubernetes.io/job-name"
ACCESS_MODES: Final = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
VOLUME_MODES: Final = ("Block", "Filesystem")


def pod_template(
    template: cp.PodTemplateSpec,
    path: str,
    causes: Causes,
    extra_volumes: dict[str, cv.Volume] | None = None,
) -> None:
    """``ValidatePodTemplateSpec``: template labels/annotations and the pod spec."""
    meta = template.metadata
    if meta.labels:
        vc.labels(meta.labels, f"{path}.metadata.labels", causes)
    if meta.annotations:
        vc.annotation_map(meta.annotations, f"{path}.metadata.annotations", causes)
    vp.pod_spec(template.spec, f"{path}.spec", causes, template=True, extra_volumes=extra_volumes)


def _selector(
    selector: _meta.LabelSelector | None,
    template: cp.PodTemplateSpec,
    path: str,
    causes: Causes,
    *,
    required: bool = True,
) -> None:
    if selector is None:
        if required:
            causes.append(fv.required(f"{path}.selector"))
        return
    vc.label_selector(selector, f"{path}.selector", causes)
    if not selector.match_labels and not selector.match_expressions:
        if required:
            detail = "empty selector is invalid for deployment"
            causes.append(fv.invalid(f"{path}.selector", vc.wire(selector), detail))
        return
    if vc.selector_matches(selector, template.metadata.labels) is False:
        detail = "`selector` does not match template `labels`"
        labels = template.metadata.labels
        causes.append(fv.invalid(f"{path}.template.metadata.labels", labels, detail))


def _replica_template(
    template: cp.PodTemplateSpec,
    path: str,
    causes: Causes,
    kind: str,
    extra_volumes: dict[str, cv.Volume] | None = None,
) -> None:
    pod_template(template, path, causes, extra_volumes)
    spec = template.spec
    if spec.restart_policy not in ("Always", ""):
        causes.append(
            fv.not_supported(f"{path}.spec.restartPolicy", spec.restart_policy, ("Always",))
        )
    if spec.active_deadline_seconds is not None:
        detail = f"activeDeadlineSeconds in {kind} is not Supported"
        at = f"{path}.spec.activeDeadlineSeconds"
        causes.append(fv.invalid(at, spec.active_deadline_seconds, detail))


def _int_or_percent(value: int | str | None, path: str, causes: Causes) -> int | None:
    """A non-negative int or ``"<n>%"``; returns the number (percent or int) or None."""
    if value is None:
        return None
    found = fv.validate_int_or_percent(value, path)
    causes.extend(found)
    if found:
        return None
    return value if isinstance(value, int) else int(value[:-1])


def _rolling(rolling: Any, path: str, causes: Causes, *, defaults: tuple[Any, Any]) -> None:
    unavailable = rolling.max_unavailable if rolling is not None else None
    surge = rolling.max_surge if rolling is not None else None
    unavailable = defaults[0] if unavailable is None else unavailable
    surge = defaults[1] if surge is None else surge
    at_unavailable, at_surge = f"{path}.maxUnavailable", f"{path}.maxSurge"
    number_unavailable = _int_or_percent(unavailable, at_unavailable, causes)
    number_surge = _int_or_percent(surge, at_surge, causes)
    if number_unavailable == 0 and number_surge == 0:
        causes.append(fv.invalid(at_unavailable, unavailable, "may not be 0 when `maxSurge` is 0"))
    if isinstance(unavailable, str) and number_unavailable is not None and number_unavailable > 100:
        causes.append(fv.invalid(at_unavailable, unavailable, "must not be greater than 100%"))


# -- apps ----------------------------------------------------------------------------------


def deployment(obj: _apps.Deployment, causes: Causes) -> None:
    """``ValidateDeploymentSpec``."""
    spec = obj.spec
    vc.nonnegative(spec.replicas, "spec.replicas", causes)
    _selector(spec.selector, spec.template, "spec", causes)
    _replica_template(spec.template, "spec.template", causes, "ReplicaSet")
    strategy = spec.strategy
    if strategy.type == "Recreate":
        if strategy.rolling_update is not None:
            detail = "may not be specified when strategy `type` is 'Recreate'"
            causes.append(fv.forbidden("spec.strategy.rollingUpdate", detail))
    elif strategy.type in ("RollingUpdate", ""):
        _rolling(
            strategy.rolling_update, "spec.strategy.rollingUpdate", causes, defaults=("25%", "25%")
        )
    else:
        supported = ("Recreate", "RollingUpdate")
        causes.append(fv.not_supported("spec.strategy", vc.wire(strategy), supported))
    vc.nonnegative(spec.min_ready_seconds, "spec.minReadySeconds", causes)
    vc.nonnegative(spec.revision_history_limit, "spec.revisionHistoryLimit", causes)
    deadline = spec.progress_deadline_seconds
    if deadline is not None:
        vc.nonnegative(deadline, "spec.progressDeadlineSeconds", causes)
        if deadline <= spec.min_ready_seconds:
            at = "spec.progressDeadlineSeconds"
            causes.append(fv.invalid(at, deadline, "must be greater than minReadySeconds"))


def replica_set(obj: _apps.ReplicaSet, causes: Causes) -> None:
    """``ValidateReplicaSetSpec``."""
    spec = obj.spec
    vc.nonnegative(spec.replicas, "spec.replicas", causes)
    vc.nonnegative(spec.min_ready_seconds, "spec.minReadySeconds", causes)
    _selector(spec.selector, spec.template, "spec", causes)
    _replica_template(spec.template, "spec.template", causes, "ReplicaSet")


def claim_spec(spec: cv.PersistentVolumeClaimSpec, path: str, causes: Causes) -> None:
    """``ValidatePersistentVolumeClaimSpec`` (the common parts)."""
    if not spec.access_modes:
        causes.append(fv.required(f"{path}.accessModes", "at least 1 access mode is required"))
    for mode in spec.access_modes:
        if mode not in ACCESS_MODES:
            causes.append(fv.not_supported(f"{path}.accessModes", mode, ACCESS_MODES))
    vc.label_selector(spec.selector, f"{path}.selector", causes)
    requests = spec.resources.requests
    if "storage" not in requests and spec.data_source is None and spec.data_source_ref is None:
        causes.append(fv.required(f"{path}.resources[storage]"))
    for name, value in requests.items():
        at = f"{path}.resources.requests[{name}]"
        causes.extend(fv.validate_resource_name(name, at))
        parsed = vc.nonnegative_quantity(value, at, causes)
        if name == "storage" and parsed is not None and parsed.is_zero():
            causes.append(fv.invalid(at, value, "must be greater than zero"))
    for name, value in spec.resources.limits.items():
        at = f"{path}.resources.limits[{name}]"
        causes.extend(fv.validate_resource_name(name, at))
        vc.nonnegative_quantity(value, at, causes)
    if spec.volume_mode is not None and spec.volume_mode not in VOLUME_MODES:
        causes.append(fv.not_supported(f"{path}.volumeMode", spec.volume_mode, VOLUME_MODES))
    if spec.storage_class_name:
        causes.extend(
            fv.validate_dns1123_subdomain(spec.storage_class_name, f"{path}.storageClassName")
        )


def stateful_set(obj: _apps.StatefulSet, causes: Causes) -> None:
    """``ValidateStatefulSetSpec``."""
    spec = obj.spec
    vc.enum(
        spec.pod_management_policy,
        "spec.podManagementPolicy",
        ("OrderedReady", "Parallel"),
        causes,
        required=False,
    )
    strategy = spec.update_strategy
    if strategy.type == "OnDelete":
        if strategy.rolling_update is not None:
            detail = "only allowed for updateStrategy 'RollingUpdate'"
            causes.append(
                fv.invalid(
                    "spec.updateStrategy.rollingUpdate", vc.wire(strategy.rolling_update), detail
                )
            )
    elif strategy.type in ("RollingUpdate", ""):
        rolling = strategy.rolling_update
        if rolling is not None:
            vc.nonnegative(rolling.partition, "spec.updateStrategy.rollingUpdate.partition", causes)
            if rolling.max_unavailable is not None:
                at = "spec.updateStrategy.rollingUpdate.maxUnavailable"
                number = _int_or_percent(rolling.max_unavailable, at, causes)
                if number == 0:
                    causes.append(fv.invalid(at, rolling.max_unavailable, "must be greater than 0"))
    else:
        supported = ("OnDelete", "RollingUpdate")
        causes.append(fv.not_supported("spec.updateStrategy", vc.wire(strategy), supported))
    policy = spec.persistent_volume_claim_retention_policy
    if policy is not None:
        for value, wire in (
            (policy.when_deleted, "whenDeleted"),
            (policy.when_scaled, "whenScaled"),
        ):
            at = f"spec.persistentVolumeClaimRetentionPolicy.{wire}"
            vc.enum(value, at, ("Retain", "Delete"), causes, required=False)
    vc.nonnegative(spec.replicas, "spec.replicas", causes)
    vc.nonnegative(spec.min_ready_seconds, "spec.minReadySeconds", causes)
    vc.nonnegative(spec.revision_history_limit, "spec.revisionHistoryLimit", causes)
    if spec.ordinals is not None:
        vc.nonnegative(spec.ordinals.start, "spec.ordinals.start", causes)
    if spec.service_name:
        vv.dns_label(spec.service_name, "spec.serviceName", causes)
    _selector(spec.selector, spec.template, "spec", causes)
    # Pods of a StatefulSet also get one volume per claim template, which mounts may use.
    claims = {
        claim.metadata.name: cv.Volume(
            name=claim.metadata.name,
            persistent_volume_claim=cv.PersistentVolumeClaimVolumeSource(
                claim_name=claim.metadata.name
            ),
        )
        for claim in spec.volume_claim_templates
    }
    _replica_template(spec.template, "spec.template", causes, "StatefulSet", claims)
    for i, claim in enumerate(spec.volume_claim_templates):
        at = f"spec.volumeClaimTemplates[{i}]"
        if not claim.metadata.name:
            causes.append(fv.required(f"{at}.metadata.name"))
        else:
            vv.dns_label(claim.metadata.name, f"{at}.metadata.name", causes)
        if claim.metadata.labels:
            vc.labels(claim.metadata.labels, f"{at}.metadata.labels", causes)
        claim_spec(claim.spec, f"{at}.spec", causes)


def daemon_set(obj: _apps.DaemonSet, causes: Causes) -> None:
    """``ValidateDaemonSetSpec``."""
    spec = obj.spec
    _selector(spec.selector, spec.template, "spec", causes)
    _replica_template(spec.template, "spec.template", causes, "DaemonSet")
    strategy = spec.update_strategy
    if strategy.type in ("RollingUpdate", ""):
        _rolling(
            strategy.rolling_update, "spec.updateStrategy.rollingUpdate", causes, defaults=(1, 0)
        )
    elif strategy.type != "OnDelete":
        supported = ("OnDelete", "RollingUpdate")
        causes.append(fv.not_supported("spec.updateStrategy.type", strategy.type, supported))
    vc.nonnegative(spec.min_ready_seconds, "spec.minReadySeconds", causes)
    vc.nonnegative(spec.revision_history_limit, "spec.revisionHistoryLimit", causes)


def replication_controller(obj: co.ReplicationController, causes: Causes) -> None:
    """``ValidateReplicationControllerSpec``: an equality selector matching the template."""
    spec = obj.spec
    vc.nonnegative(spec.replicas, "spec.replicas", causes)
    vc.nonnegative(spec.min_ready_seconds, "spec.minReadySeconds", causes)
    selector = spec.selector or (spec.template.metadata.labels if spec.template is not None else {})
    if not selector:
        causes.append(fv.required("spec.selector"))
    else:
        vc.labels(selector, "spec.selector", causes)
    if spec.template is None:
        causes.append(fv.required("spec.template"))
        return
    labels = spec.template.metadata.labels
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        detail = "`selector` does not match template `labels`"
        causes.append(fv.invalid("spec.template.metadata.labels", labels, detail))
    _replica_template(spec.template, "spec.template", causes, "ReplicationController")


# -- batch ---------------------------------------------------------------------------------


def _job_spec(spec: _batch.JobSpec, path: str, causes: Causes) -> None:
    vc.nonnegative(spec.parallelism, f"{path}.parallelism", causes)
    vc.nonnegative(spec.completions, f"{path}.completions", causes)
    vc.nonnegative(spec.active_deadline_seconds, f"{path}.activeDeadlineSeconds", causes)
    vc.nonnegative(spec.backoff_limit, f"{path}.backoffLimit", causes)
    vc.nonnegative(spec.ttl_seconds_after_finished, f"{path}.ttlSecondsAfterFinished", causes)
    mode = spec.completion_mode
    if mode is not None:
        vc.enum(mode, f"{path}.completionMode", ("NonIndexed", "Indexed"), causes)
    if mode == "Indexed" and spec.completions is None:
        detail = "when completion mode is Indexed"
        causes.append(fv.required(f"{path}.completions", detail))
    if spec.backoff_limit_per_index is not None:
        vc.nonnegative(spec.backoff_limit_per_index, f"{path}.backoffLimitPerIndex", causes)
        if mode != "Indexed":
            detail = "requires indexed completion mode"
            causes.append(fv.forbidden(f"{path}.backoffLimitPerIndex", detail))
    if spec.max_failed_indexes is not None:
        vc.nonnegative(spec.max_failed_indexes, f"{path}.maxFailedIndexes", causes)
        if spec.backoff_limit_per_index is None:
            detail = "when maxFailedIndexes is specified"
            causes.append(fv.required(f"{path}.backoffLimitPerIndex", detail))
    pod_template(spec.template, f"{path}.template", causes)
    restart = spec.template.spec.restart_policy
    if restart not in ("OnFailure", "Never"):
        at = f"{path}.template.spec.restartPolicy"
        causes.append(fv.not_supported(at, restart, ("OnFailure", "Never")))
    policy = spec.pod_failure_policy
    if policy is not None:
        _pod_failure_policy(policy, f"{path}.podFailurePolicy", causes)
        if restart != "Never":
            detail = 'only "Never" is supported when podFailurePolicy is specified'
            causes.append(fv.invalid(f"{path}.template.spec.restartPolicy", restart, detail))
    replacement = spec.pod_replacement_policy
    if replacement is not None:
        supported = ("TerminatingOrFailed", "Failed")
        vc.enum(replacement, f"{path}.podReplacementPolicy", supported, causes)
        if policy is not None and replacement != "Failed":
            causes.append(
                fv.not_supported(f"{path}.podReplacementPolicy", replacement, ("Failed",))
            )


def _pod_failure_policy(policy: _batch.PodFailurePolicy, path: str, causes: Causes) -> None:
    actions = ("Count", "FailIndex", "FailJob", "Ignore")
    for i, rule in enumerate(policy.rules):
        at = f"{path}.rules[{i}]"
        vc.enum(rule.action, f"{at}.action", actions, causes)
        exit_codes = rule.on_exit_codes
        if (exit_codes is None) == (not rule.on_pod_conditions):
            detail = "specifying one of OnExitCodes and OnPodConditions is required"
            causes.append(fv.invalid(at, vc.wire(rule), detail))
        if exit_codes is not None:
            codes = f"{at}.onExitCodes"
            vc.enum(exit_codes.operator, f"{codes}.operator", ("In", "NotIn"), causes)
            if not exit_codes.values:
                causes.append(fv.required(f"{codes}.values", "at least one value is required"))
            if exit_codes.operator == "In" and 0 in exit_codes.values:
                detail = "must not be 0 for the In operator"
                causes.append(
                    fv.invalid(f"{codes}.values[{exit_codes.values.index(0)}]", 0, detail)
                )
        for j, pattern in enumerate(rule.on_pod_conditions):
            cond = f"{at}.onPodConditions[{j}]"
            causes.extend(fv.validate_qualified_name(pattern.type, f"{cond}.type"))
            if pattern.status:
                vc.enum(pattern.status, f"{cond}.status", ("True", "False", "Unknown"), causes)


def job(obj: _batch.Job, causes: Causes) -> None:
    """``ValidateJob``: the spec, the selector (required when manual, else generated), and
    the generated labels once the server has assigned a uid."""
    spec = obj.spec
    manual = bool(spec.manual_selector)
    template = spec.template
    if spec.selector is not None or manual:
        _selector(spec.selector, template, "spec", causes)
    if spec.selector is not None and not manual and obj.metadata.uid:
        for key, expected in (
            (JOB_UID_LABEL, obj.metadata.uid),
            (JOB_NAME_LABEL, obj.metadata.name),
        ):
            actual = template.metadata.labels.get(key)
            at = f"spec.template.metadata.labels[{key}]"
            if actual is None:
                causes.append(fv.required(at, expected))
            elif actual != expected:
                causes.append(fv.invalid(at, template.metadata.labels, f"must be '{expected}'"))
    _job_spec(spec, "spec", causes)


def _time_zone(zone: str | None, path: str, causes: Causes) -> None:
    if zone is None:
        return
    message = _zone_error(zone)
    if message:
        causes.append(fv.invalid(path, zone, message))


@functools.lru_cache(maxsize=256)
def _zone_error(zone: str) -> str:
    if not zone:
        return "timeZone must be nil or non-empty string"
    for part in zone.split("/"):
        if (
            part in (".", "..")
            or part.startswith("-")
            or not part
            or not all(ch.isascii() and (ch.isalnum() or ch in "-_+") for ch in part)
        ):
            return f"unknown time zone {zone}"
    if zone.lower() == "local":
        return (
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
        )
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {zone}"
    return ""


def cron_job(obj: _batch.CronJob, causes: Causes) -> None:
    """``ValidateCronJob``: name length, schedule, time zone, policies, the job template."""
    if len(obj.metadata.name) > 52:
        causes.append(
            fv.invalid("metadata.name", obj.metadata.name, "must be no more than 52 characters")
        )
    spec = obj.spec
    if not spec.schedule:
        causes.append(fv.required("spec.schedule"))
    else:
        problem = cron.schedule_error(spec.schedule)
        if problem:
            causes.append(fv.invalid("spec.schedule", spec.schedule, problem))
        if "TZ" in spec.schedule:
            detail = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            causes.append(fv.invalid("spec.schedule", spec.schedule, detail))
    _time_zone(spec.time_zone, "spec.timeZone", causes)
    vc.nonnegative(spec.starting_deadline_seconds, "spec.startingDeadlineSeconds", causes)
    policies = ("Allow", "Forbid", "Replace")
    vc.enum(spec.concurrency_policy, "spec.concurrencyPolicy", policies, causes, required=False)
    vc.nonnegative(spec.successful_jobs_history_limit, "spec.successfulJobsHistoryLimit", causes)
    vc.nonnegative(spec.failed_jobs_history_limit, "spec.failedJobsHistoryLimit", causes)
    job_spec = spec.job_template.spec
    template_meta = spec.job_template.metadata
    if template_meta.labels:
        vc.labels(template_meta.labels, "spec.jobTemplate.metadata.labels", causes)
    if template_meta.annotations:
        vc.annotation_map(
            template_meta.annotations, "spec.jobTemplate.metadata.annotations", causes
        )
    _job_spec(job_spec, "spec.jobTemplate.spec", causes)
    if job_spec.selector is not None:
        detail = "`selector` will be auto-generated"
        causes.append(
            fv.invalid("spec.jobTemplate.spec.selector", vc.wire(job_spec.selector), detail)
        )
    if job_spec.manual_selector:
        at = "spec.jobTemplate.spec.manualSelector"
        causes.append(fv.not_supported(at, True, ("nil", "false")))
