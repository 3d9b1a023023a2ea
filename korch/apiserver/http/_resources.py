"""Resource verbs over HTTP: one request in, the APIServer's verb, one JSON value out.

Each function takes the parsed request (:class:`Call`) and returns the response body as a
JSON value plus its HTTP code; streams (watch, pods/log) live in
:mod:`korch.apiserver.http._streams`. The rules kube-apiserver applies at this layer:

* the object in a create/update body must agree with the URL: its namespace (if set) with
  the path's (else 400 "the namespace of the provided object does not match…"), its name
  with the path's on update (400); the kind with the resource (400);
* ``fieldValidation`` (``Strict``, ``Warn`` — the default —, ``Ignore``) governs unknown
  fields in bodies of typed kinds: Strict refuses them (400 ``strict decoding error``),
  Warn accepts and drops them with a ``Warning`` header, Ignore drops them silently;
  custom resources are pruned by their schema (the API server's job);
* create answers 201, other writes 200; a delete that removed the object at once answers
  a ``Status`` of ``Success`` (kube-apiserver's behaviour for most kinds), one left pending
  (finalizers, graceful pod deletion) the object;
* ``pods/binding`` and ``pods/eviction`` (POST) answer ``Status`` ``Success`` (201).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _codec, _core_pod, _meta, _misc, _registry
from korch.apiserver import _server, _types
from korch.apiserver.http import _negotiation, _requestinfo

__all__ = ("Call", "Reply", "run_call")

_VALIDATION: Final = ("Strict", "Warn", "Ignore")
_PATCH_DIRECTIVES: Final = ("$patch", "$retainKeys", "$deleteFromPrimitiveList", "$setElementOrder")


@attrs.frozen(kw_only=True)
class Call:
    """One resource request, parsed."""

    info: _requestinfo.RequestInfo
    rt: _registry.ResourceType
    query: Mapping[str, str]
    dry_run: bool
    body: bytes
    content_type: str
    user: _types.UserInfo | None


@attrs.define
class Reply:
    """A response body (a JSON value) with its code and warnings."""

    body: Any
    code: int = 200
    warnings: list[str] = attrs.Factory(list)


def _status_success(rt: _registry.ResourceType, obj: Any, code: int = 200) -> Reply:
    meta = getattr(obj, "metadata", None)
    details = {"name": getattr(meta, "name", ""), "group": rt.group, "kind": rt.plural}
    if getattr(meta, "uid", ""):
        details["uid"] = meta.uid  # type: ignore[union-attr]
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
    return Reply(body, code)


def _field_validation(call: Call) -> str:
    value = call.query.get("fieldValidation", "") or "Warn"
    if value not in _VALIDATION:
        raise errors.BadRequest(
            f'fieldValidation: invalid value "{value}": must be one of {", ".join(_VALIDATION)}'
        )
    return value


def _unknown_fields(error: errors.Invalid) -> list[str] | None:
    fields = [c.field for c in error.causes if c.message == "unknown field"]
    return fields if fields and len(fields) == len(error.causes) else None


def _strict_error(fields: list[str]) -> errors.BadRequest:
    listed = ", ".join(f'unknown field "{f}"' for f in fields)
    return errors.BadRequest(f"strict decoding error: {listed}")


def decode_object(api: _server.APIServer, call: Call, data: Any, reply: Reply) -> Any:
    """The typed object of a create/update body, checked against the URL.

    Raises:
        korch.errors.BadRequest: not an object of the request's kind; unknown fields
            with fieldValidation=Strict.
        korch.errors.Invalid: fields of the wrong type.
    """
    rt = call.rt
    if not isinstance(data, dict):
        raise errors.BadRequest("the request body must be a JSON object")
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if not api_version and not kind:
        # kube-apiserver fills in the type of the URL (the Python client sends none)
        data = {**data, "apiVersion": rt.api_version, "kind": rt.kind}
    elif (api_version, kind) != (rt.api_version, rt.kind):
        raise errors.BadRequest(
            f"the API version in the data ({api_version}) and the kind ({kind}) do not match "
            f"the request ({rt.api_version}, {rt.kind})"
        )
    mode = _field_validation(call)
    if rt.typed and mode != "Ignore":
        try:
            return _codec.from_dict(data, rt.cls, strict=True, registry=api.registry)
        except errors.Invalid as exc:
            fields = _unknown_fields(exc)
            if fields is None:
                raise
            if mode == "Strict":
                raise _strict_error(fields) from None
            reply.warnings.extend(f'unknown field "{f}"' for f in fields)
    cls = rt.cls if rt.typed else None
    return _codec.from_dict(data, cls, registry=api.registry)


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if v is not None and not any(k.startswith(d) for d in _PATCH_DIRECTIVES)
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not isinstance(v, dict) or "$patch" not in v]
    return value


def _check_patch_fields(call: Call, patch: Any, patch_type: str, reply: Reply) -> None:
    """fieldValidation for merge, strategic and apply patches of typed kinds: the patch,
    read as a partial object, must name only known fields."""
    mode = _field_validation(call)
    rt = call.rt
    if mode == "Ignore" or patch_type == "json" or not rt.typed or not isinstance(patch, dict):
        return
    cls: type = rt.cls
    if call.info.subresource == "scale":
        cls = _misc.Scale
    partial = _strip_directives(patch)
    partial.pop("apiVersion", None)
    partial.pop("kind", None)
    try:
        _codec.from_dict(partial, cls, strict=True, registry=None)
    except errors.Invalid as exc:
        fields = [c.field for c in exc.causes if c.message == "unknown field"]
        if fields and mode == "Strict":
            raise _strict_error(fields) from None
        reply.warnings.extend(f'unknown field "{f}"' for f in fields)
    except errors.BadRequest:
        pass  # not decodable as a partial object: the patch itself reports what is wrong


def _namespace(call: Call, obj: Any) -> str | None:
    if not call.rt.namespaced:
        return None
    path_ns = call.info.namespace
    obj_ns = obj.metadata.namespace
    if path_ns and obj_ns and obj_ns != path_ns:
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if not path_ns:
        raise errors.BadRequest(f"a namespace is required to create {call.rt.group_resource}")
    return path_ns


def _manager(call: Call) -> str:
    return call.query.get("fieldManager", "")


async def _create(api: _server.APIServer, call: Call) -> Reply:
    info = call.info
    data, _ = _negotiation.parse_body(call.body, call.content_type)
    if info.subresource or (info.resource == "bindings" and info.group == ""):
        return await _post_subresource(api, call, data)
    if info.name:
        raise errors.MethodNotAllowed("POST on a named object is not allowed")
    reply = Reply(None, 201)
    obj = decode_object(api, call, data, reply)
    created = await api.create(
        obj, namespace=_namespace(call, obj), dry_run=call.dry_run,
        field_manager=_manager(call), user=call.user,
    )  # fmt: skip
    reply.body = _codec.to_dict(created)
    return reply


async def _post_subresource(api: _server.APIServer, call: Call, data: Any) -> Reply:
    info = call.info
    if info.resource == "bindings" or (info.resource == "pods" and info.subresource == "binding"):
        binding = _codec.from_dict(data, _core_pod.Binding)
        if info.name and binding.metadata.name and binding.metadata.name != info.name:
            raise errors.BadRequest("the name of the binding does not match the pod's")
        if info.name and not binding.metadata.name:
            binding = attrs.evolve(binding, metadata=attrs.evolve(binding.metadata, name=info.name))
        await api.bind(
            binding, namespace=info.namespace, dry_run=call.dry_run,
            field_manager=_manager(call), user=call.user,
        )  # fmt: skip
        return _status_success(call.rt, binding, 201)
    if info.resource == "pods" and info.subresource == "eviction":
        eviction = _codec.from_dict(data, _misc.Eviction)
        options = eviction.delete_options
        if call.dry_run:
            dry = list(options.dry_run) if options else []
            options = attrs.evolve(options or _meta.DeleteOptions(), dry_run=[*dry, "All"])
        await api.evict(info.name, namespace=info.namespace, delete_options=options, user=call.user)
        return _status_success(call.rt, eviction, 201)
    raise errors.MethodNotAllowed(
        f"POST is not supported on {call.rt.group_resource}/{info.subresource}"
    )


async def _get(api: _server.APIServer, call: Call) -> Reply:
    info = call.info
    if info.subresource == "scale":
        scale = await api.get_scale(call.rt, info.name, namespace=info.namespace, user=call.user)
        return Reply(_codec.to_dict(scale))
    if info.subresource not in ("", "status"):
        raise errors.NotFound(
            f"the server could not find the requested resource ({call.rt.group_resource}/"
            f"{info.subresource})"
        )
    obj = await api.get(
        call.rt, info.name, namespace=info.namespace,
        resource_version=call.query.get("resourceVersion", ""), user=call.user,
    )  # fmt: skip
    return Reply(obj)


async def _list(api: _server.APIServer, call: Call) -> Reply:
    q = call.query
    listed = await api.list(
        call.rt,
        namespace=call.info.namespace,
        label_selector=q.get("labelSelector", ""),
        field_selector=q.get("fieldSelector", ""),
        limit=_negotiation.query_int(q, "limit") or 0,
        continue_=q.get("continue", ""),
        resource_version=q.get("resourceVersion", ""),
        resource_version_match=q.get("resourceVersionMatch", ""),
        user=call.user,
    )
    return Reply(listed)


async def _update(api: _server.APIServer, call: Call) -> Reply:
    info = call.info
    data, _ = _negotiation.parse_body(call.body, call.content_type)
    reply = Reply(None)
    if info.subresource == "scale":
        scale = _codec.from_dict(data, _misc.Scale)
        updated_scale = await api.update_scale(
            call.rt, info.name, scale, namespace=info.namespace, dry_run=call.dry_run,
            field_manager=_manager(call), user=call.user,
        )  # fmt: skip
        reply.body = _codec.to_dict(updated_scale)
        return reply
    obj = decode_object(api, call, data, reply)
    if obj.metadata.name != info.name:
        raise errors.BadRequest(
            f"the name of the object ({obj.metadata.name}) does not match the name on the URL "
            f"({info.name})"
        )
    namespace = _namespace(call, obj)
    if namespace is not None and obj.metadata.namespace != namespace:
        obj = attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, namespace=namespace))
    updated = await api.update(
        obj, subresource=info.subresource, dry_run=call.dry_run,
        field_manager=_manager(call), user=call.user,
    )  # fmt: skip
    reply.body = updated
    return reply


async def _patch(api: _server.APIServer, call: Call) -> Reply:
    info = call.info
    patch, parsed_type = _negotiation.parse_body(call.body, call.content_type, patch=True)
    patch_type: _types.PatchType = parsed_type or "merge"
    force = _negotiation.query_bool(call.query, "force")
    manager = _manager(call)
    if patch_type == "apply" and not manager:
        raise errors.BadRequest(
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch"
        )
    reply = Reply(None)
    _check_patch_fields(call, patch, patch_type, reply)
    if info.subresource == "scale":
        scale = await api.patch_scale(
            call.rt, info.name, patch, namespace=info.namespace, type=patch_type,
            dry_run=call.dry_run, field_manager=manager, user=call.user,
        )  # fmt: skip
        reply.body = _codec.to_dict(scale)
        return reply
    reply.body = await api.patch(
        call.rt, info.name, patch, namespace=info.namespace, type=patch_type,
        field_manager=manager, force=force, subresource=info.subresource,
        dry_run=call.dry_run, user=call.user,
    )  # fmt: skip
    return reply


def delete_options(call: Call) -> _meta.DeleteOptions:
    """DeleteOptions from the body (if any), else from the query."""
    q = call.query
    if call.body.strip():
        data, _ = _negotiation.parse_body(call.body, call.content_type)
        if isinstance(data, dict):
            data = {"apiVersion": "v1", "kind": "DeleteOptions", **data}
            data["apiVersion"], data["kind"] = "v1", "DeleteOptions"
        options: _meta.DeleteOptions = _codec.from_dict(data, _meta.DeleteOptions)
    else:
        orphan = q.get("orphanDependents")
        options = _meta.DeleteOptions(
            grace_period_seconds=_negotiation.query_int(q, "gracePeriodSeconds"),
            propagation_policy=q.get("propagationPolicy") or None,
            orphan_dependents=None
            if orphan is None
            else _negotiation.query_bool(q, "orphanDependents"),
        )
    return options


def _policy(options: _meta.DeleteOptions) -> str | None:
    if options.propagation_policy:
        if options.orphan_dependents is not None:
            raise errors.Invalid(
                "DeleteOptions is invalid",
                [
                    errors.Cause(
                        "propagationPolicy",
                        "orphanDependents and propagationPolicy cannot be both set",
                    )
                ],
            )
        return options.propagation_policy
    if options.orphan_dependents is not None:
        return "Orphan" if options.orphan_dependents else "Background"
    return None


async def _delete(api: _server.APIServer, call: Call) -> Reply:
    info = call.info
    options = delete_options(call)
    dry_run = call.dry_run or _negotiation.query_dry_run(list(options.dry_run))
    obj = await api.delete(
        call.rt, info.name, namespace=info.namespace,
        grace_period_seconds=options.grace_period_seconds, propagation_policy=_policy(options),
        preconditions=options.preconditions, dry_run=dry_run, user=call.user,
    )  # fmt: skip
    meta = getattr(obj, "metadata", None)
    if meta is not None and meta.deletion_timestamp is not None and not dry_run:
        return Reply(obj, 200)
    return _status_success(call.rt, obj)


async def _delete_collection(api: _server.APIServer, call: Call) -> Reply:
    q = call.query
    options = delete_options(call)
    dry_run = call.dry_run or _negotiation.query_dry_run(list(options.dry_run))
    listed = await api.delete_collection(
        call.rt, namespace=call.info.namespace, label_selector=q.get("labelSelector", ""),
        field_selector=q.get("fieldSelector", ""),
        grace_period_seconds=options.grace_period_seconds, propagation_policy=_policy(options),
        dry_run=dry_run, user=call.user,
    )  # fmt: skip
    return Reply(listed)


_VERBS: Final = {
    "create": _create,
    "get": _get,
    "list": _list,
    "update": _update,
    "patch": _patch,
    "delete": _delete,
    "deletecollection": _delete_collection,
}


async def run_call(api: _server.APIServer, call: Call) -> Reply:
    """Run a non-streaming resource request.

    Raises:
        korch.errors.APIError: what the verb raised (the app turns it into a Status).
        korch.errors.MethodNotAllowed: a verb the resource does not serve.
    """
    verb = call.info.verb
    handler = _VERBS.get(verb)
    if handler is None:
        raise errors.MethodNotAllowed(f"the server does not allow this method ({verb})")
    base = verb if not call.info.subresource else None
    if base is not None and base not in call.rt.verbs:
        raise errors.MethodNotAllowed(
            f"the server does not allow this method on the requested resource "
            f"({verb} {call.rt.group_resource})"
        )
    return await handler(api, call)
