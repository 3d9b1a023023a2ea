"""Validation of pod specs: containers, ports, probes, hooks, mounts, pod-level fields.

The rules of kube-apiserver's ``ValidatePodSpec`` (``pkg/apis/core/validation``) that a
user meets in practice, with its messages and field paths; volumes, resources and env, and
scheduling constraints (affinity, tolerations, spreading) are in
:mod:`korch.api._validate_volumes`, ``_validate_resources`` and ``_validate_scheduling``.
:func:`pod_spec` is shared by Pods and every pod template (Deployment, Job, …): the caller
passes the spec's path (``spec`` or ``spec.template.spec``) so causes name the field as
the user wrote it, e.g. ``spec.template.spec.containers[0].image``.

Container names are unique across containers, init containers and ephemeral containers;
volume names are unique and every ``volumeMounts``/``volumeDevices`` entry names a volume
(``Not found`` otherwise); host ports (with protocol and host IP) are unique across the pod
and container ports (with protocol) within a container. Validation never raises: it
appends to the caller's cause list.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from korch.api import _core_container as cc
from korch.api import _core_pod as cp
from korch.api import _core_volume as cv
from korch.api import _validate_common as vc
from korch.api import _validate_resources as vr
from korch.api import _validate_scheduling as vs
from korch.api import _validate_volumes as vv
from korch.api import _validation as fv

__all__ = ("pod_spec",)

Causes = vc.Causes

RESTART_POLICIES: Final = ("Always", "OnFailure", "Never")
DNS_POLICIES: Final = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES: Final = ("Always", "IfNotPresent", "Never")
MESSAGE_POLICIES: Final = ("File", "FallbackToLogsOnError")
PROTOCOLS: Final = ("SCTP", "TCP", "UDP")
PROPAGATION: Final = ("None", "HostToContainer", "Bidirectional")
MAX_INT32: Final = 2**31 - 1


# -- containers ----------------------------------------------------------------------------


def _ports(
    container: cc.Container, path: str, causes: Causes, host_network: bool, host_ports: set[Any]
) -> None:
    ports = container.ports
    if len(ports) == 1:
        port = ports[0]
        name = port.name
        if (
            not port.host_port
            and 1 <= port.container_port <= 65535
            and port.protocol in _PROTOCOLS_OR_DEFAULT
            and (not name or _port_name_ok(name))
        ):
            return
    names: set[str] = set()
    seen: set[tuple[int, str]] = set()
    for i, port in enumerate(ports):
        at = f"{path}[{i}]"
        if port.name:
            causes.extend(fv.validate_port_name(port.name, f"{at}.name"))
            if port.name in names:
                causes.append(fv.duplicate(f"{at}.name", port.name))
            names.add(port.name)
        number = port.container_port
        if not 1 <= number <= 65535:
            causes.extend(fv.validate_port_number(number, f"{at}.containerPort"))
        if port.host_port and not 1 <= port.host_port <= 65535:
            causes.extend(fv.validate_port_number(port.host_port, f"{at}.hostPort"))
        protocol = port.protocol or "TCP"
        if protocol not in PROTOCOLS:
            causes.append(fv.not_supported(f"{at}.protocol", protocol, PROTOCOLS))
        key = (number, protocol)
        if key in seen:
            causes.append(fv.duplicate(f"{at}.containerPort", f"{number}/{protocol}"))
        seen.add(key)
        if port.host_port:
            if host_network and port.host_port != number:
                detail = "must match `containerPort` when `hostNetwork` is true"
                causes.append(fv.invalid(f"{at}.hostPort", port.host_port, detail))
            host_key = (port.host_port, protocol, port.host_ip)
            if host_key in host_ports:
                causes.append(fv.duplicate(f"{at}.hostPort", f"{port.host_port}/{protocol}"))
            host_ports.add(host_key)


def _mounts(container: cc.Container, path: str, causes: Causes, vols: dict[str, cv.Volume]) -> None:
    mount_paths: set[str] = set()
    for i, mount in enumerate(container.volume_mounts):
        mount_path = mount.mount_path
        if (
            mount.name in vols
            and mount_path
            and mount_path not in mount_paths
            and not mount.sub_path
            and not mount.sub_path_expr
            and mount.mount_propagation is None
        ):
            mount_paths.add(mount_path)
            continue
        at = f"{path}.volumeMounts[{i}]"
        if not mount.name:
            causes.append(fv.required(f"{at}.name"))
        elif mount.name not in vols:
            causes.append(vc.not_found(f"{at}.name", mount.name))
        if not mount.mount_path:
            causes.append(fv.required(f"{at}.mountPath"))
        elif mount.mount_path in mount_paths:
            causes.append(fv.invalid(f"{at}.mountPath", mount.mount_path, "must be unique"))
        mount_paths.add(mount.mount_path)
        if mount.sub_path:
            vc.relative_path(mount.sub_path, f"{at}.subPath", causes)
        if mount.sub_path_expr:
            if mount.sub_path:
                detail = "subPathExpr and subPath are mutually exclusive"
                causes.append(fv.invalid(f"{at}.subPathExpr", mount.sub_path_expr, detail))
            vc.relative_path(mount.sub_path_expr, f"{at}.subPathExpr", causes)
        if mount.mount_propagation is not None and mount.mount_propagation not in PROPAGATION:
            causes.append(
                fv.not_supported(f"{at}.mountPropagation", mount.mount_propagation, PROPAGATION)
            )
    device_paths: set[str] = set()
    for i, device in enumerate(container.volume_devices):
        at = f"{path}.volumeDevices[{i}]"
        volume = vols.get(device.name)
        if not device.name:
            causes.append(fv.required(f"{at}.name"))
        elif volume is None:
            causes.append(vc.not_found(f"{at}.name", device.name))
        elif volume.persistent_volume_claim is None and volume.ephemeral is None:
            detail = (
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for "
                "block mode"
            )
            causes.append(fv.invalid(f"{at}.name", device.name, detail))
        if not device.device_path:
            causes.append(fv.required(f"{at}.devicePath"))
        elif device.device_path in device_paths:
            causes.append(fv.invalid(f"{at}.devicePath", device.device_path, "must be unique"))
        elif device.device_path in mount_paths:
            detail = "must not already exist as a path in volumeMounts"
            causes.append(fv.invalid(f"{at}.devicePath", device.device_path, detail))
        device_paths.add(device.device_path)


def _http_get(action: cc.HTTPGetAction, path: str, causes: Causes) -> None:
    vc.port_num_or_name(action.port, f"{path}.port", causes)
    if action.scheme not in ("HTTP", "HTTPS"):
        vc.enum(action.scheme, f"{path}.scheme", ("HTTP", "HTTPS"), causes, required=False)


def _handler(handler: Any, path: str, causes: Causes, kinds: tuple[tuple[str, str], ...]) -> None:
    present = [(attr, wire) for attr, wire in kinds if getattr(handler, attr) is not None]
    if not present:
        causes.append(fv.required(path, "must specify a handler type"))
        return
    for _, wire in present[1:]:
        causes.append(fv.forbidden(f"{path}.{wire}", "may not specify more than 1 handler type"))
    attr, wire = present[0]
    action = getattr(handler, attr)
    at = f"{path}.{wire}"
    if attr == "http_get":
        _http_get(action, at, causes)
    elif attr == "tcp_socket":
        vc.port_num_or_name(action.port, f"{at}.port", causes)
    elif attr == "grpc":
        causes.extend(fv.validate_port_number(action.port, f"{at}.port"))
    elif attr == "exec" and not action.command:
        causes.append(fv.required(f"{at}.command"))
    elif attr == "sleep":
        vc.nonnegative(action.seconds, f"{at}.seconds", causes)


_SCHEMES: Final = ("HTTP", "HTTPS", "")
_SUBDOMAIN_FIELDS: Final = ("serviceAccountName", "nodeName", "priorityClassName", "schedulerName")
_PROTOCOLS_OR_DEFAULT: Final = ("TCP", "", "UDP", "SCTP")
_PROBE_KINDS: Final = (
    ("exec", "exec"),
    ("http_get", "httpGet"),
    ("tcp_socket", "tcpSocket"),
    ("grpc", "grpc"),
)
_HOOK_KINDS: Final = (
    ("exec", "exec"),
    ("http_get", "httpGet"),
    ("tcp_socket", "tcpSocket"),
    ("sleep", "sleep"),
)


def _probe_ok(probe: cc.Probe, readiness: bool) -> bool:
    """Whether :func:`_probe` would find nothing, for the common HTTP/TCP/exec probes."""
    if probe.grpc is not None or probe.termination_grace_period_seconds is not None:
        return False
    http, tcp, exec_ = probe.http_get, probe.tcp_socket, probe.exec
    if http is not None:
        if tcp is not None or exec_ is not None or http.scheme not in _SCHEMES:
            return False
        port: Any = http.port
    elif tcp is not None:
        if exec_ is not None:
            return False
        port = tcp.port
    else:
        return exec_ is not None and bool(exec_.command) and _probe_numbers_ok(probe, readiness)
    if port.__class__ is int:
        if not 1 <= port <= 65535:
            return False
    elif port.__class__ is not str or not _port_name_ok(port):
        return False
    return _probe_numbers_ok(probe, readiness)


def _probe_numbers_ok(probe: cc.Probe, readiness: bool) -> bool:
    return (
        probe.initial_delay_seconds >= 0
        and probe.timeout_seconds >= 0
        and probe.period_seconds >= 0
        and probe.failure_threshold >= 0
        and (probe.success_threshold >= 0 if readiness else probe.success_threshold in (0, 1))
    )


@functools.lru_cache(maxsize=1024)
def _port_name_ok(name: str) -> bool:
    return not fv.validate_port_name(name, "")


def _probe(probe: cc.Probe, path: str, causes: Causes, *, readiness: bool) -> None:
    if _probe_ok(probe, readiness):
        return
    _handler(probe, path, causes, _PROBE_KINDS)
    for value, wire in (
        (probe.initial_delay_seconds, "initialDelaySeconds"),
        (probe.timeout_seconds, "timeoutSeconds"),
        (probe.period_seconds, "periodSeconds"),
        (probe.success_threshold, "successThreshold"),
        (probe.failure_threshold, "failureThreshold"),
    ):
        if value < 0:
            causes.append(fv.invalid(f"{path}.{wire}", value, vc.MUST_BE_NONNEGATIVE))
    grace = probe.termination_grace_period_seconds
    if readiness:
        if probe.termination_grace_period_seconds is not None:
            causes.append(
                fv.invalid(
                    f"{path}.terminationGracePeriodSeconds",
                    grace,
                    "must not be set for readinessProbes",
                )
            )
    else:
        if probe.success_threshold not in (0, 1):
            causes.append(
                fv.invalid(f"{path}.successThreshold", probe.success_threshold, "must be 1")
            )
        vc.positive(grace, f"{path}.terminationGracePeriodSeconds", causes)


def _container(
    container: cc.Container,
    path: str,
    causes: Causes,
    *,
    kind: str,
    vols: dict[str, cv.Volume],
    host_network: bool,
    host_ports: set[Any],
) -> None:
    if not container.image:
        causes.append(fv.required(f"{path}.image"))
    elif container.image != container.image.strip():
        detail = "must not have leading or trailing whitespace"
        causes.append(fv.invalid(f"{path}.image", container.image, detail))
    # Empty enums are accepted: default() fills them (module docstring of _validate_kinds).
    pull = container.image_pull_policy
    if pull and pull not in PULL_POLICIES:
        causes.append(fv.not_supported(f"{path}.imagePullPolicy", pull, PULL_POLICIES))
    message_policy = container.termination_message_policy
    if message_policy and message_policy not in MESSAGE_POLICIES:
        at = f"{path}.terminationMessagePolicy"
        causes.append(fv.not_supported(at, message_policy, MESSAGE_POLICIES))
    restart = container.restart_policy
    sidecar = kind == "initContainers" and restart == "Always"
    if restart is not None:
        if kind == "initContainers":
            if restart != "Always":
                causes.append(fv.not_supported(f"{path}.restartPolicy", restart, ("Always",)))
        else:
            which = "ephemeral" if kind == "ephemeralContainers" else "non-init"
            detail = f"may not be set for {which} containers"
            causes.append(fv.forbidden(f"{path}.restartPolicy", detail))
    if container.ports:
        _ports(container, f"{path}.ports", causes, host_network, host_ports)
    if container.env or container.env_from:
        vr.env(container, path, causes)
    resources = container.resources
    if (resources.limits or resources.requests) and not vr.resources_ok(resources):
        vr.resource_requirements(resources, f"{path}.resources", causes)
    if container.volume_mounts or container.volume_devices:
        _mounts(container, path, causes, vols)
    no_probes = kind == "ephemeralContainers" or (kind == "initContainers" and not sidecar)
    for probe, wire, readiness in (
        (container.liveness_probe, "livenessProbe", False),
        (container.readiness_probe, "readinessProbe", True),
        (container.startup_probe, "startupProbe", False),
    ):
        if probe is None:
            continue
        if no_probes:
            causes.append(fv.forbidden(f"{path}.{wire}", _not_allowed(kind)))
        elif not _probe_ok(probe, readiness):
            _probe(probe, f"{path}.{wire}", causes, readiness=readiness)
    lifecycle = container.lifecycle
    if lifecycle is not None:
        if kind == "ephemeralContainers" or (kind == "initContainers" and not sidecar):
            causes.append(fv.forbidden(f"{path}.lifecycle", _not_allowed(kind)))
        else:
            for hook, wire in (
                (lifecycle.post_start, "postStart"),
                (lifecycle.pre_stop, "preStop"),
            ):
                if hook is not None:
                    _handler(hook, f"{path}.lifecycle.{wire}", causes, _HOOK_KINDS)
    security = container.security_context
    if (
        security is not None
        and security.privileged
        and security.allow_privilege_escalation is False
    ):
        detail = "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
        causes.append(fv.invalid(f"{path}.securityContext", vc.wire(security), detail))
    if kind == "ephemeralContainers":
        if container.ports:
            causes.append(fv.forbidden(f"{path}.ports", "cannot be set for an Ephemeral Container"))
        if resources.limits or resources.requests:
            causes.append(
                fv.forbidden(f"{path}.resources", "cannot be set for an Ephemeral Container")
            )


def _not_allowed(kind: str) -> str:
    if kind == "ephemeralContainers":
        return "cannot be set for an Ephemeral Container"
    return "may not be set for init containers without restartPolicy=Always"


# -- pod spec ------------------------------------------------------------------------------


def pod_spec(
    spec: cp.PodSpec,
    path: str,
    causes: Causes,
    *,
    template: bool = False,
    extra_volumes: dict[str, cv.Volume] | None = None,
) -> None:
    """``ValidatePodSpec``: every rule of this module and :mod:`_validate_scheduling`.

    Args:
        spec: the pod spec.
        path: its field path (``spec``, ``spec.template.spec``…).
        causes: where problems are appended.
        template: the spec is a pod template's (ephemeral containers are forbidden).
        extra_volumes: volumes the pod will have besides its own (a StatefulSet's claim
            templates), by name, for mounts to refer to.
    """
    vols = vv.volumes(spec.volumes, f"{path}.volumes", causes) if spec.volumes else {}
    if extra_volumes:
        vols = {**extra_volumes, **vols}
    if not spec.containers:
        causes.append(fv.required(f"{path}.containers"))
    names: set[str] = set()
    host_ports: set[Any] = set()
    host_network = spec.host_network
    groups: list[tuple[str, list[Any]]] = [("containers", spec.containers)]
    if spec.init_containers:
        groups.insert(0, ("initContainers", spec.init_containers))
    if spec.ephemeral_containers:
        groups.append(("ephemeralContainers", spec.ephemeral_containers))
    for kind, items in groups:
        for i, container in enumerate(items):
            at = f"{path}.{kind}[{i}]"
            name = container.name
            if name in names:
                causes.append(fv.duplicate(f"{at}.name", name))
            else:
                if not vv.label_ok(name):
                    vv.dns_label(name, f"{at}.name", causes)
                names.add(name)
            _container(
                container,
                at,
                causes,
                kind=kind,
                vols=vols,
                host_network=host_network,
                host_ports=host_ports,
            )
    if template and spec.ephemeral_containers:
        detail = "ephemeral containers not allowed in pod template"
        causes.append(fv.forbidden(f"{path}.ephemeralContainers", detail))
    for i, container in enumerate(spec.ephemeral_containers):
        target = container.target_container_name
        if target and target not in names:
            causes.append(
                vc.not_found(f"{path}.ephemeralContainers[{i}].targetContainerName", target)
            )
    if spec.restart_policy and spec.restart_policy not in RESTART_POLICIES:
        causes.append(
            fv.not_supported(f"{path}.restartPolicy", spec.restart_policy, RESTART_POLICIES)
        )
    if spec.dns_policy and spec.dns_policy not in DNS_POLICIES:
        causes.append(fv.not_supported(f"{path}.dnsPolicy", spec.dns_policy, DNS_POLICIES))
    elif spec.dns_policy == "None" and (spec.dns_config is None or not spec.dns_config.nameservers):
        detail = "must provide at least one DNS nameserver when `dnsPolicy` is None"
        causes.append(fv.required(f"{path}.dnsConfig.nameservers", detail))
    if (
        spec.active_deadline_seconds is not None
        and not 1 <= spec.active_deadline_seconds <= MAX_INT32
    ):
        detail = f"must be between 1 and {MAX_INT32}, inclusive"
        causes.append(
            fv.invalid(f"{path}.activeDeadlineSeconds", spec.active_deadline_seconds, detail)
        )
    subdomains = (
        spec.service_account_name,
        spec.node_name,
        spec.priority_class_name,
        spec.scheduler_name,
    )
    if any(value and vc.subdomain_errors(value) for value in subdomains):
        for value, wire in zip(subdomains, _SUBDOMAIN_FIELDS, strict=True):
            for message in vc.subdomain_errors(value) if value else ():
                causes.append(fv.invalid(f"{path}.{wire}", value, message))
    if spec.hostname or spec.subdomain:
        for value, wire in ((spec.hostname, "hostname"), (spec.subdomain, "subdomain")):
            if value:
                vv.dns_label(value, f"{path}.{wire}", causes)
    for name, value in spec.overhead.items():
        at = f"{path}.overhead[{name}]"
        causes.extend(fv.validate_resource_name(name, at))
        vc.nonnegative_quantity(value, at, causes)
    if spec.os is not None:
        vc.enum(spec.os.name, f"{path}.os.name", ("linux", "windows"), causes)
    if spec.preemption_policy is not None:
        vc.enum(
            spec.preemption_policy,
            f"{path}.preemptionPolicy",
            ("Never", "PreemptLowerPriority"),
            causes,
        )
    vs.scheduling(spec, path, causes)
