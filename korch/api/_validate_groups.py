"""Validation of the smaller API groups: coordination, scheduling, policy, networking, RBAC,
apiextensions, autoscaling, certificates, and apps ControllerRevision.

kube-apiserver's rules and messages: Lease durations; PriorityClass values (at most 1e9
unless a known ``system-`` class); PodDisruptionBudget ``minAvailable`` and
``maxUnavailable`` (not both; ints or percentages); Ingress hosts, paths (``pathType``
required, Exact/Prefix paths absolute) and backends (a service with a port name or number,
or a resource); RBAC rules (verbs required; non-resource URLs only in ClusterRoles and never
mixed with resources), role references and subjects; CustomResourceDefinitions (names,
``<plural>.<group>`` as the object name, a group with a dot, unique versions with exactly one
storage version, every version's ``openAPIV3Schema`` compiling as a structural schema —
its causes are propagated with their ``spec.versions[i].schema.openAPIV3Schema`` paths).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from korch import errors
from korch.api import _apiextensions as ext
from korch.api import _apps, _misc
from korch.api import _schema as structural
from korch.api import _validate_common as vc
from korch.api import _validation as fv

__all__ = (
    "cluster_role",
    "cluster_role_binding",
    "controller_revision",
    "crd",
    "crd_name_rule",
    "csr",
    "hpa",
    "ingress",
    "ingress_class",
    "lease",
    "pdb",
    "priority_class",
    "role",
    "role_binding",
)

Causes = vc.Causes

RBAC_GROUP: Final = "rbac.authorization.k8s.io"
HIGHEST_USER_PRIORITY: Final = 1_000_000_000
SYSTEM_PRIORITY_CLASSES: Final = {
    "system-node-critical": 2_000_001_000,
    "system-cluster-critical": 2_000_000_000,
}
PATH_TYPES: Final = ("Exact", "ImplementationSpecific", "Prefix")
_BAD_PATH_PARTS: Final = ("//", "/./", "/../", "%2f", "%2F")
_BAD_PATH_ENDS: Final = ("/..", "/.")
COLUMN_TYPES: Final = ("boolean", "date", "integer", "number", "string")


# -- coordination, scheduling, policy, autoscaling, apps, certificates ---------------------


def lease(obj: _misc.Lease, causes: Causes) -> None:
    """``ValidateLeaseSpec``."""
    spec = obj.spec
    if spec.lease_duration_seconds is not None and spec.lease_duration_seconds <= 0:
        causes.append(
            fv.invalid(
                "spec.leaseDurationSeconds", spec.lease_duration_seconds, "must be greater than 0"
            )
        )
    vc.nonnegative(spec.lease_transitions, "spec.leaseTransitions", causes)
    if spec.strategy is not None:
        vc.enum(spec.strategy, "spec.strategy", ("OldestEmulationVersion",), causes)
    if spec.preferred_holder and not spec.strategy:
        detail = "may only be specified if `strategy` is defined"
        causes.append(fv.forbidden("spec.preferredHolder", detail))


def priority_class(obj: _misc.PriorityClass, causes: Causes) -> None:
    """``ValidatePriorityClass``: reserved ``system-`` names, the user maximum 1e9."""
    name = obj.metadata.name
    if name.startswith("system-"):
        problem = ""
        if name not in SYSTEM_PRIORITY_CLASSES:
            problem = f"{name} is not a known system priority class"
        elif obj.value != SYSTEM_PRIORITY_CLASSES[name]:
            problem = f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
        elif obj.global_default:
            problem = f"globalDefault of {name} must be false"
        if problem:
            detail = (
                "priority class names with 'system-' prefix are reserved for system use "
                f"only. error: {problem}"
            )
            causes.append(fv.forbidden("metadata.name", detail))
    elif obj.value > HIGHEST_USER_PRIORITY:
        detail = f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"
        causes.append(fv.forbidden("value", detail))
    if obj.preemption_policy is not None:
        vc.enum(
            obj.preemption_policy, "preemptionPolicy", ("Never", "PreemptLowerPriority"), causes
        )


def _percent(value: int | str, path: str, causes: Causes) -> None:
    found = fv.validate_int_or_percent(value, path, max_100_percent=True)
    causes.extend(found)


def pdb(obj: _misc.PodDisruptionBudget, causes: Causes) -> None:
    """``ValidatePodDisruptionBudgetSpec``."""
    spec = obj.spec
    if spec.min_available is not None and spec.max_unavailable is not None:
        detail = "minAvailable and maxUnavailable cannot be both set"
        causes.append(fv.invalid("spec", vc.wire(spec), detail))
    if spec.min_available is not None:
        _percent(spec.min_available, "spec.minAvailable", causes)
    if spec.max_unavailable is not None:
        _percent(spec.max_unavailable, "spec.maxUnavailable", causes)
    vc.label_selector(spec.selector, "spec.selector", causes)
    if spec.unhealthy_pod_eviction_policy is not None:
        supported = ("AlwaysAllow", "IfHealthyBudget")
        vc.enum(
            spec.unhealthy_pod_eviction_policy, "spec.unhealthyPodEvictionPolicy", supported, causes
        )


def hpa(obj: _misc.HorizontalPodAutoscaler, causes: Causes) -> None:
    """``ValidateHorizontalPodAutoscalerSpec`` (autoscaling/v1)."""
    spec = obj.spec
    ref = spec.scale_target_ref
    if not ref.kind:
        causes.append(fv.required("spec.scaleTargetRef.kind"))
    if not ref.name:
        causes.append(fv.required("spec.scaleTargetRef.name"))
    else:
        for message in fv.name_is_path_segment(ref.name, False):
            causes.append(fv.invalid("spec.scaleTargetRef.name", ref.name, message))
    if spec.min_replicas is not None and spec.min_replicas < 1:
        causes.append(
            fv.invalid("spec.minReplicas", spec.min_replicas, "must be greater than or equal to 1")
        )
    if spec.max_replicas < 1:
        causes.append(fv.invalid("spec.maxReplicas", spec.max_replicas, "must be greater than 0"))
    elif spec.min_replicas is not None and spec.max_replicas < spec.min_replicas:
        detail = "must be greater than or equal to `minReplicas`"
        causes.append(fv.invalid("spec.maxReplicas", spec.max_replicas, detail))
    target = spec.target_cpu_utilization_percentage
    if target is not None and target < 1:
        causes.append(
            fv.invalid("spec.targetCPUUtilizationPercentage", target, "must be greater than 0")
        )


def controller_revision(obj: _apps.ControllerRevision, causes: Causes) -> None:
    """``ValidateControllerRevision``: data present, revision non-negative."""
    if obj.data is None:
        causes.append(fv.required("data", "data is mandatory"))
    vc.nonnegative(obj.revision, "revision", causes)


def csr(obj: _misc.CertificateSigningRequest, causes: Causes) -> None:
    """``ValidateCertificateSigningRequest`` (the parts that need no PEM parsing)."""
    spec = obj.spec
    if not spec.request:
        causes.append(fv.required("spec.request"))
    if not spec.signer_name:
        causes.append(fv.required("spec.signerName"))
    elif spec.signer_name.count("/") != 1:
        detail = "must be a fully qualified domain and path of the form 'example.com/signer-name'"
        causes.append(fv.invalid("spec.signerName", spec.signer_name, detail))
    if not spec.usages:
        causes.append(fv.required("spec.usages"))
    if spec.expiration_seconds is not None and spec.expiration_seconds < 600:
        detail = "may not specify a duration less than 600 seconds (10 minutes)"
        causes.append(fv.invalid("spec.expirationSeconds", spec.expiration_seconds, detail))


# -- networking ----------------------------------------------------------------------------


def _host(host: str, path: str, causes: Causes) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        causes.append(fv.invalid(path, host, "must be a DNS name, not an IP address"))
    if "*" in host:
        if not host.startswith("*.") or fv.is_dns1123_subdomain(host[2:]):
            detail = (
                "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
                "subdomain, which must consist of lower case alphanumeric characters, '-' or "
                "'.' and end with an alphanumeric character"
            )
            causes.append(fv.invalid(path, host, detail))
        return
    causes.extend(fv.validate_dns1123_subdomain(host, path))


def _backend(backend: _misc.IngressBackend, path: str, causes: Causes) -> None:
    service, resource = backend.service, backend.resource
    if service is not None and resource is not None:
        causes.append(fv.invalid(path, "", "cannot set both resource and service backends"))
    elif resource is not None:
        if not resource.kind:
            causes.append(fv.required(f"{path}.resource.kind"))
        if not resource.name:
            causes.append(fv.required(f"{path}.resource.name"))
    elif service is not None:
        if not service.name:
            causes.append(fv.required(f"{path}.service.name"))
        else:
            for message in fv.name_is_dns1035_label(service.name, False):
                causes.append(fv.invalid(f"{path}.service.name", service.name, message))
        port = service.port
        if port.name and port.number:
            causes.append(fv.invalid(path, "", "cannot set both port name & port number"))
        elif port.name:
            causes.extend(fv.validate_port_name(port.name, f"{path}.service.port.name"))
        elif port.number:
            causes.extend(fv.validate_port_number(port.number, f"{path}.service.port.number"))
        else:
            causes.append(fv.required(path, "port name or number is required"))
    else:
        causes.append(fv.invalid(path, "", "resource or service backend is required"))


def _ingress_path(item: _misc.HTTPIngressPath, at: str, causes: Causes) -> None:
    kind, path = item.path_type, item.path
    if kind is None or kind == "":
        causes.append(fv.required(f"{at}.pathType", "pathType must be specified"))
    elif kind in ("Exact", "Prefix"):
        if not path.startswith("/"):
            causes.append(fv.invalid(f"{at}.path", path, "must be an absolute path"))
        for bad in _BAD_PATH_PARTS:
            if bad in path:
                causes.append(fv.invalid(f"{at}.path", path, f"must not contain '{bad}'"))
        for bad in _BAD_PATH_ENDS:
            if path.endswith(bad):
                causes.append(fv.invalid(f"{at}.path", path, f"cannot end with '{bad}'"))
    elif kind == "ImplementationSpecific":
        if path and not path.startswith("/"):
            causes.append(fv.invalid(f"{at}.path", path, "must be an absolute path"))
    else:
        causes.append(fv.not_supported(f"{at}.pathType", kind, PATH_TYPES))
    _backend(item.backend, f"{at}.backend", causes)


def ingress(obj: _misc.Ingress, causes: Causes) -> None:
    """``ValidateIngressSpec``: rules or a default backend, hosts, paths, backends, TLS."""
    spec = obj.spec
    if not spec.rules and spec.default_backend is None:
        detail = "either `defaultBackend` or `rules` must be specified"
        causes.append(fv.invalid("spec", vc.wire(spec.rules), detail))
    if spec.default_backend is not None:
        _backend(spec.default_backend, "spec.defaultBackend", causes)
    for i, rule in enumerate(spec.rules):
        at = f"spec.rules[{i}]"
        if rule.host:
            _host(rule.host, f"{at}.host", causes)
        if rule.http is not None:
            if not rule.http.paths:
                causes.append(fv.required(f"{at}.http.paths"))
            for j, item in enumerate(rule.http.paths):
                _ingress_path(item, f"{at}.http.paths[{j}]", causes)
    for i, tls in enumerate(spec.tls):
        for j, host in enumerate(tls.hosts):
            _host(host, f"spec.tls[{i}].hosts[{j}]", causes)
    if spec.ingress_class_name:
        causes.extend(
            fv.validate_dns1123_subdomain(spec.ingress_class_name, "spec.ingressClassName")
        )


def ingress_class(obj: _misc.IngressClass, causes: Causes) -> None:
    """``ValidateIngressClassSpec``: controller required, parameter reference well formed."""
    spec = obj.spec
    if not spec.controller:
        causes.append(fv.required("spec.controller"))
    elif len(spec.controller) > 250:
        causes.append(fv.too_long("spec.controller", 250))
    params = spec.parameters
    if params is None:
        return
    if not params.kind:
        causes.append(fv.required("spec.parameters.kind"))
    if not params.name:
        causes.append(fv.required("spec.parameters.name"))
    scope = params.scope
    if scope is not None:
        vc.enum(scope, "spec.parameters.scope", ("Cluster", "Namespace"), causes)
    if scope == "Namespace" and not params.namespace:
        detail = "`parameters.scope` is set to 'Namespace'"
        causes.append(fv.required("spec.parameters.namespace", detail))
    if scope == "Cluster" and params.namespace is not None:
        detail = "`parameters.scope` is set to 'Cluster'"
        causes.append(fv.forbidden("spec.parameters.namespace", detail))


# -- rbac ----------------------------------------------------------------------------------


def _rules(rules: list[_misc.PolicyRule], namespaced: bool, causes: Causes) -> None:
    for i, rule in enumerate(rules):
        at = f"rules[{i}]"
        if not rule.verbs:
            causes.append(fv.required(f"{at}.verbs", "verbs must contain at least one value"))
        if rule.non_resource_urls:
            urls = rule.non_resource_urls
            if namespaced:
                detail = "namespaced rules cannot apply to non-resource URLs"
                causes.append(fv.invalid(f"{at}.nonResourceURLs", urls, detail))
            if rule.api_groups or rule.resources or rule.resource_names:
                detail = "rules cannot apply to both regular resources and non-resource URLs"
                causes.append(fv.invalid(f"{at}.nonResourceURLs", urls, detail))
            continue
        if not rule.api_groups:
            detail = "resource rules must supply at least one api group"
            causes.append(fv.required(f"{at}.apiGroups", detail))
        if not rule.resources:
            causes.append(
                fv.required(f"{at}.resources", "resource rules must supply at least one resource")
            )


def role(obj: _misc.Role, causes: Causes) -> None:
    """``ValidateRole``."""
    _rules(obj.rules, True, causes)


def cluster_role(obj: _misc.ClusterRole, causes: Causes) -> None:
    """``ValidateClusterRole``: rules and the aggregation rule's selectors."""
    _rules(obj.rules, False, causes)
    rule = obj.aggregation_rule
    if rule is not None:
        if not rule.cluster_role_selectors:
            detail = "at least one clusterRoleSelector required if aggregationRule is non-nil"
            causes.append(fv.required("aggregationRule.clusterRoleSelectors", detail))
        for i, selector in enumerate(rule.cluster_role_selectors):
            vc.label_selector(selector, f"aggregationRule.clusterRoleSelectors[{i}]", causes)


def _binding(obj: Any, kinds: tuple[str, ...], namespaced: bool, causes: Causes) -> None:
    ref = obj.role_ref
    if ref.api_group not in (RBAC_GROUP, ""):
        causes.append(fv.not_supported("roleRef.apiGroup", ref.api_group, (RBAC_GROUP,)))
    if ref.kind not in kinds:
        causes.append(fv.not_supported("roleRef.kind", ref.kind, kinds))
    if not ref.name:
        causes.append(fv.required("roleRef.name"))
    else:
        for message in fv.name_is_path_segment(ref.name, False):
            causes.append(fv.invalid("roleRef.name", ref.name, message))
    for i, subject in enumerate(obj.subjects):
        at = f"subjects[{i}]"
        if not subject.name:
            causes.append(fv.required(f"{at}.name"))
        if subject.kind == "ServiceAccount":
            if subject.name:
                for message in fv.name_is_dns_subdomain(subject.name, False):
                    causes.append(fv.invalid(f"{at}.name", subject.name, message))
            if subject.api_group:
                causes.append(fv.not_supported(f"{at}.apiGroup", subject.api_group, ("",)))
            if not namespaced and not subject.namespace:
                causes.append(fv.required(f"{at}.namespace"))
        elif subject.kind in ("User", "Group"):
            if subject.api_group not in (RBAC_GROUP, ""):
                causes.append(fv.not_supported(f"{at}.apiGroup", subject.api_group, (RBAC_GROUP,)))
        else:
            kinds_ = ("ServiceAccount", "User", "Group")
            causes.append(fv.not_supported(f"{at}.kind", subject.kind, kinds_))


def role_binding(obj: _misc.RoleBinding, causes: Causes) -> None:
    """``ValidateRoleBinding``: roleRef (Role or ClusterRole) and subjects."""
    _binding(obj, ("Role", "ClusterRole"), True, causes)


def cluster_role_binding(obj: _misc.ClusterRoleBinding, causes: Causes) -> None:
    """``ValidateClusterRoleBinding``: roleRef (ClusterRole) and subjects."""
    _binding(obj, ("ClusterRole",), False, causes)


# -- apiextensions -------------------------------------------------------------------------


def crd_name_rule(crd: ext.CustomResourceDefinition) -> vc.NameRule:
    """The CRD name rule: a DNS subdomain equal to ``<spec.names.plural>.<spec.group>``."""
    required = f"{crd.spec.names.plural}.{crd.spec.group}"

    def rule(name: str, prefix: bool) -> list[str]:
        messages = fv.name_is_dns_subdomain(name, prefix)
        if name != required:
            messages.append('must be spec.names.plural+"."+spec.group')
        return messages

    return rule


def _dns1035(
    value: str, path: str, causes: Causes, *, lower: bool = False, prefix: str = ""
) -> None:
    messages = fv.is_dns1035_label(value.lower() if lower else value)
    if messages:
        causes.append(fv.invalid(path, value, prefix + ",".join(messages)))


def _names(names: ext.CustomResourceDefinitionNames, path: str, causes: Causes) -> None:
    if not names.plural:
        causes.append(fv.required(f"{path}.plural"))
    else:
        _dns1035(names.plural, f"{path}.plural", causes)
    if names.singular:
        _dns1035(names.singular, f"{path}.singular", causes)
    mixed = "may have mixed case, but should otherwise match: "
    if not names.kind:
        causes.append(fv.required(f"{path}.kind"))
    else:
        _dns1035(names.kind, f"{path}.kind", causes, lower=True, prefix=mixed)
    if names.list_kind:
        _dns1035(names.list_kind, f"{path}.listKind", causes, lower=True, prefix=mixed)
        if names.list_kind == names.kind:
            causes.append(
                fv.invalid(
                    f"{path}.listKind", names.list_kind, "kind and listKind may not be the same"
                )
            )
    for i, short in enumerate(names.short_names):
        _dns1035(short, f"{path}.shortNames[{i}]", causes)
    for i, category in enumerate(names.categories):
        _dns1035(category, f"{path}.categories[{i}]", causes)


def _version_schema(
    version: ext.CustomResourceDefinitionVersion, path: str, causes: Causes
) -> None:
    schema = version.schema.open_api_v3_schema if version.schema is not None else None
    at = f"{path}.schema.openAPIV3Schema"
    if schema is None:
        causes.append(fv.required(at, "schemas are required"))
        return
    try:
        structural.compile_schema(schema, path=at)
    except errors.Invalid as exc:
        causes.extend(exc.causes)


def _version(version: ext.CustomResourceDefinitionVersion, path: str, causes: Causes) -> None:
    _dns1035(version.name, f"{path}.name", causes)
    _version_schema(version, path, causes)
    for i, column in enumerate(version.additional_printer_columns):
        at = f"{path}.additionalPrinterColumns[{i}]"
        if not column.name:
            causes.append(fv.required(f"{at}.name"))
        if not column.type:
            causes.append(fv.required(f"{at}.type"))
        elif column.type not in COLUMN_TYPES:
            causes.append(fv.not_supported(f"{at}.type", column.type, COLUMN_TYPES))
        if not column.json_path:
            causes.append(fv.required(f"{at}.jsonPath"))
    scale = version.subresources.scale if version.subresources is not None else None
    if scale is not None:
        at = f"{path}.subresources.scale"
        if not scale.spec_replicas_path.startswith(".spec."):
            causes.append(
                fv.invalid(
                    f"{at}.specReplicasPath",
                    scale.spec_replicas_path,
                    "should be a json path under .spec",
                )
            )
        if not scale.status_replicas_path.startswith(".status."):
            causes.append(
                fv.invalid(
                    f"{at}.statusReplicasPath",
                    scale.status_replicas_path,
                    "should be a json path under .status",
                )
            )


def _conversion(conversion: ext.CustomResourceConversion | None, causes: Causes) -> None:
    if conversion is None:
        return
    vc.enum(conversion.strategy, "spec.conversion.strategy", ("None", "Webhook"), causes)
    webhook = conversion.webhook
    if conversion.strategy == "Webhook":
        if webhook is None or webhook.client_config is None:
            detail = "required when strategy is set to Webhook"
            causes.append(fv.required("spec.conversion.webhook.clientConfig", detail))
        if webhook is not None and not webhook.conversion_review_versions:
            detail = "must include at least one of v1, v1beta1"
            causes.append(fv.required("spec.conversion.webhook.conversionReviewVersions", detail))
        config = webhook.client_config if webhook is not None else None
        if config is not None:
            at = "spec.conversion.webhook.clientConfig"
            if (config.url is None) == (config.service is None):
                causes.append(fv.required(at, "exactly one of url or service is required"))
            service = config.service
            if service is not None:
                if not service.name:
                    causes.append(fv.required(f"{at}.service.name"))
                if not service.namespace:
                    causes.append(fv.required(f"{at}.service.namespace"))
                if service.port is not None:
                    causes.extend(fv.validate_port_number(service.port, f"{at}.service.port"))
    elif webhook is not None:
        detail = "should not be set when strategy is not set to Webhook"
        causes.append(fv.forbidden("spec.conversion.webhook", detail))


def crd(obj: ext.CustomResourceDefinition, causes: Causes) -> None:
    """``ValidateCustomResourceDefinitionSpec`` (the name rule is :func:`crd_name_rule`)."""
    spec = obj.spec
    if not spec.group:
        causes.append(fv.required("spec.group"))
    else:
        messages = fv.is_dns1123_subdomain(spec.group)
        if messages:
            causes.append(fv.invalid("spec.group", spec.group, ",".join(messages)))
        elif "." not in spec.group:
            causes.append(
                fv.invalid("spec.group", spec.group, "should be a domain with at least one dot")
            )
    vc.enum(spec.scope, "spec.scope", ("Cluster", "Namespaced"), causes)
    _names(spec.names, "spec.names", causes)
    if not spec.versions:
        causes.append(fv.required("spec.versions", "must have at least one version"))
    else:
        seen: set[str] = set()
        unique = True
        for i, version in enumerate(spec.versions):
            unique = unique and version.name not in seen
            seen.add(version.name)
            _version(version, f"spec.versions[{i}]", causes)
        versions = vc.wire(spec.versions)
        if not unique:
            causes.append(
                fv.invalid("spec.versions", versions, "must contain unique version names")
            )
        if sum(1 for v in spec.versions if v.storage) != 1:
            detail = "must have exactly one version marked as storage version"
            causes.append(fv.invalid("spec.versions", versions, detail))
    _conversion(spec.conversion, causes)
