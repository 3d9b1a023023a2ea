"""Deletes: ``delete`` and ``delete_collection``, with finalizers and graceful deletion.

kube-apiserver's rules (``registry/generic/registry/store.go`` and ``rest/delete.go``):

* **preconditions** — ``uid`` and ``resourceVersion`` must match the stored object, else
  409 Conflict (``the UID in the precondition (…) does not match the UID in record (…)``);
* **propagation policy** — ``Orphan`` adds the ``orphan`` finalizer, ``Foreground`` the
  ``foregroundDeletion`` finalizer, ``Background`` (the default) neither; the garbage
  collector acts on them. Without a policy, finalizers already present decide;
* **finalizers** — an object with finalizers is not removed: ``deletionTimestamp`` is set
  (once: ``generation`` bumps then) with ``deletionGracePeriodSeconds: 0``; it is removed
  by the update that takes its last finalizer away;
* **graceful deletion** (Pods) — ``deletionTimestamp = now + grace`` and
  ``deletionGracePeriodSeconds = grace`` are stored and the node finishes the deletion (by
  deleting again with grace 0); grace 0 (or a pod on no node, or finished) deletes at once.
  A later delete may only shorten the grace period;
* **namespaces** — the first delete marks the namespace Terminating; it is removed once
  its ``spec.finalizers`` (the namespace controller's ``kubernetes``) are gone;
  ``default``, ``kube-system`` and ``kube-public`` cannot be deleted.

``delete`` returns the object's last state: as stored with ``deletionTimestamp`` when the
deletion is pending, or as it was before removal.
"""

from __future__ import annotations

import datetime
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _codec, _meta, _registry
from korch.apiserver import _objects, _reads, _status, _types, _writes

__all__ = ("Deletes",)

ORPHAN: Final = "orphan"
FOREGROUND: Final = "foregroundDeletion"
POLICIES: Final = ("Foreground", "Background", "Orphan")
IMMORTAL_NAMESPACES: Final = ("default", "kube-system", "kube-public")
_RETRY: Final = object()


def deletion_finalizers(finalizers: list[str], policy: str | None) -> list[str]:
    """The finalizers after a delete with propagation ``policy`` (kube-apiserver's
    ``deletionFinalizersForGarbageCollection``)."""
    if policy is not None:
        orphan, foreground = policy == "Orphan", policy == "Foreground"
    else:
        orphan, foreground = ORPHAN in finalizers, FOREGROUND in finalizers
    kept = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    return kept + ([ORPHAN] if orphan else []) + ([FOREGROUND] if foreground else [])


class Deletes(_writes.Writes, _reads.Reads):
    """``delete`` and ``delete_collection``."""

    async def delete(
        self,
        kind: _types.KindRef,
        name: str,
        *,
        namespace: str = "",
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: _meta.Preconditions | None = None,
        dry_run: bool = False,
        user: _types.UserInfo | None = None,
    ) -> Any:
        """Delete an object (see the module docstring).

        Args:
            kind: the resource type.
            name: the object's name.
            namespace: its namespace.
            grace_period_seconds: for pods: seconds the node has to stop it (default the
                pod's ``terminationGracePeriodSeconds``); 0 deletes at once.
            propagation_policy: ``"Orphan"``, ``"Background"`` or ``"Foreground"``.
            preconditions: ``uid`` and/or ``resource_version`` the object must have.
            dry_run: compute the outcome, change nothing.
            user: who asks.

        Returns:
            The object's last state (with ``deletionTimestamp`` if removal is pending).

        Raises:
            korch.errors.NotFound: no such object.
            korch.errors.Conflict: a precondition failed.
            korch.errors.Forbidden: an immortal namespace, or admission refused.
            korch.errors.Invalid: an unknown propagation policy.
        """
        rt = self.resource_type(kind)
        namespace = self.namespace_for(rt, namespace)
        self.check_name(name)
        if propagation_policy is not None and propagation_policy not in POLICIES:
            cause = errors.Cause(
                "propagationPolicy",
                f'Unsupported value: "{propagation_policy}": supported values: "Foreground", '
                '"Background", "Orphan"',
                "FieldValueNotSupported",
            )
            raise errors.Invalid('DeleteOptions.meta.k8s.io "" is invalid', [cause])
        await self.ensure_bootstrapped()
        await self.authorize(user, "delete", rt, namespace, name)
        is_namespace = rt.group == "" and rt.kind == "Namespace"
        if is_namespace and name in IMMORTAL_NAMESPACES:
            raise _status.forbidden(rt, name, "this namespace may not be deleted")
        grace = grace_period_seconds
        if grace is not None and grace < 0:
            grace = 1
        while True:
            old = await self.read_existing(rt, namespace, name)
            self._check_preconditions(rt, old, preconditions)
            if self.admission.validating:
                await self.admission.validate(
                    self._attributes("DELETE", rt, None, old.obj, dry_run=dry_run, user=user)
                )
            if is_namespace:
                outcome = await self._terminate_namespace(rt, old, propagation_policy, dry_run)
            else:
                outcome = await self._delete_once(rt, old, grace, propagation_policy, dry_run)
            if outcome is not _RETRY:
                return outcome

    @staticmethod
    def _check_preconditions(
        rt: _registry.ResourceType,
        old: _objects.Stored,
        preconditions: _meta.Preconditions | None,
    ) -> None:
        if preconditions is None:
            return
        meta = old.obj.metadata
        if preconditions.uid is not None and preconditions.uid != meta.uid:
            raise _status.conflict(
                rt,
                meta.name,
                f"the UID in the precondition ({preconditions.uid}) does not match the UID in "
                f"record ({meta.uid}). The object might have been deleted and then recreated",
                by_kind=True,
            )
        wanted = preconditions.resource_version
        if wanted is not None and wanted != meta.resource_version:
            raise _status.conflict(
                rt,
                meta.name,
                f"the ResourceVersion in the precondition ({wanted}) does not match the "
                f"ResourceVersion in record ({meta.resource_version}). The object might have "
                "been modified",
                by_kind=True,
            )

    async def _store_deletion_state(
        self, rt: _registry.ResourceType, old: _objects.Stored, new: Any, dry_run: bool
    ) -> _objects.Stored | None:
        """Store ``new`` (deletion metadata changed) over ``old``, managedFields untouched."""
        old_wire = _codec.to_dict(old.obj)
        managed = list(old_wire.get("metadata", {}).get("managedFields") or [])
        wire = self.finish(new, old_wire, manager="", managed=managed)
        if dry_run:
            return self.dry_result(rt, old.key, wire, old.revision)
        return await self.put_over(rt, old, wire)

    async def _delete_once(
        self,
        rt: _registry.ResourceType,
        old: _objects.Stored,
        grace: int | None,
        policy: str | None,
        dry_run: bool,
    ) -> Any:
        strategy = self.strategy(rt)
        obj = old.obj
        meta = obj.metadata
        graceful, last_grace = False, 0
        if strategy.graceful_delete is not None:
            current = meta.deletion_grace_period_seconds
            if meta.deletion_timestamp is None:
                last_grace = strategy.graceful_delete(obj, grace)
                meta = attrs.evolve(
                    meta,
                    deletion_timestamp=self.now() + datetime.timedelta(seconds=last_grace),
                    deletion_grace_period_seconds=last_grace,
                    generation=meta.generation + 1 if meta.generation > 0 else 0,
                )
                graceful = True
            elif current:  # already being deleted gracefully: only shortening is allowed
                if grace is None or grace >= current:
                    return obj
                assert meta.deletion_timestamp is not None
                shifted = meta.deletion_timestamp + datetime.timedelta(seconds=grace - current)
                meta = attrs.evolve(
                    meta, deletion_timestamp=shifted, deletion_grace_period_seconds=grace
                )
                graceful, last_grace = True, grace
        finalizers = deletion_finalizers(meta.finalizers, policy)
        changed = set(finalizers) != set(meta.finalizers)
        if not (graceful or meta.finalizers or changed):
            return await self._remove_now(old, dry_run)
        meta = attrs.evolve(meta, finalizers=finalizers)
        if not graceful:
            if not finalizers:
                return await self._remove_now(old, dry_run)
            meta = self._mark_deleting(meta)
        new = attrs.evolve(obj, metadata=meta)
        if new == obj:
            return obj
        stored = await self._store_deletion_state(rt, old, new, dry_run)
        if stored is None:
            return _RETRY
        if finalizers or last_grace > 0:
            return stored.obj
        return await self._remove_now(stored, dry_run)

    def _mark_deleting(self, meta: _meta.ObjectMeta) -> _meta.ObjectMeta:
        """Deletion pending on finalizers (kube-apiserver's ``markAsDeleting``)."""
        now = self.now()
        generation = meta.generation
        if meta.deletion_timestamp is None and generation > 0:
            generation += 1
        timestamp = meta.deletion_timestamp
        if timestamp is None or timestamp > now:
            timestamp = now
        return attrs.evolve(
            meta,
            generation=generation,
            deletion_timestamp=timestamp,
            deletion_grace_period_seconds=0,
        )

    async def _remove_now(self, old: _objects.Stored, dry_run: bool) -> Any:
        if dry_run:
            return old.obj
        if await self.remove(old) is None:
            return _RETRY
        return old.obj

    async def _terminate_namespace(
        self,
        rt: _registry.ResourceType,
        old: _objects.Stored,
        policy: str | None,
        dry_run: bool,
    ) -> Any:
        ns = old.obj
        if ns.metadata.deletion_timestamp is None:
            meta = attrs.evolve(
                ns.metadata,
                deletion_timestamp=self.now(),
                finalizers=deletion_finalizers(ns.metadata.finalizers, policy),
            )
            status = attrs.evolve(ns.status, phase="Terminating")
            stored = await self._store_deletion_state(
                rt, old, attrs.evolve(ns, metadata=meta, status=status), dry_run
            )
            if stored is None:
                return _RETRY
            old, ns = stored, stored.obj
        if ns.spec.finalizers or dry_run:
            return ns
        return await self._delete_once(rt, old, None, policy, dry_run)

    async def delete_collection(
        self,
        kind: _types.KindRef,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
        user: _types.UserInfo | None = None,
    ) -> _types.ObjectList[Any]:
        """Delete every selected object (one by one, as kube-apiserver does).

        Returns:
            The deleted objects' last states (objects deleted meanwhile are skipped).

        Raises:
            korch.errors.BadRequest: a bad selector.
        """
        rt = self.resource_type(kind)
        await self.ensure_bootstrapped()
        await self.authorize(user, "deletecollection", rt, namespace if rt.namespaced else "")
        selection = _objects.selection_for(rt, namespace, label_selector, field_selector)
        listed = await self.list(
            rt, namespace=selection.namespace, label_selector=label_selector,
            field_selector=field_selector, user=user,
        )  # fmt: skip
        deleted = []
        for item in listed.items:
            try:
                deleted.append(
                    await self.delete(
                        rt,
                        item.metadata.name,
                        namespace=item.metadata.namespace,
                        grace_period_seconds=grace_period_seconds,
                        propagation_policy=propagation_policy,
                        dry_run=dry_run,
                        user=user,
                    )
                )
            except errors.NotFound:
                continue
        return attrs.evolve(listed, items=deleted)
