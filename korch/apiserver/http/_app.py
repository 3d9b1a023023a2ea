"""The ASGI application: kube-apiserver's HTTP interface over an in-process APIServer.

Per request: authenticate (the :class:`~korch.apiserver.Authenticator` chain; the TLS
peer certificate comes from the ASGI ``tls`` extension, see :mod:`._serve`), then route:

* ``/healthz``, ``/livez``, ``/readyz`` (``ok``) and ``/version`` — open to anonymous
  requests, as kube-apiserver's ``system:public-info-viewer`` role makes them; every other
  path needs an authenticated user, else 401 with an ``Unauthorized`` Status;
* discovery (``/api``, ``/apis``, ``/api/v1``, ``/apis/<g>[/<v>]``; aggregated when asked),
  OpenAPI (``/openapi/v2``, ``/openapi/v3[/…]``);
* resource paths (:mod:`._requestinfo`): watch and ``pods/log`` stream (:mod:`._streams`),
  everything else is one call (:mod:`._resources`).

Errors are ``Status`` objects (:func:`korch.apiserver.status_for_error`) with the HTTP code
of their reason; anything unexpected is logged and answered 500 ``InternalError``. Bodies
over ``max_request_bytes`` (3 MiB, kube-apiserver's limit) are refused with 413 before they
are read whole.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import ssl
from collections.abc import Sequence
from typing import Any, Final

import attrs
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from korch import errors
from korch.api import _apiextensions, _codec, _meta, _registry
from korch.apiserver import _authn, _server, _status, _types
from korch.apiserver.http import (
    _discovery,
    _negotiation,
    _openapi,
    _requestinfo,
    _resources,
    _streams,
    _tables,
)

__all__ = ("APIServerApp", "VersionInfo")

log = logging.getLogger("korch.apiserver.http")

MAX_REQUEST_BYTES: Final = 3 * 1024 * 1024
_PUBLIC: Final = frozenset({"/healthz", "/livez", "/readyz", "/version"})
_JSON: Final = "application/json"
_TABLE_ABLE: Final = frozenset({"Table", "PartialObjectMetadata", "PartialObjectMetadataList"})


@attrs.frozen(kw_only=True)
class VersionInfo:
    """What ``/version`` reports (kubectl compares its minor version for skew warnings)."""

    major: str = "1"
    minor: str = "32"
    git_version: str = "v1.32.0-korch"
    platform: str = "linux/amd64"

    def to_dict(self) -> dict[str, str]:
        return {
            "major": self.major, "minor": self.minor, "gitVersion": self.git_version,
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "", "goVersion": "",
            "compiler": "korch", "platform": self.platform,
        }  # fmt: skip


def _json_response(
    body: Any, code: int = 200, content_type: str = _JSON, headers: dict[str, str] | None = None
) -> Response:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(data, code, headers=headers or None, media_type=content_type)


def status_response(error: BaseException) -> Response:
    """The Status response kube-apiserver gives for ``error``."""
    status = _status.status_for_error(error)
    headers = {}
    if status.details is not None and status.details.retry_after_seconds:
        headers["Retry-After"] = str(status.details.retry_after_seconds)
    return _json_response(_codec.to_dict(status), status.code or 500, headers=headers)


@functools.lru_cache(maxsize=1024)
def _pem_to_der(pem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem)


class APIServerApp:
    """An ASGI app serving ``api`` as kube-apiserver does (see the module docstring).

    Args:
        api: the API server (run it — ``async with api`` — for watch caches).
        authenticators: asked in order for each request; none: every request is anonymous,
            so only the public paths answer (pass ``allow_anonymous=True`` for tests).
        allow_anonymous: serve unauthenticated requests as ``system:anonymous``.
        version: what ``/version`` says.
        max_request_bytes: the body size limit (413 beyond).
        server_address: ``host:port`` advertised by ``/api``.
        rng: randomness for default watch timeouts.
    """

    def __init__(
        self,
        api: _server.APIServer,
        *,
        authenticators: Sequence[_authn.Authenticator] = (),
        allow_anonymous: bool = False,
        version: VersionInfo | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        server_address: str = "127.0.0.1:6443",
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.authenticators = list(authenticators)
        self.allow_anonymous = allow_anonymous
        self.version = version or VersionInfo()
        self.max_request_bytes = max_request_bytes
        self.server_address = server_address
        self._rng = rng or random.Random()
        self._openapi = _openapi.OpenAPIDocuments(api)
        self._encode = _streams.EncodeCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._handle(request)
        except errors.APIError as exc:
            response = status_response(exc)
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.url.path)
            response = status_response(exc)
        await response(scope, receive, send)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- authentication ----------------------------------------------------------------

    async def _authenticate(self, request: Request) -> _types.UserInfo | None:
        tls = request.scope.get("extensions", {}).get("tls") or {}
        chain = tls.get("client_cert_chain") or []
        certificates = [_pem_to_der(pem) for pem in chain]
        client = request.client
        auth_request = _authn.AuthenticationRequest(
            headers={k.lower(): v for k, v in request.headers.items()},
            client_certificates=certificates,
            remote_address=client.host if client else "",
        )
        user = await _authn.authenticate(self.authenticators, auth_request)
        if user is not None:
            return user
        if self.allow_anonymous:
            return _types.UserInfo(name="system:anonymous", groups=("system:unauthenticated",))
        if request.url.path in _PUBLIC:
            return None
        raise errors.Unauthorized("Unauthorized")

    # -- routing -----------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        user = await self._authenticate(request)
        path = request.url.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(
            ("/healthz/", "/livez/", "/readyz/")
        ):
            return Response(b"ok", 200, media_type="text/plain")
        if path == "/version":
            return _json_response(self.version.to_dict())
        if path.startswith("/openapi/"):
            return await self._openapi_response(request, path)
        query = request.query_params
        info = _requestinfo.parse_request(request.method, path, query.get("watch", ""))
        if info is None:
            return self._discovery(request, path)
        return await self._resource(request, info, user)

    def _discovery(self, request: Request, path: str) -> Response:
        registry = self.api.registry
        parts = path.strip("/").split("/")
        accepted = _negotiation.negotiate(
            request.headers.get("accept", ""), allowed=frozenset({"APIGroupDiscoveryList"})
        )
        body: Any = None
        if accepted.transform == "APIGroupDiscoveryList" and path in ("/api", "/apis"):
            body = _discovery.aggregated_discovery(registry, core=path == "/api")
            return _json_response(body, content_type=_discovery.AGGREGATED_CONTENT_TYPE)
        if path == "/api":
            body = _discovery.api_versions(self.server_address)
        elif path == "/apis":
            body = _discovery.api_group_list(registry)
        elif parts[0] == "api" and len(parts) == 2:
            body = _discovery.api_resource_list(registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            body = _discovery.api_group(registry, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            body = _discovery.api_resource_list(registry, parts[1], parts[2])
        if body is None:
            raise errors.NotFound("the server could not find the requested resource")
        return _json_response(body)

    async def _openapi_response(self, request: Request, path: str) -> Response:
        accept = request.headers.get("accept", "")
        if path == "/openapi/v2":
            if _openapi.V2_PROTOBUF in accept:
                return Response(
                    _openapi.minimal_v2_protobuf(), media_type=_openapi.V2_PROTOBUF_RESPONSE
                )
            name = "v2"
        elif path == "/openapi/v3":
            name = "v3"
        elif path.startswith("/openapi/v3/api/"):
            name = "v3//" + path.removeprefix("/openapi/v3/api/")
        elif path.startswith("/openapi/v3/apis/"):
            name = "v3/" + path.removeprefix("/openapi/v3/apis/")
        else:
            raise errors.NotFound("the server could not find the requested resource")
        if name.count("/") != 2 and name not in ("v2", "v3"):
            raise errors.NotFound("the server could not find the requested resource")
        doc = await self._openapi.document(name)
        if doc is None:
            raise errors.NotFound("the server could not find the requested resource")
        cache = "public, immutable" if "hash" in request.query_params else "no-cache, private"
        return _json_response(doc, headers={"Cache-Control": cache})

    # -- resources ---------------------------------------------------------------------

    def _resource_type(self, info: _requestinfo.RequestInfo) -> _registry.ResourceType:
        rt = self.api.registry.for_resource(info.group, info.version, info.resource)
        if rt is None:
            raise errors.NotFound("the server could not find the requested resource")
        return rt

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_request_bytes:
            raise errors.RequestEntityTooLarge("the request body is too large (limit 3 MiB)")
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_request_bytes:
                raise errors.RequestEntityTooLarge("the request body is too large (limit 3 MiB)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _resource(
        self, request: Request, info: _requestinfo.RequestInfo, user: _types.UserInfo | None
    ) -> Response:
        rt = self._resource_type(info)
        query = request.query_params
        allowed = (
            _TABLE_ABLE
            if info.verb in ("get", "list", "watch") and not info.subresource
            else frozenset()
        )
        accepted = _negotiation.negotiate(request.headers.get("accept", ""), allowed=allowed)
        if info.verb == "watch":
            return await self._watch(request, info, rt, user, accepted)
        if info.subresource == "log" and info.resource == "pods" and info.verb == "get":
            return await self._log(request, info, user)
        body = b""
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            body = await self._body(request)
        call = _resources.Call(
            info=info,
            rt=rt,
            query=query,
            dry_run=_negotiation.query_dry_run(query.getlist("dryRun")),
            body=body,
            content_type=request.headers.get("content-type", ""),
            user=user,
        )
        reply = await _resources.run_call(self.api, call)
        payload = reply.body
        if not isinstance(payload, dict):
            payload = self._transform(payload, rt, info, accepted, query)
        headers = {}
        if reply.warnings:
            headers["Warning"] = ", ".join(f'299 - "{w}"' for w in reply.warnings)
        return _json_response(payload, reply.code, headers=headers)

    def _crd_of(self, rt: _registry.ResourceType) -> _apiextensions.CustomResourceDefinition | None:
        installed = self.api.installed_crd(rt.group, rt.kind)
        return installed.crd if installed is not None else None

    def _transform(
        self,
        value: Any,
        rt: _registry.ResourceType,
        info: _requestinfo.RequestInfo,
        accepted: _negotiation.Accepted,
        query: Any,
    ) -> Any:
        is_list = isinstance(value, _types.ObjectList)
        if accepted.transform == "Table":
            items = value.items if is_list else [value]
            metadata = value.metadata if is_list else _meta.ListMeta()
            return _tables.table_for(
                rt.group, rt.kind, [self._encode.wire(i) for i in items],
                now=self.api.clock.time(), crd=self._crd_of(rt), version=rt.version,
                include_object=query.get("includeObject", "Metadata"),
                resource_version=metadata.resource_version, continue_=metadata.continue_,
            )  # fmt: skip
        if accepted.transform.startswith("PartialObjectMetadata"):

            def partial(obj: Any) -> dict[str, Any]:
                meta = self._encode.wire(obj).get("metadata", {})
                return {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                }

            if is_list:
                return {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": _codec.to_dict(value.metadata),
                    "items": [partial(i) for i in value],
                }
            return partial(value)
        if is_list:
            wire = {
                "apiVersion": value.api_version,
                "kind": value.kind,
                "metadata": _codec.to_dict(value.metadata),
            }
            wire["items"] = [self._encode.wire(i) for i in value.items]
            return wire
        return self._encode.wire(value) if attrs.has(type(value)) else value

    async def _watch(
        self,
        request: Request,
        info: _requestinfo.RequestInfo,
        rt: _registry.ResourceType,
        user: _types.UserInfo | None,
        accepted: _negotiation.Accepted,
    ) -> Response:
        q = request.query_params
        field_selector = q.get("fieldSelector", "")
        if info.name:
            by_name = f"metadata.name={info.name}"
            field_selector = f"{field_selector},{by_name}" if field_selector else by_name
        initial = q.get("sendInitialEvents")
        kwargs = {
            "kind": rt, "namespace": info.namespace, "label_selector": q.get("labelSelector", ""),
            "field_selector": field_selector, "resource_version": q.get("resourceVersion", ""),
            "allow_watch_bookmarks": _negotiation.query_bool(q, "allowWatchBookmarks"),
            "send_initial_events": (
                None if initial is None else _negotiation.query_bool(q, "sendInitialEvents")
            ),
            "user": user,
        }  # fmt: skip
        timeout = _streams.watch_timeout(_negotiation.query_int(q, "timeoutSeconds"), self._rng)
        context = _streams.open_watch(self.api, kwargs)
        stream = await context.__aenter__()

        async def close() -> None:
            await context.__aexit__(None, None, None)

        transform = None
        if accepted.transform:
            crd = self._crd_of(rt)
            include = q.get("includeObject", "Metadata")

            def transform(
                event: _types.WatchEvent[Any], wire: dict[str, Any], first: bool
            ) -> dict[str, Any]:
                if accepted.transform != "Table":
                    return {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": wire.get("metadata", {}),
                    }
                objects = [] if event.type == _types.BOOKMARK else [wire]
                rv = event.resource_version
                return _tables.table_for(
                    rt.group, rt.kind, objects, now=self.api.clock.time(), crd=crd,
                    version=rt.version, include_object=include, with_columns=first,
                    resource_version=rv,
                )  # fmt: skip

        lines = _streams.watch_lines(
            stream, close=close, timeout=timeout, cache=self._encode, transform=transform
        )
        return StreamingResponse(
            lines, 200, media_type=_JSON, headers={"Cache-Control": "no-cache, private"}
        )

    async def _log(
        self, request: Request, info: _requestinfo.RequestInfo, user: _types.UserInfo | None
    ) -> Response:
        options = _streams.log_options(
            request.query_params, _negotiation.query_int, _negotiation.query_bool
        )
        context = _streams.open_log(self.api, info.name, info.namespace, options, user)
        chunks = await context.__aenter__()

        async def close() -> None:
            await context.__aexit__(None, None, None)

        return StreamingResponse(_streams.log_stream(chunks, close), 200, media_type="text/plain")

    def __repr__(self) -> str:
        return f"<APIServerApp of {self.api!r}>"
