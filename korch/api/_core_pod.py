"""core/v1 Pod: PodSpec (scheduling constraints, security, DNS…), PodStatus, templates.

Modelling rules are those of :mod:`korch.api._meta`. Binding (the ``pods/binding``
subresource the scheduler posts) lives here too.
"""

from __future__ import annotations

import datetime
from typing import Any

import attrs

from korch.api._core_container import (
    AppArmorProfile,
    Container,
    ContainerStatus,
    EphemeralContainer,
    ResourceRequirements,
    SeccompProfile,
    SELinuxOptions,
    WindowsSecurityContextOptions,
)
from korch.api._core_volume import (
    LocalObjectReference,
    NodeSelector,
    NodeSelectorTerm,
    ObjectReference,
    Volume,
)
from korch.api._meta import LabelSelector, Model, ObjectMeta, field_info

__all__ = (
    "Affinity",
    "Binding",
    "HostAlias",
    "HostIP",
    "NodeAffinity",
    "Pod",
    "PodAffinity",
    "PodAffinityTerm",
    "PodAntiAffinity",
    "PodCondition",
    "PodDNSConfig",
    "PodDNSConfigOption",
    "PodIP",
    "PodOS",
    "PodReadinessGate",
    "PodResourceClaim",
    "PodSchedulingGate",
    "PodSecurityContext",
    "PodSpec",
    "PodStatus",
    "PodTemplate",
    "PodTemplateSpec",
    "PreferredSchedulingTerm",
    "Sysctl",
    "Toleration",
    "TopologySpreadConstraint",
    "WeightedPodAffinityTerm",
)

_REQ = field_info(always=True, required=True)


# -- affinity, tolerations, spreading --------------------------------------------------


@attrs.frozen(kw_only=True)
class PreferredSchedulingTerm(Model):
    """A node selector term with a weight (1-100) added to matching nodes' scores."""

    weight: int = attrs.field(default=0, metadata=_REQ)
    preference: NodeSelectorTerm = attrs.field(
        factory=NodeSelectorTerm, metadata=field_info(required=True)
    )


@attrs.frozen(kw_only=True)
class NodeAffinity(Model):
    """Node affinity: hard requirements and weighted preferences."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = (
        attrs.Factory(list)
    )


@attrs.frozen(kw_only=True)
class PodAffinityTerm(Model):
    """Pods matching ``label_selector`` in ``namespaces``, co-located per ``topology_key``."""

    label_selector: LabelSelector | None = None
    namespaces: list[str] = attrs.Factory(list)
    topology_key: str = attrs.field(default="", metadata=_REQ)
    namespace_selector: LabelSelector | None = None
    match_label_keys: list[str] = attrs.Factory(list)
    mismatch_label_keys: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class WeightedPodAffinityTerm(Model):
    """A pod affinity term with a weight (1-100)."""

    weight: int = attrs.field(default=0, metadata=_REQ)
    pod_affinity_term: PodAffinityTerm = attrs.field(
        factory=PodAffinityTerm, metadata=field_info(required=True)
    )


@attrs.frozen(kw_only=True)
class PodAffinity(Model):
    """Schedule near pods matching the terms."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = attrs.Factory(list)
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = (
        attrs.Factory(list)
    )


@attrs.frozen(kw_only=True)
class PodAntiAffinity(Model):
    """Schedule away from pods matching the terms."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = attrs.Factory(list)
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = (
        attrs.Factory(list)
    )


@attrs.frozen(kw_only=True)
class Affinity(Model):
    """Node affinity, pod affinity and pod anti-affinity."""

    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAntiAffinity | None = None


@attrs.frozen(kw_only=True)
class Toleration(Model):
    """Tolerates taints matching key/value/effect (operator Equal or Exists)."""

    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


@attrs.frozen(kw_only=True)
class TopologySpreadConstraint(Model):
    """Spread matching pods across topology domains with at most ``max_skew`` imbalance."""

    max_skew: int = attrs.field(default=0, metadata=_REQ)
    topology_key: str = attrs.field(default="", metadata=_REQ)
    when_unsatisfiable: str = attrs.field(default="", metadata=_REQ)
    label_selector: LabelSelector | None = None
    min_domains: int | None = None
    node_affinity_policy: str | None = None
    node_taints_policy: str | None = None
    match_label_keys: list[str] = attrs.Factory(list)


# -- other pod spec parts --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PodSchedulingGate(Model):
    """While any gate remains, the scheduler leaves the pod alone."""

    name: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class PodReadinessGate(Model):
    """An extra condition type that must be True for the pod to be Ready."""

    condition_type: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class HostAlias(Model):
    """An /etc/hosts entry."""

    ip: str = attrs.field(default="", metadata=_REQ)
    hostnames: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class PodDNSConfigOption(Model):
    """A resolver option."""

    name: str = ""
    value: str | None = None


@attrs.frozen(kw_only=True)
class PodDNSConfig(Model):
    """Extra DNS settings merged into the generated resolv.conf."""

    nameservers: list[str] = attrs.Factory(list)
    searches: list[str] = attrs.Factory(list)
    options: list[PodDNSConfigOption] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class Sysctl(Model):
    """A namespaced kernel parameter."""

    name: str = attrs.field(default="", metadata=_REQ)
    value: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class PodSecurityContext(Model):
    """Pod-level security settings (defaults for every container)."""

    se_linux_options: SELinuxOptions | None = None
    windows_options: WindowsSecurityContextOptions | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: list[int] = attrs.Factory(list)
    supplemental_groups_policy: str | None = None
    fs_group: int | None = None
    sysctls: list[Sysctl] = attrs.Factory(list)
    fs_group_change_policy: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None
    se_linux_change_policy: str | None = None


@attrs.frozen(kw_only=True)
class PodOS(Model):
    """The operating system the pod needs (linux, windows)."""

    name: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class PodResourceClaim(Model):
    """A dynamic resource claim of the pod."""

    name: str = attrs.field(default="", metadata=_REQ)
    resource_claim_name: str | None = None
    resource_claim_template_name: str | None = None


@attrs.frozen(kw_only=True)
class PodSpec(Model):
    """What a pod runs and where it may run."""

    volumes: list[Volume] = attrs.Factory(list)
    init_containers: list[Container] = attrs.Factory(list)
    containers: list[Container] = attrs.field(factory=list, metadata=field_info(required=True))
    ephemeral_containers: list[EphemeralContainer] = attrs.Factory(list)
    restart_policy: str = ""
    termination_grace_period_seconds: int | None = None
    active_deadline_seconds: int | None = None
    dns_policy: str = ""
    node_selector: dict[str, str] = attrs.Factory(dict)
    service_account_name: str = ""
    service_account: str = ""
    automount_service_account_token: bool | None = None
    node_name: str = ""
    host_network: bool = False
    host_pid: bool = False
    host_ipc: bool = False
    share_process_namespace: bool | None = None
    security_context: PodSecurityContext | None = None
    image_pull_secrets: list[LocalObjectReference] = attrs.Factory(list)
    hostname: str = ""
    subdomain: str = ""
    affinity: Affinity | None = None
    scheduler_name: str = ""
    tolerations: list[Toleration] = attrs.Factory(list)
    host_aliases: list[HostAlias] = attrs.Factory(list)
    priority_class_name: str = ""
    priority: int | None = None
    dns_config: PodDNSConfig | None = None
    readiness_gates: list[PodReadinessGate] = attrs.Factory(list)
    runtime_class_name: str | None = None
    enable_service_links: bool | None = None
    preemption_policy: str | None = None
    overhead: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    topology_spread_constraints: list[TopologySpreadConstraint] = attrs.Factory(list)
    set_hostname_as_fqdn: bool | None = None
    os: PodOS | None = None
    host_users: bool | None = None
    scheduling_gates: list[PodSchedulingGate] = attrs.Factory(list)
    resource_claims: list[PodResourceClaim] = attrs.Factory(list)
    resources: ResourceRequirements | None = None
    hostname_override: str | None = None


# -- status ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PodCondition(Model):
    """PodScheduled, Initialized, ContainersReady, Ready, DisruptionTarget…"""

    type: str = attrs.field(default="", metadata=_REQ)
    observed_generation: int = 0
    status: str = attrs.field(default="", metadata=_REQ)
    last_probe_time: datetime.datetime | None = None
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class PodIP(Model):
    """One IP address of the pod."""

    ip: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class HostIP(Model):
    """One IP address of the pod's node."""

    ip: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class PodStatus(Model):
    """The observed state of a pod, written by the scheduler and the node agent."""

    observed_generation: int = 0
    phase: str = ""
    conditions: list[PodCondition] = attrs.Factory(list)
    message: str = ""
    reason: str = ""
    nominated_node_name: str = ""
    host_ip: str = ""
    host_ips: list[HostIP] = attrs.Factory(list)
    pod_ip: str = ""
    pod_ips: list[PodIP] = attrs.Factory(list)
    start_time: datetime.datetime | None = None
    init_container_statuses: list[ContainerStatus] = attrs.Factory(list)
    container_statuses: list[ContainerStatus] = attrs.Factory(list)
    qos_class: str = ""
    ephemeral_container_statuses: list[ContainerStatus] = attrs.Factory(list)
    resize: str = ""
    resource_claim_statuses: list[dict[str, Any]] = attrs.Factory(list)


# -- kinds -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Pod(Model):
    """core/v1 Pod: one or more containers scheduled together onto a node."""

    api_version: str = "v1"
    kind: str = "Pod"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: PodSpec = attrs.Factory(PodSpec)
    status: PodStatus = attrs.Factory(PodStatus)


@attrs.frozen(kw_only=True)
class PodTemplateSpec(Model):
    """The pod a workload controller stamps out (metadata + spec)."""

    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: PodSpec = attrs.Factory(PodSpec)


@attrs.frozen(kw_only=True)
class PodTemplate(Model):
    """core/v1 PodTemplate: a stored pod template."""

    api_version: str = "v1"
    kind: str = "PodTemplate"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    template: PodTemplateSpec = attrs.Factory(PodTemplateSpec)


@attrs.frozen(kw_only=True)
class Binding(Model):
    """core/v1 Binding: binds a pod to a node (``POST pods/<name>/binding``)."""

    api_version: str = "v1"
    kind: str = "Binding"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    target: ObjectReference = attrs.field(
        factory=ObjectReference, metadata=field_info(required=True)
    )
