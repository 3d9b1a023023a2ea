"""Smaller groups: coordination, scheduling, policy, networking, certificates, rbac, autoscaling.

Modelling rules are those of :mod:`korch.api._meta`. CustomResourceDefinition lives in
:mod:`korch.api._apiextensions`.
"""

from __future__ import annotations

import datetime

import attrs

from korch.api._core_node import LoadBalancerIngress
from korch.api._core_volume import TypedLocalObjectReference
from korch.api._meta import (
    ALWAYS,
    MICRO,
    Condition,
    DeleteOptions,
    LabelSelector,
    Model,
    ObjectMeta,
    field_info,
)

__all__ = (
    "AggregationRule",
    "CertificateSigningRequest",
    "CertificateSigningRequestCondition",
    "CertificateSigningRequestSpec",
    "CertificateSigningRequestStatus",
    "ClusterRole",
    "ClusterRoleBinding",
    "CrossVersionObjectReference",
    "Eviction",
    "HTTPIngressPath",
    "HTTPIngressRuleValue",
    "HorizontalPodAutoscaler",
    "HorizontalPodAutoscalerSpec",
    "HorizontalPodAutoscalerStatus",
    "Ingress",
    "IngressBackend",
    "IngressClass",
    "IngressClassParametersReference",
    "IngressClassSpec",
    "IngressLoadBalancerStatus",
    "IngressRule",
    "IngressServiceBackend",
    "IngressSpec",
    "IngressStatus",
    "IngressTLS",
    "Lease",
    "LeaseSpec",
    "PodDisruptionBudget",
    "PodDisruptionBudgetSpec",
    "PodDisruptionBudgetStatus",
    "PolicyRule",
    "PriorityClass",
    "Role",
    "RoleBinding",
    "RoleRef",
    "Scale",
    "ScaleSpec",
    "ScaleStatus",
    "ServiceBackendPort",
    "Subject",
)

_REQ = field_info(always=True, required=True)


# -- coordination.k8s.io/v1, scheduling.k8s.io/v1 --------------------------------------


@attrs.frozen(kw_only=True)
class LeaseSpec(Model):
    """Who holds the lease, for how long, and when it was last renewed."""

    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: datetime.datetime | None = attrs.field(default=None, metadata=MICRO)
    renew_time: datetime.datetime | None = attrs.field(default=None, metadata=MICRO)
    lease_transitions: int | None = None
    strategy: str | None = None
    preferred_holder: str | None = None


@attrs.frozen(kw_only=True)
class Lease(Model):
    """coordination.k8s.io/v1 Lease: leader election and node heartbeats."""

    api_version: str = "coordination.k8s.io/v1"
    kind: str = "Lease"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: LeaseSpec = attrs.Factory(LeaseSpec)


@attrs.frozen(kw_only=True)
class PriorityClass(Model):
    """scheduling.k8s.io/v1 PriorityClass (cluster-scoped): a name for a pod priority."""

    api_version: str = "scheduling.k8s.io/v1"
    kind: str = "PriorityClass"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    value: int = attrs.field(default=0, metadata=_REQ)
    global_default: bool = False
    description: str = ""
    preemption_policy: str | None = None


# -- policy/v1 -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PodDisruptionBudgetSpec(Model):
    """How many selected pods must stay available (or may be unavailable)."""

    min_available: int | str | None = None
    selector: LabelSelector | None = None
    max_unavailable: int | str | None = None
    unhealthy_pod_eviction_policy: str | None = None


@attrs.frozen(kw_only=True)
class PodDisruptionBudgetStatus(Model):
    """Observed health and how many disruptions are allowed now."""

    observed_generation: int = 0
    disrupted_pods: dict[str, datetime.datetime] = attrs.Factory(dict)
    disruptions_allowed: int = attrs.field(default=0, metadata=ALWAYS)
    current_healthy: int = attrs.field(default=0, metadata=ALWAYS)
    desired_healthy: int = attrs.field(default=0, metadata=ALWAYS)
    expected_pods: int = attrs.field(default=0, metadata=ALWAYS)
    conditions: list[Condition] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class PodDisruptionBudget(Model):
    """policy/v1 PodDisruptionBudget: limits voluntary disruptions (evictions)."""

    api_version: str = "policy/v1"
    kind: str = "PodDisruptionBudget"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: PodDisruptionBudgetSpec = attrs.Factory(PodDisruptionBudgetSpec)
    status: PodDisruptionBudgetStatus = attrs.Factory(PodDisruptionBudgetStatus)


@attrs.frozen(kw_only=True)
class Eviction(Model):
    """policy/v1 Eviction: a PDB-respecting delete (``POST pods/<name>/eviction``)."""

    api_version: str = "policy/v1"
    kind: str = "Eviction"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    delete_options: DeleteOptions | None = None


# -- networking.k8s.io/v1 --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ServiceBackendPort(Model):
    """A service port by name or number."""

    name: str = ""
    number: int = 0


@attrs.frozen(kw_only=True)
class IngressServiceBackend(Model):
    """A service and port traffic is sent to."""

    name: str = attrs.field(default="", metadata=_REQ)
    port: ServiceBackendPort = attrs.Factory(ServiceBackendPort)


@attrs.frozen(kw_only=True)
class IngressBackend(Model):
    """A service backend or a resource backend."""

    service: IngressServiceBackend | None = None
    resource: TypedLocalObjectReference | None = None


@attrs.frozen(kw_only=True)
class HTTPIngressPath(Model):
    """A path (Exact, Prefix or ImplementationSpecific) routed to a backend."""

    path: str = ""
    path_type: str | None = attrs.field(default=None, metadata=field_info(required=True))
    backend: IngressBackend = attrs.field(
        factory=IngressBackend, metadata=field_info(required=True)
    )


@attrs.frozen(kw_only=True)
class HTTPIngressRuleValue(Model):
    """The HTTP paths of a rule."""

    paths: list[HTTPIngressPath] = attrs.field(factory=list, metadata=field_info(required=True))


@attrs.frozen(kw_only=True)
class IngressRule(Model):
    """Routes for one host (or every host when ``host`` is empty)."""

    host: str = ""
    http: HTTPIngressRuleValue | None = None


@attrs.frozen(kw_only=True)
class IngressTLS(Model):
    """TLS for some hosts, with the certificate in a Secret."""

    hosts: list[str] = attrs.Factory(list)
    secret_name: str = ""


@attrs.frozen(kw_only=True)
class IngressSpec(Model):
    """Class, default backend, TLS and rules of an ingress."""

    ingress_class_name: str | None = None
    default_backend: IngressBackend | None = None
    tls: list[IngressTLS] = attrs.Factory(list)
    rules: list[IngressRule] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class IngressLoadBalancerStatus(Model):
    """Ingress points of the ingress' load balancer."""

    ingress: list[LoadBalancerIngress] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class IngressStatus(Model):
    """The observed load balancer."""

    load_balancer: IngressLoadBalancerStatus = attrs.Factory(IngressLoadBalancerStatus)


@attrs.frozen(kw_only=True)
class Ingress(Model):
    """networking.k8s.io/v1 Ingress: HTTP routing to services."""

    api_version: str = "networking.k8s.io/v1"
    kind: str = "Ingress"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: IngressSpec = attrs.Factory(IngressSpec)
    status: IngressStatus = attrs.Factory(IngressStatus)


@attrs.frozen(kw_only=True)
class IngressClassParametersReference(Model):
    """Controller-specific parameters of an ingress class."""

    api_group: str | None = None
    kind: str = attrs.field(default="", metadata=_REQ)
    name: str = attrs.field(default="", metadata=_REQ)
    scope: str | None = None
    namespace: str | None = None


@attrs.frozen(kw_only=True)
class IngressClassSpec(Model):
    """The controller implementing the class."""

    controller: str = ""
    parameters: IngressClassParametersReference | None = None


@attrs.frozen(kw_only=True)
class IngressClass(Model):
    """networking.k8s.io/v1 IngressClass (cluster-scoped)."""

    api_version: str = "networking.k8s.io/v1"
    kind: str = "IngressClass"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: IngressClassSpec = attrs.Factory(IngressClassSpec)


# -- certificates.k8s.io/v1 ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CertificateSigningRequestSpec(Model):
    """A PEM certificate request (bytes), the signer and who asked."""

    request: bytes = attrs.field(default=b"", metadata=_REQ)
    signer_name: str = attrs.field(default="", metadata=_REQ)
    expiration_seconds: int | None = None
    usages: list[str] = attrs.Factory(list)
    username: str = ""
    uid: str = ""
    groups: list[str] = attrs.Factory(list)
    extra: dict[str, list[str]] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class CertificateSigningRequestCondition(Model):
    """Approved, Denied or Failed."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    reason: str = ""
    message: str = ""
    last_update_time: datetime.datetime | None = None
    last_transition_time: datetime.datetime | None = None


@attrs.frozen(kw_only=True)
class CertificateSigningRequestStatus(Model):
    """Approval conditions and the issued PEM certificate (bytes)."""

    conditions: list[CertificateSigningRequestCondition] = attrs.Factory(list)
    certificate: bytes = b""


@attrs.frozen(kw_only=True)
class CertificateSigningRequest(Model):
    """certificates.k8s.io/v1 CertificateSigningRequest (cluster-scoped)."""

    api_version: str = "certificates.k8s.io/v1"
    kind: str = "CertificateSigningRequest"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: CertificateSigningRequestSpec = attrs.Factory(CertificateSigningRequestSpec)
    status: CertificateSigningRequestStatus = attrs.Factory(CertificateSigningRequestStatus)


# -- rbac.authorization.k8s.io/v1 ------------------------------------------------------


@attrs.frozen(kw_only=True)
class PolicyRule(Model):
    """Verbs allowed on resources (or non-resource URLs)."""

    verbs: list[str] = attrs.field(factory=list, metadata=field_info(required=True))
    api_groups: list[str] = attrs.Factory(list)
    resources: list[str] = attrs.Factory(list)
    resource_names: list[str] = attrs.Factory(list)
    non_resource_urls: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class AggregationRule(Model):
    """ClusterRoles whose rules are aggregated into this one."""

    cluster_role_selectors: list[LabelSelector] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class Role(Model):
    """rbac.authorization.k8s.io/v1 Role: namespaced permissions."""

    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "Role"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    rules: list[PolicyRule] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class ClusterRole(Model):
    """rbac.authorization.k8s.io/v1 ClusterRole (cluster-scoped)."""

    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "ClusterRole"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    rules: list[PolicyRule] = attrs.Factory(list)
    aggregation_rule: AggregationRule | None = None


@attrs.frozen(kw_only=True)
class Subject(Model):
    """A User, Group or ServiceAccount a binding grants to."""

    kind: str = attrs.field(default="", metadata=_REQ)
    api_group: str = ""
    name: str = attrs.field(default="", metadata=_REQ)
    namespace: str = ""


@attrs.frozen(kw_only=True)
class RoleRef(Model):
    """The Role or ClusterRole a binding grants."""

    api_group: str = attrs.field(default="", metadata=_REQ)
    kind: str = attrs.field(default="", metadata=_REQ)
    name: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class RoleBinding(Model):
    """rbac.authorization.k8s.io/v1 RoleBinding: grants a role within a namespace."""

    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "RoleBinding"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    subjects: list[Subject] = attrs.Factory(list)
    role_ref: RoleRef = attrs.field(factory=RoleRef, metadata=field_info(required=True))


@attrs.frozen(kw_only=True)
class ClusterRoleBinding(Model):
    """rbac.authorization.k8s.io/v1 ClusterRoleBinding (cluster-scoped)."""

    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "ClusterRoleBinding"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    subjects: list[Subject] = attrs.Factory(list)
    role_ref: RoleRef = attrs.field(factory=RoleRef, metadata=field_info(required=True))


# -- autoscaling/v1 --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ScaleSpec(Model):
    """The desired replicas."""

    replicas: int = 0


@attrs.frozen(kw_only=True)
class ScaleStatus(Model):
    """The observed replicas and the pods' label selector (as a string)."""

    replicas: int = attrs.field(default=0, metadata=ALWAYS)
    selector: str = ""


@attrs.frozen(kw_only=True)
class Scale(Model):
    """autoscaling/v1 Scale: the ``scale`` subresource of scalable kinds."""

    api_version: str = "autoscaling/v1"
    kind: str = "Scale"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: ScaleSpec = attrs.Factory(ScaleSpec)
    status: ScaleStatus = attrs.Factory(ScaleStatus)


@attrs.frozen(kw_only=True)
class CrossVersionObjectReference(Model):
    """The scalable object an autoscaler drives."""

    kind: str = attrs.field(default="", metadata=_REQ)
    name: str = attrs.field(default="", metadata=_REQ)
    api_version: str = ""


@attrs.frozen(kw_only=True)
class HorizontalPodAutoscalerSpec(Model):
    """Target, replica bounds and CPU utilisation target."""

    scale_target_ref: CrossVersionObjectReference = attrs.Factory(CrossVersionObjectReference)
    min_replicas: int | None = None
    max_replicas: int = attrs.field(default=0, metadata=_REQ)
    target_cpu_utilization_percentage: int | None = None


@attrs.frozen(kw_only=True)
class HorizontalPodAutoscalerStatus(Model):
    """Observed and desired replicas."""

    observed_generation: int | None = None
    last_scale_time: datetime.datetime | None = None
    current_replicas: int = attrs.field(default=0, metadata=ALWAYS)
    desired_replicas: int = attrs.field(default=0, metadata=ALWAYS)
    current_cpu_utilization_percentage: int | None = None


@attrs.frozen(kw_only=True)
class HorizontalPodAutoscaler(Model):
    """autoscaling/v1 HorizontalPodAutoscaler."""

    api_version: str = "autoscaling/v1"
    kind: str = "HorizontalPodAutoscaler"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: HorizontalPodAutoscalerSpec = attrs.Factory(HorizontalPodAutoscalerSpec)
    status: HorizontalPodAutoscalerStatus = attrs.Factory(HorizontalPodAutoscalerStatus)
