"""The Namespace controller: empty a terminating namespace, then let it go.

A namespace being deleted is ``Terminating`` (the API server sets the phase and refuses new
content). One reconcile (kube-controller-manager's ``namespace`` controller):

1. a namespace that is not being deleted, or is gone, needs nothing;
2. every namespaced kind that can be listed and deleted is deleted with
   ``deletecollection`` in the namespace (background propagation);
3. while objects remain (pods finishing their grace period, objects held by finalizers) the
   reconcile requeues after ``recheck_seconds`` (and sets the
   ``NamespaceContentRemaining``/``NamespaceFinalizersRemaining`` conditions);
4. once it is empty, the ``kubernetes`` finalizer is removed from ``spec.finalizers``
   through the ``finalize`` subresource and the namespace is deleted again, so the API
   server removes it.

The kinds are those of a :class:`korch.api.Registry` (the built-in kinds by default; pass
``resource_types`` to include custom resources). The ``finalize`` subresource is not part
of the :class:`korch.client.Client` protocol yet; the controller uses a client's
``patch(..., subresource="finalize")`` (``LocalClient`` has it) and otherwise reports a
clear error.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any, Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _core_node, _registry
from korch.client import Client
from korch.workloads import _common

__all__ = ("NamespaceReconciler",)

logger = logging.getLogger(__name__)

NAMESPACE_FINALIZER: Final = "kubernetes"
_SKIPPED: Final = frozenset({("v1", "Event")})  # events go last: they record the teardown


class NamespaceReconciler:
    """Reconciles one Namespace per key (its name); see the module docstring.

    Args:
        client: lists and deletes the namespace's content; finalizes the namespace.
        reader: reads namespaces (default: live reads via ``client``).
        clock: unused today; accepted so every reconciler is built alike.
        resource_types: the kinds to empty (default: the built-in namespaced kinds).
        recheck_seconds: how long to wait before checking again for remaining content.
    """

    def __init__(
        self,
        client: Client,
        *,
        reader: _common.Reader | None = None,
        clock: clock_module.Clock | None = None,
        resource_types: Iterable[_registry.ResourceType] | None = None,
        recheck_seconds: float = 5.0,
    ) -> None:
        self.client = client
        self.reader = reader or _common.ClientReader(client)
        self.clock = clock or clock_module.SystemClock()
        types = resource_types if resource_types is not None else _registry.builtin_resource_types()
        self.resource_types = [
            rt for rt in types if rt.namespaced and {"list", "deletecollection"} <= set(rt.verbs)
        ]
        self.recheck_seconds = recheck_seconds

    async def reconcile(self, key: str) -> _common.Result:
        """Delete the content of a terminating namespace; finalize it once empty."""
        _, name = _common.split_key(key)
        namespace = await self.reader.get(_core_node.Namespace, name)
        if namespace is None or namespace.metadata.deletion_timestamp is None:
            return _common.Result()
        remaining = 0
        ordered = [rt for rt in self.resource_types if (rt.api_version, rt.kind) not in _SKIPPED]
        ordered += [rt for rt in self.resource_types if (rt.api_version, rt.kind) in _SKIPPED]
        for rt in ordered:
            remaining += await self._delete_kind(rt, name)
        if remaining:
            await self._set_condition(namespace, remaining)
            return _common.Result(self.recheck_seconds)
        if NAMESPACE_FINALIZER in namespace.spec.finalizers:
            await self._finalize(namespace)
        if not namespace.metadata.finalizers:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(_core_node.Namespace, name)
        return _common.Result()

    async def _delete_kind(self, rt: _registry.ResourceType, namespace: str) -> int:
        kind: Any = rt.cls if rt.typed else (rt.api_version, rt.kind)
        try:
            listed = await self.client.list(kind, namespace=namespace)
        except (errors.NotFound, errors.MethodNotAllowed):
            return 0
        if not listed.items:
            return 0
        try:
            await self.client.delete_collection(
                kind, namespace=namespace, propagation_policy="Background"
            )
        except (errors.NotFound, errors.MethodNotAllowed):
            return 0
        after = await self.client.list(kind, namespace=namespace)
        return len(after.items)

    async def _set_condition(self, namespace: Any, remaining: int) -> None:
        now = _common.to_datetime(self.clock.time())
        condition = _core_node.NamespaceCondition(
            type="NamespaceContentRemaining",
            status="True",
            reason="SomeResourcesRemain",
            message=f"Some resources are remaining: {remaining} objects",
            last_transition_time=now,
        )
        kept = [c for c in namespace.status.conditions if c.type != condition.type]
        current = [c for c in namespace.status.conditions if c.type == condition.type]
        if current and current[0].message == condition.message:
            return
        status = attrs.evolve(namespace.status, conditions=[*kept, condition])
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.update_status(attrs.evolve(namespace, status=status))

    async def _finalize(self, namespace: Any) -> None:
        finalizers = [f for f in namespace.spec.finalizers if f != NAMESPACE_FINALIZER]
        patch_method: Any = self.client.patch  # LocalClient's patch takes a subresource
        try:
            await patch_method(
                _core_node.Namespace,
                namespace.metadata.name,
                {"spec": {"finalizers": finalizers}},
                type="merge",
                subresource="finalize",
            )
        except TypeError as exc:
            raise errors.MethodNotAllowed(
                f"cannot finalize namespace {namespace.metadata.name!r}: this client has no "
                "'finalize' subresource (patch(..., subresource=...))"
            ) from exc
