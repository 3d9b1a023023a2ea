"""Reads: ``get`` and ``list``, with kube-apiserver's resourceVersion semantics.

=====================  ==================================================================
``resource_version``   served from
=====================  ==================================================================
``""`` (unset)         the store at its current revision: a linearizable ("quorum") read
``"0"``                the watch cache when the server runs (any recent state), else the
                       store; ``list`` with a ``limit`` always reads the store
``"<rv>"``             get: not older than rv (cache if it is current to rv, else store);
                       list: ``resourceVersionMatch=NotOlderThan`` (the default) likewise,
                       ``Exact``: the store at exactly rv (410 Expired once compacted)
=====================  ==================================================================

Paged lists (``limit``) return ``metadata.continue_``; the token carries the revision of
the first page and the next key, so the following pages read the same snapshot. A token
whose revision has been compacted fails with 410 Expired (kube-apiserver's message). With
selectors, ``limit`` counts selected objects: the server reads on until it has ``limit``
of them or the keys run out. Without selectors ``remaining_item_count`` is set.

Objects are decoded once per version (the watch cache's copies are reused), and a list
from the store tests selectors on the raw JSON first, so it decodes only what it returns.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias

from korch import errors
from korch.api import _meta, _registry
from korch.apiserver import _core, _keys, _objects, _status, _types
from korch.store import _types as store_types

__all__ = ("Reads",)

_CHUNK: Final = 500
_Items: TypeAlias = list[_objects.Stored]
_Page: TypeAlias = tuple[_Items, int, str, int | None]
_CONTINUE_EXPIRED: Final = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


def _list_options_invalid(field: str, detail: str) -> errors.Invalid:
    cause = errors.Cause(field, f"Forbidden: {detail}", "FieldValueForbidden")
    return errors.Invalid('ListOptions.meta.k8s.io "" is invalid', [cause])


class Reads(_core.ServerCore):
    """``get`` and ``list``."""

    async def get(
        self,
        kind: _types.KindRef,
        name: str,
        *,
        namespace: str = "",
        resource_version: str = "",
        user: _types.UserInfo | None = None,
    ) -> Any:
        """One object by name.

        Args:
            kind: the resource type (class, ``(apiVersion, kind)`` or ResourceType).
            name: the object's name.
            namespace: its namespace (namespaced kinds).
            resource_version: ``""`` for the latest (quorum read), ``"0"`` for any cached
                state, ``"<rv>"`` for a state not older than rv.
            user: who asks (for the authorizer).

        Raises:
            korch.errors.NotFound: ``pods "web" not found``.
            korch.errors.Timeout: ``resource_version`` is newer than the store.
        """
        rt = self.resource_type(kind)
        namespace = self.namespace_for(rt, namespace)
        self.check_name(name)
        await self.ensure_bootstrapped()
        await self.authorize(user, "get", rt, namespace, name)
        if resource_version:
            revision = _keys.parse_resource_version(resource_version)
            cache = await self.running_cache(rt)
            if revision > 0:
                await self._check_not_future(revision)
            if cache is not None and cache.revision >= revision:
                stored = cache.objects.get(_keys.object_key(rt, namespace, name))
                if stored is None:
                    raise _status.not_found(rt, name)
                return stored.obj
        return (await self.read_existing(rt, namespace, name)).obj

    async def list(
        self,
        kind: _types.KindRef,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
        user: _types.UserInfo | None = None,
    ) -> _types.ObjectList[Any]:
        """Objects of one kind, in key (namespace, name) order.

        Args:
            kind: the resource type.
            namespace: one namespace, or ``""`` for all.
            label_selector: e.g. ``app=web,tier in (fe,be),!canary``.
            field_selector: e.g. ``spec.nodeName=n1,status.phase!=Failed``.
            limit: page size (0: everything).
            continue_: the token of the previous page.
            resource_version: see the module docstring.
            resource_version_match: ``""``, ``"NotOlderThan"`` or ``"Exact"``.
            user: who asks.

        Returns:
            An :class:`~korch.apiserver.ObjectList` (``items``, ``metadata.resource_version``,
            ``metadata.continue_``).

        Raises:
            korch.errors.BadRequest: a bad selector, continue token or resourceVersion.
            korch.errors.Invalid: contradictory list options (as kube-apiserver checks them).
            korch.errors.Expired: a continue token or Exact revision that was compacted.
        """
        rt = self.resource_type(kind)
        await self.ensure_bootstrapped()
        await self.authorize(user, "list", rt, namespace if rt.namespaced else "")
        selection = _objects.selection_for(
            rt,
            namespace,
            label_selector,
            field_selector,
            extra_fields=self.strategy(rt).selectable_fields,
        )
        self._check_list_options(limit, continue_, resource_version, resource_version_match)
        revision = _keys.parse_resource_version(resource_version)
        prefix = _keys.namespace_prefix(rt, selection.namespace)
        if continue_:
            at, start = _keys.decode_continue(continue_)
            return await self._list_store(rt, selection, prefix, prefix + start, at, limit, True)
        if resource_version_match == "Exact":
            return await self._list_store(rt, selection, prefix, prefix, revision, limit, False)
        if resource_version and not limit:
            cache = await self.running_cache(rt)
            if cache is not None:
                if revision > 0:
                    await self._check_not_future(revision)
                    await cache.wait_for_revision(revision)
                items = cache.snapshot(selection)
                return self._object_list(rt, items, cache.revision, "", None)
        if revision > 0:
            await self._check_not_future(revision)
        return await self._list_store(rt, selection, prefix, prefix, 0, limit, False)

    @staticmethod
    def _check_list_options(limit: int, continue_: str, rv: str, match: str) -> None:
        if not isinstance(limit, int) or limit < 0:
            raise errors.BadRequest(f"limit must be a non-negative integer, got {limit!r}")
        if match not in ("", "Exact", "NotOlderThan"):
            cause = errors.Cause(
                "resourceVersionMatch",
                f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan", ""',
                "FieldValueNotSupported",
            )
            raise errors.Invalid('ListOptions.meta.k8s.io "" is invalid', [cause])
        if match and not rv:
            raise _list_options_invalid(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            )
        if match and continue_:
            raise _list_options_invalid(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided",
            )
        if match == "Exact" and rv == "0":
            raise _list_options_invalid(
                "resourceVersionMatch",
                'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
            )
        if continue_ and rv not in ("", "0"):
            raise _list_options_invalid(
                "resourceVersion", "specifying resource version is not allowed when using continue"
            )

    async def _check_not_future(self, revision: int) -> None:
        current = await self.store.current_revision()
        if revision > current:
            raise errors.Timeout(f"Too large resource version: {revision}, current: {current}")

    def _select(
        self, rt: _registry.ResourceType, kv: store_types.KeyValue, selection: _objects.Selection
    ) -> _objects.Stored | None:
        cache = self.cache(rt)
        hit = cache.lookup(kv.key, kv.mod_revision) if cache is not None else None
        if hit is not None:
            return hit if selection.matches(hit) else None
        wire = _keys.decode(kv.value, kv.mod_revision)
        if not selection.everything and not selection.matches_wire(rt.kind, wire):
            return None
        try:
            return _objects.stored_from_wire(rt, kv.key, wire, kv.mod_revision, self.registry)
        except errors.BadRequest as exc:
            raise errors.InternalError(f"stored object {kv.key!r} does not decode: {exc}") from exc

    async def _list_store(
        self,
        rt: _registry.ResourceType,
        selection: _objects.Selection,
        prefix: bytes,
        start: bytes,
        revision: int,
        limit: int,
        continuing: bool,
    ) -> _types.ObjectList[Any]:
        page = await self.collect_store(rt, selection, prefix, start, revision, limit, continuing)
        return self._object_list(rt, *page)

    async def collect_store(
        self,
        rt: _registry.ResourceType,
        selection: _objects.Selection,
        prefix: bytes,
        start: bytes,
        revision: int = 0,
        limit: int = 0,
        continuing: bool = False,
    ) -> _Page:
        """Read selected objects from the store: ``(items, revision, continue, remaining)``.

        Keys from ``start`` to the end of ``prefix`` are read at ``revision`` (0: current)
        in chunks until ``limit`` objects are selected (0: all).
        """
        end = store_types.prefix_end(prefix)
        chunk = 0 if not limit else (limit if selection.everything else max(limit, _CHUNK))
        items: _Items = []
        key = start
        while True:
            try:
                result = await self.store.range(key, end, limit=chunk, revision=revision)
            except errors.Compacted as exc:
                if continuing:
                    current = await self.store.current_revision()
                    fresh = _keys.encode_continue(current, key[len(prefix) :])
                    raise errors.Expired(_CONTINUE_EXPIRED, details={"continue": fresh}) from exc
                raise _status.expired(revision, exc.compact_revision) from exc
            except errors.FutureRevision as exc:
                raise errors.Timeout(
                    f"Too large resource version: {exc.requested}, current: {exc.current}"
                ) from exc
            revision = revision or result.revision
            for index, kv in enumerate(result.kvs):
                stored = self._select(rt, kv, selection)
                if stored is None:
                    continue
                items.append(stored)
                if limit and len(items) == limit:
                    token, remaining = "", None
                    if index + 1 < len(result.kvs) or result.more:
                        token = _keys.encode_continue(revision, kv.key[len(prefix) :] + b"\x00")
                        if selection.everything:
                            remaining = result.count - index - 1
                    return items, revision, token, remaining
            if not result.more or not result.kvs:
                return items, revision, "", None
            key = result.kvs[-1].key + b"\x00"

    @staticmethod
    def _object_list(
        rt: _registry.ResourceType,
        items: _Items,
        revision: int,
        token: str,
        remaining: int | None,
    ) -> _types.ObjectList[Any]:
        metadata = _meta.ListMeta(
            resource_version=str(revision), continue_=token, remaining_item_count=remaining
        )
        return _types.ObjectList(
            api_version=rt.api_version,
            kind=rt.list_kind,
            metadata=metadata,
            items=[s.obj for s in items],
        )
