"""The reconcile context: what a reconciler sees and the writes it makes through it.

A reconcile receives a :class:`Context` for one key. ``ctx.object`` is the cached object
(``None`` once it is gone) — the key is the only input, never an event type. Through the
context a reconcile:

* reads the caches of the controller's kinds (:meth:`Context.get`, :meth:`Context.list`);
* writes children with server-side apply (:meth:`Context.apply`: owner reference set,
  skipped when the cached child already has every field);
* edits ``ctx.status`` (a wire-format dict) and ``ctx.conditions``: the edits are collected
  and written **once**, after the reconcile, only if they change something; a 409 Conflict
  re-reads the object and re-applies the edits (up to 5 times);
* guards cleanup with ``async with ctx.finalizer("example.com/cleanup") as deleting:``;
* records Events (:meth:`Context.event`);
* writes anything else through ``ctx.client`` (a :class:`korch.client.Client`).

Every write's resourceVersion is remembered: before the next reconcile of the same key the
controller waits (bounded) until its caches have seen those versions — read-your-own-writes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs

from korch import errors
from korch.api import _codec, _meta, _selector
from korch.client import _protocol
from korch.controllers import _cache, _kinds, _status

if TYPE_CHECKING:
    from korch.controllers._controller import Controller

__all__ = ("Conditions", "Context")

T = TypeVar("T")
log = logging.getLogger("korch.controllers")

_CONFLICT_RETRIES = 5
_WRITES = frozenset(("create", "update", "update_status", "patch", "patch_status", "delete"))


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars); faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _status_of(obj: Any) -> dict[str, Any]:
    body = getattr(obj, "body", None)
    if isinstance(body, dict):
        status = body.get("status")
        return _copy(status) if isinstance(status, dict) else {}
    if getattr(obj, "status", None) is None:
        return {}
    status = _codec.to_dict(obj).get("status")
    return status if isinstance(status, dict) else {}


class _TrackingClient:
    """The controller's client, remembering the resourceVersion of every write."""

    def __init__(self, client: _protocol.Client, context: Context) -> None:
        self._client = client
        self._context = context

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in _WRITES:
            return attribute

        async def write(*args: Any, **kwargs: Any) -> Any:
            result = await attribute(*args, **kwargs)
            self._context._record(result)
            return result

        return write


class Conditions:
    """``ctx.conditions``: read and set ``status.conditions`` (``metav1.Condition``)."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def _list(self) -> list[dict[str, Any]]:
        conditions = self._context.status.get("conditions")
        return conditions if isinstance(conditions, list) else []

    def get(self, type: str) -> dict[str, Any] | None:
        """The condition of ``type`` (as a wire dict), or ``None``."""
        return _status.find_condition(self._list(), type)

    def is_true(self, type: str) -> bool:
        found = self.get(type)
        return found is not None and found.get("status") == "True"

    def set(self, type: str, status: bool | str, reason: str, message: str = "") -> None:
        """Set condition ``type``; written after the reconcile if anything changed.

        ``lastTransitionTime`` moves only when ``status`` changes; ``observedGeneration`` is
        the object's generation.

        Raises:
            ValueError: ``status`` is not True/False/"Unknown", or ``reason`` is empty.
        """
        text = ("True" if status else "False") if isinstance(status, bool) else status
        if text not in _status.CONDITION_STATUSES:
            raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
        if not type or not reason:
            raise ValueError("a condition needs a type and a reason (CamelCase, e.g. 'Ready')")
        context = self._context
        generation = context.object.metadata.generation if context.object is not None else 0
        op = {
            "type": type,
            "status": text,
            "reason": reason,
            "message": message,
            "observed_generation": generation,
            "now": _status.rfc3339(context.clock.time()),
        }
        context._condition_ops.append(op)
        context.status["conditions"] = _status.apply_condition(self._list(), op)


class Context:
    """One reconcile of one key (see the module docstring)."""

    def __init__(self, controller: Controller, key: str, obj: Any) -> None:
        self.key = key
        self.namespace, self.name = _cache.split_key(key)
        self.object: Any = obj
        self.controller = controller
        self.clock = controller.clock
        self.field_manager = controller.field_manager
        self.log = log
        self.client = cast(_protocol.Client, _TrackingClient(controller.client, self))
        self._snapshot: dict[str, Any] | None = None
        self._status: dict[str, Any] | None = None
        self.conditions = Conditions(self)
        self._condition_ops: list[dict[str, Any]] = []
        self._written: dict[tuple[str, str], int] = {}

    # -- reading --------------------------------------------------------------------------

    @property
    def status(self) -> dict[str, Any]:
        """The object's ``status`` as a wire-format dict to edit; edits are written once
        after the reconcile (copied from the object on first use)."""
        if self._status is None:
            obj = self.object
            self._snapshot = _status_of(obj) if obj is not None else {}
            self._status = _copy(self._snapshot)
        return self._status

    @property
    def deleting(self) -> bool:
        """The object is gone or has a deletionTimestamp."""
        return self.object is None or self.object.metadata.deletion_timestamp is not None

    def get(
        self, kind: type[T] | _protocol.GenericKind, name: str, *, namespace: str | None = None
    ) -> T | None:
        """A cached object of a kind the controller watches (``None`` if not cached).

        ``namespace`` defaults to the reconciled object's.

        Raises:
            LookupError: the controller has no informer for ``kind``.
        """
        informer = self.controller.informer_for(kind)
        ns = self.namespace if namespace is None else namespace
        found: T | None = informer.get(f"{ns}/{name}" if ns else name)
        return found

    def list(
        self,
        kind: type[T] | _protocol.GenericKind,
        *,
        namespace: str | None = None,
        label_selector: str | _selector.Selector = "",
    ) -> list[T]:
        """Cached objects of a watched kind (``namespace`` defaults to the object's; ``""``
        for all namespaces).

        Raises:
            LookupError: the controller has no informer for ``kind``.
        """
        informer = self.controller.informer_for(kind)
        ns = self.namespace if namespace is None else namespace
        return informer.list(namespace=ns or None, label_selector=label_selector)

    # -- writing --------------------------------------------------------------------------

    def _record(self, result: Any) -> None:
        metadata = getattr(result, "metadata", None)
        text = getattr(metadata, "resource_version", "") if metadata is not None else ""
        if not text or not text.isdigit():
            return
        pair = (getattr(result, "api_version", ""), getattr(result, "kind", ""))
        self._written[pair] = max(self._written.get(pair, 0), int(text))
        current = self.object
        if (
            current is not None
            and pair == (current.api_version, current.kind)
            and result.metadata.uid == current.metadata.uid
        ):
            self.object = result

    async def apply(self, child: T, *, force: bool = True, owned: bool = True) -> T:
        """Server-side apply ``child`` as this controller's field manager.

        With ``owned`` (default) the child gets a controller owner reference to the object
        (and the object's namespace when it has none). If the cached child already has every
        field ``child`` sets, nothing is written and the cached child is returned.

        Raises:
            korch.errors.Conflict: another manager owns a field (only with ``force=False``).
            korch.errors.APIError: the write failed.
        """
        owner = self.object
        if owned and owner is not None:
            child = self._owned(child, owner)
        desired = _codec.to_dict(child)
        metadata = desired.get("metadata", {})
        for field in ("resourceVersion", "managedFields", "uid", "creationTimestamp"):
            metadata.pop(field, None)
        name = metadata.get("name", "")
        namespace = metadata.get("namespace", "")
        informer = self.controller.informer_or_none(_kinds.kind_arg(child))
        if informer is not None:
            cached = informer.get(f"{namespace}/{name}" if namespace else name)
            if cached is not None and _status.is_subset(desired, _codec.to_dict(cached)):
                return cast(T, cached)
        result: Any = await self.client.patch(
            _kinds.kind_arg(child),
            name,
            desired,
            namespace=namespace or None,
            type="apply",
            field_manager=self.field_manager,
            force=force,
        )
        return cast(T, result)

    @staticmethod
    def _owned(child: T, owner: Any) -> T:
        meta = child.metadata  # type: ignore[attr-defined]
        reference = _meta.OwnerReference(
            api_version=owner.api_version,
            kind=owner.kind,
            name=owner.metadata.name,
            uid=owner.metadata.uid,
            controller=True,
            block_owner_deletion=True,
        )
        references = [r for r in meta.owner_references if r.uid != owner.metadata.uid]
        references.append(reference)
        namespace = meta.namespace or owner.metadata.namespace
        meta = attrs.evolve(meta, owner_references=references, namespace=namespace)
        return attrs.evolve(child, metadata=meta)  # type: ignore[misc]

    async def event(self, reason: str, message: str, type: str = "Normal") -> None:
        """Record a core/v1 Event about the object (nothing if it is gone)."""
        if self.object is not None:
            await self.controller.client.record_event(self.object, reason, message, type)

    @contextlib.asynccontextmanager
    async def finalizer(self, name: str) -> AsyncIterator[bool]:
        """``async with ctx.finalizer("example.com/cleanup") as deleting:``

        On entry the finalizer is added to a live object that lacks it. The block gets
        ``deleting`` — the object has a deletionTimestamp — and should clean up then; when
        it finishes without an exception the finalizer is removed, and Kubernetes deletes
        the object. If it raises, the finalizer stays and the reconcile is retried.
        """
        obj = self.object
        if obj is None:
            yield True
            return
        deleting = obj.metadata.deletion_timestamp is not None
        if not deleting and name not in obj.metadata.finalizers:
            await self._change_finalizers(name, add=True)
        yield deleting
        if deleting and self.object is not None and name in self.object.metadata.finalizers:
            await self._change_finalizers(name, add=False)

    async def _change_finalizers(self, name: str, *, add: bool) -> None:
        current = self.object
        for _ in range(_CONFLICT_RETRIES):
            finalizers = list(current.metadata.finalizers)
            if add == (name in finalizers):
                return
            finalizers = [*finalizers, name] if add else [f for f in finalizers if f != name]
            patch = {
                "metadata": {
                    "finalizers": finalizers,
                    "resourceVersion": current.metadata.resource_version,
                }
            }
            try:
                await self.client.patch(
                    _kinds.kind_arg(current),
                    current.metadata.name,
                    patch,
                    namespace=current.metadata.namespace or None,
                    type="merge",
                )
                return
            except errors.Conflict:
                current = await self._fresh(current)
            except errors.NotFound:
                self.object = None
                return
        raise errors.Conflict(f"finalizer {name!r}: {_CONFLICT_RETRIES} conflicting writes")

    async def _fresh(self, current: Any) -> Any:
        fresh = await self.controller.client.get(
            _kinds.kind_arg(current), current.metadata.name, namespace=current.metadata.namespace
        )
        self.object = fresh
        return fresh

    # -- status -----------------------------------------------------------------------------

    def _edits(self) -> dict[str, Any]:
        if self._status is None or self._snapshot is None:
            return {}
        old = {k: v for k, v in self._snapshot.items() if k != "conditions"}
        new = {k: v for k, v in self.status.items() if k != "conditions"}
        diff = _status.merge_diff(old, new)
        return diff if isinstance(diff, dict) else {}

    async def flush_status(self) -> bool:
        """Write the collected status edits once (done by the controller after a reconcile).

        Returns whether anything was written (no-op edits write nothing).

        Raises:
            korch.errors.Conflict: still conflicting after 5 fresh reads.
            korch.errors.APIError: the write failed.
        """
        edits = self._edits()
        ops = self._condition_ops
        current = self.object
        if current is None or (not edits and not ops):
            return False
        for _ in range(_CONFLICT_RETRIES):
            base = _status_of(current)
            target = _status.merge_apply(base, edits) if edits else _copy(base)
            if ops:
                conditions = target.get("conditions")
                conditions = conditions if isinstance(conditions, list) else []
                for op in ops:
                    conditions = _status.apply_condition(conditions, op)
                target["conditions"] = conditions
            if target == base:
                return False
            try:
                await self._write_status(current, base, target)
                return True
            except errors.Conflict:
                current = await self._fresh(current)
            except errors.NotFound:
                self.object = None
                return False
        raise errors.Conflict(f"status of {self.key}: {_CONFLICT_RETRIES} conflicting writes")

    async def _write_status(
        self, current: Any, base: dict[str, Any], target: dict[str, Any]
    ) -> None:
        body = getattr(current, "body", None)
        if isinstance(body, dict):
            await self.client.update_status(attrs.evolve(current, body={**body, "status": target}))
            return
        patch = {
            "metadata": {"resourceVersion": current.metadata.resource_version},
            "status": _status.merge_diff(base, target),
        }
        await self.client.patch_status(
            type(current),
            current.metadata.name,
            patch,
            namespace=current.metadata.namespace or None,
            type="merge",
        )

    def __repr__(self) -> str:
        return f"<Context {self.controller.name} {self.key!r}>"
