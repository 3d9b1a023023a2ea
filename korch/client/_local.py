"""LocalClient: the :class:`~korch.client.Client` protocol over an in-process APIServer.

Every call goes straight to the server's verbs — no serialisation, no copies: the objects
returned are the server's own frozen objects (shared with its watch cache), which is what
makes in-process controllers cheap. The client adds what a Kubernetes client adds:

* a default namespace for one-object calls (``namespace="default"``);
* a field manager for its writes (``field_manager="korch"``);
* an identity (``user``) for the server's authorizer and admission plugins;
* watch streams that raise the in-stream ERROR (e.g. 410 Expired) as
  :class:`korch.errors.Expired`, so a caller relists on ``except Expired``;
* the event recorder behind :meth:`LocalClient.record_event`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from korch.api import _core_other, _core_pod, _meta, _misc
from korch.apiserver import _pods, _status, _types
from korch.apiserver import _watch as server_watch
from korch.client import _events, _protocol

if TYPE_CHECKING:
    from korch.apiserver import APIServer

__all__ = ("LocalClient",)

T = TypeVar("T")


class _Events:
    """A server watch stream whose ERROR event is raised as the error it carries."""

    def __init__(self, stream: server_watch.WatchStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> _types.WatchEvent[Any]:
        event = await self._stream.__anext__()
        if event.type == _types.ERROR:
            raise _status.error_from_status(event.object)
        return event


class LocalClient:
    """A client of an in-process :class:`korch.apiserver.APIServer` (``api.client()``).

    Args:
        api: the server.
        user: the identity requests run as.
        field_manager: the manager recorded for writes that name none.
        namespace: the namespace of one-object calls that name none.
    """

    def __init__(
        self,
        api: APIServer,
        *,
        user: _types.UserInfo | None = None,
        field_manager: str = "korch",
        namespace: str = "default",
    ) -> None:
        self.api = api
        self.user = user
        self.field_manager = field_manager
        self.namespace = namespace
        self.recorder = _events.EventRecorder(api.clock, component=field_manager)

    def _one(self, kind: Any, namespace: str | None) -> tuple[Any, str]:
        rt = self.api.resource_type(kind)
        return rt, (namespace or self.namespace) if rt.namespaced else ""

    def _placed(self, obj: T) -> T:
        rt = self.api.resource_type_of(obj)
        meta = obj.metadata  # type: ignore[attr-defined]
        if rt.namespaced and not meta.namespace:
            return attrs.evolve(obj, metadata=attrs.evolve(meta, namespace=self.namespace))  # type: ignore[misc]
        return obj

    async def create(
        self,
        obj: T,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> T:
        rt = self.api.resource_type_of(obj)
        target = None
        if rt.namespaced:
            target = namespace or obj.metadata.namespace or self.namespace  # type: ignore[attr-defined]
        result: T = await self.api.create(
            obj,
            namespace=target,
            dry_run=dry_run,
            field_manager=field_manager or self.field_manager,
            user=self.user,
        )
        return result

    async def get(
        self,
        kind: type[T] | _protocol.GenericKind,
        name: str,
        *,
        namespace: str | None = None,
        resource_version: str = "",
    ) -> Any:
        rt, ns = self._one(kind, namespace)
        return await self.api.get(
            rt, name, namespace=ns, resource_version=resource_version, user=self.user
        )

    async def list(
        self,
        kind: type[T] | _protocol.GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> _types.ObjectList[Any]:
        return await self.api.list(
            kind,
            namespace=namespace or "",
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_=continue_,
            resource_version=resource_version,
            resource_version_match=resource_version_match,
            user=self.user,
        )

    async def update(self, obj: T, *, dry_run: bool = False, field_manager: str | None = None) -> T:
        result: T = await self.api.update(
            self._placed(obj),
            dry_run=dry_run,
            field_manager=field_manager or self.field_manager,
            user=self.user,
        )
        return result

    async def update_status(
        self, obj: T, *, dry_run: bool = False, field_manager: str | None = None
    ) -> T:
        result: T = await self.api.update(
            self._placed(obj),
            subresource="status",
            dry_run=dry_run,
            field_manager=field_manager or self.field_manager,
            user=self.user,
        )
        return result

    async def patch(
        self,
        kind: type[T] | _protocol.GenericKind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "strategic",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
        subresource: str = "",
    ) -> Any:
        rt, ns = self._one(kind, namespace)
        manager = field_manager or self.field_manager
        return await self.api.patch(
            rt, name, patch, namespace=ns, type=type, field_manager=manager, force=force,
            subresource=subresource, dry_run=dry_run, user=self.user,
        )  # fmt: skip

    async def patch_status(
        self,
        kind: type[T] | _protocol.GenericKind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "merge",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Any:
        return await self.patch(
            kind, name, patch, namespace=namespace, type=type, field_manager=field_manager,
            force=force, dry_run=dry_run, subresource="status",
        )  # fmt: skip

    async def delete(
        self,
        kind: type[T] | _protocol.GenericKind,
        name: str,
        *,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: _meta.Preconditions | None = None,
        dry_run: bool = False,
    ) -> Any:
        rt, ns = self._one(kind, namespace)
        return await self.api.delete(
            rt, name, namespace=ns, grace_period_seconds=grace_period_seconds,
            propagation_policy=propagation_policy, preconditions=preconditions,
            dry_run=dry_run, user=self.user,
        )  # fmt: skip

    async def delete_collection(
        self,
        kind: type[T] | _protocol.GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> _types.ObjectList[Any]:
        rt, ns = self._one(kind, namespace)
        return await self.api.delete_collection(
            rt, namespace=ns, label_selector=label_selector, field_selector=field_selector,
            grace_period_seconds=grace_period_seconds, propagation_policy=propagation_policy,
            dry_run=dry_run, user=self.user,
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def watch(
        self,
        kind: type[T] | _protocol.GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        allow_watch_bookmarks: bool = False,
        send_initial_events: bool | None = None,
    ) -> AsyncIterator[_protocol.WatchEvents[Any]]:
        async with self.api.watch(
            kind,
            namespace=namespace or "",
            label_selector=label_selector,
            field_selector=field_selector,
            resource_version=resource_version,
            allow_watch_bookmarks=allow_watch_bookmarks,
            send_initial_events=send_initial_events,
            user=self.user,
        ) as stream:
            yield _Events(stream)

    async def get_scale(
        self, kind: type[Any] | _protocol.GenericKind, name: str, *, namespace: str | None = None
    ) -> _misc.Scale:
        rt, ns = self._one(kind, namespace)
        return await self.api.get_scale(rt, name, namespace=ns, user=self.user)

    async def update_scale(
        self,
        kind: type[Any] | _protocol.GenericKind,
        name: str,
        scale: _misc.Scale,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> _misc.Scale:
        rt, ns = self._one(kind, namespace)
        return await self.api.update_scale(
            rt, name, scale, namespace=ns, dry_run=dry_run,
            field_manager=field_manager or self.field_manager, user=self.user,
        )  # fmt: skip

    async def patch_scale(
        self,
        kind: type[Any] | _protocol.GenericKind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "merge",
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> _misc.Scale:
        rt, ns = self._one(kind, namespace)
        return await self.api.patch_scale(
            rt, name, patch, namespace=ns, type=type, dry_run=dry_run,
            field_manager=field_manager or self.field_manager, user=self.user,
        )  # fmt: skip

    async def record_event(
        self,
        obj: Any,
        reason: str,
        message: str,
        type: str = "Normal",
        *,
        action: str = "",
    ) -> _core_other.Event:
        return await self.recorder.record(self, obj, reason, message, type, action=action)

    async def bind(
        self,
        binding: _core_pod.Binding,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> None:
        ns = binding.metadata.namespace if namespace is None else namespace
        await self.api.bind(
            binding, namespace=ns or self.namespace, dry_run=dry_run,
            field_manager=field_manager or self.field_manager, user=self.user,
        )  # fmt: skip

    async def evict(
        self,
        name: str,
        *,
        namespace: str | None = None,
        delete_options: _meta.DeleteOptions | None = None,
    ) -> None:
        await self.api.evict(
            name, namespace=namespace or self.namespace, delete_options=delete_options,
            user=self.user,
        )  # fmt: skip

    def pod_log(
        self,
        name: str,
        *,
        namespace: str | None = None,
        options: _pods.PodLogOptions | None = None,
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self.api.pod_log(
            name, namespace=namespace or self.namespace, options=options, user=self.user
        )

    async def read_pod_log(
        self,
        name: str,
        *,
        namespace: str | None = None,
        options: _pods.PodLogOptions | None = None,
    ) -> str:
        options = attrs.evolve(options or _pods.PodLogOptions(), follow=False)
        parts = []
        async with self.pod_log(name, namespace=namespace, options=options) as chunks:
            async for chunk in chunks:
                parts.append(chunk)
        return b"".join(parts).decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<LocalClient of {self.api!r} namespace={self.namespace!r}>"
