"""OpenAPI v3 component schemas derived from the typed model classes.

One attrs model class is one component schema, named as Kubernetes names the Go type it
mirrors (:func:`korch.api._openapi_names.component_name`): ``io.k8s.api.core.v1.Pod``,
``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``. A class schema is an ``object`` with
one property per wire field (:func:`korch.api._meta.model_fields`); nested model classes are
``$ref``'d, never inlined, so shared types (ObjectMeta, Container) appear once per document and
recursion is harmless. :func:`components` closes a set of root classes over their
references.

Where the schema comes from:

* types: ``str``/``int``/``bool``/``float`` -> string/integer/boolean/number; ``bytes`` ->
  string, format byte; ``datetime`` -> ``$ref`` Time (MicroTime for ``MICRO`` fields); ``int |
  str`` -> IntOrString; ``list``/``dict`` -> array/``additionalProperties``; free-form JSON
  (``dict[str, Any]``, ``Any``) -> ``x-kubernetes-preserve-unknown-fields``; ``Literal`` and
  enums -> ``enum``. Quantities are wire strings in the model, so the fields that hold them
  are listed here (``_QUANTITY_FIELDS``; a field can also say ``korch.format: quantity``).
* ``required``: the ``korch.required`` field metadata, corrected by two small tables to what
  Kubernetes publishes (workload ``selector``/``template`` are required there although the
  model keeps them optional; ``Container.image`` is not, so controllers may default it).
* descriptions: the ``korch.description`` metadata when present; otherwise a short text of
  korch's own — the first paragraph of the class docstring for a model-typed field or a
  class, fixed sentences for TypeMeta/metadata/spec/status, else the field name in words.
* ``x-kubernetes-list-type``/``-list-map-keys``/``-patch-strategy``/``-patch-merge-key`` and
  ``x-kubernetes-map-type``: the patch tables of :mod:`korch.api._strategic`, walked once
  per built-in kind alongside its class; since a class is one component, every kind that
  reaches it sees the same markers (the first kind's, which the tables keep consistent).
  Key fields a list item may omit (``protocol`` of ports) get their ``default``.

Primitive components follow kube-openapi: Quantity is ``oneOf`` string|number; IntOrString
is ``oneOf`` integer|string with ``format: int-or-string`` and also
``x-kubernetes-int-or-string: true`` (what structural schemas use); Time and MicroTime are
strings of format date-time. A property whose schema is a ``$ref`` is written
``{"allOf": [{"$ref": ...}], "description": ...}`` because OpenAPI 3.0 ignores siblings of
``$ref``; items and ``additionalProperties`` are plain ``$ref``.
"""

from __future__ import annotations

import copy
import datetime
import enum
import functools
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from korch import errors
from korch.api import (
    _apiextensions,
    _apps,
    _batch,
    _core_container,
    _core_node,
    _core_other,
    _core_pod,
    _core_volume,
    _generic,
    _meta,
    _misc,
    _openapi_names,
    _registry,
    _strategic,
)

__all__ = (
    "components",
    "crd_schema_components",
    "generic_kind_schema",
    "list_schema",
    "schema_for",
)

# -- tables: quantities, required fields ------------------------------------------------

_QUANTITY_FIELDS: Final[dict[type, frozenset[str]]] = {
    cls: frozenset(names.split())
    for cls, names in (
        (_core_container.ResourceFieldSelector, "divisor"),
        (_core_container.ResourceRequirements, "limits requests"),
        (_core_container.ContainerStatus, "allocatedResources"),
        (_core_volume.EmptyDirVolumeSource, "sizeLimit"),
        (_core_volume.VolumeResourceRequirements, "limits requests"),
        (_core_volume.PersistentVolumeClaimStatus, "capacity allocatedResources"),
        (_core_volume.PersistentVolumeSpec, "capacity"),
        (_core_pod.PodSpec, "overhead"),
        (_core_node.NodeStatus, "capacity allocatable"),
        (_core_other.ResourceQuotaSpec, "hard"),
        (_core_other.ResourceQuotaStatus, "hard used"),
        (_core_other.LimitRangeItem, "max min default defaultRequest maxLimitRequestRatio"),
    )
}
# Required in Kubernetes' published schemas though optional in the model (Go pointers
# without omitempty), and the reverse.
_SCHEMA_REQUIRED: Final[dict[type, frozenset[str]]] = {
    cls: frozenset(names.split())
    for cls, names in (
        (_apps.DeploymentSpec, "selector template"),
        (_apps.ReplicaSetSpec, "selector"),
        (_apps.StatefulSetSpec, "selector template"),
        (_apps.DaemonSetSpec, "selector template"),
        (_batch.JobSpec, "template"),
        (_meta.Condition, "message"),
        (_misc.HorizontalPodAutoscalerSpec, "scaleTargetRef"),
        (_apiextensions.CustomResourceDefinition, "spec"),
    )
}
_SCHEMA_OPTIONAL: Final[dict[type, frozenset[str]]] = {
    _core_container.Container: frozenset({"image"}),
    _core_container.EphemeralContainer: frozenset({"image"}),
}
# -- patch markers from _strategic --------------------------------------------------------


@attrs.frozen
class _PatchMarkers:
    fields: Mapping[tuple[type, str], _strategic.PatchSchema]
    atomic: frozenset[type]
    defaults: Mapping[tuple[type, str], Any]


def _strip_optional(t: Any) -> Any:
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = tuple(a for a in typing.get_args(t) if a is not type(None))
        if len(args) == 1:
            return args[0]
        if len(args) < len(typing.get_args(t)):
            return typing.Union[args]  # noqa: UP007
    return t


@functools.cache
def _patch_markers() -> _PatchMarkers:
    fields: dict[tuple[type, str], _strategic.PatchSchema] = {}
    atomic: set[type] = set()
    defaults: dict[tuple[type, str], Any] = {}
    seen: set[tuple[type, int]] = set()

    def walk(cls: type, schema: _strategic.PatchSchema) -> None:
        if schema.map_type == "atomic":
            atomic.add(cls)
        if (cls, id(schema)) in seen:
            return
        seen.add((cls, id(schema)))
        for attribute in _meta.model_fields(cls):
            wire = _meta.wire_name(attribute)
            child = schema.fields.get(wire)
            if child is None:
                continue
            fields.setdefault((cls, wire), child)
            t = _strip_optional(attribute.type)
            if typing.get_origin(t) is list:
                t, item = typing.get_args(t)[0], child.item()
                for key, value in child.key_defaults.items():
                    defaults.setdefault((t, key), value)
                child = item
            if isinstance(t, type) and attrs.has(t):
                walk(t, child)

    for rt in _registry.default_registry():
        if rt.typed:
            try:
                walk(rt.cls, _strategic.schema_for_kind(rt.api_version, rt.kind))
            except errors.UnsupportedMediaType:
                continue
    return _PatchMarkers(fields, frozenset(atomic), defaults)


# -- descriptions -------------------------------------------------------------------------

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")
_STANDARD_FIELDS: Final = {
    "apiVersion": (
        "The group/version whose schema this object follows (just the version for the core "
        "group); the server converts or rejects versions it does not serve."
    ),
    "kind": "The type of this object in CamelCase, such as Pod or Deployment.",
    "metadata": (
        "Metadata every persisted object carries: name, namespace, labels, annotations, "
        "owners, finalizers and server-maintained fields."
    ),
    "spec": "The desired state, written by users and controllers.",
    "status": "The observed state, reported by the system; written through /status.",
}


def _summary(cls: type) -> str:
    """The first paragraph of ``cls``'s docstring as one plain line."""
    doc = cls.__doc__ or ""
    if not doc.strip():
        return f"{cls.__name__}."
    paragraph = doc.strip().split("\n\n")[0]
    text = " ".join(line.strip() for line in paragraph.splitlines())
    return _ROLE.sub(r"\1", text).replace("``", "")


def _words(wire: str) -> str:
    parts = _WORD.findall(wire) or [wire]
    words = [p if p.isupper() and len(p) > 1 else p.lower() for p in parts]
    text = " ".join(words)
    return text[0].upper() + text[1:]


def _field_description(owner: type, attribute: attrs.Attribute[Any], wire: str) -> str:
    explicit = attribute.metadata.get(_meta.DESCRIPTION)
    if explicit is not None:
        return str(explicit)
    t = _strip_optional(attribute.type)
    if typing.get_origin(t) is list:
        t = typing.get_args(t)[0]
    is_model = isinstance(t, type) and attrs.has(t)
    if t is _meta.ObjectMeta or (wire in ("spec", "status") and is_model):
        return _STANDARD_FIELDS[wire]
    if wire in ("apiVersion", "kind") and _is_kind(owner):
        return _STANDARD_FIELDS[wire]
    if is_model:
        return _summary(t)
    return f"{_words(wire)} of the {owner.__name__}."


def _is_kind(cls: type) -> bool:
    """Whether ``cls`` is a whole object (TypeMeta and metadata), not a struct inside one."""
    names = {a.name for a in attrs.fields(cls)}
    return {"api_version", "kind", "metadata"} <= names


# -- class schemas ----------------------------------------------------------------------


class _References:
    """The components a schema refers to: model classes by name, and primitives."""

    def __init__(self, registry: _registry.Registry) -> None:
        self.registry = registry
        self.classes: dict[str, type] = {}
        self.primitives: set[str] = set()

    def model(self, cls: type) -> dict[str, Any]:
        name = _openapi_names.component_name(cls, registry=self.registry)
        existing = self.classes.setdefault(name, cls)
        if existing is not cls:
            raise errors.BadRequest(
                f"classes {existing.__qualname__} and {cls.__qualname__} both map to the "
                f"OpenAPI component {name}"
            )
        return _openapi_names.ref(name)

    def primitive(self, name: str) -> dict[str, Any]:
        self.primitives.add(name)
        return _openapi_names.ref(name)


def _free_form(description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if description:
        out["description"] = description
    return out


def _type_schema(t: Any, refs: _References, *, micro: bool, quantity: bool) -> dict[str, Any]:
    t = _strip_optional(t)
    if quantity and t is str:
        return refs.primitive(_openapi_names.QUANTITY)
    simple = {str: "string", bool: "boolean", int: "integer"}.get(t)
    if simple is not None:
        return {"type": simple}
    if t is float:
        return {"type": "number", "format": "double"}
    if t is bytes:
        return {"type": "string", "format": "byte"}
    if t is datetime.datetime:
        return refs.primitive(_openapi_names.MICRO_TIME if micro else _openapi_names.TIME)
    if t is Any or t is object:
        return {"x-kubernetes-preserve-unknown-fields": True}
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, types.UnionType) and set(args) == {int, str}:
        return refs.primitive(_openapi_names.INT_OR_STRING)
    if origin in (list, tuple, set, frozenset) or t in (list, tuple, set, frozenset):
        item = args[0] if args else Any
        items = _type_schema(item, refs, micro=micro, quantity=quantity)
        return {"type": "array", "items": items}
    if origin is dict or t is dict:
        value = args[1] if len(args) == 2 else Any
        if value is Any or value is object:
            return _free_form()
        values = _type_schema(value, refs, micro=micro, quantity=quantity)
        return {"type": "object", "additionalProperties": values}
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return _enum_schema([member.value for member in t])
    if isinstance(t, type) and attrs.has(t):
        return refs.model(t)
    return {"x-kubernetes-preserve-unknown-fields": True}  # a type JSON cannot describe


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string"}
    names = {kinds.get(type(v), "string") for v in values}
    out: dict[str, Any] = {"enum": values}
    if len(names) == 1:
        out["type"] = names.pop()
    return out


def _list_markers(schema: _strategic.PatchSchema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if schema.strategy or schema.list_type:
        out["x-kubernetes-list-type"] = schema.ssa_list_type
        if schema.ssa_list_type == "map":
            out["x-kubernetes-list-map-keys"] = list(schema.ssa_keys)
    return out


def _field_schema(owner: type, attribute: attrs.Attribute[Any], refs: _References) -> Any:
    wire = _meta.wire_name(attribute)
    quantity = wire in _QUANTITY_FIELDS.get(owner, ()) or (
        attribute.metadata.get(_meta.FORMAT) == "quantity"
    )
    micro = attribute.metadata.get(_meta.FORMAT) == "micro"
    schema = _type_schema(attribute.type, refs, micro=micro, quantity=quantity)
    extras: dict[str, Any] = {"description": _field_description(owner, attribute, wire)}
    if (owner, wire) in _patch_markers().defaults:
        extras["default"] = _patch_markers().defaults[(owner, wire)]
    markers = _patch_markers().fields.get((owner, wire))
    if markers is not None:
        if schema.get("type") == "array":
            extras.update(_list_markers(markers))
        elif schema.get("type") == "object" and markers.map_type == "atomic":
            extras["x-kubernetes-map-type"] = "atomic"
        if markers.strategy:
            extras["x-kubernetes-patch-strategy"] = markers.strategy
        if markers.merge_key:
            extras["x-kubernetes-patch-merge-key"] = markers.merge_key
    if "$ref" in schema:
        return {"allOf": [schema], **extras}
    return {**schema, **extras}


def _required(cls: type, attribute: attrs.Attribute[Any], wire: str) -> bool:
    if wire in _SCHEMA_REQUIRED.get(cls, ()):
        return True
    return bool(attribute.metadata.get(_meta.REQUIRED)) and wire not in _SCHEMA_OPTIONAL.get(
        cls, ()
    )


def _class_schema(cls: type, refs: _References) -> dict[str, Any]:
    if cls is _generic.GenericResource:
        refs.model(_meta.ObjectMeta)
        return generic_kind_schema("An object of a kind without a typed model.")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for attribute in _meta.model_fields(cls):
        wire = _meta.wire_name(attribute)
        properties[wire] = _field_schema(cls, attribute, refs)
        if _required(cls, attribute, wire):
            required.append(wire)
    out: dict[str, Any] = {"description": _summary(cls), "type": "object"}
    if properties:
        out["properties"] = properties
    if required:
        out["required"] = required
    if cls in _patch_markers().atomic:
        out["x-kubernetes-map-type"] = "atomic"
    return out


def generic_kind_schema(description: str) -> dict[str, Any]:
    """The schema of a kind served without a typed model: TypeMeta, ObjectMeta, and any
    other field (``x-kubernetes-preserve-unknown-fields``)."""
    return {
        "description": description,
        "type": "object",
        "properties": {
            "apiVersion": {"description": _STANDARD_FIELDS["apiVersion"], "type": "string"},
            "kind": {"description": _STANDARD_FIELDS["kind"], "type": "string"},
            "metadata": {
                "allOf": [_openapi_names.ref(_openapi_names.OBJECT_META)],
                "description": _STANDARD_FIELDS["metadata"],
            },
        },
        "x-kubernetes-preserve-unknown-fields": True,
    }


def list_schema(item_name: str, gvk: Mapping[str, str]) -> dict[str, Any]:
    """The schema of list kind ``gvk`` whose items are component ``item_name``."""
    return {
        "description": f"A list of {item_name.rsplit('.', 1)[-1]} objects.",
        "type": "object",
        "properties": {
            "apiVersion": {"description": _STANDARD_FIELDS["apiVersion"], "type": "string"},
            "kind": {"description": _STANDARD_FIELDS["kind"], "type": "string"},
            "metadata": {
                "allOf": [_openapi_names.ref(_openapi_names.LIST_META)],
                "description": "List metadata: resourceVersion and the continue token of pages.",
            },
            "items": {
                "description": "The objects of the list.",
                "type": "array",
                "items": _openapi_names.ref(item_name),
            },
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [dict(gvk)],
    }


def schema_for(cls: type, *, registry: _registry.Registry | None = None) -> dict[str, Any]:
    """The OpenAPI v3 schema of model class ``cls``, referring to other components by name.

    Args:
        cls: an attrs model class (a kind, or a struct such as Container).
        registry: resolves names of registered non-built-in classes and the
            ``x-kubernetes-group-version-kind`` of kinds (default: the built-in registry).

    Returns:
        A new JSON-serialisable dict; ``$ref`` values point at ``#/components/schemas/<name>``
        (see :func:`components` for the referenced schemas).

    Raises:
        korch.errors.BadRequest: ``cls`` is not an attrs class, or two classes it reaches
            map to one component name.
    """
    registry = registry or _registry.default_registry()
    if not (isinstance(cls, type) and attrs.has(cls)):
        raise errors.BadRequest(f"{cls!r} is not a model class (an attrs class)")
    return _component(cls, _References(registry))


def _component(cls: type, refs: _References) -> dict[str, Any]:
    schema = _class_schema(cls, refs)
    if cls is not _generic.GenericResource:
        gvks = _openapi_names.group_version_kinds(cls, refs.registry)
        if gvks:
            schema["x-kubernetes-group-version-kind"] = gvks
    return schema


def components(
    roots: Iterable[type], *, registry: _registry.Registry | None = None
) -> dict[str, dict[str, Any]]:
    """The component schemas of ``roots`` and of everything they reference, by name.

    Raises:
        korch.errors.BadRequest: as :func:`schema_for`.
    """
    refs = _References(registry or _registry.default_registry())
    for cls in roots:
        refs.model(cls)
    out: dict[str, dict[str, Any]] = {}
    pending = list(refs.classes.items())
    while pending:
        name, cls = pending.pop()
        if name not in out:
            out[name] = _component(cls, refs)
            pending.extend((n, c) for n, c in refs.classes.items() if n not in out)
    for name in refs.primitives:
        out[name] = copy.deepcopy(_openapi_names.PRIMITIVES[name])
    return dict(sorted(out.items()))


# -- custom resources -----------------------------------------------------------------


def _add_embedded_properties(node: Any) -> None:
    """Give every ``x-kubernetes-embedded-resource`` object TypeMeta and ObjectMeta."""
    if not isinstance(node, dict):
        return
    if node.get("x-kubernetes-embedded-resource") is True:
        props = node.setdefault("properties", {})
        if isinstance(props, dict):
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            props["metadata"] = {"allOf": [_openapi_names.ref(_openapi_names.OBJECT_META)]}
    for key in ("properties", "patternProperties", "definitions"):
        children = node.get(key)
        if isinstance(children, dict):
            for child in children.values():
                _add_embedded_properties(child)
    for key in ("items", "additionalProperties", "not"):
        _add_embedded_properties(node.get(key))
    for key in ("allOf", "anyOf", "oneOf"):
        junctors = node.get(key)
        if isinstance(junctors, list):
            for child in junctors:
                _add_embedded_properties(child)


def crd_schema_components(
    crd: _apiextensions.CustomResourceDefinition, *, version: str | None = None
) -> dict[str, dict[str, Any]]:
    """The components Kubernetes publishes for a CustomResourceDefinition.

    For every served version (only ``version`` when given): ``<reversed group>.<version>.
    <Kind>`` (the version's ``openAPIV3Schema`` with ``apiVersion``/``kind`` properties added
    and ``metadata`` replaced by a ``$ref`` to ObjectMeta, ``x-kubernetes-group-version-kind``
    set; a version without a schema accepts any fields) and ``...<Kind>List``. ObjectMeta,
    ListMeta and what they reference are included, so the result is self-contained.

    Raises:
        korch.errors.Invalid: a version's ``openAPIV3Schema`` (or its ``properties``) is not
            a JSON object.
    """
    spec, names = crd.spec, crd.spec.names
    out: dict[str, dict[str, Any]] = {}
    for index, served in enumerate(spec.versions):
        if not served.served or version not in (None, served.name):
            continue
        raw = served.schema.open_api_v3_schema if served.schema is not None else None
        if raw is not None and not isinstance(raw, dict):
            where = f"spec.versions[{index}].schema.openAPIV3Schema"
            raise errors.Invalid(
                f"CustomResourceDefinition {crd.metadata.name!r} is invalid",
                [errors.Cause(where, "must be an object")],
            )
        schema: dict[str, Any]
        if raw is None:
            schema = generic_kind_schema(f"A {names.kind} custom resource.")
        else:
            schema = copy.deepcopy(raw)
            _add_embedded_properties(schema)
            schema.setdefault("type", "object")
            props = schema.setdefault("properties", {})
            if not isinstance(props, dict):
                where = f"spec.versions[{index}].schema.openAPIV3Schema.properties"
                raise errors.Invalid(
                    f"CustomResourceDefinition {crd.metadata.name!r} is invalid",
                    [errors.Cause(where, "must be an object")],
                )
            props["apiVersion"] = {"description": _STANDARD_FIELDS["apiVersion"], "type": "string"}
            props["kind"] = {"description": _STANDARD_FIELDS["kind"], "type": "string"}
            props["metadata"] = {
                "allOf": [_openapi_names.ref(_openapi_names.OBJECT_META)],
                "description": _STANDARD_FIELDS["metadata"],
            }
        gvk = {"group": spec.group, "kind": names.kind, "version": served.name}
        schema["x-kubernetes-group-version-kind"] = [gvk]
        name = _openapi_names.kind_component_name(spec.group, served.name, names.kind)
        list_kind = names.list_kind or names.kind + "List"
        out[name] = schema
        out[_openapi_names.kind_component_name(spec.group, served.name, list_kind)] = list_schema(
            name, {**gvk, "kind": list_kind}
        )
    out.update(components([_meta.ObjectMeta, _meta.ListMeta]))
    return dict(sorted(out.items()))
