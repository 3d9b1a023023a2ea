"""Pod subresources: ``binding``, ``eviction`` and ``log``.

kube-apiserver's rules, kept here:

* **binding** (``POST pods/<name>/binding``, what the scheduler calls) — sets
  ``spec.nodeName`` and a ``PodScheduled=True`` condition in one write, copying the
  Binding's annotations onto the pod. A pod already on a node (another one or the same)
  gives 409 ``pod web is already assigned to node "n1"``; a pod being deleted gives 409 too.
  Optional preconditions: the Binding's ``metadata.uid`` / ``resourceVersion``. Binding
  bypasses the pod update validation (``spec`` is otherwise immutable), as in Kubernetes.
* **eviction** (``POST pods/<name>/eviction``, what ``kubectl drain`` calls) — a delete that
  respects PodDisruptionBudgets: pods that are finished, pending or already being deleted are
  deleted at once; otherwise the one PDB whose selector matches the pod must allow a
  disruption (``status.disruptionsAllowed > 0`` and ``status.observedGeneration`` current),
  else 429 ``Cannot evict pod as it would violate the pod's disruption budget.`` with a
  ``DisruptionBudget`` cause. An allowed eviction decrements ``disruptionsAllowed`` and
  records the pod in ``status.disruptedPods`` (so concurrent evictions cannot overspend the
  budget), then deletes the pod with the Eviction's DeleteOptions. More than one matching PDB
  is a 500, as in Kubernetes.
* **log** (``GET pods/<name>/log``) — kube-apiserver proxies to the kubelet of the pod's
  node; here node agents register a :class:`PodLogSource` for their node
  (``api.register_log_source(node_name, source)``) and the server asks it. A pod on no node,
  or on a node without a source, gives 400 like kube-apiserver's ``pod web does not have a
  host assigned``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from typing import Protocol, runtime_checkable

import attrs

from korch import errors
from korch.api import _codec, _core_pod, _meta, _misc, _selector
from korch.apiserver import _deletes, _keys, _status, _types

__all__ = ("PodLogOptions", "PodLogSource", "PodSubresources")

_DISRUPTION_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."


@attrs.frozen(kw_only=True)
class PodLogOptions:
    """core/v1 PodLogOptions: which container, how much, and whether to follow."""

    container: str = ""
    follow: bool = False
    previous: bool = False
    since_seconds: int | None = None
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None


@runtime_checkable
class PodLogSource(Protocol):
    """What a node agent offers the API server: the logs of pods on its node."""

    def pod_log(self, pod: _core_pod.Pod, options: PodLogOptions) -> AsyncIterator[bytes]:
        """The log of one container of ``pod`` (``options.container``: empty when the pod
        has one container), as chunks; with ``follow`` it ends when the container stops.

        Raises:
            korch.errors.BadRequest: no such container, or the pod has several and none
                was named (kube-apiserver's messages).
        """
        ...


class PodSubresources(_deletes.Deletes):
    """``bind``, ``evict``, ``pod_log`` and the node log sources."""

    def register_log_source(self, node_name: str, source: PodLogSource | None) -> None:
        """Serve ``pods/log`` of pods on ``node_name`` from ``source`` (``None`` removes)."""
        sources = self.__dict__.setdefault("_log_sources", {})
        if source is None:
            sources.pop(node_name, None)
        else:
            sources[node_name] = source

    # -- binding -------------------------------------------------------------------------

    async def bind(
        self,
        binding: _core_pod.Binding,
        *,
        namespace: str = "",
        dry_run: bool = False,
        field_manager: str = "",
        user: _types.UserInfo | None = None,
    ) -> _core_pod.Pod:
        """Assign the pod ``binding.metadata.name`` to the node ``binding.target.name``.

        Returns:
            The pod as stored, with ``spec.nodeName`` and ``PodScheduled=True``.

        Raises:
            korch.errors.NotFound: no such pod.
            korch.errors.Conflict: already assigned, being deleted, or a precondition failed.
            korch.errors.Invalid: no pod name or no target node.
        """
        rt = self.resource_type(_core_pod.Pod)
        name = binding.metadata.name
        namespace = self.namespace_for(rt, namespace or binding.metadata.namespace)
        causes = []
        if not name:
            causes.append(errors.Cause("metadata.name", "Required value", "FieldValueRequired"))
        if not binding.target.name:
            causes.append(errors.Cause("target.name", "Required value", "FieldValueRequired"))
        if binding.target.kind not in ("", "Node"):
            causes.append(
                errors.Cause(
                    "target.kind",
                    f'Unsupported value: "{binding.target.kind}": supported values: "Node"',
                    "FieldValueNotSupported",
                )
            )
        if causes:
            raise errors.Invalid(f'Binding "{name}" is invalid', causes)
        self.check_name(name)
        await self.ensure_bootstrapped()
        await self.authorize(user, "create", rt, namespace, name, "binding")
        node = binding.target.name
        while True:
            old = await self.read_existing(rt, namespace, name)
            pod: _core_pod.Pod = old.obj
            meta = pod.metadata
            if meta.deletion_timestamp is not None:
                raise _status.conflict(
                    rt, name, f"pod {name} is being deleted, cannot be assigned to a host"
                )
            if binding.metadata.uid and binding.metadata.uid != meta.uid:
                raise _status.conflict(
                    rt,
                    name,
                    f"Precondition failed: UID in precondition: {binding.metadata.uid}, "
                    f"UID in object meta: {meta.uid}",
                )
            wanted = _keys.parse_resource_version(binding.metadata.resource_version)
            if wanted and wanted != old.revision:
                raise _status.conflict(rt, name)
            if pod.spec.node_name:
                raise _status.conflict(
                    rt, name, f'pod {name} is already assigned to node "{pod.spec.node_name}"'
                )
            new = self._bound(pod, node, binding.metadata.annotations)
            old_wire = _codec.to_dict(old.obj)
            wire = self.finish(new, old_wire, manager=field_manager, subresource="binding")
            if dry_run:
                return self.dry_result(rt, old.key, wire, old.revision).obj  # type: ignore[no-any-return]
            stored = await self.put_over(rt, old, wire)
            if stored is not None:
                return stored.obj  # type: ignore[no-any-return]

    def _bound(self, pod: _core_pod.Pod, node: str, annotations: dict[str, str]) -> _core_pod.Pod:
        meta = pod.metadata
        if annotations:
            meta = attrs.evolve(meta, annotations={**meta.annotations, **annotations})
        conditions = [c for c in pod.status.conditions if c.type != "PodScheduled"]
        previous = next((c for c in pod.status.conditions if c.type == "PodScheduled"), None)
        changed = previous is None or previous.status != "True"
        scheduled = _core_pod.PodCondition(
            type="PodScheduled",
            status="True",
            last_transition_time=(
                self.now() if changed or previous is None else previous.last_transition_time
            ),
        )
        return attrs.evolve(
            pod,
            metadata=meta,
            spec=attrs.evolve(pod.spec, node_name=node),
            status=attrs.evolve(pod.status, conditions=[*conditions, scheduled]),
        )

    # -- eviction ------------------------------------------------------------------------

    async def evict(
        self,
        name: str,
        *,
        namespace: str = "",
        delete_options: _meta.DeleteOptions | None = None,
        user: _types.UserInfo | None = None,
    ) -> None:
        """Delete a pod if its PodDisruptionBudget allows (see the module docstring).

        Raises:
            korch.errors.NotFound: no such pod.
            korch.errors.TooManyRequests: the budget allows no disruption now (429).
            korch.errors.InternalError: more than one budget selects the pod.
        """
        rt = self.resource_type(_core_pod.Pod)
        namespace = self.namespace_for(rt, namespace)
        self.check_name(name)
        await self.ensure_bootstrapped()
        await self.authorize(user, "create", rt, namespace, name, "eviction")
        options = delete_options or _meta.DeleteOptions()
        dry_run = "All" in options.dry_run
        pod: _core_pod.Pod = (await self.read_existing(rt, namespace, name)).obj
        if not self._can_ignore_budget(pod):
            await self._spend_budget(pod, namespace, dry_run)
        await self.delete(
            rt,
            name,
            namespace=namespace,
            grace_period_seconds=options.grace_period_seconds,
            propagation_policy=options.propagation_policy,
            preconditions=options.preconditions,
            dry_run=dry_run,
            user=user,
        )

    @staticmethod
    def _can_ignore_budget(pod: _core_pod.Pod) -> bool:
        return pod.metadata.deletion_timestamp is not None or pod.status.phase in (
            "Succeeded",
            "Failed",
            "Pending",
        )

    async def _spend_budget(self, pod: _core_pod.Pod, namespace: str, dry_run: bool) -> None:
        pdb_rt = self.resource_type(_misc.PodDisruptionBudget)
        while True:
            budgets = await self.list(pdb_rt, namespace=namespace)
            labels = pod.metadata.labels
            matching = []
            for stored in budgets.items:
                selector = stored.spec.selector
                if selector is None:
                    continue
                if _selector.label_selector_as_selector(selector).matches(labels):
                    matching.append(stored)
            if not matching:
                return
            if len(matching) > 1:
                raise errors.InternalError(
                    "This pod has more than one PodDisruptionBudget, which the eviction "
                    "subresource does not support."
                )
            pdb: _misc.PodDisruptionBudget = matching[0]
            status = pdb.status
            if status.observed_generation < pdb.metadata.generation:
                raise self._budget_error(
                    f"The disruption budget {pdb.metadata.name} is still being processed by "
                    "the server."
                )
            if status.disruptions_allowed < 0:
                raise errors.Forbidden("pdb disruptions allowed is negative")
            if status.disruptions_allowed == 0:
                raise self._budget_error(
                    f"The disruption budget {pdb.metadata.name} needs "
                    f"{status.desired_healthy} healthy pods and has {status.current_healthy} "
                    "currently"
                )
            if dry_run:
                return
            spent = attrs.evolve(
                status,
                disruptions_allowed=status.disruptions_allowed - 1,
                disrupted_pods={**status.disrupted_pods, pod.metadata.name: self.now()},
            )
            try:
                await self.update(
                    attrs.evolve(pdb, status=spent), subresource="status", field_manager="korch"
                )
                return
            except errors.Conflict:
                continue  # someone else spent or refreshed the budget: decide again

    @staticmethod
    def _budget_error(detail: str) -> errors.TooManyRequests:
        error = errors.TooManyRequests(_DISRUPTION_MESSAGE, retry_after=10)
        error.causes = (errors.Cause("", detail, "DisruptionBudget"),)  # type: ignore[attr-defined]
        return error

    # -- log -----------------------------------------------------------------------------

    def pod_log(
        self,
        name: str,
        *,
        namespace: str = "",
        options: PodLogOptions | None = None,
        user: _types.UserInfo | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``async with api.pod_log("web", options=…) as chunks: async for chunk in chunks``.

        Raises (on entering):
            korch.errors.NotFound: no such pod.
            korch.errors.BadRequest: the pod is on no node, its node serves no logs, or the
                container is unknown or ambiguous.
        """
        return self._pod_log(name, namespace, options or PodLogOptions(), user)

    @asynccontextmanager
    async def _pod_log(
        self,
        name: str,
        namespace: str,
        options: PodLogOptions,
        user: _types.UserInfo | None,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        rt = self.resource_type(_core_pod.Pod)
        namespace = self.namespace_for(rt, namespace)
        self.check_name(name)
        await self.ensure_bootstrapped()
        await self.authorize(user, "get", rt, namespace, name, "log")
        pod: _core_pod.Pod = (await self.read_existing(rt, namespace, name)).obj
        options = attrs.evolve(options, container=_container_for(pod, options.container))
        node = pod.spec.node_name
        if not node:
            raise errors.BadRequest(f"pod {name} does not have a host assigned")
        source = self.__dict__.get("_log_sources", {}).get(node)
        if source is None:
            raise errors.BadRequest(
                f'the node "{node}" of pod {name} serves no logs (no node agent registered)'
            )
        async with aclosing(source.pod_log(pod, options)) as chunks:
            yield chunks


def _container_for(pod: _core_pod.Pod, container: str) -> str:
    """The container a log request means, with kube-apiserver's errors."""
    names = [c.name for c in pod.spec.containers]
    init = [c.name for c in pod.spec.init_containers]
    name = pod.metadata.name
    if not container:
        if len(names) == 1:
            return names[0]
        message = f"a container name must be specified for pod {name}, choose one of: "
        message += f"[{' '.join(names)}]"
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        raise errors.BadRequest(message)
    if container not in names and container not in init:
        raise errors.BadRequest(f"container {container} is not valid for pod {name}")
    return container
