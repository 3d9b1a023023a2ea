"""OpenAPI documents of the served kinds: v3 per group-version, the v3 index, and Swagger 2.0.

What kube-apiserver publishes, and clients use, built from korch's model classes:

* ``/openapi/v3`` -> :func:`openapi_v3_index`: ``{"paths": {"api/v1": {"serverRelativeURL":
  "/openapi/v3/api/v1?hash=<HASH>"}, "apis/apps/v1": ...}}``; the hash is
  :func:`document_hash` of that document, so clients cache a document until it changes;
* ``/openapi/v3/apis/<group>/<version>`` (``/openapi/v3/api/v1`` for core) ->
  :func:`openapi_v3_document`: ``openapi: 3.0.0``, the paths of the group-version's
  resources, and ``components.schemas`` holding every schema those reach;
* ``/openapi/v2`` -> :func:`openapi_v2_document`: every group-version at once, Swagger 2.0,
  schemas under ``definitions`` with the same names. (kubectl asks for this document as
  protobuf, ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``; encoding it
  is the HTTP layer's business.)

Components (:mod:`korch.api._openapi_schema`, names from :mod:`korch.api._openapi_names`):
one per model class, named as Kubernetes names the Go type; each top-level kind carries
``x-kubernetes-group-version-kind``; a kind served without a typed class (NetworkPolicy,
custom resources without a CRD schema at hand) gets TypeMeta, a ``$ref`` to ObjectMeta and
``x-kubernetes-preserve-unknown-fields``; a custom resource whose CustomResourceDefinition is
passed in ``crds`` gets its CRD schema (:func:`crd_schema_components`); every listable kind
gets its ``<Kind>List``. ``kubectl explain`` finds a kind by its group-version-kind among the
components and follows ``$ref``/``allOf``.

Paths (:mod:`korch.api._openapi_paths`): list/create on the collection, get/replace/patch/
delete on the object, get/replace/patch on ``status`` and ``scale`` — the minimal set clients
need: kubectl looks at the PATCH operation of a kind to learn that the server validates
fields (``fieldValidation``), which makes ``kubectl apply --validate=strict`` let the server
reject unknown fields.

Invariants: documents are plain JSON values (dicts, lists, strings, numbers, booleans),
built fresh on every call (callers may mutate them), and deterministic: the same registry
and CRDs give equal documents with keys in the same order, hence the same hash. Building
walks every reachable class; an HTTP layer should cache documents per registry state.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from typing import Any, Final

from korch import errors
from korch.api import (
    _apiextensions,
    _meta,
    _misc,
    _openapi_names,
    _openapi_paths,
    _openapi_schema,
    _registry,
)

__all__ = (
    "component_name",
    "crd_schema_components",
    "document_hash",
    "kind_component_name",
    "openapi_v2_document",
    "openapi_v3_document",
    "openapi_v3_index",
    "schema_for",
)

component_name = _openapi_names.component_name
kind_component_name = _openapi_names.kind_component_name
schema_for = _openapi_schema.schema_for
crd_schema_components = _openapi_schema.crd_schema_components

_INFO: Final = {"title": "Kubernetes", "version": "unversioned"}
_V2_PRIMITIVES: Final = {
    _openapi_names.QUANTITY: {"type": "string"},
    _openapi_names.INT_OR_STRING: {"type": "string", "format": "int-or-string"},
}


def _crd_components(
    group: str, version: str, crds: Iterable[_apiextensions.CustomResourceDefinition]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for crd in crds:
        if crd.spec.group == group and crd.served_version(version) is not None:
            out.update(crd_schema_components(crd, version=version))
    return out


def _group_version_parts(
    group: str,
    version: str,
    registry: _registry.Registry,
    crds: Iterable[_apiextensions.CustomResourceDefinition],
) -> tuple[dict[str, dict[str, Any]], dict[str, _openapi_paths.PathItem]]:
    """(components, paths) of one group-version."""
    types = [rt for rt in registry if (rt.group, rt.version) == (group, version)]
    if not types:
        where = f"{group}/{version}" if group else version
        raise errors.NotFound(f"the server could not find the requested resource ({where})")
    roots: list[type] = [_meta.ObjectMeta, *(rt.cls for rt in types if rt.typed)]
    if any("list" in rt.verbs for rt in types):
        roots.append(_meta.ListMeta)
    if any("delete" in rt.verbs for rt in types):
        roots += [_meta.Status, _meta.DeleteOptions]
    if any("scale" in rt.subresources for rt in types):
        roots.append(registry.class_for("autoscaling/v1", "Scale") or _misc.Scale)
    schemas = _openapi_schema.components(roots, registry=registry)
    extra = _crd_components(group, version, crds)
    paths: dict[str, _openapi_paths.PathItem] = {}
    for rt in types:
        if rt.typed:
            name = _openapi_names.component_name(rt.cls, registry=registry)
        else:
            name = _openapi_names.kind_component_name(rt.group, rt.version, rt.kind)
            if name not in extra:
                schema = _openapi_schema.generic_kind_schema(
                    f"{rt.kind} ({rt.api_version}), served without a typed model: any "
                    "fields are kept."
                )
                schema["x-kubernetes-group-version-kind"] = [
                    {"group": rt.group, "kind": rt.kind, "version": rt.version}
                ]
                extra[name] = schema
        list_name: str | None = None
        if "list" in rt.verbs:
            list_name = _openapi_names.kind_component_name(rt.group, rt.version, rt.list_kind)
            if list_name not in extra:
                gvk = {"group": rt.group, "kind": rt.list_kind, "version": rt.version}
                extra[list_name] = _openapi_schema.list_schema(name, gvk)
        paths.update(_openapi_paths.resource_paths(rt, name, list_name))
    schemas.update(extra)
    if any("patch" in rt.verbs for rt in types):
        schemas[_openapi_paths.PATCH] = copy.deepcopy(_openapi_paths.PATCH_SCHEMA)
    return dict(sorted(schemas.items())), dict(sorted(paths.items()))


def openapi_v3_document(
    group: str,
    version: str,
    *,
    registry: _registry.Registry | None = None,
    crds: Iterable[_apiextensions.CustomResourceDefinition] = (),
) -> dict[str, Any]:
    """The OpenAPI v3 document of one group-version (``/openapi/v3/apis/<group>/<version>``).

    Args:
        group: the API group (``""`` for the core group, served at ``/openapi/v3/api/v1``).
        version: the version (``"v1"``).
        registry: the served resource types (default: the built-in registry).
        crds: CustomResourceDefinitions whose schemas describe custom resources of the
            group-version (others are published as free-form objects).

    Returns:
        ``{"openapi": "3.0.0", "info", "paths", "components": {"schemas"}}``; every ``$ref``
        resolves within the document.

    Raises:
        korch.errors.NotFound: the registry serves nothing in ``group/version``.
        korch.errors.Invalid: a CRD's schema is not a JSON object.
        korch.errors.BadRequest: two model classes map to one component name.
    """
    registry = registry or _registry.default_registry()
    crds = list(crds)
    schemas, paths = _group_version_parts(group, version, registry, crds)
    return {
        "openapi": "3.0.0",
        "info": dict(_INFO),
        "paths": _openapi_paths.render_v3(paths),
        "components": {"schemas": schemas},
    }


def document_hash(document: Any) -> str:
    """The content hash of a document, as the ``hash`` of v3 index URLs (SHA-512, hex).

    Equal documents have equal hashes whatever their key order.
    """
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha512(text.encode()).hexdigest().upper()


def _group_versions(registry: _registry.Registry) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for rt in registry:
        seen.setdefault((rt.group, rt.version), None)
    return list(seen)


def _index_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_index(
    *,
    registry: _registry.Registry | None = None,
    crds: Iterable[_apiextensions.CustomResourceDefinition] = (),
) -> dict[str, Any]:
    """The OpenAPI v3 discovery index (``/openapi/v3``).

    Returns:
        ``{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."},
        "apis/apps/v1": ...}}`` with one entry per served group-version, core first, the
        hash being :func:`document_hash` of :func:`openapi_v3_document`.

    Raises:
        korch.errors.Invalid, korch.errors.BadRequest: as :func:`openapi_v3_document`.
    """
    registry = registry or _registry.default_registry()
    crds = list(crds)
    paths: dict[str, Any] = {}
    for group, version in sorted(_group_versions(registry), key=lambda gv: (gv[0] != "", gv)):
        document = openapi_v3_document(group, version, registry=registry, crds=crds)
        key = _index_key(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={document_hash(document)}"}
    return {"paths": paths}


# -- Swagger 2.0 -------------------------------------------------------------------------

_V2_DROPPED: Final = frozenset({"oneOf", "anyOf", "not", "nullable"})


def _is_ref(node: Any) -> bool:
    return isinstance(node, dict) and set(node) == {"$ref"}


def _to_v2(node: Any) -> Any:
    """A v3 schema as Swagger 2.0 understands it.

    ``$ref``s point at ``#/definitions/``; a lone ``allOf: [{$ref}]`` becomes the ``$ref``
    with its siblings (as Kubernetes' v2 document writes it); what 2.0 cannot say
    (``oneOf``, ``anyOf``, ``not``, ``nullable``) is dropped, as kube-apiserver drops it from
    CRD schemas it publishes in v2.
    """
    if isinstance(node, list):
        return [_to_v2(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    all_of = node.get("allOf")
    lone_ref = isinstance(all_of, list) and len(all_of) == 1 and _is_ref(all_of[0])
    if lone_ref and isinstance(all_of, list):
        out.update(_to_v2(all_of[0]))
    for key, value in node.items():
        if key in _V2_DROPPED or (key == "allOf" and lone_ref):
            continue
        if key == "$ref" and isinstance(value, str):
            out[key] = value.replace(_openapi_names.REF_PREFIX, "#/definitions/", 1)
        elif key in ("properties", "patternProperties", "definitions") and isinstance(value, dict):
            out[key] = {name: _to_v2(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = _to_v2(value)
        else:
            out[key] = copy.deepcopy(value)
    if node.get("nullable") is True:
        out.pop("type", None)  # 2.0 has no null: leave the type open, as Kubernetes does
    return out


def openapi_v2_document(
    *,
    registry: _registry.Registry | None = None,
    crds: Iterable[_apiextensions.CustomResourceDefinition] = (),
) -> dict[str, Any]:
    """The Swagger 2.0 document of every served group-version (``/openapi/v2``).

    Args:
        registry: the served resource types (default: the built-in registry).
        crds: CustomResourceDefinitions describing served custom resources.

    Returns:
        ``{"swagger": "2.0", "info", "paths", "definitions"}``: the schemas of the v3
        documents under the same names, ``$ref: #/definitions/<name>``, Quantity and
        IntOrString as strings (``format: int-or-string``), operations with body parameters.

    Raises:
        korch.errors.Invalid, korch.errors.BadRequest: as :func:`openapi_v3_document`.
    """
    registry = registry or _registry.default_registry()
    crds = list(crds)
    definitions: dict[str, Any] = {}
    paths: dict[str, _openapi_paths.PathItem] = {}
    for group, version in _group_versions(registry):
        schemas, gv_paths = _group_version_parts(group, version, registry, crds)
        for name, schema in schemas.items():
            definitions.setdefault(name, schema)
        paths.update(gv_paths)
    for name, replacement in _V2_PRIMITIVES.items():
        if name in definitions:
            description = definitions[name].get("description")
            definitions[name] = {"description": description, **replacement}
    return {
        "swagger": "2.0",
        "info": dict(_INFO),
        "paths": _openapi_paths.render_v2(dict(sorted(paths.items()))),
        "definitions": {name: _to_v2(s) for name, s in sorted(definitions.items())},
    }
