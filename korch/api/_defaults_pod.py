"""Defaulting of pod specs: containers, probes, ports, env, volumes (``SetDefaults_PodSpec``…).

The rules are kube-apiserver's (``pkg/apis/core/v1/defaults.go`` and the generated
``zz_generated.defaults.go``), split the way Kubernetes splits them:

* :func:`pod_spec` is what *every* pod spec gets, in Pods and in workload templates alike:
  ``dnsPolicy: ClusterFirst``, ``restartPolicy: Always`` (unless the caller keeps it, as for
  Job templates), ``securityContext: {}``, ``terminationGracePeriodSeconds: 30``,
  ``schedulerName: default-scheduler``; per container ``imagePullPolicy`` (``Always`` for a
  ``:latest`` or untagged image, else ``IfNotPresent``), ``terminationMessagePath``/``Policy``,
  port ``protocol: TCP``, env ``fieldRef.apiVersion: v1``, probe timings (1 s timeout, 10 s
  period, thresholds 1/3), ``httpGet`` path ``/`` and scheme ``HTTP``, gRPC ``service: ""``;
  per volume ``emptyDir: {}`` when no source is set, ``defaultMode: 420`` (0644) for
  configMap/secret/downwardAPI/projected, ``hostPath.type: ""``, token projections expiring
  after 3600 s, ``volumeMode: Filesystem`` in ephemeral claim templates.
* ``pod=True`` adds what only a Pod object gets (``SetDefaults_Pod`` and the Priority
  admission default): container requests copied from limits when a limit has no request,
  ``enableServiceLinks: true``, ``hostPort = containerPort`` under ``hostNetwork``, and
  ``priority: 0`` when no ``priorityClassName`` names one. Templates never get these, so
  an API-server upgrade does not change stored templates and roll every workload.

Every function here is pure and returns its argument itself when nothing changes, so
defaulting an already defaulted object allocates nothing and idempotence is structural:
each rule only fills a value that is missing. New objects are copies with changes
(:func:`copy_with`, equivalent to :func:`attrs.evolve` but several times faster), never
mutations.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

from korch.api import _codegen
from korch.api import _core_container as cc
from korch.api import _core_pod as cp
from korch.api import _core_volume as cv

__all__ = ("copy_with", "pod_spec", "pull_policy", "update_list")

T = TypeVar("T")

DEFAULT_MODE: Final = 0o644
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"
TOKEN_EXPIRATION_SECONDS: Final = 3600

# -- copying frozen objects fast -----------------------------------------------------------

_COPIERS: dict[type, Callable[[Any, dict[str, Any]], Any]] = {}


def _make_copier(cls: type) -> Callable[[Any, dict[str, Any]], Any]:
    """Compile ``copy(obj, changes)`` for attrs class ``cls``.

    The copy is built the way the codec builds decoded objects (plain stores into a
    slot-compatible builder subclass, then ``__class__`` switched), which is several times
    faster than :func:`attrs.evolve` going through the frozen ``__init__``; classes the
    codec cannot build that way fall back to :func:`attrs.evolve`.
    """
    fields = attrs.fields(cls)
    builder = _codegen.builder_class(cls) if _codegen._direct_construction(cls, fields) else None
    if builder is None:

        def evolve(obj: Any, changes: dict[str, Any]) -> Any:
            return attrs.evolve(obj, **changes)

        return evolve
    lines = ["def copy(o, changes):", "  n = __new(__builder)"]
    lines += [f"  n.{a.name} = o.{a.name}" for a in fields]
    lines += [
        "  for k, v in changes.items():",
        "    __setattr(n, k, v)",
        "  n.__class__ = __cl",
        "  return n",
    ]
    ns: dict[str, Any] = {
        "__new": object.__new__,
        "__builder": builder,
        "__cl": cls,
        "__setattr": object.__setattr__,
    }
    exec(compile("\n".join(lines), f"<korch copy {cls.__qualname__}>", "exec"), ns)
    copier: Callable[[Any, dict[str, Any]], Any] = ns["copy"]
    return copier


def copy_with(obj: T, changes: dict[str, Any]) -> T:
    """A copy of frozen attrs object ``obj`` with ``changes`` applied (as ``attrs.evolve``).

    ``changes`` maps attribute names to new values; an empty dict returns ``obj`` itself.
    """
    if not changes:
        return obj
    try:
        copier = _COPIERS[obj.__class__]
    except KeyError:
        copier = _COPIERS[obj.__class__] = _make_copier(obj.__class__)
    result: T = copier(obj, changes)
    return result


def update_list(items: list[T], fn: Callable[[T], T]) -> list[T]:
    """``[fn(x) for x in items]``, or ``items`` itself when ``fn`` changed nothing."""
    out: list[T] | None = None
    for i, item in enumerate(items):
        new = fn(item)
        if new is not item:
            if out is None:
                out = list(items)
            out[i] = new
    return items if out is None else out


# -- containers ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def pull_policy(image: str) -> str:
    """The default ``imagePullPolicy`` of ``image``: ``Always`` for tag ``latest`` or no tag
    and no digest (which means ``latest``), else ``IfNotPresent`` (also for names that do
    not parse as image references, as Kubernetes assumes they are rejected elsewhere)."""
    name, at, _digest = image.partition("@")
    if not name or name != name.strip() or any(ch.isupper() for ch in name.split(":")[0]):
        return "IfNotPresent"
    last = name.rpartition("/")[2]
    _, colon, tag = last.rpartition(":")
    if colon:
        return "Always" if tag == "latest" else "IfNotPresent"
    return "IfNotPresent" if at else "Always"


def _field_selector(ref: cc.ObjectFieldSelector | None) -> cc.ObjectFieldSelector | None:
    if ref is None or ref.api_version:
        return ref
    return copy_with(ref, {"api_version": "v1"})


def _env(env: cc.EnvVar) -> cc.EnvVar:
    source = env.value_from
    if source is None or source.field_ref is None or source.field_ref.api_version:
        return env
    source = copy_with(source, {"field_ref": _field_selector(source.field_ref)})
    return copy_with(env, {"value_from": source})


def _http_get(action: cc.HTTPGetAction | None) -> cc.HTTPGetAction | None:
    if action is None or (action.path and action.scheme):
        return action
    return copy_with(action, {"path": action.path or "/", "scheme": action.scheme or "HTTP"})


def _probe(probe: cc.Probe | None) -> cc.Probe | None:
    if probe is None:
        return None
    changes: dict[str, Any] = {}
    if not probe.timeout_seconds:
        changes["timeout_seconds"] = 1
    if not probe.period_seconds:
        changes["period_seconds"] = 10
    if not probe.success_threshold:
        changes["success_threshold"] = 1
    if not probe.failure_threshold:
        changes["failure_threshold"] = 3
    http_get = _http_get(probe.http_get)
    if http_get is not probe.http_get:
        changes["http_get"] = http_get
    if probe.grpc is not None and probe.grpc.service is None:
        changes["grpc"] = copy_with(probe.grpc, {"service": ""})
    return copy_with(probe, changes)


def _handler(handler: cc.LifecycleHandler | None) -> cc.LifecycleHandler | None:
    if handler is None:
        return None
    http_get = _http_get(handler.http_get)
    return handler if http_get is handler.http_get else copy_with(handler, {"http_get": http_get})


def _lifecycle(lifecycle: cc.Lifecycle | None) -> cc.Lifecycle | None:
    if lifecycle is None:
        return None
    post_start, pre_stop = _handler(lifecycle.post_start), _handler(lifecycle.pre_stop)
    if post_start is lifecycle.post_start and pre_stop is lifecycle.pre_stop:
        return lifecycle
    return copy_with(lifecycle, {"post_start": post_start, "pre_stop": pre_stop})


def _requests_from_limits(resources: cc.ResourceRequirements) -> cc.ResourceRequirements:
    limits, requests = resources.limits, resources.requests
    if not limits or all(name in requests for name in limits):
        return resources
    merged = dict(requests)
    for name, value in limits.items():
        merged.setdefault(name, value)
    return copy_with(resources, {"requests": merged})


def _ports(ports: list[cc.ContainerPort], host_ports: bool) -> list[cc.ContainerPort]:
    out: list[cc.ContainerPort] | None = None
    for i, port in enumerate(ports):
        changes: dict[str, Any] = {}
        if not port.protocol:
            changes["protocol"] = "TCP"
        if host_ports and not port.host_port:
            changes["host_port"] = port.container_port
        if changes:
            if out is None:
                out = list(ports)
            out[i] = copy_with(port, changes)
    return ports if out is None else out


def _env_list(env: list[cc.EnvVar]) -> list[cc.EnvVar]:
    out: list[cc.EnvVar] | None = None
    for i, var in enumerate(env):
        source = var.value_from
        if source is not None and source.field_ref is not None and not source.field_ref.api_version:
            if out is None:
                out = list(env)
            out[i] = _env(var)
    return env if out is None else out


def _container(c: T, *, pod: bool, host_network: bool) -> T:
    # One function for Container and EphemeralContainer (a subclass with one more field).
    # Hot path of defaulting: the common cases are tested inline before calling helpers.
    container: Any = c
    changes: dict[str, Any] = {}
    if not container.image_pull_policy:
        changes["image_pull_policy"] = pull_policy(container.image)
    if not container.termination_message_path:
        changes["termination_message_path"] = TERMINATION_MESSAGE_PATH
    if not container.termination_message_policy:
        changes["termination_message_policy"] = "File"
    if container.ports:
        ports = _ports(container.ports, pod and host_network)
        if ports is not container.ports:
            changes["ports"] = ports
    if container.env:
        env = _env_list(container.env)
        if env is not container.env:
            changes["env"] = env
    if pod and container.resources.limits:
        resources = _requests_from_limits(container.resources)
        if resources is not container.resources:
            changes["resources"] = resources
    probe = container.liveness_probe
    if probe is not None:
        new = _probe(probe)
        if new is not probe:
            changes["liveness_probe"] = new
    probe = container.readiness_probe
    if probe is not None:
        new = _probe(probe)
        if new is not probe:
            changes["readiness_probe"] = new
    probe = container.startup_probe
    if probe is not None:
        new = _probe(probe)
        if new is not probe:
            changes["startup_probe"] = new
    if container.lifecycle is not None:
        lifecycle = _lifecycle(container.lifecycle)
        if lifecycle is not container.lifecycle:
            changes["lifecycle"] = lifecycle
    if not changes:
        return c
    result: T = copy_with(container, changes)
    return result


# -- volumes -------------------------------------------------------------------------------


def _with_mode(source: Any) -> Any:
    if source is None or source.default_mode is not None:
        return source
    return copy_with(source, {"default_mode": DEFAULT_MODE})


def _downward_file(item: cv.DownwardAPIVolumeFile) -> cv.DownwardAPIVolumeFile:
    ref = _field_selector(item.field_ref)
    return item if ref is item.field_ref else copy_with(item, {"field_ref": ref})


def _projection(source: cv.VolumeProjection) -> cv.VolumeProjection:
    changes: dict[str, Any] = {}
    downward = source.downward_api
    if downward is not None:
        items = update_list(downward.items, _downward_file)
        if items is not downward.items:
            changes["downward_api"] = copy_with(downward, {"items": items})
    token = source.service_account_token
    if token is not None and token.expiration_seconds is None:
        changes["service_account_token"] = copy_with(
            token, {"expiration_seconds": TOKEN_EXPIRATION_SECONDS}
        )
    return copy_with(source, changes)


_SOURCES: Final = tuple(
    a.name for a in attrs.fields(cv.Volume) if a.name not in ("name", "_unknown")
)
# All sources read in one C call; a volume without any is (None, None, …).
_read_sources: Final = operator.attrgetter(*_SOURCES)
_NO_SOURCE: Final = (None,) * len(_SOURCES)


def _ephemeral(raw: dict[str, Any]) -> dict[str, Any]:
    template = raw.get("volumeClaimTemplate")
    spec = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict) or spec.get("volumeMode") is not None:
        return raw
    assert isinstance(template, dict)
    return {
        **raw,
        "volumeClaimTemplate": {**template, "spec": {**spec, "volumeMode": "Filesystem"}},
    }


def _volume(volume: cv.Volume) -> cv.Volume:
    # The common sources first: each returns as soon as its own defaults are applied.
    config_map = volume.config_map
    if config_map is not None:
        if config_map.default_mode is not None:
            return volume
        return copy_with(volume, {"config_map": _with_mode(config_map)})
    secret = volume.secret
    if secret is not None:
        if secret.default_mode is not None:
            return volume
        return copy_with(volume, {"secret": _with_mode(secret)})
    if volume.empty_dir is not None or volume.persistent_volume_claim is not None:
        return volume
    changes: dict[str, Any] = {}
    if _read_sources(volume) == _NO_SOURCE:
        changes["empty_dir"] = cv.EmptyDirVolumeSource()
    host_path = volume.host_path
    if host_path is not None and host_path.type is None:
        changes["host_path"] = copy_with(host_path, {"type": ""})
    downward = volume.downward_api
    if downward is not None:
        new_downward = _with_mode(downward)
        items = update_list(downward.items, _downward_file)
        if items is not downward.items:
            new_downward = copy_with(new_downward, {"items": items})
        if new_downward is not downward:
            changes["downward_api"] = new_downward
    projected = volume.projected
    if projected is not None:
        new_projected = _with_mode(projected)
        sources = update_list(projected.sources, _projection)
        if sources is not projected.sources:
            new_projected = copy_with(new_projected, {"sources": sources})
        if new_projected is not projected:
            changes["projected"] = new_projected
    if volume.ephemeral is not None:
        ephemeral = _ephemeral(volume.ephemeral)
        if ephemeral is not volume.ephemeral:
            changes["ephemeral"] = ephemeral
    return copy_with(volume, changes)


# -- pod spec ------------------------------------------------------------------------------


def _containers(items: list[T], *, pod: bool, host_network: bool) -> list[T]:
    out: list[T] | None = None
    for i, container in enumerate(items):
        new = _container(container, pod=pod, host_network=host_network)
        if new is not container:
            if out is None:
                out = list(items)
            out[i] = new
    return items if out is None else out


def pod_spec(
    spec: cp.PodSpec, *, pod: bool = False, keep_restart_policy: bool = False
) -> cp.PodSpec:
    """Default a pod spec (module docstring).

    Args:
        spec: the spec to default (not modified).
        pod: also apply the Pod-only defaults (requests from limits, service links,
            host ports under hostNetwork, priority 0 without a priority class).
        keep_restart_policy: leave an empty ``restartPolicy`` empty (Job templates, whose
            validation then asks for ``OnFailure`` or ``Never``).

    Returns:
        The defaulted spec; ``spec`` itself when nothing was missing.
    """
    changes: dict[str, Any] = {}
    if not spec.dns_policy:
        changes["dns_policy"] = "ClusterFirst"
    if not spec.restart_policy and not keep_restart_policy:
        changes["restart_policy"] = "Always"
    if spec.security_context is None:
        changes["security_context"] = cp.PodSecurityContext()
    if spec.termination_grace_period_seconds is None:
        changes["termination_grace_period_seconds"] = 30
    if not spec.scheduler_name:
        changes["scheduler_name"] = "default-scheduler"
    host_network = spec.host_network
    for name in ("containers", "init_containers", "ephemeral_containers"):
        old = getattr(spec, name)
        if old:
            new = _containers(
                old, pod=pod and name != "ephemeral_containers", host_network=host_network
            )
            if new is not old:
                changes[name] = new
    volumes = update_list(spec.volumes, _volume)
    if volumes is not spec.volumes:
        changes["volumes"] = volumes
    if pod:
        if spec.enable_service_links is None:
            changes["enable_service_links"] = True
        if spec.priority is None and not spec.priority_class_name:
            changes["priority"] = 0
    return copy_with(spec, changes)
