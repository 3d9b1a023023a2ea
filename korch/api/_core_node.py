"""core/v1 Node, Namespace, Service and Endpoints.

Modelling rules are those of :mod:`korch.api._meta`; capacity and allocatable are quantity
strings keyed by resource name.
"""

from __future__ import annotations

import datetime
from typing import Any

import attrs

from korch.api._core_volume import ObjectReference
from korch.api._meta import ALWAYS, Condition, Model, ObjectMeta, field_info

__all__ = (
    "AttachedVolume",
    "ClientIPConfig",
    "ContainerImage",
    "DaemonEndpoint",
    "EndpointAddress",
    "EndpointPort",
    "EndpointSubset",
    "Endpoints",
    "LoadBalancerIngress",
    "LoadBalancerStatus",
    "Namespace",
    "NamespaceCondition",
    "NamespaceSpec",
    "NamespaceStatus",
    "Node",
    "NodeAddress",
    "NodeCondition",
    "NodeDaemonEndpoints",
    "NodeSpec",
    "NodeStatus",
    "NodeSystemInfo",
    "PortStatus",
    "Service",
    "ServicePort",
    "ServiceSpec",
    "ServiceStatus",
    "SessionAffinityConfig",
    "Taint",
)

_REQ = field_info(always=True, required=True)


# -- node ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Taint(Model):
    """Repels pods that do not tolerate it (effect NoSchedule, PreferNoSchedule, NoExecute)."""

    key: str = attrs.field(default="", metadata=_REQ)
    value: str = ""
    effect: str = attrs.field(default="", metadata=_REQ)
    time_added: datetime.datetime | None = None


@attrs.frozen(kw_only=True)
class NodeSpec(Model):
    """A node's pod CIDRs, provider ID, taints and whether it is cordoned."""

    pod_cidr: str = ""
    pod_cidrs: list[str] = attrs.Factory(list)
    provider_id: str = ""
    unschedulable: bool = False
    taints: list[Taint] = attrs.Factory(list)
    config_source: dict[str, Any] | None = None
    external_id: str = ""


@attrs.frozen(kw_only=True)
class NodeCondition(Model):
    """Ready, MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    last_heartbeat_time: datetime.datetime | None = None
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class NodeAddress(Model):
    """An address of the node (InternalIP, ExternalIP, Hostname…)."""

    type: str = attrs.field(default="", metadata=_REQ)
    address: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class DaemonEndpoint(Model):
    """A port a node daemon listens on (the only capitalised wire name: ``Port``)."""

    port: int = attrs.field(default=0, metadata=field_info(wire="Port", always=True))


@attrs.frozen(kw_only=True)
class NodeDaemonEndpoints(Model):
    """Ports of daemons running on the node."""

    kubelet_endpoint: DaemonEndpoint = attrs.Factory(DaemonEndpoint)


@attrs.frozen(kw_only=True)
class NodeSystemInfo(Model):
    """Identity and versions reported by the node agent."""

    machine_id: str = attrs.field(default="", metadata=ALWAYS)
    system_uuid: str = attrs.field(default="", metadata=ALWAYS)
    boot_id: str = attrs.field(default="", metadata=ALWAYS)
    kernel_version: str = attrs.field(default="", metadata=ALWAYS)
    os_image: str = attrs.field(default="", metadata=ALWAYS)
    container_runtime_version: str = attrs.field(default="", metadata=ALWAYS)
    kubelet_version: str = attrs.field(default="", metadata=ALWAYS)
    kube_proxy_version: str = attrs.field(default="", metadata=ALWAYS)
    operating_system: str = attrs.field(default="", metadata=ALWAYS)
    architecture: str = attrs.field(default="", metadata=ALWAYS)
    swap: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class ContainerImage(Model):
    """An image present on the node."""

    names: list[str] = attrs.Factory(list)
    size_bytes: int = 0


@attrs.frozen(kw_only=True)
class AttachedVolume(Model):
    """A volume attached to the node."""

    name: str = attrs.field(default="", metadata=_REQ)
    device_path: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class NodeStatus(Model):
    """Capacity, allocatable, conditions, addresses and info of a node."""

    capacity: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    allocatable: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    phase: str = ""
    conditions: list[NodeCondition] = attrs.Factory(list)
    addresses: list[NodeAddress] = attrs.Factory(list)
    daemon_endpoints: NodeDaemonEndpoints = attrs.Factory(NodeDaemonEndpoints)
    node_info: NodeSystemInfo = attrs.Factory(NodeSystemInfo)
    images: list[ContainerImage] = attrs.Factory(list)
    volumes_in_use: list[str] = attrs.Factory(list)
    volumes_attached: list[AttachedVolume] = attrs.Factory(list)
    config: dict[str, Any] | None = None
    runtime_handlers: list[dict[str, Any]] = attrs.Factory(list)
    features: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class Node(Model):
    """core/v1 Node (cluster-scoped): a machine pods run on."""

    api_version: str = "v1"
    kind: str = "Node"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: NodeSpec = attrs.Factory(NodeSpec)
    status: NodeStatus = attrs.Factory(NodeStatus)


# -- namespace -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NamespaceSpec(Model):
    """Finalizers that must finish before the namespace is removed."""

    finalizers: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class NamespaceCondition(Model):
    """A condition of a terminating namespace."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class NamespaceStatus(Model):
    """Active or Terminating."""

    phase: str = ""
    conditions: list[NamespaceCondition] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class Namespace(Model):
    """core/v1 Namespace (cluster-scoped)."""

    api_version: str = "v1"
    kind: str = "Namespace"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: NamespaceSpec = attrs.Factory(NamespaceSpec)
    status: NamespaceStatus = attrs.Factory(NamespaceStatus)


# -- service ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ServicePort(Model):
    """A port of a service; ``target_port`` is a number or a container port name."""

    name: str = ""
    protocol: str = ""
    app_protocol: str | None = None
    port: int = attrs.field(default=0, metadata=_REQ)
    target_port: int | str = 0
    node_port: int = 0


@attrs.frozen(kw_only=True)
class ClientIPConfig(Model):
    """How long ClientIP session affinity sticks."""

    timeout_seconds: int | None = None


@attrs.frozen(kw_only=True)
class SessionAffinityConfig(Model):
    """Session affinity settings."""

    client_ip: ClientIPConfig | None = None


@attrs.frozen(kw_only=True)
class ServiceSpec(Model):
    """Ports, selector, type and addressing of a service."""

    ports: list[ServicePort] = attrs.Factory(list)
    selector: dict[str, str] = attrs.Factory(dict)
    cluster_ip: str = ""
    cluster_ips: list[str] = attrs.Factory(list)
    type: str = ""
    external_ips: list[str] = attrs.Factory(list)
    session_affinity: str = ""
    load_balancer_ip: str = ""
    load_balancer_source_ranges: list[str] = attrs.Factory(list)
    external_name: str = ""
    external_traffic_policy: str = ""
    health_check_node_port: int = 0
    publish_not_ready_addresses: bool = False
    session_affinity_config: SessionAffinityConfig | None = None
    ip_families: list[str] = attrs.Factory(list)
    ip_family_policy: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    load_balancer_class: str | None = None
    internal_traffic_policy: str | None = None
    traffic_distribution: str | None = None


@attrs.frozen(kw_only=True)
class PortStatus(Model):
    """The status of one load-balancer port."""

    port: int = attrs.field(default=0, metadata=_REQ)
    protocol: str = attrs.field(default="", metadata=_REQ)
    error: str | None = None


@attrs.frozen(kw_only=True)
class LoadBalancerIngress(Model):
    """An ingress point of a load balancer."""

    ip: str = ""
    hostname: str = ""
    ip_mode: str | None = None
    ports: list[PortStatus] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class LoadBalancerStatus(Model):
    """The ingress points of a load balancer."""

    ingress: list[LoadBalancerIngress] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class ServiceStatus(Model):
    """Load-balancer status and conditions of a service."""

    load_balancer: LoadBalancerStatus = attrs.Factory(LoadBalancerStatus)
    conditions: list[Condition] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class Service(Model):
    """core/v1 Service: a stable virtual address for a set of pods."""

    api_version: str = "v1"
    kind: str = "Service"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: ServiceSpec = attrs.Factory(ServiceSpec)
    status: ServiceStatus = attrs.Factory(ServiceStatus)


# -- endpoints -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EndpointAddress(Model):
    """A backend address (usually a pod IP)."""

    ip: str = attrs.field(default="", metadata=_REQ)
    hostname: str = ""
    node_name: str | None = None
    target_ref: ObjectReference | None = None


@attrs.frozen(kw_only=True)
class EndpointPort(Model):
    """A backend port."""

    name: str = ""
    port: int = attrs.field(default=0, metadata=_REQ)
    protocol: str = ""
    app_protocol: str | None = None


@attrs.frozen(kw_only=True)
class EndpointSubset(Model):
    """Addresses sharing the same ports."""

    addresses: list[EndpointAddress] = attrs.Factory(list)
    not_ready_addresses: list[EndpointAddress] = attrs.Factory(list)
    ports: list[EndpointPort] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class Endpoints(Model):
    """core/v1 Endpoints: the backends of a service (kept by the endpoints controller)."""

    api_version: str = "v1"
    kind: str = "Endpoints"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    subsets: list[EndpointSubset] = attrs.Factory(list)
