"""Value types of the API server's surface: watch events, typed lists, users, kind references.

These are what :class:`korch.apiserver.APIServer` and every :class:`korch.client.Client`
hand back, so they are plain frozen attrs classes with no behaviour beyond accessors:

* :class:`WatchEvent` — one event of a watch stream, ``(type, object)`` as kube-apiserver
  sends it; ``type`` is ``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK`` or ``ERROR``
  (an ``ERROR`` event's ``object`` is a :class:`korch.api.Status`).
* :class:`ObjectList` — a ``<Kind>List`` whose ``items`` are typed objects; a subclass of
  :class:`korch.api.ResourceList`, so the codec encodes it like any list.
* :class:`UserInfo` — who makes a request (for admission and authorization).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, Generic, Literal, TypeAlias, TypeVar

import attrs

from korch.api import _meta, _registry

__all__ = (
    "ADDED",
    "BOOKMARK",
    "DELETED",
    "ERROR",
    "MODIFIED",
    "KindRef",
    "ObjectList",
    "PatchType",
    "UserInfo",
    "WatchEvent",
    "WatchEventType",
)

T = TypeVar("T")

WatchEventType: TypeAlias = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
ADDED: Final = "ADDED"
MODIFIED: Final = "MODIFIED"
DELETED: Final = "DELETED"
BOOKMARK: Final = "BOOKMARK"
ERROR: Final = "ERROR"

PatchType: TypeAlias = Literal["json", "merge", "strategic", "apply"]
"""``json`` (RFC 6902), ``merge`` (RFC 7386), ``strategic`` (Kubernetes' strategic merge
patch) or ``apply`` (server-side apply)."""

KindRef: TypeAlias = _registry.ResourceType | type[Any] | tuple[str, str]
"""How a request names its resource type: a :class:`korch.api.ResourceType`, a typed kind
class (``Pod``), or ``(apiVersion, kind)`` (``("example.com/v1", "Database")``)."""


@attrs.frozen(kw_only=True)
class WatchEvent(Generic[T]):
    """One event of a watch: ``type`` and the object it is about.

    ``ADDED``/``MODIFIED`` carry the object as it now is; ``DELETED`` the last state of the
    object, with ``metadata.resourceVersion`` set to the revision that deleted it (or that
    moved it out of the watch's selection); ``BOOKMARK`` an object of the watched kind whose
    only content is ``metadata.resourceVersion`` (and, for the end of initial events, the
    ``k8s.io/initial-events-end`` annotation); ``ERROR`` a :class:`korch.api.Status`.
    """

    type: WatchEventType
    object: T

    @property
    def resource_version(self) -> str:
        """The event object's ``metadata.resourceVersion`` (``""`` for ERROR events)."""
        metadata = getattr(self.object, "metadata", None)
        return str(getattr(metadata, "resource_version", "") or "")


@attrs.frozen(kw_only=True)
class ObjectList(_meta.ResourceList, Generic[T]):
    """A typed ``<Kind>List``: ``items`` are objects of one kind, ``metadata`` a ListMeta.

    ``metadata.resource_version`` is the revision the list was read at (watch from it to
    see every later change); ``metadata.continue_`` is the token of the next page when the
    list was cut by ``limit`` (empty on the last page).
    """

    items: list[T] = attrs.Factory(list)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@attrs.frozen(kw_only=True)
class UserInfo:
    """The identity a request runs as (Kubernetes' ``user.Info``)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = attrs.Factory(dict)
