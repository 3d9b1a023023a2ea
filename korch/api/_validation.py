"""Generic field-syntax validators: names, labels, annotations, ports, object metadata.

Every ``validate_*`` function is pure and returns a list of :class:`korch.errors.Cause`
(empty means valid); nothing here raises on bad *input*, so callers can collect the causes
of a whole object and raise once with :func:`raise_if_causes`. The ``is_*`` functions
return bare messages, like apimachinery's ``IsDNS1123Label``, for composing new rules.

Messages follow kube-apiserver (``k8s.io/apimachinery/pkg/util/validation`` and
``.../api/validation/objectmeta.go``) so that a Kubernetes user sees the words they know:
a cause's ``message`` is Kubernetes' ``ErrorBody()`` (``Invalid value: "x": <detail>``),
``field`` its field path (``metadata.labels``), ``reason`` its cause type
(``FieldValueInvalid``…). Bad values are rendered as Go renders them (``%q`` for strings,
``%v`` for numbers, JSON otherwise) by ``_go_compat.format_value``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from korch import errors
from korch.api import _go_compat as go

__all__ = (
    "NameValidator",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_label_value",
    "is_qualified_name",
    "name_is_dns1035_label",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "name_is_path_segment",
    "raise_if_causes",
    "validate_annotations",
    "validate_c_identifier",
    "validate_dns1035_label",
    "validate_dns1123_label",
    "validate_dns1123_subdomain",
    "validate_env_var_name",
    "validate_finalizer_name",
    "validate_finalizers",
    "validate_generate_name",
    "validate_int_or_percent",
    "validate_label_value",
    "validate_labels",
    "validate_object_meta",
    "validate_owner_references",
    "validate_port_name",
    "validate_port_number",
    "validate_qualified_name",
    "validate_resource_name",
)

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
FORBIDDEN = "FieldValueForbidden"
DUPLICATE = "FieldValueDuplicate"

#: A name rule, as apimachinery's ``ValidateNameFunc``: ``(name, prefix) -> messages``.
#: ``prefix`` is true when the value is a ``generateName`` prefix.
NameValidator = Callable[[str, bool], list[str]]

# -- cause constructors (apimachinery's field.Required, field.Invalid, …) --------------


def required(path: str, detail: str = "") -> errors.Cause:
    """A missing value: ``Required value[: detail]``."""
    return errors.Cause(path, "Required value" + (f": {detail}" if detail else ""), REQUIRED)


def invalid(path: str, value: Any, detail: str, reason: str = INVALID) -> errors.Cause:
    """A malformed value: ``Invalid value: <value>: detail``."""
    return errors.Cause(path, f"Invalid value: {go.format_value(value)}: {detail}", reason)


def type_invalid(path: str, value: Any, detail: str) -> errors.Cause:
    """A value of the wrong JSON type (reason ``FieldValueTypeInvalid``)."""
    return invalid(path, value, detail, TYPE_INVALID)


def not_supported(path: str, value: Any, supported: Sequence[str]) -> errors.Cause:
    """A value outside an enumeration: ``Unsupported value: v: supported values: "a", …``."""
    detail = ": supported values: " + ", ".join(go.go_quote(s) for s in supported)
    message = f"Unsupported value: {go.format_value(value)}" + (detail if supported else "")
    return errors.Cause(path, message, NOT_SUPPORTED)


def forbidden(path: str, detail: str) -> errors.Cause:
    """A value not allowed here: ``Forbidden: detail``."""
    return errors.Cause(path, f"Forbidden: {detail}", FORBIDDEN)


def too_long(path: str, max_bytes: int) -> errors.Cause:
    """A value longer than ``max_bytes`` (the value itself is omitted)."""
    unit = "byte" if max_bytes == 1 else "bytes"
    return errors.Cause(path, f"Too long: may not be more than {max_bytes} {unit}", TOO_LONG)


def too_many(path: str, actual: int, maximum: int) -> errors.Cause:
    """A list or map with more than ``maximum`` entries."""
    unit = "item" if maximum == 1 else "items"
    return errors.Cause(path, f"Too many: {actual}: must have at most {maximum} {unit}", TOO_MANY)


def duplicate(path: str, value: Any) -> errors.Cause:
    """A value that must be unique: ``Duplicate value: <value>``."""
    return errors.Cause(path, f"Duplicate value: {go.format_value(value)}", DUPLICATE)


def json_type(value: Any) -> str:
    """The JSON type name of a wire value (``"integer"``, ``"object"``…)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _must_be(path: str, value: Any, expected: str) -> errors.Cause:
    return type_invalid(path, json_type(value), f"must be of type {expected}")


def raise_if_causes(causes: Sequence[errors.Cause], kind: str, name: str) -> None:
    """Raise :class:`korch.errors.Invalid` when ``causes`` is not empty.

    The message has kube-apiserver's shape, ``<kind> "<name>" is invalid: <field>: <msg>, …``
    (Kubernetes passes the group-qualified kind, e.g. ``MySQLDatabase.example.com``).

    Raises:
        korch.errors.Invalid: with ``causes`` and Status-like ``details``.
    """
    if not causes:
        return
    details: dict[str, object] = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes],
    }
    raise errors.Invalid(f'{kind} "{name}" is invalid', list(causes), details=details)


# -- names (apimachinery pkg/util/validation) -------------------------------------------

_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_CIDENT_FMT = "[A-Za-z_][A-Za-z0-9_]*"
_PERCENT_FMT = "[0-9]+%"
_LABEL_RE = re.compile(f"{_LABEL_FMT}\\Z")
_SUBDOMAIN_RE = re.compile(f"{_SUBDOMAIN_FMT}\\Z")
_DNS1035_RE = re.compile(f"{_DNS1035_FMT}\\Z")
_QNAME_RE = re.compile(f"{_QNAME_FMT}\\Z")
_CIDENT_RE = re.compile(f"{_CIDENT_FMT}\\Z")
_PERCENT_RE = re.compile(f"{_PERCENT_FMT}\\Z")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def is_dns1123_label(value: str) -> list[str]:
    """Messages for a string that is not an RFC 1123 label (≤63; namespaces, Services)."""
    msgs = [_max_len(63)] if len(value) > 63 else []
    if not _LABEL_RE.match(value):
        if _SUBDOMAIN_RE.match(value):
            msgs.append("must not contain dots")
        else:
            msg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"  # noqa: E501
            msgs.append(_regex_error(msg, _LABEL_FMT, "my-name", "123-abc"))
    return msgs


def is_dns1123_subdomain(value: str) -> list[str]:
    """Messages for a string that is not an RFC 1123 subdomain (≤253; most object names)."""
    msgs = [_max_len(253)] if len(value) > 253 else []
    if not _SUBDOMAIN_RE.match(value):
        msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"  # noqa: E501
        msgs.append(_regex_error(msg, _SUBDOMAIN_FMT, "example.com"))
    return msgs


def is_dns1035_label(value: str) -> list[str]:
    """Messages for a string that is not an RFC 1035 label (must start with a letter)."""
    msgs = [_max_len(63)] if len(value) > 63 else []
    if not _DNS1035_RE.match(value):
        msg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"  # noqa: E501
        msgs.append(_regex_error(msg, _DNS1035_FMT, "my-name", "abc-123"))
    return msgs


_QNAME_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"  # noqa: E501


def is_qualified_name(value: str) -> list[str]:
    """Messages for a string that is not a qualified name (label/annotation key, finalizer)."""
    prefix, slash, name = value.partition("/")
    if not slash:
        name = value
    if "/" in name:
        return [
            "a valid label key "
            + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    msgs: list[str] = []
    if slash and not prefix:
        msgs.append("prefix part must be non-empty")
    elif slash:
        msgs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    if not name:
        msgs.append("name part must be non-empty")
    elif len(name) > 63:
        msgs.append("name part " + _max_len(63))
    if not _QNAME_RE.match(name):
        msgs.append(
            "name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
        )
    return msgs


def is_label_value(value: str) -> list[str]:
    """Messages for a string that is not a valid label value (empty is valid)."""
    msgs = [_max_len(63)] if len(value) > 63 else []
    if value and not _QNAME_RE.match(value):
        msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"  # noqa: E501
        msgs.append(_regex_error(msg, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return msgs


def _mask_trailing_dash(name: str) -> str:
    # A generateName prefix may end in '-': the random suffix makes the final name valid.
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """Name rule of most kinds and of custom resources (``NameIsDNSSubdomain``)."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """Name rule of Namespaces and similar kinds (``NameIsDNSLabel``)."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """Name rule of Services (``NameIsDNS1035Label``)."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    """The loosest name rule: usable as one URL path segment (``ValidatePathSegmentName``)."""
    msgs = [f"may not be '{name}'"] if name in (".", "..") and not prefix else []
    msgs.extend(f"may not contain '{bad}'" for bad in ("/", "%") if bad in name)
    return msgs


def _check(path: str, value: Any, rule: Callable[[str], list[str]]) -> list[errors.Cause]:
    if not isinstance(value, str):
        return [_must_be(path, value, "string")]
    return [invalid(path, value, msg) for msg in rule(value)]


def validate_dns1123_subdomain(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a value that is not an RFC 1123 subdomain."""
    return _check(path, value, is_dns1123_subdomain)


def validate_dns1123_label(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a value that is not an RFC 1123 label (container and port-less names)."""
    return _check(path, value, is_dns1123_label)


def validate_dns1035_label(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a value that is not an RFC 1035 label."""
    return _check(path, value, is_dns1035_label)


def validate_qualified_name(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a value that is not a qualified name (``[prefix/]name``)."""
    return _check(path, value, is_qualified_name)


def validate_label_value(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a value that is not a valid label value."""
    return _check(path, value, is_label_value)


def validate_finalizer_name(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a finalizer that is not a qualified name (``example.com/cleanup``)."""
    return _check(path, value, is_qualified_name)


def validate_c_identifier(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a value that is not a C identifier (``[A-Za-z_][A-Za-z0-9_]*``)."""
    msg = "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_'"  # noqa: E501

    def rule(v: str) -> list[str]:
        ok = _CIDENT_RE.match(v)
        return [] if ok else [_regex_error(msg, _CIDENT_FMT, "my_name", "MY_NAME", "MyName")]

    return _check(path, value, rule)


def validate_env_var_name(value: Any, path: str) -> list[errors.Cause]:
    """Causes for an invalid environment variable name.

    Current Kubernetes (``RelaxedEnvironmentVariableValidation``) accepts any non-empty
    string of printable ASCII characters other than ``=``.
    """

    def rule(v: str) -> list[str]:
        if not v:
            return ["environment variable name must be non-empty"]
        if any(not " " <= ch <= "~" or ch == "=" for ch in v):
            return [
                "a valid environment variable name must consist only of printable ASCII "
                "characters other than '='"
            ]
        return []

    return _check(path, value, rule)


def validate_port_number(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a port number outside 1-65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        return [_must_be(path, value, "integer")]
    ok = 1 <= value <= 65535
    return [] if ok else [invalid(path, value, "must be between 1 and 65535, inclusive")]


def validate_port_name(value: Any, path: str) -> list[errors.Cause]:
    """Causes for an invalid port name (IANA_SVC_NAME: ≤15 of ``[-a-z0-9]``, one letter)."""

    def rule(v: str) -> list[str]:
        msgs = [_max_len(15)] if len(v) > 15 else []
        if not re.fullmatch("[-a-z0-9]+", v):
            msgs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
        if not re.search("[a-z]", v):
            msgs.append("must contain at least one letter (a-z)")
        if "--" in v:
            msgs.append("must not contain consecutive hyphens")
        if v.startswith("-") or v.endswith("-"):
            msgs.append("must not begin or end with a hyphen")
        return msgs

    return _check(path, value, rule)


def validate_int_or_percent(
    value: Any, path: str, *, max_100_percent: bool = False
) -> list[errors.Cause]:
    """Causes for an IntOrString that is neither a non-negative integer nor ``"<n>%"``.

    Args:
        max_100_percent: also reject percentages above 100% (``maxUnavailable``).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return [invalid(path, value, "must be greater than or equal to 0")] if value < 0 else []
    if not isinstance(value, str):
        return [_must_be(path, value, "integer,string")]
    if not _PERCENT_RE.match(value):
        msg = "a valid percent string must be a numeric string followed by an ending '%'"
        return [invalid(path, value, _regex_error(msg, _PERCENT_FMT, "1%", "93%"))]
    if max_100_percent and int(value[:-1]) > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


_STANDARD_RESOURCES = frozenset((
    "cpu", "memory", "ephemeral-storage", "storage", "pods", "services", "secrets", "configmaps",
    "replicationcontrollers", "resourcequotas", "persistentvolumeclaims", "services.nodeports",
    "services.loadbalancers", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
    "requests.storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
))  # fmt: skip


def validate_resource_name(value: Any, path: str) -> list[errors.Cause]:
    """Causes for a resource name (``cpu``, ``hugepages-2Mi``, ``example.com/gpu``) that is
    neither a standard resource nor a fully qualified extended resource."""
    causes = _check(path, value, is_qualified_name)
    if causes or "/" in value:
        return causes
    if value in _STANDARD_RESOURCES or value.startswith(("hugepages-", "requests.hugepages-")):
        return []
    return [invalid(path, value, "must be a standard resource type or fully qualified")]


# -- object metadata (apimachinery pkg/api/validation/objectmeta.go) -------------------

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def _string_map(value: Any, path: str) -> tuple[dict[str, str], list[errors.Cause]]:
    if value is None:
        return {}, []
    if not isinstance(value, Mapping):
        return {}, [_must_be(path, value, "object")]
    bad = [k for k, v in value.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        return {}, [type_invalid(path, value[bad[0]], "keys and values must be strings")]
    return dict(value), []


def validate_labels(labels: Any, path: str) -> list[errors.Cause]:
    """Causes for label keys that are not qualified names or values that are not label values."""
    mapping, causes = _string_map(labels, path)
    for key, value in mapping.items():
        causes.extend(invalid(path, key, m) for m in is_qualified_name(key))
        causes.extend(invalid(path, value, m) for m in is_label_value(value))
    return causes


def validate_annotations(annotations: Any, path: str) -> list[errors.Cause]:
    """Causes for bad annotation keys (qualified names, any case) or a total size of keys and
    values above 256 KiB."""
    mapping, causes = _string_map(annotations, path)
    for key in mapping:
        causes.extend(invalid(path, key, m) for m in is_qualified_name(key.lower()))
    size = sum(len(k.encode()) + len(v.encode()) for k, v in mapping.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def validate_generate_name(
    prefix: Any, path: str, name_validator: NameValidator = name_is_dns_subdomain
) -> list[errors.Cause]:
    """Causes for a ``generateName`` prefix that cannot start a valid name (a trailing ``-``
    is allowed: the generated suffix follows it)."""
    return _check(path, prefix, lambda p: name_validator(p, True))


def _parse_version(api_version: str) -> str:
    # schema.ParseGroupVersion: "" and "a/b/c" are errors, which leave the version empty.
    parts = api_version.split("/")
    return parts[-1] if len(parts) <= 2 and "" not in parts else ""


def validate_owner_references(refs: Any, path: str) -> list[errors.Cause]:
    """Causes for ownerReferences missing apiVersion, kind, name or uid, naming an Event as an
    owner, or with more than one ``controller: true`` (paths as Kubernetes: not indexed)."""
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [_must_be(path, refs, "array")]
    causes: list[errors.Cause] = []
    controller = ""
    for ref in refs:
        if not isinstance(ref, Mapping):
            causes.append(_must_be(path, ref, "object"))
            continue
        fields = {k: ref.get(k, "") for k in ("apiVersion", "kind", "name", "uid")}
        for key, val in fields.items():
            if not isinstance(val, str):
                causes.append(_must_be(f"{path}.{key}", val, "string"))
                fields[key] = "-"
        version = _parse_version(fields["apiVersion"])
        if not version:
            causes.append(
                invalid(f"{path}.apiVersion", fields["apiVersion"], "version must not be empty")
            )
        for key in ("kind", "name", "uid"):
            if not fields[key]:
                causes.append(invalid(f"{path}.{key}", "", f"{key} must not be empty"))
        if fields["apiVersion"] == "v1" and fields["kind"] == "Event":
            causes.append(invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
        for flag in ("controller", "blockOwnerDeletion"):
            if ref.get(flag) is not None and not isinstance(ref.get(flag), bool):
                causes.append(_must_be(f"{path}.{flag}", ref.get(flag), "boolean"))
        if ref.get("controller") is True:
            current = f"{fields['kind']}/{fields['name']}"
            if controller:
                msg = (
                    'Only one reference can have Controller set to true. Found "true" in '
                    f"references for {controller} and {current}"
                )
                causes.append(invalid(path, refs, msg))
            else:
                controller = current
    return causes


def validate_finalizers(finalizers: Any, path: str) -> list[errors.Cause]:
    """Causes for finalizers that are not qualified names, or that set both ``orphan`` and
    ``foregroundDeletion``."""
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [_must_be(path, finalizers, "array")]
    causes = [c for f in finalizers for c in validate_finalizer_name(f, path)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        detail = "finalizer orphan and foregroundDeletion cannot be both set"
        causes.append(invalid(path, finalizers, detail))
    return causes


def validate_object_meta(
    meta: Any,
    *,
    namespaced: bool,
    name_validator: NameValidator = name_is_dns_subdomain,
    path: str = "metadata",
) -> list[errors.Cause]:
    """Causes for an object's ``metadata`` on create, as kube-apiserver checks them.

    Args:
        meta: the wire-format metadata mapping.
        namespaced: the kind is namespaced (namespace required) or cluster-scoped
            (namespace forbidden).
        name_validator: the kind's name rule; custom resources use the default,
            :func:`name_is_dns_subdomain`.
        path: the field path of ``meta``.

    Returns:
        Causes for name/generateName (a missing name is accepted when ``generateName`` is
        set, since the server generates the name), namespace, generation, labels,
        annotations, ownerReferences and finalizers.
    """
    if not isinstance(meta, Mapping):
        return [_must_be(path, meta, "object")]
    causes: list[errors.Cause] = []
    generate = meta.get("generateName") or ""
    if generate:
        causes.extend(validate_generate_name(generate, f"{path}.generateName", name_validator))
    name = meta.get("name") or ""
    if not name and not generate:
        causes.append(required(f"{path}.name", "name or generateName is required"))
    elif name:
        causes.extend(_check(f"{path}.name", name, lambda n: name_validator(n, False)))
    namespace = meta.get("namespace") or ""
    if namespaced and not namespace:
        causes.append(required(f"{path}.namespace"))
    elif namespaced:
        causes.extend(_check(f"{path}.namespace", namespace, lambda n: name_is_dns_label(n, False)))
    elif namespace:
        causes.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if generation is not None:
        if isinstance(generation, bool) or not isinstance(generation, int):
            causes.append(_must_be(f"{path}.generation", generation, "integer"))
        elif generation < 0:
            causes.append(
                invalid(f"{path}.generation", generation, "must be greater than or equal to 0")
            )
    causes.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    causes.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    causes.extend(validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences"))
    causes.extend(validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"))
    return causes
