"""Building blocks of kind validation: metadata, labels, selectors, quantities, enums.

The per-kind rules (:mod:`korch.api._validate_pod`, ``_validate_workloads``,
``_validate_other``, ``_validate_update``) walk typed objects and append
:class:`korch.errors.Cause` values to one list, so every problem of an object is reported
at once. Messages, reasons and field paths are kube-apiserver's (``field.Invalid`` ->
``Invalid value: <v>: <detail>``, ``field.NotSupported`` -> ``Unsupported value: <v>:
supported values: …``); the generic validators of :mod:`korch.api._validation` supply the
wording for names, labels and ports.

Speed matters here (an API server validates every write): label keys and values, names of
resources and quantities are checked through caches (:func:`korch.api._selector.label_key_errors`,
``Quantity``'s parse cache), and a cause's field path string is only built when there is a
problem to report.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from korch import errors
from korch.api import _codec, _meta, _quantity, _selector
from korch.api import _go_compat as go
from korch.api import _validation as fv

__all__ = (
    "Causes",
    "annotation_map",
    "config_key_errors",
    "enum",
    "label_name",
    "label_selector",
    "labels",
    "nonnegative",
    "nonnegative_quantity",
    "not_found",
    "object_meta",
    "port_num_or_name",
    "positive",
    "quantity",
    "relative_path",
    "selector_matches",
    "subdomain_errors",
    "unique",
    "wire",
)

Causes = list[errors.Cause]
NameRule = fv.NameValidator

MUST_BE_NONNEGATIVE: Final = "must be greater than or equal to 0"
MUST_BE_POSITIVE: Final = "must be greater than 0"
IMMUTABLE: Final = "field is immutable"
NOT_FOUND: Final = "FieldValueNotFound"


def wire(value: Any) -> Any:
    """The wire form of a model value, for rendering it in a message."""
    if isinstance(value, _meta.Model):
        return _codec.to_dict(value)
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def not_found(path: str, value: Any) -> errors.Cause:
    """A reference to something that does not exist: ``Not found: <value>``."""
    return errors.Cause(path, f"Not found: {go.format_value(value)}", NOT_FOUND)


def nonnegative(value: int | None, path: str, causes: Causes) -> None:
    """``ValidateNonnegativeField``: ``value`` (when set) must be >= 0."""
    if value is not None and value < 0:
        causes.append(fv.invalid(path, value, MUST_BE_NONNEGATIVE))


def positive(value: int | None, path: str, causes: Causes) -> None:
    """``ValidatePositiveField``: ``value`` (when set) must be > 0."""
    if value is not None and value <= 0:
        causes.append(fv.invalid(path, value, MUST_BE_POSITIVE))


def enum(
    value: str | None, path: str, supported: Sequence[str], causes: Causes, *, required: bool = True
) -> None:
    """``value`` must be one of ``supported``; empty is ``Required`` when ``required``,
    otherwise allowed."""
    if value in supported:
        return
    if not value:
        if required:
            causes.append(fv.required(path))
        return
    causes.append(fv.not_supported(path, value, supported))


# -- labels and selectors ------------------------------------------------------------------


def labels(mapping: Mapping[str, str], path: str, causes: Causes) -> None:
    """``ValidateLabels``: keys are qualified names, values label values (cached checks)."""
    key_errors, value_errors = _selector.label_key_errors, _selector.label_value_errors
    for key, value in mapping.items():
        for message in key_errors(key):
            causes.append(fv.invalid(path, key, message))
        for message in value_errors(value):
            causes.append(fv.invalid(path, value, message))


def label_name(key: str, path: str, causes: Causes) -> None:
    """``ValidateLabelName``: ``key`` must be a qualified name."""
    for message in _selector.label_key_errors(key):
        causes.append(fv.invalid(path, key, message))


def label_selector(selector: _meta.LabelSelector | None, path: str, causes: Causes) -> None:
    """``ValidateLabelSelector``: matchLabels, and each expression's operator, key, values."""
    if selector is None:
        return
    labels(selector.match_labels, f"{path}.matchLabels", causes)
    for i, expr in enumerate(selector.match_expressions):
        at = f"{path}.matchExpressions[{i}]"
        if expr.operator in ("In", "NotIn"):
            if not expr.values:
                detail = "must be specified when `operator` is 'In' or 'NotIn'"
                causes.append(fv.required(f"{at}.values", detail))
        elif expr.operator in ("Exists", "DoesNotExist"):
            if expr.values:
                detail = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                causes.append(fv.forbidden(f"{at}.values", detail))
        else:
            causes.append(
                fv.invalid(f"{at}.operator", expr.operator, "not a valid selector operator")
            )
        label_name(expr.key, f"{at}.key", causes)
        for j, value in enumerate(expr.values):
            for message in _selector.label_value_errors(value):
                causes.append(fv.invalid(f"{at}.values[{j}]", value, message))


def selector_matches(selector: _meta.LabelSelector, target: Mapping[str, str]) -> bool | None:
    """Whether ``selector`` matches ``target`` labels; None when the selector is invalid
    (its problems are reported by :func:`label_selector`)."""
    try:
        return _selector.label_selector_as_selector(selector).matches(target)
    except errors.BadRequest:
        return None


# -- metadata ------------------------------------------------------------------------------

TOTAL_ANNOTATION_SIZE_LIMIT: Final = fv.TOTAL_ANNOTATION_SIZE_LIMIT


def annotation_map(mapping: Mapping[str, str], path: str, causes: Causes) -> None:
    """``ValidateAnnotations`` with cached key checks (same causes as
    :func:`korch.api._validation.validate_annotations`)."""
    size = 0
    for key, value in mapping.items():
        for message in _selector.label_key_errors(key.lower()):
            causes.append(fv.invalid(path, key, message))
        size += len(key) + len(value)
    if size > TOTAL_ANNOTATION_SIZE_LIMIT // 4:
        # Only large maps can exceed the byte limit; count bytes exactly for them.
        size = sum(len(k.encode()) + len(v.encode()) for k, v in mapping.items())
        if size > TOTAL_ANNOTATION_SIZE_LIMIT:
            causes.append(fv.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))


@functools.lru_cache(maxsize=4096)
def _prefix_ok(rule: NameRule, prefix: str) -> bool:
    return not rule(prefix, True)


@functools.lru_cache(maxsize=1024)
def _namespace_ok(namespace: str) -> bool:
    return not fv.name_is_dns_label(namespace, False)


@functools.lru_cache(maxsize=4096)
def subdomain_errors(value: str) -> tuple[str, ...]:
    """``IsDNS1123Subdomain`` messages for ``value`` (cached: service accounts, nodes and
    class names repeat across objects)."""
    return tuple(fv.is_dns1123_subdomain(value))


def _owner_refs_ok(refs: list[_meta.OwnerReference]) -> bool:
    controllers = 0
    for ref in refs:
        version = ref.api_version.rpartition("/")[2]
        if not version or ref.api_version.count("/") > 1 or ref.api_version.startswith("/"):
            return False
        if not ref.kind or not ref.name or not ref.uid:
            return False
        if ref.api_version == "v1" and ref.kind == "Event":
            return False
        controllers += ref.controller is True
    return controllers <= 1


def _meta_ok(meta: _meta.ObjectMeta, name_rule: NameRule, cluster_scoped: bool) -> bool:
    """Whether :func:`fv.validate_object_meta` would find nothing (checked fast)."""
    name, generate = meta.name, meta.generate_name
    if generate and not _prefix_ok(name_rule, generate):
        return False
    if name:
        if name_rule(name, False):
            return False
    elif not generate:
        return False
    namespace = meta.namespace
    if namespace and (cluster_scoped or not _namespace_ok(namespace)):
        return False
    if meta.generation < 0 or meta.finalizers:
        return False
    return not meta.owner_references or _owner_refs_ok(meta.owner_references)


def object_meta(
    meta: _meta.ObjectMeta,
    causes: Causes,
    *,
    namespaced: bool | None,
    name_rule: NameRule = fv.name_is_dns_subdomain,
    path: str = "metadata",
) -> None:
    """``ValidateObjectMeta`` of a typed object, with :func:`fv.validate_object_meta`'s
    causes (labels and annotations through the cached checks of this module).

    Args:
        namespaced: whether the kind is namespaced; None when unknown (then a namespace is
            only checked for syntax). An empty namespace of a namespaced kind is accepted:
            the API server fills it from the request before validating, as kube-apiserver
            does, so a manifest without one validates.
        name_rule: the kind's name validator.
    """
    namespace = meta.namespace
    check_namespace = bool(namespace) if namespaced is None or namespaced else False
    # A fast pass answers "valid" for nearly every object; the full validator then only
    # runs to word the causes of a bad one.
    if not _meta_ok(meta, name_rule, namespaced is False):
        data: dict[str, Any] = {
            "name": meta.name,
            "generateName": meta.generate_name,
            "namespace": namespace,
            "generation": meta.generation,
        }
        if meta.owner_references:
            data["ownerReferences"] = [_codec.to_dict(ref) for ref in meta.owner_references]
        if meta.finalizers:
            data["finalizers"] = meta.finalizers
        causes.extend(
            fv.validate_object_meta(
                data, namespaced=check_namespace, name_validator=name_rule, path=path
            )
        )
    if meta.labels:
        labels(meta.labels, f"{path}.labels", causes)
    if meta.annotations:
        annotation_map(meta.annotations, f"{path}.annotations", causes)


# -- quantities, ports, keys ---------------------------------------------------------------


def quantity(value: str, path: str, causes: Causes) -> _quantity.Quantity | None:
    """Parse a quantity string, reporting a malformed one; None when it does not parse."""
    try:
        return _quantity.Quantity(value)
    except errors.BadRequest as exc:
        detail = exc.message.partition(": ")[2] or exc.message
        causes.append(fv.invalid(path, value, detail))
        return None


def nonnegative_quantity(value: str, path: str, causes: Causes) -> _quantity.Quantity | None:
    """A quantity that must parse and be >= 0 (``ValidateNonnegativeQuantity``)."""
    parsed = quantity(value, path, causes)
    if parsed is not None and parsed._nanos < 0:
        causes.append(fv.invalid(path, value, MUST_BE_NONNEGATIVE))
    return parsed


def port_num_or_name(port: int | str, path: str, causes: Causes) -> None:
    """``ValidatePortNumOrName``: a number 1-65535 or an IANA service name."""
    if isinstance(port, str):
        causes.extend(fv.validate_port_name(port, path))
    else:
        causes.extend(fv.validate_port_number(port, path))


_CONFIG_KEY_FMT: Final = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE: Final = re.compile(_CONFIG_KEY_FMT + r"\Z")
_CONFIG_KEY_MSG: Final = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
)


@functools.lru_cache(maxsize=4096)
def config_key_errors(key: str) -> tuple[str, ...]:
    """``IsConfigMapKey``: problems with ``key`` as a ConfigMap/Secret key."""
    msgs = ["must be no more than 253 characters"] if len(key) > 253 else []
    if not _CONFIG_KEY_RE.match(key):
        msgs.append(
            fv._regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name")
        )
    if key == ".":
        msgs.append("must not be '.'")
    elif key == "..":
        msgs.append("must not be '..'")
    elif key.startswith(".."):
        msgs.append("must not start with '..'")
    return tuple(msgs)


def unique(
    items: Iterable[Any], key: Callable[[Any], Any], path: Callable[[int], str], causes: Causes
) -> None:
    """Report every item whose ``key`` was seen before as ``Duplicate`` at ``path(i)``."""
    seen: set[Any] = set()
    for i, item in enumerate(items):
        value = key(item)
        if value in seen:
            causes.append(fv.duplicate(path(i), value))
        seen.add(value)


def relative_path(value: str, path: str, causes: Causes) -> None:
    """``validateLocalDescendingPath``: not absolute and no ``..`` element."""
    if value.startswith("/"):
        causes.append(fv.invalid(path, value, "must be a relative path"))
    if ".." in value.split("/"):
        causes.append(fv.invalid(path, value, "must not contain '..'"))
