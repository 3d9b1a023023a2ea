"""apps/v1: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision.

Modelling rules are those of :mod:`korch.api._meta`; ``max_surge`` / ``max_unavailable``
are intOrString (``int | str``: ``1`` or ``"25%"``).
"""

from __future__ import annotations

import datetime
from typing import Any

import attrs

from korch.api._core_pod import PodTemplateSpec
from korch.api._core_volume import PersistentVolumeClaim
from korch.api._meta import ALWAYS, LabelSelector, Model, ObjectMeta, field_info

__all__ = (
    "ControllerRevision",
    "DaemonSet",
    "DaemonSetCondition",
    "DaemonSetSpec",
    "DaemonSetStatus",
    "DaemonSetUpdateStrategy",
    "Deployment",
    "DeploymentCondition",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "ReplicaSet",
    "ReplicaSetCondition",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "RollingUpdateDaemonSet",
    "RollingUpdateDeployment",
    "RollingUpdateStatefulSetStrategy",
    "StatefulSet",
    "StatefulSetCondition",
    "StatefulSetOrdinals",
    "StatefulSetPersistentVolumeClaimRetentionPolicy",
    "StatefulSetSpec",
    "StatefulSetStatus",
    "StatefulSetUpdateStrategy",
)

_REQ = field_info(always=True, required=True)


@attrs.frozen(kw_only=True)
class _WorkloadCondition(Model):
    """Fields shared by the workload condition types."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""


# -- deployment ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RollingUpdateDeployment(Model):
    """How many pods may be unavailable / surge during a rolling update."""

    max_unavailable: int | str | None = None
    max_surge: int | str | None = None


@attrs.frozen(kw_only=True)
class DeploymentStrategy(Model):
    """RollingUpdate (default) or Recreate."""

    type: str = ""
    rolling_update: RollingUpdateDeployment | None = None


@attrs.frozen(kw_only=True)
class DeploymentSpec(Model):
    """Desired replicas of a pod template, rolled out by ``strategy``."""

    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = attrs.Factory(PodTemplateSpec)
    strategy: DeploymentStrategy = attrs.Factory(DeploymentStrategy)
    min_ready_seconds: int = 0
    revision_history_limit: int | None = None
    paused: bool = False
    progress_deadline_seconds: int | None = None


@attrs.frozen(kw_only=True)
class DeploymentCondition(Model):
    """Available, Progressing, ReplicaFailure."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    last_update_time: datetime.datetime | None = None
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class DeploymentStatus(Model):
    """Observed rollout state."""

    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    terminating_replicas: int | None = None
    conditions: list[DeploymentCondition] = attrs.Factory(list)
    collision_count: int | None = None


@attrs.frozen(kw_only=True)
class Deployment(Model):
    """apps/v1 Deployment: declarative updates of ReplicaSets."""

    api_version: str = "apps/v1"
    kind: str = "Deployment"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: DeploymentSpec = attrs.Factory(DeploymentSpec)
    status: DeploymentStatus = attrs.Factory(DeploymentStatus)


# -- replica set -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReplicaSetSpec(Model):
    """Keep ``replicas`` pods matching ``selector`` running from ``template``."""

    replicas: int | None = None
    min_ready_seconds: int = 0
    selector: LabelSelector | None = None
    template: PodTemplateSpec = attrs.Factory(PodTemplateSpec)


@attrs.frozen(kw_only=True)
class ReplicaSetCondition(_WorkloadCondition):
    """ReplicaFailure."""


@attrs.frozen(kw_only=True)
class ReplicaSetStatus(Model):
    """Observed replica counts."""

    replicas: int = attrs.field(default=0, metadata=ALWAYS)
    fully_labeled_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    terminating_replicas: int | None = None
    observed_generation: int = 0
    conditions: list[ReplicaSetCondition] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class ReplicaSet(Model):
    """apps/v1 ReplicaSet."""

    api_version: str = "apps/v1"
    kind: str = "ReplicaSet"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: ReplicaSetSpec = attrs.Factory(ReplicaSetSpec)
    status: ReplicaSetStatus = attrs.Factory(ReplicaSetStatus)


# -- stateful set ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RollingUpdateStatefulSetStrategy(Model):
    """Only ordinals >= ``partition`` are updated."""

    partition: int | None = None
    max_unavailable: int | str | None = None


@attrs.frozen(kw_only=True)
class StatefulSetUpdateStrategy(Model):
    """RollingUpdate (default) or OnDelete."""

    type: str = ""
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


@attrs.frozen(kw_only=True)
class StatefulSetPersistentVolumeClaimRetentionPolicy(Model):
    """Retain or Delete the claims when the set is deleted / scaled down."""

    when_deleted: str = ""
    when_scaled: str = ""


@attrs.frozen(kw_only=True)
class StatefulSetOrdinals(Model):
    """The first ordinal of the set's pods."""

    start: int = 0


@attrs.frozen(kw_only=True)
class StatefulSetSpec(Model):
    """Ordered, stably-named pods with per-pod volume claims."""

    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = attrs.Factory(PodTemplateSpec)
    volume_claim_templates: list[PersistentVolumeClaim] = attrs.Factory(list)
    service_name: str = ""
    pod_management_policy: str = ""
    update_strategy: StatefulSetUpdateStrategy = attrs.Factory(StatefulSetUpdateStrategy)
    revision_history_limit: int | None = None
    min_ready_seconds: int = 0
    persistent_volume_claim_retention_policy: (
        StatefulSetPersistentVolumeClaimRetentionPolicy | None
    ) = None
    ordinals: StatefulSetOrdinals | None = None


@attrs.frozen(kw_only=True)
class StatefulSetCondition(_WorkloadCondition):
    """A condition of a stateful set."""


@attrs.frozen(kw_only=True)
class StatefulSetStatus(Model):
    """Observed replica counts and revisions."""

    observed_generation: int = 0
    replicas: int = attrs.field(default=0, metadata=ALWAYS)
    ready_replicas: int = 0
    current_replicas: int = 0
    updated_replicas: int = 0
    current_revision: str = ""
    update_revision: str = ""
    collision_count: int | None = None
    conditions: list[StatefulSetCondition] = attrs.Factory(list)
    available_replicas: int = attrs.field(default=0, metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class StatefulSet(Model):
    """apps/v1 StatefulSet."""

    api_version: str = "apps/v1"
    kind: str = "StatefulSet"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: StatefulSetSpec = attrs.Factory(StatefulSetSpec)
    status: StatefulSetStatus = attrs.Factory(StatefulSetStatus)


# -- daemon set ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RollingUpdateDaemonSet(Model):
    """How many nodes may be without / with an extra daemon pod during an update."""

    max_unavailable: int | str | None = None
    max_surge: int | str | None = None


@attrs.frozen(kw_only=True)
class DaemonSetUpdateStrategy(Model):
    """RollingUpdate (default) or OnDelete."""

    type: str = ""
    rolling_update: RollingUpdateDaemonSet | None = None


@attrs.frozen(kw_only=True)
class DaemonSetSpec(Model):
    """One pod from ``template`` on every eligible node."""

    selector: LabelSelector | None = None
    template: PodTemplateSpec = attrs.Factory(PodTemplateSpec)
    update_strategy: DaemonSetUpdateStrategy = attrs.Factory(DaemonSetUpdateStrategy)
    min_ready_seconds: int = 0
    revision_history_limit: int | None = None


@attrs.frozen(kw_only=True)
class DaemonSetCondition(_WorkloadCondition):
    """A condition of a daemon set."""


@attrs.frozen(kw_only=True)
class DaemonSetStatus(Model):
    """Observed scheduling counts."""

    current_number_scheduled: int = attrs.field(default=0, metadata=ALWAYS)
    number_misscheduled: int = attrs.field(default=0, metadata=ALWAYS)
    desired_number_scheduled: int = attrs.field(default=0, metadata=ALWAYS)
    number_ready: int = attrs.field(default=0, metadata=ALWAYS)
    observed_generation: int = 0
    updated_number_scheduled: int = 0
    number_available: int = 0
    number_unavailable: int = 0
    collision_count: int | None = None
    conditions: list[DaemonSetCondition] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class DaemonSet(Model):
    """apps/v1 DaemonSet."""

    api_version: str = "apps/v1"
    kind: str = "DaemonSet"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: DaemonSetSpec = attrs.Factory(DaemonSetSpec)
    status: DaemonSetStatus = attrs.Factory(DaemonSetStatus)


# -- controller revision ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ControllerRevision(Model):
    """apps/v1 ControllerRevision: an immutable snapshot of a workload's template."""

    api_version: str = "apps/v1"
    kind: str = "ControllerRevision"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    data: Any = None
    revision: int = attrs.field(default=0, metadata=_REQ)
