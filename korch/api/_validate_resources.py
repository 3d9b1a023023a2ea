"""Validation of what a container consumes: resources (requests and limits) and env.

kube-apiserver's ``ValidateResourceRequirements`` and env rules with their messages:
resource names (standard container resources, hugepages or fully qualified extended
resources), non-negative quantities (integers for extended resources), requests no larger
than limits (equal for extended resources, which need a limit); env var names, exactly one
``valueFrom`` source and never beside a ``value``, supported ``fieldRef`` paths, valid
config-map and secret keys, ``envFrom`` with exactly one source.

Both run for every container of every pod and template, so each has a fast check
(:func:`resources_ok`, ``_env_ok``) that accepts the common valid shapes with cached
lookups; anything else goes through the full rules, which word the causes.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from korch import errors
from korch.api import _core_container as cc
from korch.api import _quantity
from korch.api import _validate_common as vc
from korch.api import _validate_volumes as vv
from korch.api import _validation as fv

__all__ = ("env", "resource_requirements", "resources_ok")

Causes = vc.Causes

_ENV_FIELDS: Final = (
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
    "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP",
    "status.hostIPs", "status.podIP", "status.podIPs",
)  # fmt: skip
_ENV_FIELD_SET: Final = frozenset(_ENV_FIELDS)
_CONTAINER_RESOURCES: Final = frozenset(("cpu", "memory", "ephemeral-storage"))
_INTEGER_RESOURCES: Final = frozenset(("pods",))


# -- resources -------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _resource_name_errors(name: str) -> tuple[tuple[str, str], ...]:
    # validateContainerResourceName: a resource name, then standard-for-containers or an
    # extended resource name. Cached as (message, reason) pairs; the path varies.
    causes = fv.validate_resource_name(name, "")
    if causes:
        return tuple((c.message, c.reason) for c in causes)
    detail = ""
    if "/" not in name:
        if name not in _CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            detail = "must be a standard resource for containers"
    elif not _native(name) and name.startswith("requests."):
        detail = "doesn't follow extended resource name standard"
    if not detail:
        return ()
    cause = fv.invalid("", name, detail)
    return ((cause.message, cause.reason),)


def _native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _overcommit_allowed(name: str) -> bool:
    return _native(name) and not name.startswith("hugepages-")


def resource_requirements(
    resources: cc.ResourceRequirements, path: str, causes: Causes, *, containers: bool = True
) -> None:
    """``ValidateResourceRequirements``: names, non-negative quantities, integral extended
    resources, requests <= limits (== for extended resources, which need a limit)."""
    if containers and resources_ok(resources):
        return
    limits = {}
    for name, value in resources.limits.items():
        at = f"{path}.limits[{name}]"
        _resource_quantity(name, value, at, causes, containers)
        limits[name] = vc.quantity(value, at, [])
    for name, value in resources.requests.items():
        at = f"{path}.requests[{name}]"
        request = _resource_quantity(name, value, at, causes, containers)
        if name in limits:
            limit = limits[name]
            if request is None or limit is None:
                continue
            if request != limit and not _overcommit_allowed(name):
                detail = f"must be equal to {name} limit of {limit}"
                causes.append(fv.invalid(f"{path}.requests", str(request), detail))
            elif request > limit:
                detail = f"must be less than or equal to {name} limit of {limit}"
                causes.append(fv.invalid(f"{path}.requests", str(request), detail))
        elif not _overcommit_allowed(name):
            causes.append(
                fv.required(f"{path}.limits", "Limit must be set for non overcommitable resources")
            )


_NANOS: dict[str, int | None] = {}
_PLAIN: dict[str, bool] = {}


def _nanos(value: str) -> int | None:
    """The value of a quantity string in nano units, None when it does not parse (cached)."""
    if value in _NANOS:
        return _NANOS[value]
    nanos: int | None
    try:
        nanos = _quantity.Quantity(value)._nanos
    except errors.BadRequest:
        nanos = None
    if len(_NANOS) >= 4096:
        _NANOS.clear()
    _NANOS[value] = nanos
    return nanos


def _plain_resource(name: str) -> bool:
    # A valid container resource name whose quantities need no integer check and whose
    # requests may be below limits: what nearly every container uses.
    plain = _PLAIN.get(name)
    if plain is None:
        plain = _PLAIN[name] = (
            not _resource_name_errors(name) and _native(name) and _overcommit_allowed(name)
        )
    return plain


def resources_ok(resources: cc.ResourceRequirements) -> bool:
    """Whether :func:`resource_requirements` would find nothing (checked fast)."""
    limits = resources.limits
    for name, value in limits.items():
        nanos = _nanos(value)
        if nanos is None or nanos < 0 or not _plain_resource(name):
            return False
    for name, value in resources.requests.items():
        nanos = _nanos(value)
        if nanos is None or nanos < 0 or not _plain_resource(name):
            return False
        limit = limits.get(name)
        if limit is not None and nanos > (_nanos(limit) or 0):
            return False
    return True


def _resource_quantity(name: str, value: str, path: str, causes: Causes, containers: bool) -> Any:
    if containers:
        for message, reason in _resource_name_errors(name):
            causes.append(errors.Cause(path, message, reason))
    else:
        causes.extend(fv.validate_resource_name(name, path))
    parsed = vc.nonnegative_quantity(value, path, causes)
    integral = name in _INTEGER_RESOURCES or not _native(name)
    if integral and parsed is not None and parsed.as_fraction().denominator != 1:
        causes.append(fv.invalid(path, value, "must be an integer"))
    return parsed


@functools.lru_cache(maxsize=4096)
def _env_name_ok(name: str) -> bool:
    return bool(name) and not fv.validate_env_var_name(name, "")


def _env_ok(env: cc.EnvVar) -> bool:
    """Whether :func:`_env_var` would find nothing (literal values and field references)."""
    if not _env_name_ok(env.name):
        return False
    source = env.value_from
    if source is None:
        return True
    if env.value or source.resource_field_ref is not None:
        return False
    ref, config_ref, secret_ref = source.field_ref, source.config_map_key_ref, source.secret_key_ref
    if ref is not None:
        return (
            config_ref is None
            and secret_ref is None
            and ref.api_version in ("v1", "")
            and ref.field_path in _ENV_FIELD_SET
        )
    key_ref = config_ref if secret_ref is None else secret_ref if config_ref is None else None
    return (
        key_ref is not None
        and bool(key_ref.name)
        and bool(key_ref.key)
        and not vc.config_key_errors(key_ref.key)
    )


def env(container: cc.Container, path: str, causes: Causes) -> None:
    for i, env in enumerate(container.env):
        if not _env_ok(env):
            _env_var(env, f"{path}.env[{i}]", causes)
    if container.env_from:
        _env_from(container, path, causes)


def _env_var(env: cc.EnvVar, at: str, causes: Causes) -> None:
    name = env.name
    if not name:
        causes.append(fv.required(f"{at}.name"))
    elif "=" in name or not name.isprintable() or not name.isascii():
        causes.extend(fv.validate_env_var_name(name, f"{at}.name"))
    source = env.value_from
    if source is None:
        return
    src = f"{at}.valueFrom"
    refs = [
        r
        for r in (
            source.field_ref,
            source.resource_field_ref,
            source.config_map_key_ref,
            source.secret_key_ref,
        )
        if r is not None
    ]
    if env.value:
        detail = "may not be specified when `value` is not empty"
        causes.append(fv.invalid(src, "", detail))
    if not refs:
        detail = (
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
            "`secretKeyRef`"
        )
        causes.append(fv.invalid(src, "", detail))
    elif len(refs) > 1:
        detail = "may not have more than one field specified at a time"
        causes.append(fv.invalid(src, "", detail))
    if source.field_ref is not None:
        vv.field_ref(source.field_ref, f"{src}.fieldRef", _ENV_FIELDS, causes)
    if source.resource_field_ref is not None:
        vv.resource_field_ref(
            source.resource_field_ref,
            f"{src}.resourceFieldRef",
            causes,
            container_required=False,
        )
    for key_ref, wire in (
        (source.config_map_key_ref, "configMapKeyRef"),
        (source.secret_key_ref, "secretKeyRef"),
    ):
        if key_ref is None:
            continue
        ref_path = f"{src}.{wire}"
        if not key_ref.name:
            causes.append(fv.required(f"{ref_path}.name"))
        if not key_ref.key:
            causes.append(fv.required(f"{ref_path}.key"))
        for message in vc.config_key_errors(key_ref.key) if key_ref.key else ():
            causes.append(fv.invalid(f"{ref_path}.key", key_ref.key, message))


def _env_from(container: cc.Container, path: str, causes: Causes) -> None:
    for i, source_from in enumerate(container.env_from):
        at = f"{path}.envFrom[{i}]"
        env_refs = [source_from.config_map_ref, source_from.secret_ref]
        refs_from = [r for r in env_refs if r is not None]
        if not refs_from:
            detail = "must specify one of: `configMapRef` or `secretRef`"
            causes.append(fv.invalid(at, "", detail))
        elif len(refs_from) > 1:
            detail = "may not have more than one field specified at a time"
            causes.append(fv.invalid(at, "", detail))
        for env_ref, wire in zip(env_refs, ("configMapRef", "secretRef"), strict=True):
            if env_ref is not None and not env_ref.name:
                causes.append(fv.required(f"{at}.{wire}.name"))
        if source_from.prefix:
            causes.extend(fv.validate_env_var_name(source_from.prefix, f"{at}.prefix"))
