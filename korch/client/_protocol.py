"""The :class:`Client` protocol: how everything above the API server talks to a cluster.

Controllers, the scheduler, node agents and applications depend on this protocol only, so
the same code runs against the in-process :class:`~korch.client.LocalClient` or a remote
API server over HTTP. Methods follow the Kubernetes verbs, with Pythonic names:

* kinds are passed as classes (``Pod``) — then results are typed (``Pod``,
  ``ObjectList[Pod]``, ``WatchEvent[Pod]``) — or as ``(apiVersion, kind)`` pairs for kinds
  without a class of their own (results are ``GenericResource`` or the registered class);
* ``namespace=None`` on one-object calls means the client's default namespace; on
  ``list``/``watch`` it means all namespaces;
* errors are :class:`korch.errors.APIError` subclasses (``NotFound``, ``Conflict``…); a
  watch that cannot be resumed raises :class:`korch.errors.Expired` from its iterator
  (the in-stream ERROR event), after which the caller lists again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeAlias, TypeVar, overload, runtime_checkable

from korch.api import _core_other, _core_pod, _meta, _misc
from korch.apiserver import _pods, _types

__all__ = ("Client", "GenericKind", "WatchEvents")

T = TypeVar("T")

GenericKind: TypeAlias = tuple[str, str]
"""``(apiVersion, kind)``, e.g. ``("example.com/v1", "Database")``."""

WatchEvents: TypeAlias = AsyncIterator[_types.WatchEvent[T]]
"""What ``async with client.watch(...) as events`` binds: an async iterator of events."""


@runtime_checkable
class Client(Protocol):
    """A connection to an API server (see the module docstring)."""

    async def create(
        self,
        obj: T,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> T:
        """Create ``obj``; returns it as stored. Raises AlreadyExists, Invalid…"""
        ...

    @overload
    async def get(
        self,
        kind: type[T],
        name: str,
        *,
        namespace: str | None = None,
        resource_version: str = "",
    ) -> T: ...

    @overload
    async def get(
        self,
        kind: GenericKind,
        name: str,
        *,
        namespace: str | None = None,
        resource_version: str = "",
    ) -> Any: ...

    async def get(
        self,
        kind: type[T] | GenericKind,
        name: str,
        *,
        namespace: str | None = None,
        resource_version: str = "",
    ) -> T | Any:
        """One object by name. Raises NotFound."""
        ...

    @overload
    async def list(
        self,
        kind: type[T],
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> _types.ObjectList[T]: ...

    @overload
    async def list(
        self,
        kind: GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> _types.ObjectList[Any]: ...

    async def list(
        self,
        kind: type[T] | GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> _types.ObjectList[T] | _types.ObjectList[Any]:
        """Objects of a kind (all namespaces when ``namespace`` is None)."""
        ...

    async def update(self, obj: T, *, dry_run: bool = False, field_manager: str | None = None) -> T:
        """Replace ``obj`` (its resourceVersion, if set, must be current). Raises Conflict."""
        ...

    async def update_status(
        self, obj: T, *, dry_run: bool = False, field_manager: str | None = None
    ) -> T:
        """Replace ``obj``'s status only (the status subresource)."""
        ...

    @overload
    async def patch(
        self,
        kind: type[T],
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "strategic",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> T: ...

    @overload
    async def patch(
        self,
        kind: GenericKind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "strategic",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Any: ...

    async def patch(
        self,
        kind: type[T] | GenericKind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "strategic",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> T | Any:
        """Patch an object: ``json``, ``merge``, ``strategic`` or ``apply`` (server-side)."""
        ...

    @overload
    async def patch_status(
        self,
        kind: type[T],
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "merge",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> T: ...

    @overload
    async def patch_status(
        self,
        kind: GenericKind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "merge",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Any: ...

    async def patch_status(
        self,
        kind: type[T] | GenericKind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "merge",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> T | Any:
        """Patch an object's status subresource."""
        ...

    @overload
    async def delete(
        self,
        kind: type[T],
        name: str,
        *,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: _meta.Preconditions | None = None,
        dry_run: bool = False,
    ) -> T: ...

    @overload
    async def delete(
        self,
        kind: GenericKind,
        name: str,
        *,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: _meta.Preconditions | None = None,
        dry_run: bool = False,
    ) -> Any: ...

    async def delete(
        self,
        kind: type[T] | GenericKind,
        name: str,
        *,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: _meta.Preconditions | None = None,
        dry_run: bool = False,
    ) -> T | Any:
        """Delete an object; returns its last state (with deletionTimestamp if pending)."""
        ...

    @overload
    async def delete_collection(
        self,
        kind: type[T],
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> _types.ObjectList[T]: ...

    @overload
    async def delete_collection(
        self,
        kind: GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> _types.ObjectList[Any]: ...

    async def delete_collection(
        self,
        kind: type[T] | GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> _types.ObjectList[T] | _types.ObjectList[Any]:
        """Delete every selected object of a kind in a namespace."""
        ...

    @overload
    def watch(
        self,
        kind: type[T],
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        allow_watch_bookmarks: bool = False,
        send_initial_events: bool | None = None,
    ) -> AbstractAsyncContextManager[WatchEvents[T]]: ...

    @overload
    def watch(
        self,
        kind: GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        allow_watch_bookmarks: bool = False,
        send_initial_events: bool | None = None,
    ) -> AbstractAsyncContextManager[WatchEvents[Any]]: ...

    def watch(
        self,
        kind: type[T] | GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        allow_watch_bookmarks: bool = False,
        send_initial_events: bool | None = None,
    ) -> (
        AbstractAsyncContextManager[WatchEvents[T]] | AbstractAsyncContextManager[WatchEvents[Any]]
    ):
        """``async with client.watch(Pod, …) as events: async for event in events: …``"""
        ...

    async def get_scale(
        self, kind: type[Any] | GenericKind, name: str, *, namespace: str | None = None
    ) -> _misc.Scale:
        """The autoscaling/v1 Scale of a scalable object."""
        ...

    async def update_scale(
        self,
        kind: type[Any] | GenericKind,
        name: str,
        scale: _misc.Scale,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> _misc.Scale:
        """Set desired replicas through the scale subresource."""
        ...

    async def patch_scale(
        self,
        kind: type[Any] | GenericKind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        type: _types.PatchType = "merge",
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> _misc.Scale:
        """Patch the scale subresource (e.g. ``{"spec": {"replicas": 3}}``)."""
        ...

    async def record_event(
        self,
        obj: Any,
        reason: str,
        message: str,
        type: str = "Normal",
        *,
        action: str = "",
    ) -> _core_other.Event:
        """Record a core/v1 Event about ``obj`` (repeats are aggregated into ``count``)."""
        ...

    async def bind(
        self,
        binding: _core_pod.Binding,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> None:
        """``pods/binding``: assign the pod ``binding.metadata.name`` to the node
        ``binding.target.name`` (what a scheduler does). Raises Conflict if it is assigned."""
        ...

    async def evict(
        self,
        name: str,
        *,
        namespace: str | None = None,
        delete_options: _meta.DeleteOptions | None = None,
    ) -> None:
        """``pods/eviction``: delete a pod unless its PodDisruptionBudget forbids it
        (TooManyRequests, 429)."""
        ...

    def pod_log(
        self,
        name: str,
        *,
        namespace: str | None = None,
        options: _pods.PodLogOptions | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``pods/log``: ``async with client.pod_log("web", options=PodLogOptions(follow=True))
        as chunks: async for chunk in chunks: …``"""
        ...

    async def read_pod_log(
        self,
        name: str,
        *,
        namespace: str | None = None,
        options: _pods.PodLogOptions | None = None,
    ) -> str:
        """The whole log (without following) as text (what ``kubectl logs`` prints)."""
        ...
