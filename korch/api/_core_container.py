"""core/v1 container types: Container, probes, env, resources, security context, statuses.

Modelling rules are those of :mod:`korch.api._meta` (pointers are ``T | None``, value
structs are factories, quantities are wire strings, intOrString is ``int | str``).
"""

from __future__ import annotations

import datetime
from typing import Any

import attrs

from korch.api._meta import ALWAYS, Model, field_info

__all__ = (
    "AppArmorProfile",
    "Capabilities",
    "ConfigMapEnvSource",
    "ConfigMapKeySelector",
    "Container",
    "ContainerPort",
    "ContainerResizePolicy",
    "ContainerState",
    "ContainerStateRunning",
    "ContainerStateTerminated",
    "ContainerStateWaiting",
    "ContainerStatus",
    "EnvFromSource",
    "EnvVar",
    "EnvVarSource",
    "EphemeralContainer",
    "ExecAction",
    "GRPCAction",
    "HTTPGetAction",
    "HTTPHeader",
    "Lifecycle",
    "LifecycleHandler",
    "ObjectFieldSelector",
    "Probe",
    "ResourceClaim",
    "ResourceFieldSelector",
    "ResourceRequirements",
    "SELinuxOptions",
    "SeccompProfile",
    "SecretEnvSource",
    "SecretKeySelector",
    "SecurityContext",
    "SleepAction",
    "TCPSocketAction",
    "VolumeDevice",
    "VolumeMount",
    "VolumeMountStatus",
    "WindowsSecurityContextOptions",
)

_REQ = field_info(always=True, required=True)


# -- env -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ObjectFieldSelector(Model):
    """Selects a field of the pod (``metadata.name``, ``status.podIP``…)."""

    api_version: str = ""
    field_path: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class ResourceFieldSelector(Model):
    """Selects a container resource (``limits.cpu``…), scaled by ``divisor``."""

    container_name: str = ""
    resource: str = attrs.field(default="", metadata=_REQ)
    divisor: str = ""


@attrs.frozen(kw_only=True)
class ConfigMapKeySelector(Model):
    """One key of a ConfigMap."""

    name: str = ""
    key: str = attrs.field(default="", metadata=_REQ)
    optional: bool | None = None


@attrs.frozen(kw_only=True)
class SecretKeySelector(Model):
    """One key of a Secret."""

    name: str = ""
    key: str = attrs.field(default="", metadata=_REQ)
    optional: bool | None = None


@attrs.frozen(kw_only=True)
class EnvVarSource(Model):
    """Where an env var's value comes from (exactly one member set)."""

    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    config_map_key_ref: ConfigMapKeySelector | None = None
    secret_key_ref: SecretKeySelector | None = None


@attrs.frozen(kw_only=True)
class EnvVar(Model):
    """An environment variable: a literal ``value`` or ``value_from`` a source."""

    name: str = attrs.field(default="", metadata=_REQ)
    value: str = ""
    value_from: EnvVarSource | None = None


@attrs.frozen(kw_only=True)
class ConfigMapEnvSource(Model):
    """All keys of a ConfigMap as env vars."""

    name: str = ""
    optional: bool | None = None


@attrs.frozen(kw_only=True)
class SecretEnvSource(Model):
    """All keys of a Secret as env vars."""

    name: str = ""
    optional: bool | None = None


@attrs.frozen(kw_only=True)
class EnvFromSource(Model):
    """A ConfigMap or Secret whose keys become env vars (optionally prefixed)."""

    prefix: str = ""
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None


# -- ports, resources, mounts ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class ContainerPort(Model):
    """A port the container listens on."""

    name: str = ""
    host_port: int = 0
    container_port: int = attrs.field(default=0, metadata=_REQ)
    protocol: str = ""
    host_ip: str = ""


@attrs.frozen(kw_only=True)
class ResourceClaim(Model):
    """A reference to one of the pod's resourceClaims."""

    name: str = attrs.field(default="", metadata=_REQ)
    request: str = ""


@attrs.frozen(kw_only=True)
class ResourceRequirements(Model):
    """Requests and limits, as quantity strings keyed by resource name."""

    limits: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    requests: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    claims: list[ResourceClaim] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class VolumeMount(Model):
    """Where a pod volume is mounted in the container."""

    name: str = attrs.field(default="", metadata=_REQ)
    read_only: bool = False
    recursive_read_only: str | None = None
    mount_path: str = attrs.field(default="", metadata=_REQ)
    sub_path: str = ""
    mount_propagation: str | None = None
    sub_path_expr: str = ""


@attrs.frozen(kw_only=True)
class VolumeDevice(Model):
    """A raw block volume mapped into the container."""

    name: str = attrs.field(default="", metadata=_REQ)
    device_path: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class ContainerResizePolicy(Model):
    """Whether resizing a resource restarts the container."""

    resource_name: str = attrs.field(default="", metadata=_REQ)
    restart_policy: str = attrs.field(default="", metadata=_REQ)


# -- probes and lifecycle --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ExecAction(Model):
    """Run a command in the container; exit status 0 is success."""

    command: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class HTTPHeader(Model):
    """A custom header of an HTTP probe."""

    name: str = attrs.field(default="", metadata=_REQ)
    value: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class HTTPGetAction(Model):
    """An HTTP GET; 200 <= status < 400 is success. ``port`` is a number or a port name."""

    path: str = ""
    port: int | str = attrs.field(default=0, metadata=_REQ)
    host: str = ""
    scheme: str = ""
    http_headers: list[HTTPHeader] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class TCPSocketAction(Model):
    """A TCP connect; an open connection is success."""

    port: int | str = attrs.field(default=0, metadata=_REQ)
    host: str = ""


@attrs.frozen(kw_only=True)
class GRPCAction(Model):
    """A gRPC health check."""

    port: int = attrs.field(default=0, metadata=_REQ)
    service: str | None = None


@attrs.frozen(kw_only=True)
class SleepAction(Model):
    """Sleep (a lifecycle hook)."""

    seconds: int = attrs.field(default=0, metadata=_REQ)


@attrs.frozen(kw_only=True)
class Probe(Model):
    """A liveness, readiness or startup probe (one handler plus timing)."""

    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int = 0
    timeout_seconds: int = 0
    period_seconds: int = 0
    success_threshold: int = 0
    failure_threshold: int = 0
    termination_grace_period_seconds: int | None = None


@attrs.frozen(kw_only=True)
class LifecycleHandler(Model):
    """A postStart / preStop hook action."""

    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    sleep: SleepAction | None = None


@attrs.frozen(kw_only=True)
class Lifecycle(Model):
    """Container lifecycle hooks."""

    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None
    stop_signal: str | None = None


# -- security --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Capabilities(Model):
    """Linux capabilities added to / dropped from the default set."""

    add: list[str] = attrs.Factory(list)
    drop: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class SELinuxOptions(Model):
    """SELinux labels."""

    user: str = ""
    role: str = ""
    type: str = ""
    level: str = ""


@attrs.frozen(kw_only=True)
class WindowsSecurityContextOptions(Model):
    """Windows-specific security options."""

    gmsa_credential_spec_name: str | None = None
    gmsa_credential_spec: str | None = None
    run_as_user_name: str | None = None
    host_process: bool | None = None


@attrs.frozen(kw_only=True)
class SeccompProfile(Model):
    """A seccomp profile (RuntimeDefault, Unconfined or Localhost)."""

    type: str = attrs.field(default="", metadata=_REQ)
    localhost_profile: str | None = None


@attrs.frozen(kw_only=True)
class AppArmorProfile(Model):
    """An AppArmor profile (RuntimeDefault, Unconfined or Localhost)."""

    type: str = attrs.field(default="", metadata=_REQ)
    localhost_profile: str | None = None


@attrs.frozen(kw_only=True)
class SecurityContext(Model):
    """Container-level security settings (override the pod's)."""

    capabilities: Capabilities | None = None
    privileged: bool | None = None
    se_linux_options: SELinuxOptions | None = None
    windows_options: WindowsSecurityContextOptions | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    proc_mount: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None


# -- containers ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Container(Model):
    """A container of a pod (also used for init containers)."""

    name: str = attrs.field(default="", metadata=_REQ)
    image: str = attrs.field(default="", metadata=field_info(required=True))
    command: list[str] = attrs.Factory(list)
    args: list[str] = attrs.Factory(list)
    working_dir: str = ""
    ports: list[ContainerPort] = attrs.Factory(list)
    env_from: list[EnvFromSource] = attrs.Factory(list)
    env: list[EnvVar] = attrs.Factory(list)
    resources: ResourceRequirements = attrs.Factory(ResourceRequirements)
    resize_policy: list[ContainerResizePolicy] = attrs.Factory(list)
    restart_policy: str | None = None
    volume_mounts: list[VolumeMount] = attrs.Factory(list)
    volume_devices: list[VolumeDevice] = attrs.Factory(list)
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    termination_message_path: str = ""
    termination_message_policy: str = ""
    image_pull_policy: str = ""
    security_context: SecurityContext | None = None
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False


@attrs.frozen(kw_only=True)
class EphemeralContainer(Container):
    """A debugging container added to a running pod (``kubectl debug``)."""

    target_container_name: str = ""


# -- statuses --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ContainerStateWaiting(Model):
    """Not running yet (``ContainerCreating``, ``CrashLoopBackOff``…)."""

    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class ContainerStateRunning(Model):
    """Running since ``started_at``."""

    started_at: datetime.datetime | None = None


@attrs.frozen(kw_only=True)
class ContainerStateTerminated(Model):
    """Exited with ``exit_code``."""

    exit_code: int = attrs.field(default=0, metadata=ALWAYS)
    signal: int = 0
    reason: str = ""
    message: str = ""
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    container_id: str = ""


@attrs.frozen(kw_only=True)
class ContainerState(Model):
    """Exactly one of waiting, running, terminated (none: waiting by default)."""

    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


@attrs.frozen(kw_only=True)
class VolumeMountStatus(Model):
    """The observed state of a volume mount."""

    name: str = attrs.field(default="", metadata=_REQ)
    mount_path: str = attrs.field(default="", metadata=_REQ)
    read_only: bool = False
    recursive_read_only: str | None = None


@attrs.frozen(kw_only=True)
class ContainerStatus(Model):
    """The observed state of one container, reported by the node agent."""

    name: str = attrs.field(default="", metadata=_REQ)
    state: ContainerState = attrs.Factory(ContainerState)
    last_state: ContainerState = attrs.Factory(ContainerState)
    ready: bool = attrs.field(default=False, metadata=_REQ)
    restart_count: int = attrs.field(default=0, metadata=_REQ)
    image: str = attrs.field(default="", metadata=_REQ)
    image_id: str = attrs.field(default="", metadata=_REQ)
    container_id: str = ""
    started: bool | None = None
    allocated_resources: dict[str, str] = attrs.field(
        factory=dict, metadata=field_info(quantity=True)
    )
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMountStatus] = attrs.Factory(list)
    user: dict[str, Any] | None = None
    allocated_resources_status: list[dict[str, Any]] = attrs.Factory(list)
    stop_signal: str | None = None
