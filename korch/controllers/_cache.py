"""An informer's local cache: objects by key, secondary indexes, and the transforms that
decide how much of each object is kept.

* **Keys** are client-go's: ``"namespace/name"`` for namespaced objects, ``"name"`` for
  cluster-scoped ones (:func:`object_key`, :func:`split_key`).
* **Indexes** map an index value to the keys whose object produces it (``"by-node"`` →
  ``"n1"`` → pod keys). Every cache has the :data:`NAMESPACE_INDEX`; more are added with
  :meth:`Cache.add_indexer` (the index is built over the objects already cached).
* **Transforms** run once per object before it is cached. :func:`default_transform` drops
  ``metadata.managedFields`` and the ``kubectl.kubernetes.io/last-applied-configuration``
  annotation — the two largest parts of most objects, which controllers never read;
  :func:`metadata_only` keeps type and object metadata only (a ``PartialObjectMetadata``
  carrying the original apiVersion and kind), for controllers that only need names, labels
  and owners.

The cache belongs to one event loop; it is only mutated by its informer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Generic, TypeVar

import attrs

from korch import errors
from korch.api import _meta, _selector

__all__ = (
    "LAST_APPLIED_ANNOTATION",
    "NAMESPACE_INDEX",
    "Cache",
    "IndexFunc",
    "Transform",
    "default_transform",
    "metadata_only",
    "object_key",
    "split_key",
)

T = TypeVar("T")

LAST_APPLIED_ANNOTATION: Final = "kubectl.kubernetes.io/last-applied-configuration"
NAMESPACE_INDEX: Final = "namespace"

IndexFunc = Callable[[Any], Iterable[str]]
"""Computes the index values of an object (an object may have several, or none)."""

Transform = Callable[[Any], Any]
"""Turns an object from the API into what the cache keeps."""


def object_key(obj: Any) -> str:
    """The cache key of an object: ``"namespace/name"``, or ``"name"`` if cluster-scoped."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def split_key(key: str) -> tuple[str, str]:
    """``"ns/name"`` → ``("ns", "name")``; ``"name"`` → ``("", "name")``.

    Raises:
        korch.errors.BadRequest: an empty name, or more than one ``/``.
    """
    namespace, _, name = key.rpartition("/")
    if not name or "/" in namespace:
        raise errors.BadRequest(f"invalid key {key!r}: want 'namespace/name' or 'name'")
    return namespace, name


def default_transform(obj: T) -> T:
    """Drop ``managedFields`` and the last-applied annotation (the object is kept as is when
    it has neither)."""
    meta = obj.metadata  # type: ignore[attr-defined]
    annotations = meta.annotations
    if not meta.managed_fields and LAST_APPLIED_ANNOTATION not in annotations:
        return obj
    if LAST_APPLIED_ANNOTATION in annotations:
        annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED_ANNOTATION}
    meta = attrs.evolve(meta, managed_fields=[], annotations=annotations)
    return attrs.evolve(obj, metadata=meta)  # type: ignore[misc]


def metadata_only(obj: Any) -> _meta.PartialObjectMetadata:
    """Type and object metadata only (managedFields and last-applied dropped too)."""
    if isinstance(obj, _meta.PartialObjectMetadata):
        return default_transform(obj)
    stripped = default_transform(obj)
    return _meta.PartialObjectMetadata(
        api_version=obj.api_version, kind=obj.kind, metadata=stripped.metadata
    )


def _namespace_of(obj: Any) -> tuple[str]:
    return (obj.metadata.namespace,)


class Cache(Generic[T]):
    """Objects by key plus secondary indexes (see the module docstring)."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, T] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: _namespace_of}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        self._values: dict[str, dict[str, tuple[str, ...]]] = {NAMESPACE_INDEX: {}}
        for name, func in (indexers or {}).items():
            self.add_indexer(name, func)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def keys(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[T]:
        return list(self._items.values())

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Add an index named ``name`` (built over the cached objects at once).

        Raises:
            ValueError: an index of that name exists.
        """
        if name in self._indexers:
            raise ValueError(f"the cache already has an index named {name!r}")
        self._indexers[name] = func
        self._indices[name] = {}
        self._values[name] = {}
        for key, obj in self._items.items():
            self._index(name, key, obj)

    @property
    def indexers(self) -> tuple[str, ...]:
        return tuple(self._indexers)

    def by_index(self, name: str, value: str) -> list[T]:
        """Objects whose index ``name`` produced ``value``.

        Raises:
            KeyError: no index of that name.
        """
        index = self._index_named(name)
        items = self._items
        return [items[key] for key in index.get(value, ())]

    def keys_by_index(self, name: str, value: str) -> list[str]:
        return list(self._index_named(name).get(value, ()))

    def index_values(self, name: str) -> list[str]:
        """The values index ``name`` holds at least one key for."""
        return [v for v, keys in self._index_named(name).items() if keys]

    def _index_named(self, name: str) -> dict[str, set[str]]:
        index = self._indices.get(name)
        if index is None:
            raise KeyError(f"no index named {name!r}; the cache has {sorted(self._indices)}")
        return index

    def list(
        self, *, namespace: str | None = None, label_selector: str | _selector.Selector = ""
    ) -> list[T]:
        """Cached objects, optionally of one namespace and matching a label selector.

        Raises:
            korch.errors.BadRequest: the selector text is not a valid label selector.
        """
        if namespace is None:
            objects = list(self._items.values())
        else:
            objects = self.by_index(NAMESPACE_INDEX, namespace)
        selector = (
            _selector.parse_selector(label_selector)
            if isinstance(label_selector, str)
            else label_selector
        )
        if selector.is_empty():
            return objects
        return [o for o in objects if selector.matches(o.metadata.labels)]  # type: ignore[attr-defined]

    def put(self, key: str, obj: T) -> T | None:
        """Store ``obj`` under ``key``; returns the object it replaces."""
        old = self._items.get(key)
        self._items[key] = obj
        if old is not None:
            self._unindex(key)
        for name in self._indexers:
            self._index(name, key, obj)
        return old

    def delete(self, key: str) -> T | None:
        """Remove ``key``; returns the object it held."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key)
        return old

    def _index(self, name: str, key: str, obj: T) -> None:
        values = tuple(self._indexers[name](obj))
        if not values:
            return
        self._values[name][key] = values
        index = self._indices[name]
        for value in values:
            keys = index.get(value)
            if keys is None:
                index[value] = {key}
            else:
                keys.add(key)

    def _unindex(self, key: str) -> None:
        for name, values_of in self._values.items():
            values = values_of.pop(key, None)
            if values is None:
                continue
            index = self._indices[name]
            for value in values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
