"""Field selectors (``spec.nodeName=n1,status.phase!=Failed``) and each kind's selectable fields.

Semantics follow ``k8s.io/apimachinery/pkg/fields`` and kube-apiserver:

* **Syntax.** Terms are separated by unescaped commas; each is ``field=value``,
  ``field==value`` (read as ``=``) or ``field!=value``, split at the first operator. Nothing
  is trimmed. Values escape ``\\``, ``,`` and ``=`` with a backslash; any other escape, or a
  bare ``,``/``=`` in a value, is a :class:`korch.errors.BadRequest`.
* **Meaning.** Terms are ANDed; a field missing from the matched set reads as ``""``.
  ``""`` is the empty selector and matches everything. ``str()`` is canonical (terms
  sorted, values escaped), so ``parse_field_selector(str(s)) == s``.
* **Fields.** :func:`field_set_for` builds the fields kube-apiserver exposes for a
  wire-format object (``metadata.name``/``metadata.namespace`` for every kind, plus e.g.
  ``spec.nodeName`` and ``status.phase`` for pods), and :func:`validate_field_selector`
  rejects labels a kind does not support, with Kubernetes' per-kind messages.

Selectors are immutable and parsed text is cached, so repeated list/watch requests with the
same selector parse once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple

from korch import errors

__all__ = (
    "FieldRequirement",
    "FieldSelector",
    "escape_field_value",
    "field_set_for",
    "parse_field_selector",
    "unescape_field_value",
    "validate_field_selector",
)

_CACHE_SIZE: Final = 1024


def _quote(text: str) -> str:
    """Go's %q spelling of a string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class FieldRequirement(NamedTuple):
    """One field selector term: ``operator`` is ``"="`` (``==`` is read as ``=``) or ``"!="``."""

    field: str
    operator: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


class FieldSelector:
    """An immutable field selector: ANDed ``field=value`` / ``field!=value`` terms.

    A field missing from the matched set reads as ``""`` (Kubernetes ``fields.Set.Get``).
    """

    __slots__ = ("_requirements",)

    def __init__(self, requirements: Iterable[FieldRequirement | tuple[str, str, str]] = ()):
        reqs = [FieldRequirement(*r) for r in requirements]
        for req in reqs:
            if req.operator not in ("=", "!="):
                raise errors.BadRequest(f"invalid field selector operator {req.operator!r}")
        self._requirements = tuple(sorted(reqs, key=str))

    @property
    def requirements(self) -> tuple[FieldRequirement, ...]:
        """The terms as ``(field, operator, value)`` tuples, in canonical order."""
        return self._requirements

    def is_empty(self) -> bool:
        """Whether this selector has no terms (matches everything)."""
        return not self._requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether ``fields`` satisfy every term."""
        get = fields.get
        for field, operator, value in self._requirements:
            if (get(field, "") == value) != (operator == "="):
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal, or None (Kubernetes ``RequiresExactMatch``)."""
        for req in self._requirements:
            if req.field == field and req.operator == "=":
                return req.value
        return None

    def exact_matches(self) -> dict[str, str]:
        """Every field pinned to one value, for index look-ups (e.g. ``spec.nodeName``)."""
        found: dict[str, str] = {}
        for req in self._requirements:
            if req.operator == "=":
                found.setdefault(req.field, req.value)
        return found

    def transform(self, convert: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """A new selector with every term's field and value mapped by ``convert``."""
        terms = []
        for field, operator, value in self._requirements:
            new_field, new_value = convert(field, value)
            terms.append(FieldRequirement(new_field, operator, new_value))
        return FieldSelector(terms)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        return f"parse_field_selector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self._requirements == other._requirements

    def __hash__(self) -> int:
        return hash(self._requirements)


def escape_field_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` in a field selector value (``fields.EscapeValue``)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(text: str) -> str:
    """Undo :func:`escape_field_value` (``fields.UnescapeValue``).

    Raises:
        korch.errors.BadRequest: an unknown escape, a trailing ``\\``, or a bare ``,``/``=``.
    """
    if "\\" not in text and "," not in text and "=" not in text:
        return text
    out: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            if char not in "\\,=":
                raise errors.BadRequest(
                    f"invalid field selector: invalid escape sequence: \\{char}"
                )
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise errors.BadRequest(f"invalid field selector: unescaped character in value: {char}")
        else:
            out.append(char)
    if escaped:
        raise errors.BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped, keeping escapes in the terms."""
    terms: list[str] = []
    start = 0
    escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


_FIELD_TERM_RE: Final = re.compile(r"(.*?)(!=|==|=)(.*)", re.DOTALL)
_field_cache: dict[str, FieldSelector] = {}


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a field selector string (Kubernetes ``fields.ParseSelector``).

    Terms are ``field=value``, ``field==value`` or ``field!=value`` separated by commas;
    the field is everything before the first operator (no trimming), the value is
    unescaped with :func:`unescape_field_value`. Empty terms are skipped, so ``""`` gives
    the empty selector, which matches everything.

    Raises:
        korch.errors.BadRequest: a term has no operator or its value is badly escaped.
    """
    selector = _field_cache.get(text)
    if selector is not None:
        return selector
    if not isinstance(text, str):
        raise errors.BadRequest(f"field selector must be a string, not {type(text).__name__}")
    requirements = []
    for term in _split_terms(text) if text else ():
        if not term:
            continue
        match = _FIELD_TERM_RE.fullmatch(term)
        if match is None:
            raise errors.BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, value = match.groups()
        requirements.append(
            FieldRequirement(field, "!=" if operator == "!=" else "=", unescape_field_value(value))
        )
    selector = FieldSelector(requirements)
    if len(_field_cache) >= _CACHE_SIZE:
        _field_cache.clear()
    _field_cache[text] = selector
    return selector


# -- selectable fields per kind -------------------------------------------------------------


def _dig(obj: object, *path: str) -> object:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _text(value: object, default: str = "") -> str:
    """A wire value as Go would print the typed field (``""``, ``false``, ``0`` if unset)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _pod_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    pod_ips = _dig(obj, "status", "podIPs")
    if isinstance(pod_ips, list) and pod_ips:
        pod_ip = _text(_dig(pod_ips[0], "ip"))
    else:
        pod_ip = _text(_dig(obj, "status", "podIP"))
    return {
        "spec.nodeName": _text(_dig(obj, "spec", "nodeName")),
        "spec.restartPolicy": _text(_dig(obj, "spec", "restartPolicy")),
        "spec.schedulerName": _text(_dig(obj, "spec", "schedulerName")),
        "spec.serviceAccountName": _text(_dig(obj, "spec", "serviceAccountName")),
        "spec.hostNetwork": _text(_dig(obj, "spec", "hostNetwork"), "false"),
        "status.phase": _text(_dig(obj, "status", "phase")),
        "status.podIP": pod_ip,
        "status.nominatedNodeName": _text(_dig(obj, "status", "nominatedNodeName")),
    }


def _event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    fields = {
        f"involvedObject.{name}": _text(_dig(obj, "involvedObject", name))
        for name in (
            "kind",
            "namespace",
            "name",
            "uid",
            "apiVersion",
            "resourceVersion",
            "fieldPath",
        )
    }
    reporting = _text(obj.get("reportingComponent"))
    fields["reason"] = _text(obj.get("reason"))
    fields["reportingComponent"] = reporting
    fields["source"] = _text(_dig(obj, "source", "component")) or reporting
    fields["type"] = _text(obj.get("type"))
    return fields


def _simple(**paths: tuple[tuple[str, ...], str]) -> Callable[[Mapping[str, Any]], dict[str, str]]:
    def fields(obj: Mapping[str, Any]) -> dict[str, str]:
        return {label: _text(_dig(obj, *path), default) for label, (path, default) in paths.items()}

    return fields


_KIND_FIELDS: Final[dict[str, Callable[[Mapping[str, Any]], dict[str, str]]]] = {
    "Pod": _pod_fields,
    "Event": _event_fields,
    "Node": _simple(**{"spec.unschedulable": (("spec", "unschedulable"), "false")}),
    "Secret": _simple(type=(("type",), "")),
    "Namespace": _simple(**{"status.phase": (("status", "phase"), "")}),
    "Service": _simple(
        **{"spec.clusterIP": (("spec", "clusterIP"), ""), "spec.type": (("spec", "type"), "")}
    ),
    "ReplicationController": _simple(**{"status.replicas": (("status", "replicas"), "0")}),
    "ReplicaSet": _simple(**{"status.replicas": (("status", "replicas"), "0")}),
    "Job": _simple(**{"status.successful": (("status", "succeeded"), "0")}),
    "CertificateSigningRequest": _simple(**{"spec.signerName": (("spec", "signerName"), "")}),
}


def field_set_for(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable fields of a wire-format object, as kube-apiserver builds them.

    Every kind has ``metadata.name`` and ``metadata.namespace``; Pod, Node, Event, Secret,
    Namespace, Service, ReplicationController, ReplicaSet, Job and CertificateSigningRequest
    add their own (``spec.nodeName``, ``status.phase``…). Unset values are ``""`` (or
    ``false``/``0`` for booleans and counters), as Go prints the typed zero value.
    """
    fields = {
        "metadata.name": _text(_dig(obj, "metadata", "name")),
        "metadata.namespace": _text(_dig(obj, "metadata", "namespace")),
    }
    extra = _KIND_FIELDS.get(kind)
    if extra is not None:
        fields.update(extra(obj))
    return fields


_META: Final = ("metadata.name", "metadata.namespace")
_EVENT_LABELS: Final = (
    *(f"involvedObject.{n}" for n in ("kind", "namespace", "name", "uid", "apiVersion")),
    "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type", *_META,
)  # fmt: skip
# The field labels each kind accepts (kube-apiserver's field label conversion functions).
_SUPPORTED_LABELS: Final[dict[str, frozenset[str]]] = {
    "Pod": frozenset((
        *_META, "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
        "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
        "status.podIPs", "status.nominatedNodeName",
    )),
    "Node": frozenset(("metadata.name", "spec.unschedulable")),
    "ReplicationController": frozenset((*_META, "status.replicas")),
    "Event": frozenset(_EVENT_LABELS),
    "Namespace": frozenset(("metadata.name", "status.phase")),
    "Secret": frozenset((*_META, "type")),
    "Service": frozenset((*_META, "spec.clusterIP", "spec.type")),
    "Job": frozenset((*_META, "status.successful")),
    "CertificateSigningRequest": frozenset(("metadata.name", "spec.signerName")),
}  # fmt: skip
# Old clients send spec.host for a pod's node.
_RENAMED_LABELS: Final = {("Pod", "spec.host"): "spec.nodeName"}


def validate_field_selector(
    kind: str, selector: FieldSelector, *, extra_fields: Iterable[str] = ()
) -> FieldSelector:
    """Check ``selector`` against the field labels ``kind`` supports, as kube-apiserver does.

    Returns the selector with legacy labels renamed (``spec.host`` -> ``spec.nodeName`` for
    pods). Kinds without their own list accept ``metadata.name`` and ``metadata.namespace``;
    ``extra_fields`` adds labels (a custom resource's ``selectableFields``).

    Raises:
        korch.errors.BadRequest: with Kubernetes' message for the kind, e.g.
            ``field label not supported: spec.foo``.
    """
    extra = frozenset(extra_fields)
    supported = _SUPPORTED_LABELS.get(kind)

    def convert(field: str, value: str) -> tuple[str, str]:
        renamed = _RENAMED_LABELS.get((kind, field))
        if renamed is not None:
            return renamed, value
        if field in extra or (field in supported if supported is not None else field in _META):
            return field, value
        if kind == "Job":
            raise errors.BadRequest(f"field label {_quote(field)} not supported for Job")
        if supported is None and not extra:
            raise errors.BadRequest(
                f'{_quote(field)} is not a known field selector: only "metadata.name", '
                '"metadata.namespace"'
            )
        raise errors.BadRequest(f"field label not supported: {field}")

    return selector.transform(convert)
