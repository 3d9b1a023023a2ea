"""HTTPClient: the :class:`~korch.client.Client` protocol over HTTPS (httpx, async).

The same calls as :class:`~korch.client.LocalClient`, sent to a Kubernetes-compatible API
server (``korch up``, or any kube-apiserver) as kube-apiserver's REST requests::

    async with HTTPClient.from_kubeconfig("/var/lib/korch/kubeconfig") as client:
        pod = await client.get(Pod, "web")
        async with client.watch(Pod, resource_version=rv, allow_watch_bookmarks=True) as events:
            async for event in events: ...

Semantics kept equal to LocalClient's, so controllers run unchanged over either:

* kinds resolve through a local :class:`korch.api.Registry` (the built-ins); an
  ``(apiVersion, kind)`` it does not know (a custom resource) is looked up once in the
  server's discovery document for that group-version and remembered;
* errors are the :class:`korch.errors.APIError` the server's ``Status`` stands for
  (:func:`korch.apiserver.error_from_status`); a server that cannot be reached is
  :class:`korch.errors.InternalError`, chained to httpx's error;
* a watch yields typed :class:`~korch.apiserver.WatchEvent` values and raises the in-stream
  ERROR (410 → :class:`korch.errors.Expired`), after which the caller lists again. When the
  server ends a watch normally (its ``timeoutSeconds`` ran out), the client re-watches from
  the last resourceVersion it saw (an event's or a bookmark's), as client-go's reflector
  does — so a watch, as with LocalClient, only ends when the caller leaves it.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import attrs
import httpx

from korch import clock as clock_module
from korch import errors
from korch.api import _codec, _core_other, _core_pod, _generic, _meta, _misc, _registry
from korch.apiserver import _pods, _status, _types
from korch.client import _events, _kubeconfig, _protocol

__all__ = ("HTTPClient",)

T = TypeVar("T")

_PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def ssl_context(config: _kubeconfig.KubeConfig) -> ssl.SSLContext:
    """A client TLS context from a kubeconfig: its CA (or the system's) and client cert."""
    if config.certificate_authority is not None:
        context = ssl.create_default_context(cadata=config.certificate_authority.decode())
    else:
        context = ssl.create_default_context()
    if config.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.client_certificate is not None and config.client_key is not None:
        # ssl loads certificates from files only: a private temporary directory, removed at once
        with tempfile.TemporaryDirectory(prefix="korch-tls-") as tmp:
            cert, key = Path(tmp, "client.crt"), Path(tmp, "client.key")
            cert.write_bytes(config.client_certificate)
            fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(config.client_key)
            context.load_cert_chain(str(cert), str(key))
    return context


def _error(response: httpx.Response, body: bytes) -> errors.APIError:
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("kind") == "Status":
            return _status.error_from_status(_codec.from_dict(data, _meta.Status))
    except (ValueError, errors.KorchError):
        pass
    reasons = {code: reason for reason, code in _status.CODES.items()}
    reason = reasons.get(response.status_code, "InternalError")
    status = _meta.Status(
        status="Failure", message=body.decode("utf-8", "replace").strip() or reason,
        reason=reason, code=response.status_code,
    )  # fmt: skip
    return _status.error_from_status(status)


class _Events:
    """A watch's events, decoded; re-watches when the server ends the stream normally."""

    def __init__(
        self, client: HTTPClient, rt: _registry.ResourceType, path: str, params: dict[str, Any]
    ) -> None:
        self._client = client
        self._rt = rt
        self._path = path
        self._params = params
        self._response: httpx.Response | None = None
        self._lines: AsyncIterator[str] | None = None
        self._resource_version = str(params.get("resourceVersion", ""))

    async def open(self) -> None:
        request = self._client.http.build_request("GET", self._path, params=self._params)
        try:
            response = await self._client.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise errors.InternalError(f"cannot reach the API server: {exc}") from exc
        if response.status_code != 200:
            body = await response.aread()
            await response.aclose()
            raise _error(response, body)
        self._response = response
        self._lines = response.aiter_lines()

    async def aclose(self) -> None:
        if self._response is not None:
            await self._response.aclose()
            self._response = None

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> _types.WatchEvent[Any]:
        while True:
            if self._lines is None:
                raise StopAsyncIteration
            try:
                line = await self._lines.__anext__()
            except StopAsyncIteration:
                await self._resume()
                continue
            except httpx.HTTPError as exc:
                raise errors.InternalError(f"the watch connection failed: {exc}") from exc
            if not line.strip():
                continue
            frame = json.loads(line)
            kind = frame.get("type")
            obj = frame.get("object") or {}
            if kind == _types.ERROR:
                self._lines = None
                raise _status.error_from_status(_codec.from_dict(obj, _meta.Status))
            event: _types.WatchEvent[Any] = _types.WatchEvent(
                type=kind, object=self._client.decode(obj, self._rt)
            )
            if event.resource_version:
                self._resource_version = event.resource_version
            return event

    async def _resume(self) -> None:
        await self.aclose()
        if not self._resource_version:
            self._lines = None
            raise StopAsyncIteration
        self._params = {**self._params, "resourceVersion": self._resource_version}
        self._params.pop("sendInitialEvents", None)
        await self.open()


class HTTPClient:
    """A client of a remote API server (see the module docstring).

    Args:
        config: the connection (a :class:`~korch.client.KubeConfig`).
        field_manager: the manager recorded for writes that name none.
        namespace: the namespace of one-object calls that name none (default: the
            kubeconfig context's).
        registry: the kinds known locally (default: a copy of the built-in registry).
        timeout: seconds for connecting and for each non-watch request.
        max_connections: the connection pool's size (``None``: unbounded; each open watch
            holds one connection).
    """

    def __init__(
        self,
        config: _kubeconfig.KubeConfig,
        *,
        field_manager: str = "korch",
        namespace: str | None = None,
        registry: _registry.Registry | None = None,
        timeout: float = 30.0,
        max_connections: int | None = None,
    ) -> None:
        self.config = config
        self.field_manager = field_manager
        self.namespace = namespace or config.namespace
        self.registry = registry if registry is not None else _registry.default_registry().copy()
        headers = {"Accept": "application/json", "User-Agent": "korch-httpclient"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self.http = httpx.AsyncClient(
            base_url=config.server,
            verify=ssl_context(config),
            headers=headers,
            timeout=httpx.Timeout(timeout, read=None),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64),
        )
        self._timeout = timeout
        self.recorder = _events.EventRecorder(clock_module.SystemClock(), component=field_manager)

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike[str], *, context: str | None = None, **kwargs: Any
    ) -> HTTPClient:
        """A client for the context ``context`` (default: current) of a kubeconfig file."""
        return cls(_kubeconfig.KubeConfig.load(path, context=context), **kwargs)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def __aenter__(self) -> HTTPClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- plumbing -----------------------------------------------------------------------

    async def _discover(self, api_version: str, kind: str) -> _registry.ResourceType:
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        data = await self._request("GET", path)
        group, _, version = api_version.rpartition("/")
        for entry in data.get("resources", []):
            if entry.get("kind") == kind and "/" not in entry.get("name", ""):
                rt = _registry.ResourceType(
                    group=group, version=version, kind=kind, plural=entry["name"],
                    singular=entry.get("singularName") or kind.lower(),
                    namespaced=bool(entry.get("namespaced")),
                    short_names=tuple(entry.get("shortNames") or ()),
                    categories=tuple(entry.get("categories") or ()),
                    verbs=tuple(entry.get("verbs") or ()),
                )  # fmt: skip
                self.registry.register(rt, replace=True)
                return rt
        raise errors.NotFound(f'no matches for kind "{kind}" in version "{api_version}"')

    async def resource_type(self, kind: Any) -> _registry.ResourceType:
        """The resource type of a kind class, ``(apiVersion, kind)`` or ResourceType.

        Raises:
            korch.errors.NotFound: the kind is served neither locally known nor by the server.
        """
        if isinstance(kind, _registry.ResourceType):
            return kind
        if isinstance(kind, tuple) and len(kind) == 2:
            found = self.registry.get(kind[0], kind[1])
            return found if found is not None else await self._discover(kind[0], kind[1])
        if isinstance(kind, type) and kind is not _generic.GenericResource:
            rt = self.registry.for_class(kind)
            if rt is not None:
                return rt
        raise errors.BadRequest(f"cannot tell the kind of {kind!r}")

    async def _resource_type_of(self, obj: Any) -> _registry.ResourceType:
        api_version, kind = getattr(obj, "api_version", None), getattr(obj, "kind", None)
        if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
            raise errors.BadRequest(f"not an API object (no apiVersion/kind): {obj!r}")
        return await self.resource_type((api_version, kind))

    @staticmethod
    def _path(
        rt: _registry.ResourceType, namespace: str, name: str = "", subresource: str = ""
    ) -> str:
        base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        if rt.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{rt.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
        return base

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        content = None
        headers = {}
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "", False)}
        try:
            response = await self.http.request(
                method, path, params=clean, content=content, headers=headers,
                timeout=httpx.Timeout(self._timeout),
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise errors.InternalError(f"cannot reach the API server: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response, response.content)
        return response.json() if response.content else None

    def decode(self, data: Any, rt: _registry.ResourceType | None) -> Any:
        """A response object decoded to its class (the kind's, or GenericResource)."""
        if rt is not None and rt.typed and data.get("kind", rt.kind) == rt.kind:
            return _codec.from_dict(data, rt.cls, registry=self.registry)
        if rt is not None and "kind" not in data:
            data = {"apiVersion": rt.api_version, "kind": rt.kind, **data}
        return _codec.from_dict(data, registry=self.registry)

    def _decode_list(
        self, data: dict[str, Any], rt: _registry.ResourceType
    ) -> _types.ObjectList[Any]:
        metadata = _codec.from_dict(data.get("metadata") or {}, _meta.ListMeta)
        items = [self.decode(item, rt) for item in data.get("items") or []]
        return _types.ObjectList(
            api_version=rt.api_version, kind=rt.list_kind, metadata=metadata, items=items
        )

    def _writes(self, dry_run: bool, field_manager: str | None) -> dict[str, Any]:
        return {
            "dryRun": "All" if dry_run else None,
            "fieldManager": field_manager or self.field_manager,
        }

    def _one_namespace(self, rt: _registry.ResourceType, namespace: str | None) -> str:
        return (namespace or self.namespace) if rt.namespaced else ""

    # -- the Client protocol ----------------------------------------------------------

    async def create(
        self, obj: T, *, namespace: str | None = None, dry_run: bool = False,
        field_manager: str | None = None,
    ) -> T:  # fmt: skip
        rt = await self._resource_type_of(obj)
        ns = ""
        if rt.namespaced:
            ns = namespace or obj.metadata.namespace or self.namespace  # type: ignore[attr-defined]
        data = await self._request(
            "POST", self._path(rt, ns), params=self._writes(dry_run, field_manager),
            body=_codec.to_dict(obj),
        )  # fmt: skip
        result: T = self.decode(data, rt)
        return result

    async def get(
        self, kind: type[T] | _protocol.GenericKind, name: str, *, namespace: str | None = None,
        resource_version: str = "",
    ) -> Any:  # fmt: skip
        rt = await self.resource_type(kind)
        data = await self._request(
            "GET", self._path(rt, self._one_namespace(rt, namespace), name),
            params={"resourceVersion": resource_version},
        )  # fmt: skip
        return self.decode(data, rt)

    async def list(
        self, kind: type[T] | _protocol.GenericKind, *, namespace: str | None = None,
        label_selector: str = "", field_selector: str = "", limit: int = 0, continue_: str = "",
        resource_version: str = "", resource_version_match: str = "",
    ) -> _types.ObjectList[Any]:  # fmt: skip
        rt = await self.resource_type(kind)
        params = {
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "limit": limit or None, "continue": continue_, "resourceVersion": resource_version,
            "resourceVersionMatch": resource_version_match,
        }  # fmt: skip
        data = await self._request("GET", self._path(rt, namespace or ""), params=params)
        return self._decode_list(data, rt)

    async def _put(
        self, obj: Any, subresource: str, dry_run: bool, field_manager: str | None
    ) -> Any:
        rt = await self._resource_type_of(obj)
        meta = obj.metadata
        if rt.namespaced and not meta.namespace:
            obj = attrs.evolve(obj, metadata=attrs.evolve(meta, namespace=self.namespace))
        ns = obj.metadata.namespace if rt.namespaced else ""
        data = await self._request(
            "PUT", self._path(rt, ns, meta.name, subresource),
            params=self._writes(dry_run, field_manager), body=_codec.to_dict(obj),
        )  # fmt: skip
        return self.decode(data, rt)

    async def update(self, obj: T, *, dry_run: bool = False, field_manager: str | None = None) -> T:
        result: T = await self._put(obj, "", dry_run, field_manager)
        return result

    async def update_status(
        self, obj: T, *, dry_run: bool = False, field_manager: str | None = None
    ) -> T:
        result: T = await self._put(obj, "status", dry_run, field_manager)
        return result

    async def patch(
        self, kind: type[T] | _protocol.GenericKind, name: str, patch: Any, *,
        namespace: str | None = None, type: _types.PatchType = "strategic",
        field_manager: str | None = None, force: bool = False, dry_run: bool = False,
        subresource: str = "",
    ) -> Any:  # fmt: skip
        rt = await self.resource_type(kind)
        content_type = _PATCH_TYPES.get(type)
        if content_type is None:
            raise errors.UnsupportedMediaType(f"unsupported patch type {type!r}")
        body = _codec.to_dict(patch) if attrs.has(patch.__class__) else patch
        params = {**self._writes(dry_run, field_manager), "force": "true" if force else None}
        data = await self._request(
            "PATCH", self._path(rt, self._one_namespace(rt, namespace), name, subresource),
            params=params, body=body, content_type=content_type,
        )  # fmt: skip
        return (
            self.decode(data, rt) if subresource != "scale" else _codec.from_dict(data, _misc.Scale)
        )

    async def patch_status(
        self, kind: type[T] | _protocol.GenericKind, name: str, patch: Any, *,
        namespace: str | None = None, type: _types.PatchType = "merge",
        field_manager: str | None = None, force: bool = False, dry_run: bool = False,
    ) -> Any:  # fmt: skip
        return await self.patch(
            kind, name, patch, namespace=namespace, type=type, field_manager=field_manager,
            force=force, dry_run=dry_run, subresource="status",
        )  # fmt: skip

    @staticmethod
    def _delete_body(
        grace_period_seconds: int | None, propagation_policy: str | None,
        preconditions: _meta.Preconditions | None, dry_run: bool,
    ) -> dict[str, Any]:  # fmt: skip
        options = _meta.DeleteOptions(
            grace_period_seconds=grace_period_seconds, propagation_policy=propagation_policy,
            preconditions=preconditions, dry_run=["All"] if dry_run else [],
        )  # fmt: skip
        return _codec.to_dict(options)

    async def delete(
        self, kind: type[T] | _protocol.GenericKind, name: str, *, namespace: str | None = None,
        grace_period_seconds: int | None = None, propagation_policy: str | None = None,
        preconditions: _meta.Preconditions | None = None, dry_run: bool = False,
    ) -> Any:  # fmt: skip
        rt = await self.resource_type(kind)
        body = self._delete_body(grace_period_seconds, propagation_policy, preconditions, dry_run)
        data = await self._request(
            "DELETE", self._path(rt, self._one_namespace(rt, namespace), name), body=body
        )
        if isinstance(data, dict) and data.get("kind") == "Status":
            return _codec.from_dict(data, _meta.Status)
        return self.decode(data, rt)

    async def delete_collection(
        self, kind: type[T] | _protocol.GenericKind, *, namespace: str | None = None,
        label_selector: str = "", field_selector: str = "", grace_period_seconds: int | None = None,
        propagation_policy: str | None = None, dry_run: bool = False,
    ) -> _types.ObjectList[Any]:  # fmt: skip
        rt = await self.resource_type(kind)
        body = self._delete_body(grace_period_seconds, propagation_policy, None, dry_run)
        data = await self._request(
            "DELETE", self._path(rt, self._one_namespace(rt, namespace)),
            params={"labelSelector": label_selector, "fieldSelector": field_selector}, body=body,
        )  # fmt: skip
        return self._decode_list(data, rt)

    @contextlib.asynccontextmanager
    async def watch(
        self, kind: type[T] | _protocol.GenericKind, *, namespace: str | None = None,
        label_selector: str = "", field_selector: str = "", resource_version: str = "",
        allow_watch_bookmarks: bool = False, send_initial_events: bool | None = None,
    ) -> AsyncIterator[_protocol.WatchEvents[Any]]:  # fmt: skip
        rt = await self.resource_type(kind)
        params: dict[str, Any] = {"watch": "true"}
        for key, value in (
            ("labelSelector", label_selector), ("fieldSelector", field_selector),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true" if allow_watch_bookmarks else ""),
        ):  # fmt: skip
            if value:
                params[key] = value
        if send_initial_events is not None:
            params["sendInitialEvents"] = "true" if send_initial_events else "false"
            params.setdefault("resourceVersionMatch", "NotOlderThan")
        events = _Events(self, rt, self._path(rt, namespace or ""), params)
        await events.open()
        try:
            yield events
        finally:
            await events.aclose()

    async def get_scale(
        self, kind: type[Any] | _protocol.GenericKind, name: str, *, namespace: str | None = None
    ) -> _misc.Scale:
        rt = await self.resource_type(kind)
        data = await self._request(
            "GET", self._path(rt, self._one_namespace(rt, namespace), name, "scale")
        )
        return _codec.from_dict(data, _misc.Scale)

    async def update_scale(
        self, kind: type[Any] | _protocol.GenericKind, name: str, scale: _misc.Scale, *,
        namespace: str | None = None, dry_run: bool = False, field_manager: str | None = None,
    ) -> _misc.Scale:  # fmt: skip
        rt = await self.resource_type(kind)
        ns = self._one_namespace(rt, namespace)
        meta = attrs.evolve(scale.metadata, name=scale.metadata.name or name, namespace=ns)
        data = await self._request(
            "PUT", self._path(rt, ns, name, "scale"), params=self._writes(dry_run, field_manager),
            body=_codec.to_dict(attrs.evolve(scale, metadata=meta)),
        )  # fmt: skip
        return _codec.from_dict(data, _misc.Scale)

    async def patch_scale(
        self, kind: type[Any] | _protocol.GenericKind, name: str, patch: Any, *,
        namespace: str | None = None, type: _types.PatchType = "merge", dry_run: bool = False,
        field_manager: str | None = None,
    ) -> _misc.Scale:  # fmt: skip
        result: _misc.Scale = await self.patch(
            kind, name, patch, namespace=namespace, type=type, dry_run=dry_run,
            field_manager=field_manager, subresource="scale",
        )  # fmt: skip
        return result

    async def record_event(
        self, obj: Any, reason: str, message: str, type: str = "Normal", *, action: str = ""
    ) -> _core_other.Event:
        return await self.recorder.record(self, obj, reason, message, type, action=action)

    async def bind(
        self, binding: _core_pod.Binding, *, namespace: str | None = None, dry_run: bool = False,
        field_manager: str | None = None,
    ) -> None:  # fmt: skip
        ns = (binding.metadata.namespace if namespace is None else namespace) or self.namespace
        pods = await self.resource_type(_core_pod.Pod)
        await self._request(
            "POST", self._path(pods, ns, binding.metadata.name, "binding"),
            params=self._writes(dry_run, field_manager), body=_codec.to_dict(binding),
        )  # fmt: skip

    async def evict(
        self, name: str, *, namespace: str | None = None,
        delete_options: _meta.DeleteOptions | None = None,
    ) -> None:  # fmt: skip
        ns = namespace or self.namespace
        eviction = _misc.Eviction(
            metadata=_meta.ObjectMeta(name=name, namespace=ns), delete_options=delete_options
        )
        pods = await self.resource_type(_core_pod.Pod)
        await self._request(
            "POST", self._path(pods, ns, name, "eviction"), body=_codec.to_dict(eviction)
        )

    @contextlib.asynccontextmanager
    async def _log(
        self, name: str, namespace: str, options: _pods.PodLogOptions
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        pods = await self.resource_type(_core_pod.Pod)
        params = {
            "container": options.container, "follow": "true" if options.follow else None,
            "previous": "true" if options.previous else None, "sinceSeconds": options.since_seconds,
            "timestamps": "true" if options.timestamps else None, "tailLines": options.tail_lines,
            "limitBytes": options.limit_bytes,
        }  # fmt: skip
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        request = self.http.build_request(
            "GET", self._path(pods, namespace, name, "log"), params=clean
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise errors.InternalError(f"cannot reach the API server: {exc}") from exc
        try:
            if response.status_code != 200:
                raise _error(response, await response.aread())
            yield response.aiter_bytes()
        finally:
            await response.aclose()

    def pod_log(
        self, name: str, *, namespace: str | None = None,
        options: _pods.PodLogOptions | None = None,
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:  # fmt: skip
        return self._log(name, namespace or self.namespace, options or _pods.PodLogOptions())

    async def read_pod_log(
        self, name: str, *, namespace: str | None = None,
        options: _pods.PodLogOptions | None = None,
    ) -> str:  # fmt: skip
        options = attrs.evolve(options or _pods.PodLogOptions(), follow=False)
        parts = []
        async with self.pod_log(name, namespace=namespace, options=options) as chunks:
            async for chunk in chunks:
                parts.append(chunk)
        return b"".join(parts).decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<HTTPClient {self.config.server} namespace={self.namespace!r}>"
