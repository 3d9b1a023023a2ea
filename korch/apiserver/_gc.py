"""The garbage collector: ownerReferences garbage collection, as kube-controller-manager does.

:class:`GarbageCollector` is a controller over any client (``LocalClient`` or a remote
one). It lists and watches every listable, watchable, deletable kind of its registry
(the built-in kinds by default; pass ``resource_types`` for custom resources) and keeps
a small **graph**: for every object its identity (uid, kind, namespace, name), its
ownerReferences, its finalizers and whether it is being deleted, plus an index from an
owner's uid to its dependents' uids.

Work is **level-triggered**: watch events only put uids on a de-duplicating work queue;
:meth:`GarbageCollector.reconcile` looks at the current state of one uid and acts:

* **orphan** — an owner being deleted with the ``orphan`` finalizer: its uid is removed
  from every dependent's ownerReferences, then the finalizer is removed;
* **foreground** — an owner being deleted with the ``foregroundDeletion`` finalizer: each
  dependent is deleted (``Foreground`` if it has ``blockOwnerDeletion: true``, else
  ``Background``); once no dependent with ``blockOwnerDeletion: true`` remains, the
  finalizer is removed, so the API server removes the owner;
* **background** — a dependent with ownerReferences: every owner is looked up by name
  (a live GET) and compared by uid. If every owner is gone (NotFound or another uid), the
  dependent is deleted (``Background``, with a uid precondition). If only some are gone,
  the dangling references are removed. Owners of kinds the collector cannot resolve count
  as present (deleting on uncertainty would lose data).

**Cross-namespace references.** A namespaced owner is looked up in the dependent's
namespace; when the graph knows the owner's uid in another namespace, the reference is
treated as absent and a Warning event ``OwnerRefInvalidNamespace`` is recorded on the
dependent. A cluster-scoped dependent naming a namespaced owner kind gets the same event
and the reference counts as absent, as kube-controller-manager (1.20+) does.

Failures (a Conflict, a transient error) requeue the uid after a back-off on the
injected clock; NotFound while acting means the work is already done.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable
from typing import Any, Final, Protocol

import anyio
import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _meta, _registry

__all__ = ("GarbageCollector",)

logger = logging.getLogger(__name__)

ORPHAN: Final = "orphan"
FOREGROUND: Final = "foregroundDeletion"
_BACKOFF_BASE: Final = 0.05
_BACKOFF_MAX: Final = 30.0


class _Client(Protocol):
    """The part of :class:`korch.client.Client` the collector uses."""

    async def get(self, kind: Any, name: str, *, namespace: str | None = None) -> Any: ...

    async def list(self, kind: Any, *, namespace: str | None = None) -> Any: ...

    async def patch(
        self, kind: Any, name: str, patch: Any, *, namespace: str | None = None, type: Any = ...
    ) -> Any: ...

    async def delete(
        self,
        kind: Any,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        preconditions: _meta.Preconditions | None = None,
    ) -> Any: ...

    def watch(
        self, kind: Any, *, namespace: str | None = None, resource_version: str = ""
    ) -> Any: ...

    async def record_event(
        self, obj: Any, reason: str, message: str, type: str = "Normal"
    ) -> Any: ...


@attrs.frozen
class _Node:
    """What the collector remembers of one object."""

    rt: _registry.ResourceType
    namespace: str
    name: str
    uid: str
    owners: tuple[_meta.OwnerReference, ...]
    finalizers: tuple[str, ...]
    deleting: bool

    @property
    def kind(self) -> tuple[str, str]:
        return (self.rt.api_version, self.rt.kind)


class GarbageCollector:
    """Deletes dependents of deleted owners (see the module docstring).

    Args:
        client: any :class:`korch.client.Client`.
        clock: back-off timers (default: the system clock).
        resource_types: the kinds to watch (default: every built-in kind that can be
            listed, watched and deleted); add custom resources here.
        workers: concurrent reconciles.
    """

    def __init__(
        self,
        client: _Client,
        *,
        clock: clock_module.Clock | None = None,
        resource_types: Iterable[_registry.ResourceType] | None = None,
        workers: int = 4,
    ) -> None:
        self.client = client
        self.clock: clock_module.Clock = clock or clock_module.SystemClock()
        if resource_types is None:
            resource_types = _registry.default_registry()
        self.registry = _registry.Registry()
        for rt in _registry.default_registry():
            self.registry.register(rt, replace=True)
        watched = []
        for rt in resource_types:
            self.registry.register(rt, replace=True)
            if {"list", "watch", "delete"} <= set(rt.verbs):
                watched.append(rt)
        self.watched: tuple[_registry.ResourceType, ...] = tuple(watched)
        self.workers = max(1, workers)
        self._nodes: dict[str, _Node] = {}
        self._dependents: dict[str, set[str]] = collections.defaultdict(set)
        self._queue: dict[str, None] = {}
        self._active: set[str] = set()
        self._wake = anyio.Event()
        self._failures: dict[str, int] = {}
        self._synced_kinds = 0
        self.synced = anyio.Event()
        """Set once every watched kind has been listed (reconciling starts then)."""
        if not self.watched:
            self.synced.set()

    # -- running -----------------------------------------------------------------------

    async def run(self) -> None:
        """Watch every kind and reconcile queued uids until cancelled."""
        async with anyio.create_task_group() as tg:
            for rt in self.watched:
                tg.start_soon(self._inform, rt)
            for _ in range(self.workers):
                tg.start_soon(self._work)

    async def _inform(self, rt: _registry.ResourceType) -> None:
        """List, then watch from the list's resourceVersion; relist when expired."""
        first, failures = True, 0
        while True:
            try:
                listed = await self.client.list((rt.api_version, rt.kind))
            except (errors.NotFound, errors.MethodNotAllowed, errors.Forbidden) as exc:
                # the server does not serve (or let us see) this kind: nothing to collect
                logger.warning("garbage collector cannot list %s: %s", rt.group_resource, exc)
                if first:
                    self._mark_synced()
                return
            except (errors.APIError, errors.StoreError) as exc:
                failures += 1
                delay = min(_BACKOFF_BASE * 2 ** (failures - 1), _BACKOFF_MAX)
                logger.info(
                    "listing %s failed (%s); retrying in %ss", rt.group_resource, exc, delay
                )
                await self.clock.sleep(delay)
                continue
            failures = 0
            seen = set()
            for obj in listed.items:
                seen.add(obj.metadata.uid)
                self._observe(rt, obj)
            for uid, node in list(self._nodes.items()):
                if node.rt == rt and uid not in seen:
                    self._forget(uid)
            if first:
                first = False
                self._mark_synced()
            rv = listed.metadata.resource_version
            try:
                async with self.client.watch(
                    (rt.api_version, rt.kind), resource_version=rv
                ) as events:
                    async for event in events:
                        if event.type == "DELETED":
                            self._forget(event.object.metadata.uid)
                        elif event.type in ("ADDED", "MODIFIED"):
                            self._observe(rt, event.object)
            except errors.Expired:
                continue

    def _mark_synced(self) -> None:
        self._synced_kinds += 1
        if self._synced_kinds >= len(self.watched):
            self.synced.set()

    def _observe(self, rt: _registry.ResourceType, obj: Any) -> None:
        meta = obj.metadata
        node = _Node(
            rt=rt,
            namespace=meta.namespace if rt.namespaced else "",
            name=meta.name,
            uid=meta.uid,
            owners=tuple(meta.owner_references),
            finalizers=tuple(meta.finalizers),
            deleting=meta.deletion_timestamp is not None,
        )
        old = self._nodes.get(node.uid)
        if old == node:
            return
        self._nodes[node.uid] = node
        old_owners = {ref.uid for ref in old.owners} if old else set()
        for ref in node.owners:
            self._dependents[ref.uid].add(node.uid)
        for gone in old_owners - {ref.uid for ref in node.owners}:
            self._dependents[gone].discard(node.uid)
        if node.owners or (node.deleting and {ORPHAN, FOREGROUND} & set(node.finalizers)):
            self.enqueue(node.uid)
        if node.deleting and not (old and old.deleting):
            # owners that are deleting in the foreground wait for this one
            for ref in node.owners:
                self.enqueue(ref.uid)
        if old is None or node.deleting != old.deleting:
            # dependents may have named this uid before it appeared, or now see it go
            for dependent in self._dependents.get(node.uid, ()):
                self.enqueue(dependent)

    def _forget(self, uid: str) -> None:
        node = self._nodes.pop(uid, None)
        if node is None:
            return
        for ref in node.owners:
            self._dependents[ref.uid].discard(uid)
            self.enqueue(ref.uid)
        for dependent in self._dependents.get(uid, ()):
            self.enqueue(dependent)

    def enqueue(self, uid: str) -> None:
        """Queue ``uid`` for a reconcile (a uid already queued is queued once)."""
        self._queue[uid] = None
        self._wake.set()

    async def _work(self) -> None:
        # acting on a partial graph would miss dependents (kube's GC waits for sync too)
        await self.synced.wait()
        while True:
            uid = next((u for u in self._queue if u not in self._active), None)
            if uid is None:
                self._wake = anyio.Event() if self._wake.is_set() else self._wake
                await self._wake.wait()
                continue
            del self._queue[uid]
            self._active.add(uid)
            try:
                await self.reconcile(uid)
            except (errors.APIError, errors.StoreError) as exc:
                failures = self._failures[uid] = self._failures.get(uid, 0) + 1
                delay = min(_BACKOFF_BASE * 2 ** (failures - 1), _BACKOFF_MAX)
                logger.info(
                    "garbage collection of %s failed (%s); retrying in %ss", uid, exc, delay
                )
                self._active.discard(uid)
                await self.clock.sleep(delay)
                self.enqueue(uid)
                continue
            self._failures.pop(uid, None)
            self._active.discard(uid)
            if uid in self._queue:
                self._wake.set()

    # -- reconciling -------------------------------------------------------------------

    async def reconcile(self, uid: str) -> None:
        """Bring one object's garbage-collection state to its goal (module docstring).

        Raises:
            korch.errors.APIError: a request failed (the caller retries).
        """
        node = self._nodes.get(uid)
        if node is None:
            return
        if node.deleting and ORPHAN in node.finalizers:
            await self._orphan_dependents(node)
            return
        if node.deleting and FOREGROUND in node.finalizers:
            await self._delete_dependents(node)
            return
        if node.owners and not node.deleting:
            await self._check_owners(node)

    async def _orphan_dependents(self, owner: _Node) -> None:
        for dep_uid in sorted(self._dependents.get(owner.uid, ())):
            dep = self._nodes.get(dep_uid)
            if dep is None:
                continue
            await self._remove_references(dep, {owner.uid})
        await self._remove_finalizer(owner, ORPHAN)

    async def _delete_dependents(self, owner: _Node) -> None:
        blocking = False
        for dep_uid in sorted(self._dependents.get(owner.uid, ())):
            dep = self._nodes.get(dep_uid)
            if dep is None:
                continue
            ref = next((r for r in dep.owners if r.uid == owner.uid), None)
            if ref is None:
                continue
            blocks = bool(ref.block_owner_deletion)
            blocking = blocking or blocks
            if not dep.deleting:
                policy = "Foreground" if blocks else "Background"
                await self._delete(dep, policy)
        if not blocking:
            await self._remove_finalizer(owner, FOREGROUND)

    async def _check_owners(self, node: _Node) -> None:
        dangling: set[str] = set()
        waiting: list[_meta.OwnerReference] = []
        solid = False
        for ref in node.owners:
            owner = await self._lookup_owner(node, ref)
            if owner is None:
                dangling.add(ref.uid)
            elif owner.metadata.deletion_timestamp is not None and FOREGROUND in (
                owner.metadata.finalizers
            ):
                waiting.append(ref)
            else:
                solid = True
        if solid:
            if dangling or waiting:
                await self._remove_references(node, dangling | {r.uid for r in waiting})
            return
        if waiting:
            blocks = any(r.block_owner_deletion for r in waiting)
            has_dependents = bool(self._dependents.get(node.uid))
            await self._delete(node, "Foreground" if blocks and has_dependents else "Background")
            return
        await self._delete(node, "Background")

    async def _lookup_owner(self, node: _Node, ref: _meta.OwnerReference) -> Any:
        """The live owner ``ref`` names, or ``None`` when absent (or invalid)."""
        owner_rt = self.registry.get(ref.api_version, ref.kind)
        if owner_rt is None:
            # unknown kind: cannot tell it is gone, so it counts as present
            return _PRESENT
        namespace = node.namespace if owner_rt.namespaced else ""
        if owner_rt.namespaced and not node.rt.namespaced:
            await self._invalid_namespace(
                node,
                ref,
                f"ownerRef [{ref.api_version}/{ref.kind}, namespace: , name: {ref.name}, uid: "
                f'{ref.uid}] does not exist in namespace ""',
            )
            return None
        try:
            owner = await self.client.get((owner_rt.api_version, owner_rt.kind), ref.name,
                                          namespace=namespace)  # fmt: skip
        except errors.NotFound:
            owner = None
        if owner is not None and owner.metadata.uid == ref.uid:
            return owner
        known = self._nodes.get(ref.uid)
        if owner_rt.namespaced and known is not None and known.namespace != node.namespace:
            await self._invalid_namespace(
                node,
                ref,
                f"ownerRef [{ref.api_version}/{ref.kind}, namespace: {node.namespace}, name: "
                f'{ref.name}, uid: {ref.uid}] does not exist in namespace "{node.namespace}"',
            )
        return None

    async def _invalid_namespace(self, node: _Node, ref: _meta.OwnerReference, text: str) -> None:
        try:
            obj = await self.client.get(node.kind, node.name, namespace=node.namespace)
            await self.client.record_event(obj, "OwnerRefInvalidNamespace", text, "Warning")
        except errors.NotFound:
            return

    # -- writes ------------------------------------------------------------------------

    async def _delete(self, node: _Node, policy: str | None) -> None:
        try:
            await self.client.delete(
                node.kind,
                node.name,
                namespace=node.namespace,
                propagation_policy=policy,
                preconditions=_meta.Preconditions(uid=node.uid),
            )
        except errors.NotFound:
            return
        except errors.Conflict:
            # the uid precondition failed: the object was replaced, nothing to collect
            if (current := await self._current(node)) is None or current.metadata.uid == node.uid:
                raise
            return

    async def _current(self, node: _Node) -> Any:
        try:
            return await self.client.get(node.kind, node.name, namespace=node.namespace)
        except errors.NotFound:
            return None

    async def _remove_references(self, node: _Node, uids: set[str]) -> None:
        """Drop the ownerReferences with these uids (a JSON patch guarded by a test)."""
        current = await self._current(node)
        if current is None or current.metadata.uid != node.uid:
            return
        refs = list(current.metadata.owner_references)
        ops: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/uid", "value": node.uid},
            {"op": "test", "path": "/metadata/resourceVersion",
             "value": current.metadata.resource_version},
        ]  # fmt: skip
        for index in reversed(range(len(refs))):
            if refs[index].uid in uids:
                ops.append({"op": "remove", "path": f"/metadata/ownerReferences/{index}"})
        if len(ops) == 2:
            return
        await self._patch(node, ops)

    async def _remove_finalizer(self, node: _Node, finalizer: str) -> None:
        current = await self._current(node)
        if current is None or current.metadata.uid != node.uid:
            return
        finalizers = list(current.metadata.finalizers)
        if finalizer not in finalizers:
            return
        ops: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/uid", "value": node.uid},
            {"op": "test", "path": "/metadata/resourceVersion",
             "value": current.metadata.resource_version},
            {"op": "remove", "path": f"/metadata/finalizers/{finalizers.index(finalizer)}"},
        ]  # fmt: skip
        await self._patch(node, ops)

    async def _patch(self, node: _Node, ops: list[dict[str, Any]]) -> None:
        try:
            await self.client.patch(node.kind, node.name, ops, namespace=node.namespace,
                                    type="json")  # fmt: skip
        except errors.NotFound:
            return


class _Present:
    """Stands for an owner that cannot be resolved (counts as present)."""

    metadata = _meta.ObjectMeta()


_PRESENT: Final = _Present()
