"""Modelling rules shared by every kind, and the meta/v1 types (ObjectMeta, Status, Table…).

Every API struct is a frozen, keyword-only, slotted attrs class deriving from :class:`Model`;
edit with :func:`attrs.evolve`. Frozen classes make accidental sharing bugs (an informer
cache handing the same object to two controllers) loud, and cost nothing when decoding: the
codec fills instances without going through the frozen ``__init__`` (see
``korch.api._codegen.builder_class``). Lists and dicts inside are plain ``list``/``dict``
(cheap to build, easy to pass in); treat them as read-only too.

Field modelling mirrors the Go types so the wire form round-trips the way Kubernetes' does:

* Go pointer (``*int32``, ``*Probe``) -> ``T | None = None``; omitted only when ``None``
  (so ``emptyDir: {}`` and ``replicas: 0`` survive).
* Go value scalar with ``omitempty`` -> ``str = ""`` / ``int = 0`` / ``bool = False``;
  omitted when it equals that zero value.
* Go value scalar without ``omitempty`` (``restartCount``, ``containerPort``) -> same
  default, marked :data:`ALWAYS`; always written.
* Go value struct (``spec``, ``resources``, ``strategy``) -> ``attrs.Factory(T)``; omitted
  when it equals ``T()`` (Kubernetes writes ``{}``; both mean the same).
* slices and maps -> ``attrs.Factory(list | dict)``; omitted when empty; ``null`` is never
  written.
* TypeMeta (``api_version``, ``kind``) defaults to the kind's own values and follows the
  same rule, as in Go, where the *encoder* stamps it on the object being encoded: the codec
  always writes apiVersion/kind of the top-level object (and of embedded whole objects such
  as list items), while an embedded PersistentVolumeClaim template keeps them only if they
  differ from the defaults.
* timestamps are timezone-aware :class:`datetime.datetime` (``metav1.Time``: RFC 3339,
  seconds; fields marked :data:`MICRO` are ``metav1.MicroTime`` with microseconds);
  ``[]byte`` is :class:`bytes` (base64 on the wire); intOrString is ``int | str``;
  quantities stay wire strings here; free-form JSON (RawExtension, openAPIV3Schema) is
  ``dict[str, Any]`` / ``Any``.

Wire names derive from attribute names by :func:`wire_name` (``snake_case`` -> camelCase
with Kubernetes' capitalised acronyms: ``pod_ip`` -> ``podIP``), with explicit exceptions in
field metadata (:func:`field_info`). The metadata also carries ``required`` and an optional
``description`` so validation and OpenAPI generation can be derived from the classes.

Unknown fields met while decoding (non-strict) are kept in a hidden per-object slot
(``Model.unknown_fields``) and written back by the codec, so foreign fields round-trip.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final, Protocol

import attrs

__all__ = (
    "ALWAYS",
    "MICRO",
    "Condition",
    "DeleteOptions",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ListMeta",
    "ManagedFieldsEntry",
    "Model",
    "ObjectMeta",
    "OwnerReference",
    "PartialObjectMetadata",
    "Preconditions",
    "Resource",
    "ResourceList",
    "Status",
    "StatusCause",
    "StatusDetails",
    "Table",
    "TableColumnDefinition",
    "TableRow",
    "TableRowCondition",
    "WatchEvent",
    "field_info",
    "model_fields",
    "split_api_version",
    "wire_name",
)

# -- field metadata --------------------------------------------------------------------

#: Metadata keys (namespaced so user metadata on CRD classes cannot collide).
WIRE: Final = "korch.wire"
OMITEMPTY: Final = "korch.omitempty"
REQUIRED: Final = "korch.required"
FORMAT: Final = "korch.format"
DESCRIPTION: Final = "korch.description"
INTERNAL: Final = "korch.internal"

_ACRONYMS: Final = {
    "api": "API",
    "cidr": "CIDR",
    "cidrs": "CIDRs",
    "cpu": "CPU",
    "fqdn": "FQDN",
    "id": "ID",
    "ip": "IP",
    "ipc": "IPC",
    "ips": "IPs",
    "pid": "PID",
    "tls": "TLS",
    "uid": "UID",
    "url": "URL",
    "urls": "URLs",
    "uuid": "UUID",
}


def field_info(
    *,
    wire: str | None = None,
    always: bool = False,
    required: bool = False,
    micro: bool = False,
    quantity: bool = False,
    description: str | None = None,
) -> dict[str, object]:
    """Build attrs field metadata understood by the codec, validation and schema generation.

    Args:
        wire: the JSON field name when the :func:`wire_name` rule gets it wrong.
        always: write the field even when it holds its zero value (Go: no ``omitempty``).
        required: Kubernetes validation requires the field (used by later generators).
        micro: a timestamp with microsecond precision (``metav1.MicroTime``).
        quantity: a resource.Quantity (or a map of them): JSON numbers are accepted and kept
            as their canonical string (``cpu: 1`` → ``"1"``, ``0.5`` → ``"500m"``), as
            kube-apiserver does.
        description: human text for generated OpenAPI schemas.

    Returns:
        A dict to pass as ``attrs.field(metadata=...)``.
    """
    meta: dict[str, object] = {}
    if wire is not None:
        meta[WIRE] = wire
    if always:
        meta[OMITEMPTY] = False
    if required:
        meta[REQUIRED] = True
    if micro:
        meta[FORMAT] = "micro"
    if quantity:
        meta[FORMAT] = "quantity"
    if description is not None:
        meta[DESCRIPTION] = description
    return meta


#: Shorthand metadata: a Go field without ``omitempty`` (always written).
ALWAYS: Final = field_info(always=True)
#: Shorthand metadata: a ``metav1.MicroTime`` timestamp.
MICRO: Final = field_info(micro=True)
_REQ: Final = field_info(always=True, required=True)


def wire_name(attribute: attrs.Attribute[Any]) -> str:
    """The JSON name of ``attribute``: its ``korch.wire`` metadata, else camelCase by rule.

    The rule lower-cases the first word and capitalises the others, spelling Kubernetes'
    acronyms in capitals (``host_ip`` -> ``hostIP``, ``open_api_v3_schema`` ->
    ``openAPIV3Schema``).
    """
    explicit = attribute.metadata.get(WIRE)
    if explicit is not None:
        return str(explicit)
    first, *rest = attribute.name.split("_")
    return first + "".join(_ACRONYMS.get(part, part.capitalize()) for part in rest)


def model_fields(cls: type) -> tuple[attrs.Attribute[Any], ...]:
    """The wire fields of model class ``cls``, field types resolved, hidden slots left out.

    This is what validation and OpenAPI generators walk: each attribute's ``type``, its
    :func:`wire_name` and its metadata (``korch.required``, ``korch.format``…).
    """
    attrs.resolve_types(cls)
    return tuple(a for a in attrs.fields(cls) if not a.metadata.get(INTERNAL))


def split_api_version(api_version: str) -> tuple[str, str]:
    """Split ``"apps/v1"`` into ``("apps", "v1")`` and ``"v1"`` into ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


# -- base ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Model:
    """Base of every typed API struct; holds fields the class does not know (see module doc)."""

    _unknown: dict[str, Any] | None = attrs.field(
        default=None, alias="unknown_fields", repr=False, metadata={INTERNAL: True}
    )

    @property
    def unknown_fields(self) -> Mapping[str, Any]:
        """Wire fields this class does not model, kept verbatim from decoding."""
        return self._unknown or {}


class Resource(Protocol):
    """What every top-level kind has: type meta and object meta."""

    @property
    def api_version(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def metadata(self) -> ObjectMeta: ...


# -- object metadata -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OwnerReference(Model):
    """A dependent's pointer to its owner (garbage collection, controller ownership)."""

    api_version: str = attrs.field(default="", metadata=_REQ)
    kind: str = attrs.field(default="", metadata=_REQ)
    name: str = attrs.field(default="", metadata=_REQ)
    uid: str = attrs.field(default="", metadata=_REQ)
    controller: bool | None = None
    block_owner_deletion: bool | None = None


@attrs.frozen(kw_only=True)
class ManagedFieldsEntry(Model):
    """One field manager's ownership record (server-side apply); fieldsV1 stays raw JSON."""

    manager: str = ""
    operation: str = ""
    api_version: str = ""
    time: datetime.datetime | None = None
    fields_type: str = ""
    fields_v1: dict[str, Any] | None = None
    subresource: str = ""


@attrs.frozen(kw_only=True)
class ObjectMeta(Model):
    """Metadata every persisted object has (``metadata``)."""

    name: str = ""
    generate_name: str = ""
    namespace: str = ""
    self_link: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: datetime.datetime | None = None
    deletion_timestamp: datetime.datetime | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] = attrs.Factory(dict)
    annotations: dict[str, str] = attrs.Factory(dict)
    owner_references: list[OwnerReference] = attrs.Factory(list)
    finalizers: list[str] = attrs.Factory(list)
    managed_fields: list[ManagedFieldsEntry] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class LabelSelectorRequirement(Model):
    """``key operator (values)`` with operator In, NotIn, Exists or DoesNotExist."""

    key: str = attrs.field(default="", metadata=_REQ)
    operator: str = attrs.field(default="", metadata=_REQ)
    values: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class LabelSelector(Model):
    """matchLabels AND matchExpressions; an empty selector matches everything."""

    match_labels: dict[str, str] = attrs.Factory(dict)
    match_expressions: list[LabelSelectorRequirement] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class Condition(Model):
    """The standard ``metav1.Condition`` (reason and message are always written)."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    observed_generation: int = 0
    last_transition_time: datetime.datetime | None = attrs.field(default=None, metadata=_REQ)
    reason: str = attrs.field(default="", metadata=_REQ)
    message: str = attrs.field(default="", metadata=ALWAYS)


# -- lists, status, tables -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ListMeta(Model):
    """Metadata of a list: resourceVersion and the ``continue`` token of paged lists."""

    self_link: str = ""
    resource_version: str = ""
    continue_: str = attrs.field(default="", metadata=field_info(wire="continue"))
    remaining_item_count: int | None = None


@attrs.frozen(kw_only=True)
class ResourceList(Model):
    """``kind: List`` or ``<Kind>List``: items decoded each by its own (or the list's) kind.

    The codec handles this class specially: items of a ``PodList`` are decoded as Pods, items
    of a ``List`` by their own apiVersion/kind, and on output every item is encoded by its
    own class.
    """

    api_version: str = "v1"
    kind: str = "List"
    metadata: ListMeta = attrs.Factory(ListMeta)
    items: list[Any] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class StatusCause(Model):
    """One cause of a failure: usually a field path and what is wrong with it."""

    reason: str = ""
    message: str = ""
    field: str = ""


@attrs.frozen(kw_only=True)
class StatusDetails(Model):
    """Which object a failure is about, and its causes."""

    name: str = ""
    group: str = ""
    kind: str = ""
    uid: str = ""
    causes: list[StatusCause] = attrs.Factory(list)
    retry_after_seconds: int = 0


@attrs.frozen(kw_only=True)
class Status(Model):
    """The result of an operation that returns no object; errors travel as Status."""

    api_version: str = "v1"
    kind: str = "Status"
    metadata: ListMeta = attrs.Factory(ListMeta)
    status: str = ""
    message: str = ""
    reason: str = ""
    details: StatusDetails | None = None
    code: int = 0


@attrs.frozen(kw_only=True)
class TableColumnDefinition(Model):
    """A column of a server-side printed table (``kubectl get``)."""

    name: str = attrs.field(default="", metadata=ALWAYS)
    type: str = attrs.field(default="", metadata=ALWAYS)
    format: str = attrs.field(default="", metadata=ALWAYS)
    description: str = attrs.field(default="", metadata=ALWAYS)
    priority: int = attrs.field(default=0, metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class TableRowCondition(Model):
    """A condition of a table row (``Completed`` marks finished objects)."""

    type: str = attrs.field(default="", metadata=ALWAYS)
    status: str = attrs.field(default="", metadata=ALWAYS)
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class TableRow(Model):
    """One row: the cells (plain JSON values) and optionally the object it shows."""

    cells: list[Any] = attrs.Factory(list)
    conditions: list[TableRowCondition] = attrs.Factory(list)
    object: Any = None


@attrs.frozen(kw_only=True)
class Table(Model):
    """meta.k8s.io/v1 Table, the server-side rendering ``kubectl get`` asks for."""

    api_version: str = "meta.k8s.io/v1"
    kind: str = "Table"
    metadata: ListMeta = attrs.Factory(ListMeta)
    column_definitions: list[TableColumnDefinition] = attrs.Factory(list)
    rows: list[TableRow] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class PartialObjectMetadata(Model):
    """Only the type and object metadata of an object (``as=PartialObjectMetadata``)."""

    api_version: str = "meta.k8s.io/v1"
    kind: str = "PartialObjectMetadata"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)


@attrs.frozen(kw_only=True)
class Preconditions(Model):
    """Conditions a delete must meet (uid and/or resourceVersion)."""

    uid: str | None = None
    resource_version: str | None = None


@attrs.frozen(kw_only=True)
class DeleteOptions(Model):
    """Options of a delete: grace period, preconditions, propagation policy, dry run."""

    api_version: str = "v1"
    kind: str = "DeleteOptions"
    grace_period_seconds: int | None = None
    preconditions: Preconditions | None = None
    orphan_dependents: bool | None = None
    propagation_policy: str | None = None
    dry_run: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class WatchEvent(Model):
    """One event of a watch stream (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).

    ``object`` is the object's wire form (a dict; an ERROR carries a Status). Stream frames
    have no TypeMeta, so ``api_version``/``kind`` are empty unless given.
    """

    api_version: str = ""
    kind: str = ""
    type: str = attrs.field(default="", metadata=_REQ)
    object: Any = attrs.field(default=None, metadata=ALWAYS)
