"""core/v1 ConfigMap, Secret, ServiceAccount, Event, ResourceQuota, LimitRange, RC.

Modelling rules are those of :mod:`korch.api._meta`. Secret ``data`` and ConfigMap
``binary_data`` are :class:`bytes` here and base64 on the wire (Go ``[]byte``);
``Secret.string_data`` is the write-only plain-text convenience field.
"""

from __future__ import annotations

import datetime

import attrs

from korch.api._core_pod import PodTemplateSpec
from korch.api._core_volume import LocalObjectReference, ObjectReference
from korch.api._meta import ALWAYS, MICRO, Model, ObjectMeta, field_info

__all__ = (
    "ConfigMap",
    "Event",
    "EventSeries",
    "EventSource",
    "LimitRange",
    "LimitRangeItem",
    "LimitRangeSpec",
    "ReplicationController",
    "ReplicationControllerCondition",
    "ReplicationControllerSpec",
    "ReplicationControllerStatus",
    "ResourceQuota",
    "ResourceQuotaSpec",
    "ResourceQuotaStatus",
    "ScopeSelector",
    "ScopedResourceSelectorRequirement",
    "Secret",
    "ServiceAccount",
)

_REQ = field_info(always=True, required=True)


# -- configuration ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ConfigMap(Model):
    """core/v1 ConfigMap: configuration as UTF-8 ``data`` and binary ``binary_data``."""

    api_version: str = "v1"
    kind: str = "ConfigMap"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    immutable: bool | None = None
    data: dict[str, str] = attrs.Factory(dict)
    binary_data: dict[str, bytes] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class Secret(Model):
    """core/v1 Secret: ``data`` values are bytes (base64 on the wire)."""

    api_version: str = "v1"
    kind: str = "Secret"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    immutable: bool | None = None
    data: dict[str, bytes] = attrs.Factory(dict)
    string_data: dict[str, str] = attrs.Factory(dict)
    type: str = ""


@attrs.frozen(kw_only=True)
class ServiceAccount(Model):
    """core/v1 ServiceAccount: an identity for processes in pods."""

    api_version: str = "v1"
    kind: str = "ServiceAccount"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    secrets: list[ObjectReference] = attrs.Factory(list)
    image_pull_secrets: list[LocalObjectReference] = attrs.Factory(list)
    automount_service_account_token: bool | None = None


# -- events ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EventSource(Model):
    """The component (and host) that reported an event."""

    component: str = ""
    host: str = ""


@attrs.frozen(kw_only=True)
class EventSeries(Model):
    """A series of repeated events."""

    count: int = 0
    last_observed_time: datetime.datetime | None = attrs.field(default=None, metadata=MICRO)


@attrs.frozen(kw_only=True)
class Event(Model):
    """core/v1 Event: something that happened to ``involved_object``."""

    api_version: str = "v1"
    kind: str = "Event"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    involved_object: ObjectReference = attrs.field(
        factory=ObjectReference, metadata=field_info(required=True)
    )
    reason: str = ""
    message: str = ""
    source: EventSource = attrs.Factory(EventSource)
    first_timestamp: datetime.datetime | None = None
    last_timestamp: datetime.datetime | None = None
    count: int = 0
    type: str = ""
    event_time: datetime.datetime | None = attrs.field(default=None, metadata=MICRO)
    series: EventSeries | None = None
    action: str = ""
    related: ObjectReference | None = None
    reporting_component: str = attrs.field(default="", metadata=ALWAYS)
    reporting_instance: str = attrs.field(default="", metadata=ALWAYS)


# -- quotas and limits -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ScopedResourceSelectorRequirement(Model):
    """A quota scope requirement (``PriorityClass In (high)``…)."""

    scope_name: str = attrs.field(default="", metadata=_REQ)
    operator: str = attrs.field(default="", metadata=_REQ)
    values: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class ScopeSelector(Model):
    """Scope requirements ANDed together."""

    match_expressions: list[ScopedResourceSelectorRequirement] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class ResourceQuotaSpec(Model):
    """Hard limits per resource name, optionally restricted to scopes."""

    hard: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    scopes: list[str] = attrs.Factory(list)
    scope_selector: ScopeSelector | None = None


@attrs.frozen(kw_only=True)
class ResourceQuotaStatus(Model):
    """Enforced hard limits and current usage."""

    hard: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    used: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))


@attrs.frozen(kw_only=True)
class ResourceQuota(Model):
    """core/v1 ResourceQuota: aggregate limits for a namespace."""

    api_version: str = "v1"
    kind: str = "ResourceQuota"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: ResourceQuotaSpec = attrs.Factory(ResourceQuotaSpec)
    status: ResourceQuotaStatus = attrs.Factory(ResourceQuotaStatus)


@attrs.frozen(kw_only=True)
class LimitRangeItem(Model):
    """Min/max/defaults for one type of object (Container, Pod, PersistentVolumeClaim)."""

    type: str = attrs.field(default="", metadata=_REQ)
    max: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    min: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    default: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    default_request: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    max_limit_request_ratio: dict[str, str] = attrs.field(
        factory=dict, metadata=field_info(quantity=True)
    )


@attrs.frozen(kw_only=True)
class LimitRangeSpec(Model):
    """The limit items."""

    limits: list[LimitRangeItem] = attrs.field(factory=list, metadata=field_info(required=True))


@attrs.frozen(kw_only=True)
class LimitRange(Model):
    """core/v1 LimitRange: per-object resource constraints and defaults in a namespace."""

    api_version: str = "v1"
    kind: str = "LimitRange"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: LimitRangeSpec = attrs.Factory(LimitRangeSpec)


# -- replication controller ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReplicationControllerSpec(Model):
    """Replicas of the template selected by an equality-based selector."""

    replicas: int | None = None
    min_ready_seconds: int = 0
    selector: dict[str, str] = attrs.Factory(dict)
    template: PodTemplateSpec | None = None


@attrs.frozen(kw_only=True)
class ReplicationControllerCondition(Model):
    """A condition of a replication controller (ReplicaFailure)."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class ReplicationControllerStatus(Model):
    """Observed replica counts."""

    replicas: int = attrs.field(default=0, metadata=ALWAYS)
    fully_labeled_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    observed_generation: int = 0
    conditions: list[ReplicationControllerCondition] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class ReplicationController(Model):
    """core/v1 ReplicationController: the ReplicaSet's predecessor."""

    api_version: str = "v1"
    kind: str = "ReplicationController"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: ReplicationControllerSpec = attrs.Factory(ReplicationControllerSpec)
    status: ReplicationControllerStatus = attrs.Factory(ReplicationControllerStatus)
