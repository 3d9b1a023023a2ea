"""Decoded objects and the selection a list or watch asks for.

A :class:`Stored` is one version of one object as the server holds it: the typed object
(frozen, so it is shared freely between the watch cache, list results and every watcher),
its key and revision, and what selections test — its labels and its selectable fields
(``field_set_for``, computed on first use). Decoding a typical Pod costs ~100 µs (JSON +
codec, most of it its managedFields), testing a selection on a Stored well under 1 µs,
which is why the server decodes each version once and reuses it wherever the revision
matches, and why a write builds its Stored from the object it encoded
(:func:`stored_from_object`) instead of decoding it.

A :class:`Selection` is a namespace, a label selector and a field selector. It tests
Stored objects, and raw wire dicts too (:meth:`Selection.matches_wire`), so a list served
from the store decodes only the objects it returns.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from korch import errors
from korch.api import (
    _codec,
    _codec_values,
    _defaults_pod,
    _field_selector,
    _fields_v1,
    _generic,
    _meta,
    _registry,
    _selector,
)
from korch.apiserver import _keys
from korch.store import _types as store_types

__all__ = (
    "Selection",
    "Stored",
    "bookmark_object",
    "decode_stored",
    "selection_for",
    "stored_from_object",
    "stored_from_wire",
    "with_revision",
)


class Stored:
    """One decoded version of an object (see the module docstring). Treat as immutable.

    ``fields`` (the selectable fields) is computed on first use and kept: most objects are
    never tested against a field selector, and those that are (pods by node) are tested
    again and again from the watch cache.
    """

    __slots__ = ("_fields", "key", "kind", "labels", "namespace", "obj", "revision")

    def __init__(
        self,
        key: bytes,
        obj: Any,
        revision: int,
        *,
        kind: str,
        fields: dict[str, str] | None = None,
    ) -> None:
        self.key = key
        self.obj = obj
        self.revision = revision
        self.kind = kind
        metadata = obj.metadata
        self.labels: dict[str, str] = metadata.labels
        self.namespace: str = metadata.namespace
        self._fields = fields

    @property
    def fields(self) -> dict[str, str]:
        """The object's selectable fields (``field_set_for``)."""
        fields = self._fields
        if fields is None:
            wire = _codec.to_dict(self.obj)
            fields = self._fields = _field_selector.field_set_for(self.kind, wire)
        return fields

    def __repr__(self) -> str:
        return f"Stored({self.key!r}, revision={self.revision})"


def stored_from_wire(
    rt: _registry.ResourceType,
    key: bytes,
    wire: dict[str, Any],
    revision: int,
    registry: _registry.Registry,
) -> Stored:
    """Decode ``wire`` (whose resourceVersion is already ``revision``) into a Stored.

    Raises:
        korch.errors.Invalid: the wire form does not decode as ``rt``'s class.
    """
    metadata = wire.get("metadata")
    entries = metadata.get("managedFields") if isinstance(metadata, dict) else None
    if entries and isinstance(metadata, dict):
        typed = _shared_entries(entries)
        if typed is not None:  # decoded without copying, and sharing, their fieldsV1
            wire = {**wire, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
            obj: Any = _codec.from_dict(wire, rt.cls, registry=registry)
            meta = _defaults_pod.copy_with(obj.metadata, {"managed_fields": typed})
            return Stored(
                key, _defaults_pod.copy_with(obj, {"metadata": meta}), revision, kind=rt.kind
            )
    obj = _codec.from_dict(wire, rt.cls, registry=registry)
    return Stored(key, obj, revision, kind=rt.kind)


def _shared_entries(entries: Any) -> list[_meta.ManagedFieldsEntry] | None:
    """Typed managedFields entries whose ``fieldsV1`` share structure (``_fields_v1.shared``),
    or ``None`` when an entry is anything but a plain well-formed one (decoded as usual)."""
    if entries.__class__ is not list:
        return None
    typed = []
    for entry in entries:
        if entry.__class__ is not dict or not _ENTRY_KEYS.issuperset(entry):
            return None
        strings = [entry.get(k, "") for k in _STRING_KEYS]
        if any(value.__class__ is not str for value in strings):
            return None
        fields = entry.get("fieldsV1")
        if fields is not None:
            fields = _fields_v1.shared(fields)
            if fields is None:
                return None
        time = entry.get("time")
        try:
            moment = None if time is None else _codec_values.s_time(time)
        except _codec_values.Problem:
            return None
        manager, operation, api_version, fields_type, subresource = strings
        typed.append(
            _meta.ManagedFieldsEntry(
                manager=manager,
                operation=operation,
                api_version=api_version,
                time=moment,
                fields_type=fields_type,
                fields_v1=fields,
                subresource=subresource,
            )
        )
    return typed


_ENTRY_KEYS: Final = frozenset(
    ("manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource")
)
_STRING_KEYS: Final = ("manager", "operation", "apiVersion", "fieldsType", "subresource")


def _managed_entry(entry: dict[str, Any], share: bool) -> _meta.ManagedFieldsEntry:
    """The typed form of one managedFields entry, as ``from_dict`` would decode it.

    ``share``: the entry's ``fieldsV1`` was made for this write alone, so the typed entry
    keeps that dict instead of a copy.
    """
    if not _ENTRY_KEYS.issuperset(entry):
        return _codec.from_dict(entry, _meta.ManagedFieldsEntry)
    time = entry.get("time")
    fields = entry.get("fieldsV1")
    return _meta.ManagedFieldsEntry(
        manager=entry.get("manager", ""),
        operation=entry.get("operation", ""),
        api_version=entry.get("apiVersion", ""),
        time=None if time is None else _codec_values.s_time(time),
        fields_type=entry.get("fieldsType", ""),
        fields_v1=fields if share or fields is None else _codec_values.s_json(fields),
        subresource=entry.get("subresource", ""),
    )


def stored_from_object(
    rt: _registry.ResourceType,
    key: bytes,
    obj: Any,
    wire: dict[str, Any],
    revision: int,
    *,
    share_fields: bool,
) -> Stored:
    """The Stored of a write without decoding its wire form again.

    ``wire`` is ``to_dict(obj)`` plus what the server set while finishing it: its
    ``metadata.managedFields`` (entries whose ``fieldsV1`` may be kept without a copy when
    ``share_fields``) and ``metadata.resourceVersion`` (``revision``). The typed object is
    ``obj`` with those two fields replaced, which equals decoding ``wire``: the codec
    round-trips every typed object the server writes (``from_dict(to_dict(x)) == x``;
    tests/apiserver/test_create.py checks responses against fresh reads).
    """
    metadata = wire["metadata"]
    entries = metadata.get("managedFields") or ()
    meta = _defaults_pod.copy_with(
        obj.metadata,
        {
            "resource_version": metadata.get("resourceVersion", ""),
            "managed_fields": [_managed_entry(entry, share_fields) for entry in entries],
        },
    )
    return Stored(key, _defaults_pod.copy_with(obj, {"metadata": meta}), revision, kind=rt.kind)


def decode_stored(
    rt: _registry.ResourceType, kv: store_types.KeyValue, registry: _registry.Registry
) -> Stored:
    """Decode a store key-value of resource type ``rt``.

    Raises:
        korch.errors.InternalError: the stored value is not a valid object of ``rt``.
    """
    wire = _keys.decode(kv.value, kv.mod_revision)
    try:
        return stored_from_wire(rt, kv.key, wire, kv.mod_revision, registry)
    except errors.BadRequest as exc:
        raise errors.InternalError(f"stored object {kv.key!r} does not decode: {exc}") from exc


def _with_metadata(obj: Any, **changes: Any) -> Any:
    return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, **changes))


def with_revision(stored: Stored, revision: int) -> Stored:
    """A copy of ``stored`` whose object carries resourceVersion ``revision``.

    Used for DELETED events, which report the last state at the deleting revision.
    """
    obj = _with_metadata(stored.obj, resource_version=str(revision))
    return Stored(stored.key, obj, revision, kind=stored.kind, fields=stored._fields)


def bookmark_object(
    rt: _registry.ResourceType, revision: int, annotations: dict[str, str] | None = None
) -> Any:
    """A BOOKMARK event's object: the kind's type meta and ``metadata.resourceVersion`` only."""
    metadata = _meta.ObjectMeta(resource_version=str(revision), annotations=annotations or {})
    if rt.cls is _generic.GenericResource:
        return _generic.GenericResource(api_version=rt.api_version, kind=rt.kind, metadata=metadata)
    return rt.cls(metadata=metadata)


@attrs.frozen
class Selection:
    """Which objects a list or watch wants: a namespace (``""``: all) and two selectors."""

    namespace: str = ""
    labels: _selector.Selector = attrs.field(factory=_selector.Selector.empty)
    fields: _field_selector.FieldSelector = attrs.field(factory=_field_selector.FieldSelector)

    @property
    def everything(self) -> bool:
        """Whether the selection has no selectors (only, possibly, a namespace)."""
        return self.labels.is_empty() and self.fields.is_empty()

    def matches(self, stored: Stored) -> bool:
        """Whether ``stored`` is selected."""
        if self.namespace and stored.namespace != self.namespace:
            return False
        if not self.labels.is_empty() and not self.labels.matches(stored.labels):
            return False
        return self.fields.is_empty() or self.fields.matches(stored.fields)

    def matches_wire(self, kind: str, wire: dict[str, Any]) -> bool:
        """Whether the wire-form object ``wire`` of ``kind`` is selected."""
        metadata = wire.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        if self.namespace and metadata.get("namespace", "") != self.namespace:
            return False
        if not self.labels.is_empty():
            labels = metadata.get("labels")
            if not self.labels.matches(labels if isinstance(labels, dict) else {}):
                return False
        return self.fields.is_empty() or self.fields.matches(
            _field_selector.field_set_for(kind, wire)
        )


def selection_for(
    rt: _registry.ResourceType,
    namespace: str = "",
    label_selector: str = "",
    field_selector: str = "",
    *,
    extra_fields: tuple[str, ...] = (),
) -> Selection:
    """Parse and check a list/watch request's selectors for resource type ``rt``.

    Args:
        rt: the resource type listed.
        namespace: the namespace (``""``: all namespaces; ignored for cluster scope).
        label_selector: a label selector string (``app=web,tier in (a,b)``).
        field_selector: a field selector string (``spec.nodeName=n1``); only the fields
            kube-apiserver supports for the kind (plus ``extra_fields``) are accepted.
        extra_fields: additional selectable fields (a custom resource's selectableFields).

    Raises:
        korch.errors.BadRequest: a selector does not parse or names an unsupported field.
    """
    labels = _selector.parse_selector(label_selector or "")
    fields = _field_selector.FieldSelector()
    if field_selector:
        parsed = _field_selector.parse_field_selector(field_selector)
        fields = _field_selector.validate_field_selector(rt.kind, parsed, extra_fields=extra_fields)
    return Selection(namespace if rt.namespaced else "", labels, fields)
