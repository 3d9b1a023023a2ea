"""Validation of the other core/v1 kinds: Service, ConfigMap, Secret, Namespace, Node,
PersistentVolume(Claim), ResourceQuota, LimitRange, Endpoints, PodTemplate.

kube-apiserver's rules and messages (``pkg/apis/core/validation``) for what users write:
Service ports (names required and unique when there are several, ports 1-65535, target
ports numbers or IANA names, node ports only outside ``ClusterIP`` and inside the default
node-port range), types, session affinity and traffic policies; ConfigMap/Secret keys and
the 1 MiB size limit, Secret types' required keys; Namespace finalizers; Node taints and
resource quantities; quota and limit quantities and their ordering.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Final

import attrs

from korch.api import _core_node as cn
from korch.api import _core_other as co
from korch.api import _core_pod as cp
from korch.api import _core_volume as cv
from korch.api import _meta
from korch.api import _validate_common as vc
from korch.api import _validate_scheduling as vs
from korch.api import _validate_volumes as vv
from korch.api import _validate_workloads as vw
from korch.api import _validation as fv

__all__ = (
    "config_map",
    "endpoints",
    "limit_range",
    "namespace",
    "node",
    "persistent_volume",
    "persistent_volume_claim",
    "pod_template",
    "resource_quota",
    "secret",
    "service",
)

Causes = vc.Causes

MAX_SECRET_SIZE: Final = 1024 * 1024
SERVICE_TYPES: Final = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
PROTOCOLS: Final = ("SCTP", "TCP", "UDP")
NODE_PORT_RANGE: Final = (30000, 32767)
TRAFFIC_POLICIES: Final = ("Cluster", "Local")
IP_FAMILY_POLICIES: Final = ("PreferDualStack", "RequireDualStack", "SingleStack")
QUOTA_SCOPES: Final = (
    "BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating",
    "PriorityClass", "Terminating", "VolumeAttributesClass",
)  # fmt: skip
LIMIT_TYPES: Final = ("Container", "PersistentVolumeClaim", "Pod")
RECLAIM_POLICIES: Final = ("Delete", "Recycle", "Retain")
_HUGEPAGES: Final = ("hugepages-", "requests.hugepages-")
QUOTA_RESOURCES: Final = frozenset((
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers", "cpu", "memory",
    "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
))  # fmt: skip


def _ip(value: str, path: str, causes: Causes) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        causes.append(
            fv.invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
        )
        return False
    return True


def _cidr(value: str, path: str, causes: Causes) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        causes.append(
            fv.invalid(
                path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
            )
        )


# -- service -------------------------------------------------------------------------------


def _service_ports(spec: cn.ServiceSpec, causes: Causes) -> None:
    names: set[str] = set()
    ports: set[tuple[str, int]] = set()
    node_ports: set[tuple[str, int]] = set()
    several = len(spec.ports) > 1
    low, high = NODE_PORT_RANGE
    for i, port in enumerate(spec.ports):
        at = f"spec.ports[{i}]"
        if several and not port.name:
            causes.append(fv.required(f"{at}.name"))
        elif port.name:
            vv.dns_label(port.name, f"{at}.name", causes)
            if port.name in names:
                causes.append(fv.duplicate(f"{at}.name", port.name))
            names.add(port.name)
        causes.extend(fv.validate_port_number(port.port, f"{at}.port"))
        protocol = port.protocol or "TCP"
        vc.enum(port.protocol, f"{at}.protocol", PROTOCOLS, causes, required=False)
        if port.target_port not in (0, ""):
            vc.port_num_or_name(port.target_port, f"{at}.targetPort", causes)
        if port.app_protocol is not None:
            causes.extend(fv.validate_qualified_name(port.app_protocol, f"{at}.appProtocol"))
        if (protocol, port.port) in ports:
            causes.append(fv.duplicate(at, {"protocol": protocol, "port": port.port}))
        ports.add((protocol, port.port))
        if port.node_port:
            if spec.type in ("ClusterIP", ""):
                causes.append(
                    fv.forbidden(f"{at}.nodePort", "may not be used when `type` is 'ClusterIP'")
                )
            elif not low <= port.node_port <= high:
                detail = (
                    "provided port is not in the valid range. The range of valid ports is "
                    f"{low}-{high}"
                )
                causes.append(fv.invalid(f"{at}.nodePort", port.node_port, detail))
            if (protocol, port.node_port) in node_ports:
                causes.append(fv.duplicate(f"{at}.nodePort", port.node_port))
            node_ports.add((protocol, port.node_port))


def service(obj: cn.Service, causes: Causes) -> None:
    """``ValidateService``."""
    spec = obj.spec
    kind = spec.type or "ClusterIP"
    headless = spec.cluster_ip == "None"
    if not spec.ports and not headless and kind != "ExternalName":
        causes.append(fv.required("spec.ports"))
    if kind not in SERVICE_TYPES:
        causes.append(fv.not_supported("spec.type", spec.type, SERVICE_TYPES))
    if kind == "ExternalName":
        if spec.cluster_ip and spec.cluster_ip != "None":
            causes.append(
                fv.forbidden("spec.clusterIP", "may not be set for ExternalName services")
            )
        name = spec.external_name.removesuffix(".")
        if not name:
            causes.append(fv.required("spec.externalName"))
        else:
            causes.extend(fv.validate_dns1123_subdomain(name, "spec.externalName"))
    _service_ports(spec, causes)
    if spec.selector:
        vc.labels(spec.selector, "spec.selector", causes)
    affinity = spec.session_affinity or "None"
    if affinity not in ("ClientIP", "None"):
        causes.append(fv.not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    config = spec.session_affinity_config
    if affinity == "None" and config is not None and spec.session_affinity:
        detail = "must not be set when session affinity is None"
        causes.append(fv.forbidden("spec.sessionAffinityConfig", detail))
    elif affinity == "ClientIP" and config is not None and config.client_ip is not None:
        seconds = config.client_ip.timeout_seconds
        if seconds is not None and not 0 < seconds <= 86400:
            at = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
            causes.append(fv.invalid(at, seconds, "must be greater than 0 and less than 86400"))
    if spec.cluster_ip and spec.cluster_ip != "None":
        _ip(spec.cluster_ip, "spec.clusterIP", causes)
    for i, ip in enumerate(spec.cluster_ips):
        if ip != "None":
            _ip(ip, f"spec.clusterIPs[{i}]", causes)
    if spec.cluster_ips and spec.cluster_ip and spec.cluster_ips[0] != spec.cluster_ip:
        detail = "must be equal to clusterIP"
        causes.append(fv.invalid("spec.clusterIPs[0]", spec.cluster_ips[0], detail))
    for i, ip in enumerate(spec.external_ips):
        _ip(ip, f"spec.externalIPs[{i}]", causes)
    for i, cidr in enumerate(spec.load_balancer_source_ranges):
        _cidr(cidr.strip(), f"spec.loadBalancerSourceRanges[{i}]", causes)
    if spec.ip_family_policy is not None and kind != "ExternalName":
        vc.enum(spec.ip_family_policy, "spec.ipFamilyPolicy", IP_FAMILY_POLICIES, causes)
    for i, family in enumerate(spec.ip_families):
        vc.enum(family, f"spec.ipFamilies[{i}]", ("IPv4", "IPv6"), causes)
    external = kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.external_ips)
    if spec.external_traffic_policy:
        if not external:
            detail = "may only be set for externally-accessible services"
            causes.append(
                fv.invalid("spec.externalTrafficPolicy", spec.external_traffic_policy, detail)
            )
        else:
            vc.enum(
                spec.external_traffic_policy, "spec.externalTrafficPolicy", TRAFFIC_POLICIES, causes
            )
    if spec.internal_traffic_policy is not None:
        vc.enum(
            spec.internal_traffic_policy, "spec.internalTrafficPolicy", TRAFFIC_POLICIES, causes
        )
    if spec.health_check_node_port:
        if kind != "LoadBalancer" or spec.external_traffic_policy != "Local":
            detail = (
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is "
                "'Local'"
            )
            causes.append(
                fv.invalid("spec.healthCheckNodePort", spec.health_check_node_port, detail)
            )
        else:
            causes.extend(
                fv.validate_port_number(spec.health_check_node_port, "spec.healthCheckNodePort")
            )


# -- configuration -------------------------------------------------------------------------


def _keys(mapping: dict[str, Any], wire: str, causes: Causes) -> None:
    for key in mapping:
        for message in vc.config_key_errors(key):
            causes.append(fv.invalid(f"{wire}[{key}]", key, message))


def config_map(obj: co.ConfigMap, causes: Causes) -> None:
    """``ValidateConfigMap``: keys, no key in both maps, total size <= 1 MiB."""
    _keys(obj.data, "data", causes)
    _keys(obj.binary_data, "binaryData", causes)
    for key in obj.data:
        if key in obj.binary_data:
            causes.append(fv.invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
    size = sum(len(v.encode()) for v in obj.data.values())
    size += sum(len(v) for v in obj.binary_data.values())
    if size > MAX_SECRET_SIZE:
        # Kubernetes reports this against the whole object (an empty field path).
        causes.append(fv.too_long("", MAX_SECRET_SIZE))


_SECRET_KEYS: Final = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def secret(obj: co.Secret, causes: Causes) -> None:
    """``ValidateSecret``: keys, size, and each built-in type's required keys.

    ``stringData`` is merged into ``data`` by the API server (its values win), so both are
    considered.
    """
    _keys(obj.data, "data", causes)
    _keys(obj.string_data, "stringData", causes)
    data: dict[str, bytes] = {**obj.data, **{k: v.encode() for k, v in obj.string_data.items()}}
    if sum(len(v) for v in data.values()) > MAX_SECRET_SIZE:
        causes.append(fv.too_long("data", MAX_SECRET_SIZE))
    kind = obj.type
    if kind == "kubernetes.io/service-account-token":
        if not obj.metadata.annotations.get("kubernetes.io/service-account.name"):
            causes.append(fv.required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            causes.append(fv.required("data[username]"))
            causes.append(fv.required("data[password]"))
    elif kind in _SECRET_KEYS:
        for key in _SECRET_KEYS[kind]:
            if not data.get(key) if kind == "kubernetes.io/ssh-auth" else key not in data:
                causes.append(fv.required(f"data[{key}]"))
        if kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
            key = _SECRET_KEYS[kind][0]
            if key in data:
                try:
                    parsed = json.loads(data[key])
                except ValueError as exc:
                    causes.append(
                        fv.invalid(f"data[{key}]", "<secret contents redacted>", str(exc))
                    )
                else:
                    if not isinstance(parsed, dict):
                        detail = "json: cannot unmarshal into a map"
                        causes.append(
                            fv.invalid(f"data[{key}]", "<secret contents redacted>", detail)
                        )


# -- cluster objects -----------------------------------------------------------------------


def namespace(obj: cn.Namespace, causes: Causes) -> None:
    """``ValidateNamespace``: finalizer names (qualified, or the standard ``kubernetes``)."""
    for name in obj.spec.finalizers:
        found = fv.validate_qualified_name(name, "spec.finalizers")
        causes.extend(found)
        if not found and "/" not in name and name != "kubernetes":
            detail = "name is neither a standard finalizer name nor is it fully qualified"
            causes.append(fv.invalid("spec.finalizers", name, detail))


def _resource_list(resources: dict[str, str], path: str, causes: Causes) -> None:
    for name, value in resources.items():
        at = f"{path}[{name}]"
        causes.extend(fv.validate_resource_name(name, at))
        vc.nonnegative_quantity(value, at, causes)


def node(obj: cn.Node, causes: Causes) -> None:
    """``ValidateNode``: taints, pod CIDRs, capacity and allocatable quantities."""
    spec = obj.spec
    vs.taints(spec.taints, "spec.taints", causes)
    if spec.pod_cidr:
        _cidr(spec.pod_cidr, "spec.podCIDR", causes)
    for i, cidr in enumerate(spec.pod_cidrs):
        _cidr(cidr, f"spec.podCIDRs[{i}]", causes)
    if spec.pod_cidrs and spec.pod_cidr and spec.pod_cidrs[0] != spec.pod_cidr:
        detail = "must match first element of podCIDRs"
        causes.append(fv.invalid("spec.podCIDR", spec.pod_cidr, detail))
    _resource_list(obj.status.capacity, "status.capacity", causes)
    _resource_list(obj.status.allocatable, "status.allocatable", causes)


def persistent_volume_claim(obj: cv.PersistentVolumeClaim, causes: Causes) -> None:
    """``ValidatePersistentVolumeClaim``."""
    vw.claim_spec(obj.spec, "spec", causes)


# The volume sources are the fields declared between capacity and accessModes.
_PV_FIELDS: Final = attrs.fields(cv.PersistentVolumeSpec)
_PV_NAMES: Final = [a.name for a in _PV_FIELDS]
_PV_SOURCES: Final = tuple(
    (a.name, _meta.wire_name(a))
    for a in _PV_FIELDS[_PV_NAMES.index("capacity") + 1 : _PV_NAMES.index("access_modes")]
)


def persistent_volume(obj: cv.PersistentVolume, causes: Causes) -> None:
    """``ValidatePersistentVolumeSpec``: capacity (storage only), access modes, one source,
    reclaim policy, volume mode."""
    spec = obj.spec
    if not spec.access_modes:
        causes.append(fv.required("spec.accessModes"))
    for mode in spec.access_modes:
        if mode not in vw.ACCESS_MODES:
            causes.append(fv.not_supported("spec.accessModes", mode, vw.ACCESS_MODES))
    if not spec.capacity:
        causes.append(fv.required("spec.capacity"))
    elif "storage" not in spec.capacity or len(spec.capacity) > 1:
        causes.append(fv.not_supported("spec.capacity", sorted(spec.capacity), ("storage",)))
    for name, value in spec.capacity.items():
        vc.nonnegative_quantity(value, f"spec.capacity[{name}]", causes)
    present = [wire for attr, wire in _PV_SOURCES if getattr(spec, attr) is not None]
    if not present:
        causes.append(fv.required("spec", "must specify a volume type"))
    for wire in present[1:]:
        causes.append(fv.forbidden(f"spec.{wire}", "may not specify more than 1 volume type"))
    if spec.host_path is not None and not spec.host_path.path:
        causes.append(fv.required("spec.hostPath.path"))
    if spec.nfs is not None and not spec.nfs.path.startswith("/"):
        causes.append(fv.invalid("spec.nfs.path", spec.nfs.path, "must be an absolute path"))
    if spec.persistent_volume_reclaim_policy:
        vc.enum(
            spec.persistent_volume_reclaim_policy,
            "spec.persistentVolumeReclaimPolicy",
            RECLAIM_POLICIES,
            causes,
        )
    if spec.volume_mode is not None:
        vc.enum(spec.volume_mode, "spec.volumeMode", vw.VOLUME_MODES, causes)
    if spec.storage_class_name:
        causes.extend(
            fv.validate_dns1123_subdomain(spec.storage_class_name, "spec.storageClassName")
        )
    if spec.node_affinity is not None and spec.node_affinity.required is not None:
        vs.node_selector(spec.node_affinity.required, "spec.nodeAffinity.required", causes)


# -- quotas and limits ---------------------------------------------------------------------


def resource_quota(obj: co.ResourceQuota, causes: Causes) -> None:
    """``ValidateResourceQuota``: resource names (standard quota names or qualified),
    non-negative quantities, scopes and scope selectors."""
    spec = obj.spec
    for name, value in spec.hard.items():
        at = f"spec.hard[{name}]"
        found = fv.validate_resource_name(name, at)
        causes.extend(found)
        standard = "/" in name or name in QUOTA_RESOURCES
        if not found and not standard and not name.startswith(_HUGEPAGES):
            causes.append(fv.invalid(at, name, "must be a standard resource for quota"))
        vc.nonnegative_quantity(value, at, causes)
    for scope in spec.scopes:
        if scope not in QUOTA_SCOPES:
            causes.append(fv.invalid("spec.scopes", spec.scopes, "unsupported scope"))
    if spec.scope_selector is not None:
        for i, expr in enumerate(spec.scope_selector.match_expressions):
            at = f"spec.scopeSelector.matchExpressions[{i}]"
            if expr.scope_name not in QUOTA_SCOPES:
                causes.append(fv.invalid(f"{at}.scopeName", expr.scope_name, "unsupported scope"))
            operators = ("In", "NotIn", "Exists", "DoesNotExist")
            vc.enum(expr.operator, f"{at}.operator", operators, causes)
            if expr.operator in ("In", "NotIn") and not expr.values:
                detail = (
                    "must be at least one value when `operator` is 'In' or 'NotIn' for scope "
                    "selector"
                )
                causes.append(fv.required(f"{at}.values", detail))
            elif expr.operator in ("Exists", "DoesNotExist") and expr.values:
                detail = (
                    "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope "
                    "selector"
                )
                causes.append(fv.invalid(f"{at}.values", expr.values, detail))


def limit_range(obj: co.LimitRange, causes: Causes) -> None:
    """``ValidateLimitRange``: types, quantities, and min <= default request <= default <= max."""
    for i, item in enumerate(obj.spec.limits):
        at = f"spec.limits[{i}]"
        vc.enum(item.type, f"{at}.type", LIMIT_TYPES, causes)
        parsed: dict[str, dict[str, Any]] = {}
        for wire, values in (
            ("max", item.max),
            ("min", item.min),
            ("default", item.default),
            ("defaultRequest", item.default_request),
            ("maxLimitRequestRatio", item.max_limit_request_ratio),
        ):
            parsed[wire] = {}
            for name, value in values.items():
                key_at = f"{at}.{wire}[{name}]"
                causes.extend(fv.validate_resource_name(name, key_at))
                parsed[wire][name] = vc.nonnegative_quantity(value, key_at, causes)
        if item.type == "Pod" and (item.default or item.default_request):
            wire = "default" if item.default else "defaultRequest"
            causes.append(fv.forbidden(f"{at}.{wire}", "may not be specified when `type` is 'Pod'"))
        low, high = parsed["min"], parsed["max"]
        default, request = parsed["default"], parsed["defaultRequest"]
        for name, minimum in low.items():
            maximum = high.get(name)
            if minimum is not None and maximum is not None and minimum > maximum:
                detail = f"min value {minimum} is greater than max value {maximum}"
                causes.append(fv.invalid(f"{at}.min[{name}]", str(minimum), detail))
        for name, value in request.items():
            limit = default.get(name)
            if value is not None and limit is not None and value > limit:
                detail = (
                    f"default request value {value} is greater than default limit value {limit}"
                )
                causes.append(fv.invalid(f"{at}.defaultRequest[{name}]", str(value), detail))
            minimum = low.get(name)
            if value is not None and minimum is not None and minimum > value:
                detail = f"min value {minimum} is greater than default request value {value}"
                causes.append(fv.invalid(f"{at}.defaultRequest[{name}]", str(value), detail))
        for name, value in default.items():
            maximum = high.get(name)
            if value is not None and maximum is not None and value > maximum:
                detail = f"default value {value} is greater than max value {maximum}"
                causes.append(fv.invalid(f"{at}.default[{name}]", str(value), detail))
        for name, ratio in parsed["maxLimitRequestRatio"].items():
            if ratio is not None and ratio._nanos < 10**9:
                detail = f"ratio {ratio} is less than 1"
                causes.append(fv.invalid(f"{at}.maxLimitRequestRatio[{name}]", str(ratio), detail))


# -- endpoints, templates ------------------------------------------------------------------


def endpoints(obj: cn.Endpoints, causes: Causes) -> None:
    """``ValidateEndpoints``: addresses are IPs, ports valid and named when several."""
    for i, subset in enumerate(obj.subsets):
        at = f"subsets[{i}]"
        for wire, addresses in (
            ("addresses", subset.addresses),
            ("notReadyAddresses", subset.not_ready_addresses),
        ):
            for j, address in enumerate(addresses):
                _ip(address.ip, f"{at}.{wire}[{j}].ip", causes)
                if address.hostname:
                    vv.dns_label(address.hostname, f"{at}.{wire}[{j}].hostname", causes)
        several = len(subset.ports) > 1
        for j, port in enumerate(subset.ports):
            port_at = f"{at}.ports[{j}]"
            if several and not port.name:
                causes.append(fv.required(f"{port_at}.name"))
            elif port.name:
                vv.dns_label(port.name, f"{port_at}.name", causes)
            causes.extend(fv.validate_port_number(port.port, f"{port_at}.port"))
            vc.enum(port.protocol, f"{port_at}.protocol", PROTOCOLS, causes, required=False)


def pod_template(obj: cp.PodTemplate, causes: Causes) -> None:
    """``ValidatePodTemplate``: the template's labels, annotations and pod spec."""
    vw.pod_template(obj.template, "template", causes)
