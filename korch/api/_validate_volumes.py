"""Validation of pod volumes and the downward API: sources, modes, projections, references.

kube-apiserver's ``ValidateVolumes`` rules with its messages: every volume has a unique
RFC 1123 label as its name and at most one source (a second one is ``may not specify more
than 1 volume type``); the typed sources are checked further
(hostPath type, configMap/secret names, items' relative paths and file modes 0-0777, NFS
absolute paths, PVC claim names, projected sources, downward API field and resource
references). A volume without any source is accepted: defaulting gives it ``emptyDir: {}``.
"""

from __future__ import annotations

import functools
import operator
from typing import Any, Final

import attrs

from korch.api import _core_container as cc
from korch.api import _core_volume as cv
from korch.api import _meta
from korch.api import _validate_common as vc
from korch.api import _validation as fv

__all__ = ("dns_label", "field_ref", "label_ok", "resource_field_ref", "sources", "volumes")

Causes = vc.Causes

HOST_PATH_TYPES: Final = (
    "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
    "BlockDevice",
)  # fmt: skip
_VOLUME_FIELDS: Final = (
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
    "metadata.uid",
)  # fmt: skip
_RESOURCE_FIELDS: Final = (
    "limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
    "requests.ephemeral-storage", "requests.memory",
)  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _label_errors(name: str) -> tuple[str, ...]:
    return tuple(fv.is_dns1123_label(name))


def label_ok(value: str) -> bool:
    """Whether ``value`` is a non-empty RFC 1123 label (cached)."""
    return bool(value) and not _label_errors(value)


def dns_label(value: str, path: str, causes: Causes) -> None:
    """``value`` must be a non-empty RFC 1123 label (container, volume, port-less names)."""
    if not value:
        causes.append(fv.required(path))
        return
    for message in _label_errors(value):
        causes.append(fv.invalid(path, value, message))


# -- volumes -------------------------------------------------------------------------------

# Sources in the order users most often write them, so the scan for the one present ends
# early; read in one C call by attrgetter.
_COMMON: Final = (
    "config_map", "secret", "empty_dir", "projected", "persistent_volume_claim", "host_path",
    "downward_api",
)  # fmt: skip
_WIRE: Final = {a.name: _meta.wire_name(a) for a in attrs.fields(cv.Volume)}
_SOURCES: Final = (
    *_COMMON,
    *(name for name in _WIRE if name not in ("name", "_unknown", *_COMMON)),
)
_SOURCE_SET: Final = frozenset(_SOURCES)
_read_sources: Final = operator.attrgetter(*_SOURCES)


def sources(volume: cv.Volume) -> list[str]:
    """The attribute names of the sources set in ``volume``, common ones first."""
    values = _read_sources(volume)
    missing = values.count(None)
    if missing == len(values):
        return []
    if missing == len(values) - 1:
        for name, value in zip(_SOURCES, values, strict=True):
            if value is not None:
                return [name]
    # Several: report them in Kubernetes' (field declaration) order.
    return [name for name in _WIRE if name in _SOURCE_SET and getattr(volume, name) is not None]


def _mode(mode: int | None, path: str, causes: Causes) -> None:
    if mode is not None and not 0 <= mode <= 0o777:
        detail = "must be a number between 0 and 0777 (octal), both inclusive"
        causes.append(fv.invalid(path, mode, detail))


def _key_to_path(items: list[cv.KeyToPath], path: str, causes: Causes) -> None:
    for i, item in enumerate(items):
        at = f"{path}[{i}]"
        if not item.key:
            causes.append(fv.required(f"{at}.key"))
        if not item.path:
            causes.append(fv.required(f"{at}.path"))
        else:
            vc.relative_path(item.path, f"{at}.path", causes)
        _mode(item.mode, f"{at}.mode", causes)


def field_ref(
    ref: cc.ObjectFieldSelector, path: str, allowed: tuple[str, ...], causes: Causes
) -> None:
    if ref.api_version not in ("v1", ""):
        # Only v1 field labels exist; "" is defaulted to v1.
        detail = f"error converting fieldPath: field label not supported: {ref.field_path}"
        causes.append(fv.invalid(f"{path}.fieldPath", ref.field_path, detail))
        return
    if not ref.field_path:
        causes.append(fv.required(f"{path}.fieldPath"))
        return
    field = ref.field_path
    base, bracket, rest = field.partition("[")
    if bracket:
        subscript = rest[1:-2] if rest[:1] in "'\"" and rest.endswith("]") else None
        if base not in ("metadata.labels", "metadata.annotations") or subscript is None:
            causes.append(fv.invalid(f"{path}.fieldPath", base, "does not support subscript"))
        else:
            causes.extend(fv.validate_qualified_name(subscript, f"{path}.fieldPath"))
    elif field not in allowed:
        causes.append(fv.not_supported(f"{path}.fieldPath", field, allowed))


def resource_field_ref(
    ref: cc.ResourceFieldSelector, path: str, causes: Causes, *, container_required: bool
) -> None:
    if container_required and not ref.container_name:
        causes.append(fv.required(f"{path}.containerName"))
    if not ref.resource:
        causes.append(fv.required(f"{path}.resource"))
    elif ref.resource not in _RESOURCE_FIELDS and not ref.resource.startswith(
        ("limits.hugepages-", "requests.hugepages-")
    ):
        causes.append(fv.not_supported(f"{path}.resource", ref.resource, _RESOURCE_FIELDS))
    if ref.divisor:
        vc.nonnegative_quantity(ref.divisor, f"{path}.divisor", causes)


def _downward_items(items: list[cv.DownwardAPIVolumeFile], path: str, causes: Causes) -> None:
    for i, item in enumerate(items):
        at = f"{path}[{i}]"
        if not item.path:
            causes.append(fv.required(f"{at}.path"))
        else:
            vc.relative_path(item.path, f"{at}.path", causes)
        _mode(item.mode, f"{at}.mode", causes)
        if item.field_ref is not None and item.resource_field_ref is not None:
            detail = "fieldRef and resourceFieldRef can not be specified simultaneously"
            causes.append(fv.invalid(at, "resource", detail))
        elif item.field_ref is not None:
            field_ref(item.field_ref, f"{at}.fieldRef", _VOLUME_FIELDS, causes)
        elif item.resource_field_ref is not None:
            resource_field_ref(
                item.resource_field_ref, f"{at}.resourceFieldRef", causes, container_required=True
            )
        else:
            detail = "one of fieldRef and resourceFieldRef is required"
            causes.append(fv.required(at, detail))


def _projected(source: cv.ProjectedVolumeSource, path: str, causes: Causes) -> None:
    _mode(source.default_mode, f"{path}.defaultMode", causes)
    for i, projection in enumerate(source.sources):
        at = f"{path}.sources[{i}]"
        kinds: list[tuple[str, Any]] = [
            (name, value)
            for name, value in (
                ("secret", projection.secret),
                ("downwardAPI", projection.downward_api),
                ("configMap", projection.config_map),
                ("serviceAccountToken", projection.service_account_token),
                ("clusterTrustBundle", projection.cluster_trust_bundle),
                ("podCertificate", projection.pod_certificate),
            )
            if value is not None
        ]
        if not kinds:
            causes.append(fv.required(at, "must specify exactly 1 projection type"))
        for name, _ in kinds[1:]:
            causes.append(
                fv.forbidden(f"{at}.{name}", "may not specify more than 1 projection type")
            )
        for name, value in kinds[:1]:
            if name in ("secret", "configMap"):
                _key_to_path(value.items, f"{at}.{name}.items", causes)
            elif name == "downwardAPI":
                _downward_items(value.items, f"{at}.downwardAPI.items", causes)
            elif name == "serviceAccountToken":
                token = f"{at}.serviceAccountToken"
                seconds = value.expiration_seconds
                if seconds is not None and seconds < 600:
                    causes.append(
                        fv.invalid(
                            f"{token}.expirationSeconds",
                            seconds,
                            "may not specify a duration less than 10 minutes",
                        )
                    )
                if not value.path:
                    causes.append(fv.required(f"{token}.path"))
                else:
                    vc.relative_path(value.path, f"{token}.path", causes)


def _volume_source(volume: cv.Volume, name: str, wire: str, path: str, causes: Causes) -> None:
    at = f"{path}.{wire}"
    source: Any = getattr(volume, name)
    if name == "host_path":
        if not source.path:
            causes.append(fv.required(f"{at}.path"))
        if source.type is not None and source.type not in HOST_PATH_TYPES:
            causes.append(fv.not_supported(f"{at}.type", source.type, HOST_PATH_TYPES))
    elif name == "empty_dir":
        if source.size_limit is not None:
            vc.nonnegative_quantity(source.size_limit, f"{at}.sizeLimit", causes)
    elif name == "secret":
        if not source.secret_name:
            causes.append(fv.required(f"{at}.secretName"))
        _mode(source.default_mode, f"{at}.defaultMode", causes)
        _key_to_path(source.items, f"{at}.items", causes)
    elif name == "config_map":
        if not source.name:
            causes.append(fv.required(f"{at}.name"))
        _mode(source.default_mode, f"{at}.defaultMode", causes)
        _key_to_path(source.items, f"{at}.items", causes)
    elif name == "persistent_volume_claim":
        if not source.claim_name:
            causes.append(fv.required(f"{at}.claimName"))
    elif name == "nfs":
        if not source.server:
            causes.append(fv.required(f"{at}.server"))
        if not source.path:
            causes.append(fv.required(f"{at}.path"))
        elif not source.path.startswith("/"):
            causes.append(fv.invalid(f"{at}.path", source.path, "must be an absolute path"))
    elif name == "downward_api":
        _mode(source.default_mode, f"{at}.defaultMode", causes)
        _downward_items(source.items, f"{at}.items", causes)
    elif name == "projected":
        _projected(source, at, causes)


def _simple_path(path: str) -> bool:
    return bool(path) and not path.startswith("/") and ".." not in path.split("/")


def _mode_ok(mode: int | None) -> bool:
    return mode is None or 0 <= mode <= 0o777


def _items_ok(items: list[cv.KeyToPath]) -> bool:
    return all(i.key and _simple_path(i.path) and _mode_ok(i.mode) for i in items)


def _projection_ok(projection: cv.VolumeProjection) -> bool:
    token, config_map = projection.service_account_token, projection.config_map
    others = (
        projection.secret,
        projection.downward_api,
        projection.cluster_trust_bundle,
        projection.pod_certificate,
    )
    if others != (None, None, None, None):
        return False
    if token is not None:
        seconds = token.expiration_seconds
        return (
            config_map is None and _simple_path(token.path) and (seconds is None or seconds >= 600)
        )
    return config_map is not None and _items_ok(config_map.items)


def _source_ok(volume: cv.Volume, name: str) -> bool:
    """Whether the one source ``name`` of ``volume`` is valid (common sources, checked
    fast; anything else answers False and goes through :func:`_volume_source`)."""
    if name == "config_map":
        source: Any = volume.config_map
        return bool(source.name) and _mode_ok(source.default_mode) and _items_ok(source.items)
    if name == "secret":
        source = volume.secret
        ok = bool(source.secret_name) and _mode_ok(source.default_mode)
        return ok and _items_ok(source.items)
    if name == "empty_dir":
        return volume.empty_dir is not None and volume.empty_dir.size_limit is None
    if name == "persistent_volume_claim":
        return volume.persistent_volume_claim is not None and bool(
            volume.persistent_volume_claim.claim_name
        )
    if name == "projected":
        projected = volume.projected
        return (
            projected is not None
            and _mode_ok(projected.default_mode)
            and all(_projection_ok(p) for p in projected.sources)
        )
    return False


def volumes(items: list[cv.Volume], path: str, causes: Causes) -> dict[str, cv.Volume]:
    """``ValidateVolumes``: names (unique RFC 1123 labels), at most one source, and the
    source's own rules. Returns the volumes by name, for mounts to refer to."""
    by_name: dict[str, cv.Volume] = {}
    for i, volume in enumerate(items):
        name = volume.name
        present = sources(volume)
        if (
            name not in by_name
            and label_ok(name)
            and len(present) <= 1
            and (not present or _source_ok(volume, present[0]))
        ):
            by_name[name] = volume
            continue
        at = f"{path}[{i}]"
        if not label_ok(name):
            dns_label(name, f"{at}.name", causes)
        if name in by_name:
            causes.append(fv.duplicate(f"{at}.name", name))
        elif name:
            by_name[name] = volume
        for attr in present[1:]:
            detail = "may not specify more than 1 volume type"
            causes.append(fv.forbidden(f"{at}.{_WIRE[attr]}", detail))
        if present:
            _volume_source(volume, present[0], _WIRE[present[0]], at, causes)
    return by_name
