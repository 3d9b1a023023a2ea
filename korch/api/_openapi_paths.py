"""The REST operations of a resource type, rendered as OpenAPI v3 or Swagger 2.0 paths.

Clients read few things from the paths of a published document, so korch publishes a small,
honest set per resource type (:func:`resource_paths`):

* ``<prefix>[/namespaces/{namespace}]/<plural>``: ``get`` (list) and ``post`` (create);
* ``.../<plural>/{name}``: ``get``, ``put``, ``patch``, ``delete``;
* ``.../{name}/status`` and ``.../{name}/scale`` when the type has those subresources:
  ``get``, ``put``, ``patch`` (scale bodies are autoscaling/v1 Scale);

each only if the type's verbs allow it (a Binding is create-only). Every operation carries
``x-kubernetes-action`` and ``x-kubernetes-group-version-kind`` (one object, not a list, as
on Kubernetes' operations), an ``operationId`` spelled as Kubernetes spells it
(``patchAppsV1NamespacedDeployment``) and its query parameters. What clients rely on:
kubectl decides whether the server validates fields itself (``kubectl apply
--validate=strict`` sends ``fieldValidation=Strict`` instead of validating client-side) by
finding, among the PATCH operations of the document, one whose group-version-kind is the
object's and looking for a ``fieldValidation`` query parameter; so every ``post``, ``put``
and ``patch`` declares it.

Operations are built once as :class:`Operation` values and rendered by :func:`render_v3` or
:func:`render_v2` (body parameter, ``consumes``/``produces``, ``#/definitions/`` refs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from korch.api import _openapi_names, _registry

__all__ = (
    "DELETE_OPTIONS",
    "PATCH",
    "PATCH_SCHEMA",
    "STATUS",
    "Operation",
    "Parameter",
    "PathItem",
    "render_v2",
    "render_v3",
    "resource_paths",
)

_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1"
PATCH: Final = f"{_META}.Patch"
STATUS: Final = f"{_META}.Status"
DELETE_OPTIONS: Final = f"{_META}.DeleteOptions"
SCALE: Final = "io.k8s.api.autoscaling.v1.Scale"
PATCH_SCHEMA: Final = {
    "description": (
        "The body of a PATCH request: a JSON patch (a list of operations), a JSON merge "
        "patch, a strategic merge patch or an apply configuration, as its Content-Type says."
    ),
    "type": "object",
}

_JSON_TYPES: Final = ("application/json", "application/yaml")
_PATCH_TYPES: Final = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


@attrs.frozen
class Parameter:
    """A path or query parameter."""

    name: str
    location: str  # "path" or "query"
    description: str
    type: str = "string"
    required: bool = False


@attrs.frozen
class Operation:
    """One REST operation; ``body`` and ``responses`` name components (None: no schema)."""

    method: str
    action: str
    operation_id: str
    description: str
    gvk: Mapping[str, str]
    tag: str
    parameters: tuple[Parameter, ...] = ()
    body: str | None = None
    body_types: tuple[str, ...] = ("*/*",)
    responses: tuple[tuple[str, str | None], ...] = ()
    response_types: tuple[str, ...] = _JSON_TYPES


@attrs.frozen
class PathItem:
    """The operations of one path and the parameters they share."""

    parameters: tuple[Parameter, ...]
    operations: tuple[Operation, ...]


def _query(name: str, description: str, type_: str = "string") -> Parameter:
    return Parameter(name, "query", description, type_)


_PRETTY: Final = _query("pretty", "Indent the response ('true').")
_WRITE: Final = (
    _query("dryRun", "'All' runs every stage of the request but persists nothing."),
    _query("fieldManager", "The name of the actor making the change, for field ownership."),
    _query(
        "fieldValidation",
        "What to do with unknown or duplicate fields: Ignore, Warn (the default) or Strict.",
    ),
)
_FORCE: Final = _query("force", "Apply requests only: take fields other managers own.", "boolean")
_LIST: Final = (
    _query("allowWatchBookmarks", "Ask for BOOKMARK events in a watch.", "boolean"),
    _query("continue", "The token of the next page, from a previous list response."),
    _query("fieldSelector", "Only objects whose fields match, such as spec.nodeName=n1."),
    _query("labelSelector", "Only objects whose labels match, such as app=web,tier!=db."),
    _query("limit", "The largest number of objects to return in one page.", "integer"),
    _query("resourceVersion", "The resourceVersion the list or watch starts from."),
    _query("resourceVersionMatch", "How resourceVersion applies: Exact or NotOlderThan."),
    _query("sendInitialEvents", "Start a watch with the current objects as events.", "boolean"),
    _query("timeoutSeconds", "End the list or watch after this many seconds.", "integer"),
    _query("watch", "Stream changes instead of returning a list.", "boolean"),
)
_DELETE: Final = (
    _query("dryRun", "'All' runs every stage of the request but persists nothing."),
    _query("gracePeriodSeconds", "Seconds before the object is deleted.", "integer"),
    _query("orphanDependents", "Deprecated: use propagationPolicy=Orphan.", "boolean"),
    _query("propagationPolicy", "What happens to dependents: Orphan, Background, Foreground."),
)


def _title(text: str) -> str:
    parts = [p for p in re.split(r"[.\-]", text) if p]
    return "".join(p[:1].upper() + p[1:] for p in parts)


def _group_title(group: str) -> str:
    """``Core``, ``Apps``, ``RbacAuthorization`` (``.k8s.io`` dropped), ``StableExampleCom``."""
    if not group:
        return "Core"
    return _title(group.removesuffix(".k8s.io"))


def resource_paths(
    rt: _registry.ResourceType, kind_name: str, list_name: str | None
) -> dict[str, PathItem]:
    """The paths and operations of resource type ``rt`` (see the module docstring).

    Args:
        rt: the resource type.
        kind_name: the component name of its kind.
        list_name: the component name of its list kind (None: not listable).

    Returns:
        Paths (``/apis/apps/v1/namespaces/{namespace}/deployments/{name}``) to their items.
    """
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    group_title = _group_title(rt.group)
    base = group_title + _title(rt.version)
    tag = f"{group_title[:1].lower()}{group_title[1:]}_{rt.version}"
    scope = "Namespaced" if rt.namespaced else ""
    gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
    shared: tuple[Parameter, ...] = (_PRETTY,)
    collection = f"{prefix}/{rt.plural}"
    if rt.namespaced:
        collection = f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
        shared = (
            Parameter("namespace", "path", "The namespace of the objects.", required=True),
            _PRETTY,
        )
    named = (Parameter("name", "path", f"The name of the {rt.kind}.", required=True), *shared)
    verbs = set(rt.verbs)
    kind_words = f"{rt.kind} objects" if rt.kind.endswith("s") else f"{rt.kind}s"

    def op(verb: str, method: str, action: str, what: str, **kw: Any) -> Operation:
        return Operation(
            method=method,
            action=action,
            operation_id=f"{verb}{base}{scope}{what}",
            description=kw.pop("description"),
            gvk=kw.pop("gvk", gvk),
            tag=tag,
            **kw,
        )

    out: dict[str, PathItem] = {}
    ops: list[Operation] = []
    if "list" in verbs and list_name is not None:
        ops.append(
            op(
                "list",
                "get",
                "list",
                rt.kind,
                description=f"List or watch {kind_words}.",
                parameters=_LIST,
                responses=(("200", list_name), ("401", None)),
                response_types=(*_JSON_TYPES, "application/json;stream=watch"),
            )
        )
    if "create" in verbs:
        ops.append(
            op(
                "create",
                "post",
                "post",
                rt.kind,
                description=f"Create a {rt.kind}.",
                parameters=_WRITE,
                body=kind_name,
                responses=(
                    ("200", kind_name),
                    ("201", kind_name),
                    ("202", kind_name),
                    ("401", None),
                ),
            )
        )
    if ops:
        out[collection] = PathItem(shared, tuple(ops))
    ops = []
    if "get" in verbs:
        ops.append(
            op(
                "read",
                "get",
                "get",
                rt.kind,
                description=f"Read a {rt.kind}.",
                responses=(("200", kind_name), ("401", None)),
            )
        )
    ops.extend(_writes(op, rt, kind_name, "", verbs))
    if "delete" in verbs:
        ops.append(
            op(
                "delete",
                "delete",
                "delete",
                rt.kind,
                description=f"Delete a {rt.kind}.",
                parameters=_DELETE,
                body=DELETE_OPTIONS,
                responses=(("200", STATUS), ("202", STATUS), ("401", None)),
            )
        )
    if ops:
        out[f"{collection}/{{name}}"] = PathItem(named, tuple(ops))
    for sub, body, sub_gvk in (
        ("status", kind_name, gvk),
        ("scale", SCALE, {"group": "autoscaling", "kind": "Scale", "version": "v1"}),
    ):
        if sub in rt.subresources:
            ops = [
                op(
                    "read",
                    "get",
                    "get",
                    f"{rt.kind}{sub.title()}",
                    gvk=sub_gvk,
                    description=f"Read the {sub} of a {rt.kind}.",
                    responses=(("200", body), ("401", None)),
                )
            ]
            ops.extend(_writes(op, rt, body, sub, verbs, sub_gvk))
            out[f"{collection}/{{name}}/{sub}"] = PathItem(named, tuple(ops))
    return out


def _writes(
    op: Callable[..., Operation],
    rt: _registry.ResourceType,
    body: str,
    sub: str,
    verbs: set[str],
    gvk: Mapping[str, str] | None = None,
) -> list[Operation]:
    what = f"{rt.kind}{sub.title()}"
    target = f"the {sub} of a {rt.kind}" if sub else f"a {rt.kind}"
    extra: dict[str, Any] = {"gvk": gvk} if gvk is not None else {}
    out = []
    if "update" in verbs:
        out.append(
            op(
                "replace",
                "put",
                "put",
                what,
                description=f"Replace {target}.",
                parameters=_WRITE,
                body=body,
                responses=(("200", body), ("201", body), ("401", None)),
                **extra,
            )
        )
    if "patch" in verbs:
        out.append(
            op(
                "patch",
                "patch",
                "patch",
                what,
                description=f"Patch {target}.",
                parameters=(*_WRITE, _FORCE),
                body=PATCH,
                body_types=_PATCH_TYPES,
                responses=(("200", body), ("201", body), ("401", None)),
                **extra,
            )
        )
    return out


# -- rendering --------------------------------------------------------------------------

_RESPONSE_TEXT: Final = {
    "200": "OK",
    "201": "Created",
    "202": "Accepted",
    "401": "Unauthorized",
}


def _parameter_v3(p: Parameter) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.location, "description": p.description}
    if p.required:
        out["required"] = True
    out["schema"] = {"type": p.type, "uniqueItems": True}
    return out


def _parameter_v2(p: Parameter) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.location, "description": p.description}
    if p.required:
        out["required"] = True
    out["type"] = p.type
    out["uniqueItems"] = True
    return out


def _ref_v2(name: str) -> dict[str, str]:
    return {"$ref": "#/definitions/" + name}


def _operation_v3(o: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tags": [o.tag],
        "description": o.description,
        "operationId": o.operation_id,
    }
    if o.parameters:
        out["parameters"] = [_parameter_v3(p) for p in o.parameters]
    if o.body is not None:
        schema = _openapi_names.ref(o.body)
        out["requestBody"] = {
            "content": {t: {"schema": schema} for t in o.body_types},
            "required": o.method != "delete",
        }
    responses: dict[str, Any] = {}
    for code, name in o.responses:
        response: dict[str, Any] = {"description": _RESPONSE_TEXT[code]}
        if name is not None:
            schema = _openapi_names.ref(name)
            response["content"] = {t: {"schema": schema} for t in o.response_types}
        responses[code] = response
    out["responses"] = responses
    out["x-kubernetes-action"] = o.action
    out["x-kubernetes-group-version-kind"] = dict(o.gvk)
    return out


def _operation_v2(o: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {"description": o.description}
    if o.body is not None:
        out["consumes"] = list(o.body_types)
    out["produces"] = list(o.response_types)
    out["schemes"] = ["https"]
    out["tags"] = [o.tag]
    out["operationId"] = o.operation_id
    parameters = [_parameter_v2(p) for p in o.parameters]
    if o.body is not None:
        body = {"name": "body", "in": "body", "schema": _ref_v2(o.body)}
        parameters.insert(0, {**body, "required": True} if o.method != "delete" else body)
    if parameters:
        out["parameters"] = parameters
    responses: dict[str, Any] = {}
    for code, name in o.responses:
        response: dict[str, Any] = {"description": _RESPONSE_TEXT[code]}
        if name is not None:
            response["schema"] = _ref_v2(name)
        responses[code] = response
    out["responses"] = responses
    out["x-kubernetes-action"] = o.action
    out["x-kubernetes-group-version-kind"] = dict(o.gvk)
    return out


def render_v3(paths: Mapping[str, PathItem]) -> dict[str, Any]:
    """OpenAPI v3 path items (``components/schemas`` references)."""
    out: dict[str, Any] = {}
    for path, item in paths.items():
        rendered: dict[str, Any] = {o.method: _operation_v3(o) for o in item.operations}
        rendered["parameters"] = [_parameter_v3(p) for p in item.parameters]
        out[path] = rendered
    return out


def render_v2(paths: Mapping[str, PathItem]) -> dict[str, Any]:
    """Swagger 2.0 path items (``definitions`` references, body parameters)."""
    out: dict[str, Any] = {}
    for path, item in paths.items():
        rendered: dict[str, Any] = {o.method: _operation_v2(o) for o in item.operations}
        rendered["parameters"] = [_parameter_v2(p) for p in item.parameters]
        out[path] = rendered
    return out
