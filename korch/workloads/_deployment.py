"""The Deployment controller: ReplicaSets per template, rolled out, rolled back, reported.

One reconcile of a deployment (kube-controller-manager's ``syncDeployment``):

1. **claim** ReplicaSets in its namespace by selector (adopt orphans, release mismatches);
2. **paused conditions** — a paused deployment gets ``Progressing=Unknown/DeploymentPaused``,
   a resumed one ``Progressing=Unknown/DeploymentResumed``;
3. **paused, or a scaling event** (an active set's ``desired-replicas`` annotation differs
   from ``spec.replicas``): :func:`~korch.workloads._deployment_rules.proportional_scale`
   resizes the sets; a paused deployment also cleans up history; only status is written;
4. otherwise **roll out**: ``Recreate`` scales every old set to 0, waits until no old pod
   runs, then creates/scales the new set; ``RollingUpdate`` grows the new set within
   ``maxSurge`` or else shrinks old ones within ``maxUnavailable``; once complete, old
   sets beyond ``revisionHistoryLimit`` (emptied, oldest revisions first) are deleted;
5. **status** — ``observedGeneration``, ``replicas``, ``updatedReplicas``,
   ``readyReplicas``, ``availableReplicas``, ``unavailableReplicas``, the ``Available``
   condition (``MinimumReplicasAvailable`` when available ≥ replicas - maxUnavailable) and
   the ``Progressing`` condition: ``NewReplicaSetCreated``, ``FoundNewReplicaSet``,
   ``ReplicaSetUpdated`` (progress was made), ``NewReplicaSetAvailable`` (complete),
   ``ProgressDeadlineExceeded`` (no progress for ``progressDeadlineSeconds``). The reconcile
   requeues at the deadline. This is what ``kubectl rollout status`` reads.

The new set is named ``<deployment>-<pod-template-hash>``; if that name is taken by a set
with another template, ``status.collisionCount`` is bumped and the reconcile fails (retried
with the new hash), as in Kubernetes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _apps, _core_pod, _meta, _selector
from korch.client import Client
from korch.workloads import _common
from korch.workloads import _deployment_rules as rules

__all__ = ("DeploymentReconciler", "rollback")

logger = logging.getLogger(__name__)

PROGRESSING = "Progressing"
AVAILABLE = "Available"


def _condition(conditions: Sequence[Any], type_: str) -> _apps.DeploymentCondition | None:
    for condition in conditions:
        if condition.type == type_:
            return condition  # type: ignore[no-any-return]
    return None


def set_condition(
    conditions: Sequence[_apps.DeploymentCondition], new: _apps.DeploymentCondition
) -> list[_apps.DeploymentCondition]:
    """``SetDeploymentCondition``: no-op for the same status and reason; keep the
    transition time when only the reason changes."""
    current = _condition(conditions, new.type)
    if current is not None and current.status == new.status and current.reason == new.reason:
        return list(conditions)
    if current is not None and current.status == new.status:
        new = attrs.evolve(new, last_transition_time=current.last_transition_time)
    return [c for c in conditions if c.type != new.type] + [new]


class DeploymentReconciler:
    """Reconciles one Deployment per key (see the module docstring).

    Args:
        client: writes ReplicaSets and the deployment's status.
        reader: reads deployments, sets and pods (default: live reads via ``client``).
        clock: the time conditions are stamped with and deadlines measured on.
    """

    def __init__(
        self,
        client: Client,
        *,
        reader: _common.Reader | None = None,
        clock: clock_module.Clock | None = None,
    ) -> None:
        self.client = client
        self.reader = reader or _common.ClientReader(client)
        self.clock = clock or clock_module.SystemClock()

    def _new_condition(self, type_: str, status: str, reason: str, message: str) -> Any:
        now = _common.to_datetime(self.clock.time())
        return _apps.DeploymentCondition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_update_time=now,
            last_transition_time=now,
        )

    async def reconcile(self, key: str) -> _common.Result:
        """Roll the deployment named by ``key`` one step forward and write its status."""
        namespace, name = _common.split_key(key)
        d = await self.reader.get(_apps.Deployment, name, namespace=namespace)
        if d is None:
            return _common.Result()
        selector = _common.selector_of(d)
        rs_list = await self._claim(d, selector)
        if d.metadata.deletion_timestamp is not None or selector.is_empty():
            # being deleted (the garbage collector removes the sets), or selecting everything
            return await self._sync_status(d, rs_list, None)
        d = await self._check_paused_conditions(d)
        if d.spec.paused:
            return await self._sync(d, rs_list)
        if self._is_scaling_event(d, rs_list):
            return await self._sync(d, rs_list)
        if d.spec.strategy.type == "Recreate":
            return await self._rollout_recreate(d, rs_list, namespace, selector)
        return await self._rollout_rolling(d, rs_list)

    # -- reading -------------------------------------------------------------------------

    async def _claim(self, d: _apps.Deployment, selector: _selector.Selector) -> list[Any]:
        candidates = await self.reader.list(_apps.ReplicaSet, namespace=d.metadata.namespace)
        claimed = _common.claim(d, selector, candidates)
        for rs in claimed.release:
            await _common.release(self.client, d, rs)
        owned = list(claimed.owned)
        for rs in claimed.adopt:
            try:
                owned.append(await _common.adopt(self.client, d, rs))
            except (errors.NotFound, errors.Conflict):
                continue
        return owned

    def _split(
        self, d: _apps.Deployment, rs_list: list[Any]
    ) -> tuple[_apps.ReplicaSet | None, list[_apps.ReplicaSet]]:
        new_rs = rules.find_new_replica_set(d, rs_list)
        old = [rs for rs in rs_list if new_rs is None or rs.metadata.uid != new_rs.metadata.uid]
        return new_rs, old

    def _is_scaling_event(self, d: _apps.Deployment, rs_list: list[Any]) -> bool:
        replicas = str(rules.replicas_of(d))
        for rs in rs_list:
            if rules.replicas_of(rs) == 0:
                continue
            desired = rs.metadata.annotations.get(rules.DESIRED_REPLICAS_ANNOTATION)
            if desired is not None and desired != replicas:
                return True
        return False

    # -- writing sets --------------------------------------------------------------------

    def _replica_annotations(self, d: _apps.Deployment) -> dict[str, str]:
        replicas = rules.replicas_of(d)
        return {
            rules.DESIRED_REPLICAS_ANNOTATION: str(replicas),
            rules.MAX_REPLICAS_ANNOTATION: str(replicas + rules.max_surge(d)),
        }

    async def _scale(self, rs: _apps.ReplicaSet, size: int, d: _apps.Deployment) -> Any:
        annotations = dict(rs.metadata.annotations)
        annotations.update(self._replica_annotations(d))
        if rules.replicas_of(rs) == size and annotations == rs.metadata.annotations:
            return rs
        return await _patch_replica_set(self.client, rs, annotations, {"replicas": size})

    async def _apply_sizes(
        self, d: _apps.Deployment, rs_list: list[Any], sizes: dict[str, int]
    ) -> list[Any]:
        out = []
        for rs in rs_list:
            if rs.metadata.name in sizes:
                rs = await self._scale(rs, sizes[rs.metadata.name], d)
            out.append(rs)
        return out

    async def _get_new_replica_set(
        self, d: _apps.Deployment, rs_list: list[Any], create: bool
    ) -> tuple[_apps.Deployment, _apps.ReplicaSet | None, list[_apps.ReplicaSet]]:
        """``getAllReplicaSetsAndSyncRevision``: the new set (created if asked), the old
        ones, and the deployment with its revision annotation and conditions in sync."""
        new_rs, old = self._split(d, rs_list)
        new_revision = rules.max_revision(old) + 1
        if new_rs is not None:
            annotations = self._set_new_annotations(d, new_rs, new_revision, exists=True)
            if (
                annotations != new_rs.metadata.annotations
                or new_rs.spec.min_ready_seconds != d.spec.min_ready_seconds
            ):
                spec = {"minReadySeconds": d.spec.min_ready_seconds}
                new_rs = await _patch_replica_set(self.client, new_rs, annotations, spec)
            d = await self._set_revision(d, new_rs.metadata.annotations[rules.REVISION_ANNOTATION])
            if d.spec.progress_deadline_seconds is not None and (
                _condition(d.status.conditions, PROGRESSING) is None
            ):
                message = f'Found new replica set "{new_rs.metadata.name}"'
                condition = self._new_condition(PROGRESSING, "True", "FoundNewReplicaSet", message)
                d = await self._write_status(
                    d,
                    attrs.evolve(
                        d.status, conditions=set_condition(d.status.conditions, condition)
                    ),
                )
            return d, new_rs, old
        if not create:
            return d, None, old
        return await self._create_new_replica_set(d, old, new_revision)

    async def _create_new_replica_set(
        self, d: _apps.Deployment, old: list[_apps.ReplicaSet], new_revision: int
    ) -> tuple[_apps.Deployment, _apps.ReplicaSet | None, list[_apps.ReplicaSet]]:
        template_hash = rules.pod_template_hash(d.spec.template, d.status.collision_count)
        labels = dict(d.spec.template.metadata.labels)
        labels[rules.POD_TEMPLATE_HASH_LABEL] = template_hash
        template = attrs.evolve(
            d.spec.template, metadata=attrs.evolve(d.spec.template.metadata, labels=labels)
        )
        base = d.spec.selector or _meta.LabelSelector()
        match_labels = dict(base.match_labels)
        match_labels[rules.POD_TEMPLATE_HASH_LABEL] = template_hash
        replicas = rules.new_replica_set_replicas(d, old, None)
        skeleton = _apps.ReplicaSet(
            metadata=_meta.ObjectMeta(
                name=f"{d.metadata.name}-{template_hash}",
                namespace=d.metadata.namespace,
                labels=labels,
                owner_references=[_common.owner_reference(d)],
            ),
            spec=_apps.ReplicaSetSpec(
                replicas=replicas,
                min_ready_seconds=d.spec.min_ready_seconds,
                selector=attrs.evolve(base, match_labels=match_labels),
                template=template,
            ),
        )
        annotations = self._set_new_annotations(d, skeleton, new_revision, exists=False)
        skeleton = attrs.evolve(
            skeleton, metadata=attrs.evolve(skeleton.metadata, annotations=annotations)
        )
        try:
            new_rs = await self.client.create(skeleton)
        except errors.AlreadyExists:
            existing = await self.client.get(
                _apps.ReplicaSet, skeleton.metadata.name, namespace=d.metadata.namespace
            )
            ref = _common.controller_ref(existing)
            if (
                ref is not None
                and ref.uid == d.metadata.uid
                and rules.templates_equal(existing.spec.template, d.spec.template)
            ):
                return d, existing, old  # our own set, not yet in the reader's view
            count = (d.status.collision_count or 0) + 1
            await self._write_status(d, attrs.evolve(d.status, collision_count=count))
            raise errors.Conflict(
                f"hash collision for ReplicaSet {skeleton.metadata.name!r}: "
                f"collisionCount is now {count}"
            ) from None
        if d.spec.progress_deadline_seconds is not None:
            message = f'Created new replica set "{new_rs.metadata.name}"'
            condition = self._new_condition(PROGRESSING, "True", "NewReplicaSetCreated", message)
            d = await self._write_status(
                d, attrs.evolve(d.status, conditions=set_condition(d.status.conditions, condition))
            )
        d = await self._set_revision(d, str(new_revision))
        return d, new_rs, old

    def _set_new_annotations(
        self, d: _apps.Deployment, rs: _apps.ReplicaSet, new_revision: int, *, exists: bool
    ) -> dict[str, str]:
        annotations = dict(rs.metadata.annotations)
        for key, value in d.metadata.annotations.items():
            if key not in rules.SKIPPED_ANNOTATIONS:
                annotations[key] = value
        old_revision = rules.revision_of(rs)
        if old_revision < new_revision:
            annotations[rules.REVISION_ANNOTATION] = str(new_revision)
            if old_revision > 0:
                history = annotations.get(rules.REVISION_HISTORY_ANNOTATION)
                annotations[rules.REVISION_HISTORY_ANNOTATION] = (
                    f"{history},{old_revision}" if history else str(old_revision)
                )
        if not exists:
            annotations.update(self._replica_annotations(d))
        return annotations

    async def _set_revision(self, d: _apps.Deployment, revision: str) -> _apps.Deployment:
        if d.metadata.annotations.get(rules.REVISION_ANNOTATION) == revision:
            return d
        patch = {"metadata": {"annotations": {rules.REVISION_ANNOTATION: revision}}}
        patched: _apps.Deployment = await self.client.patch(
            _apps.Deployment, d.metadata.name, patch, namespace=d.metadata.namespace, type="merge"
        )
        return attrs.evolve(d, metadata=patched.metadata)

    # -- strategies ----------------------------------------------------------------------

    async def _sync(self, d: _apps.Deployment, rs_list: list[Any]) -> _common.Result:
        d, new_rs, old = await self._get_new_replica_set(d, rs_list, create=False)
        sizes = rules.proportional_scale(d, new_rs, old)
        everyone = ([new_rs] if new_rs is not None else []) + old
        everyone = await self._apply_sizes(d, everyone, sizes)
        new_rs, old = (everyone[0], everyone[1:]) if new_rs is not None else (None, everyone)
        if d.spec.paused:
            await self._cleanup(d, old)
        return await self._sync_status(d, everyone, new_rs)

    async def _rollout_rolling(self, d: _apps.Deployment, rs_list: list[Any]) -> _common.Result:
        d, new_rs, old = await self._get_new_replica_set(d, rs_list, create=True)
        assert new_rs is not None
        everyone = [new_rs, *old]
        current, replicas = rules.replicas_of(new_rs), rules.replicas_of(d)
        if current != replicas:
            if current > replicas:
                size = replicas
            else:
                size = rules.new_replica_set_replicas(d, everyone, new_rs)
            if size != current:
                new_rs = await self._scale(new_rs, size, d)
                return await self._sync_rollout_status(d, [new_rs, *old], new_rs)
        sizes = rules.old_replica_sets_scale_down(d, everyone, old, new_rs)
        if sizes:
            old = await self._apply_sizes(d, old, sizes)
            return await self._sync_rollout_status(d, [new_rs, *old], new_rs)
        if rules.deployment_complete(d, d.status):
            await self._cleanup(d, old)
        return await self._sync_rollout_status(d, everyone, new_rs)

    async def _rollout_recreate(
        self,
        d: _apps.Deployment,
        rs_list: list[Any],
        namespace: str,
        selector: _selector.Selector,
    ) -> _common.Result:
        d, new_rs, old = await self._get_new_replica_set(d, rs_list, create=False)
        active_old = [rs for rs in old if rules.replicas_of(rs) > 0]
        if active_old:
            old = await self._apply_sizes(d, old, {rs.metadata.name: 0 for rs in active_old})
            return await self._sync_rollout_status(d, _with(new_rs, old), new_rs)
        if await self._old_pods_running(old, namespace, selector):
            return await self._sync_rollout_status(d, _with(new_rs, old), new_rs)
        if new_rs is None:
            d, new_rs, old = await self._get_new_replica_set(d, rs_list, create=True)
            assert new_rs is not None
        new_rs = await self._scale(new_rs, rules.replicas_of(d), d)
        if rules.deployment_complete(d, d.status):
            await self._cleanup(d, old)
        return await self._sync_rollout_status(d, _with(new_rs, old), new_rs)

    async def _old_pods_running(
        self, old: list[_apps.ReplicaSet], namespace: str, selector: _selector.Selector
    ) -> bool:
        if sum(rs.status.replicas for rs in old) > 0:
            return True
        old_uids = {rs.metadata.uid for rs in old}
        for pod in await self.reader.list(_core_pod.Pod, namespace=namespace, selector=selector):
            ref = _common.controller_ref(pod)
            if ref is None or ref.uid not in old_uids:
                continue
            if pod.status.phase not in ("Failed", "Succeeded"):
                return True
        return False

    async def _cleanup(self, d: _apps.Deployment, old: list[_apps.ReplicaSet]) -> None:
        limit = d.spec.revision_history_limit
        if limit is None:
            return
        alive = [rs for rs in old if rs.metadata.deletion_timestamp is None]
        excess = len(alive) - limit
        if excess <= 0:
            return
        alive.sort(key=lambda rs: (rules.revision_of(rs), rs.metadata.name))
        for rs in alive[:excess]:
            if (
                rs.status.replicas != 0
                or rules.replicas_of(rs) != 0
                or rs.metadata.generation > rs.status.observed_generation
            ):
                continue
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(
                    _apps.ReplicaSet, rs.metadata.name, namespace=rs.metadata.namespace
                )

    # -- status --------------------------------------------------------------------------

    async def _check_paused_conditions(self, d: _apps.Deployment) -> _apps.Deployment:
        if d.spec.progress_deadline_seconds is None:
            return d
        current = _condition(d.status.conditions, PROGRESSING)
        if current is not None and current.reason == "ProgressDeadlineExceeded":
            return d
        paused_now = current is not None and current.reason == "DeploymentPaused"
        if d.spec.paused and not paused_now:
            condition = self._new_condition(
                PROGRESSING, "Unknown", "DeploymentPaused", "Deployment is paused"
            )
        elif not d.spec.paused and paused_now:
            condition = self._new_condition(
                PROGRESSING, "Unknown", "DeploymentResumed", "Deployment is resumed"
            )
        else:
            return d
        status = attrs.evolve(d.status, conditions=set_condition(d.status.conditions, condition))
        return await self._write_status(d, status)

    def _calculate_status(
        self, d: _apps.Deployment, everyone: list[Any], new_rs: _apps.ReplicaSet | None
    ) -> _apps.DeploymentStatus:
        replicas = rules.replicas_of(d)
        available = sum(rs.status.available_replicas for rs in everyone)
        total = sum(rules.replicas_of(rs) for rs in everyone)
        conditions = list(d.status.conditions)
        if available >= replicas - rules.max_unavailable(d):
            condition = self._new_condition(
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            condition = self._new_condition(
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        conditions = set_condition(conditions, condition)
        return attrs.evolve(
            d.status,
            observed_generation=d.metadata.generation,
            replicas=sum(rs.status.replicas for rs in everyone),
            updated_replicas=new_rs.status.replicas if new_rs is not None else 0,
            ready_replicas=sum(rs.status.ready_replicas for rs in everyone),
            available_replicas=available,
            unavailable_replicas=max(total - available, 0),
            conditions=conditions,
        )

    async def _sync_status(
        self, d: _apps.Deployment, everyone: list[Any], new_rs: _apps.ReplicaSet | None
    ) -> _common.Result:
        await self._write_status(d, self._calculate_status(d, everyone, new_rs))
        return _common.Result()

    async def _sync_rollout_status(
        self, d: _apps.Deployment, everyone: list[Any], new_rs: _apps.ReplicaSet | None
    ) -> _common.Result:
        status = self._calculate_status(d, everyone, new_rs)
        deadline = d.spec.progress_deadline_seconds
        current = _condition(d.status.conditions, PROGRESSING)
        if deadline is None:
            status = attrs.evolve(
                status, conditions=[c for c in status.conditions if c.type != PROGRESSING]
            )
        complete_before = (
            status.replicas == status.updated_replicas
            and current is not None
            and current.reason == "NewReplicaSetAvailable"
        )
        name = new_rs.metadata.name if new_rs is not None else ""
        if deadline is not None and not complete_before:
            if rules.deployment_complete(d, status):
                condition = self._new_condition(
                    PROGRESSING,
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{name}" has successfully progressed.',
                )
                status = attrs.evolve(
                    status, conditions=set_condition(status.conditions, condition)
                )
            elif _progressing(d.status, status):
                condition = self._new_condition(
                    PROGRESSING, "True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.'
                )
                if current is not None and current.status == "True":
                    condition = attrs.evolve(
                        condition, last_transition_time=current.last_transition_time
                    )
                kept = [c for c in status.conditions if c.type != PROGRESSING]
                status = attrs.evolve(status, conditions=[*kept, condition])
            elif self._timed_out(d, status):
                condition = self._new_condition(
                    PROGRESSING,
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{name}" has timed out progressing.',
                )
                status = attrs.evolve(
                    status, conditions=set_condition(status.conditions, condition)
                )
        await self._write_status(d, status)
        return _common.Result(self._requeue_after(d, status))

    def _timed_out(self, d: _apps.Deployment, status: _apps.DeploymentStatus) -> bool:
        condition = _condition(status.conditions, PROGRESSING)
        deadline = d.spec.progress_deadline_seconds
        if condition is None or deadline is None or condition.reason == "NewReplicaSetAvailable":
            return False
        if condition.reason == "ProgressDeadlineExceeded":
            return True
        since = condition.last_update_time
        return since is not None and _common.to_seconds(since) + deadline < self.clock.time()

    def _requeue_after(self, d: _apps.Deployment, status: _apps.DeploymentStatus) -> float | None:
        condition = _condition(status.conditions, PROGRESSING)
        deadline = d.spec.progress_deadline_seconds
        if condition is None or deadline is None or condition.last_update_time is None:
            return None
        if condition.reason in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded"):
            return None
        if rules.deployment_complete(d, status) or condition.status != "True":
            return None
        after = _common.to_seconds(condition.last_update_time) + deadline - self.clock.time()
        return max(after, 0.0) + 1.0  # just past the deadline (it is "before now" strictly)

    async def _write_status(
        self, d: _apps.Deployment, status: _apps.DeploymentStatus
    ) -> _apps.Deployment:
        if status == d.status:
            return d
        try:
            updated: _apps.Deployment = await self.client.update_status(
                attrs.evolve(d, status=status)
            )
        except errors.NotFound:
            return d
        return updated


async def _patch_replica_set(
    client: Client, rs: _apps.ReplicaSet, annotations: dict[str, str], spec: dict[str, Any]
) -> _apps.ReplicaSet:
    """A merge patch guarded by the set's resourceVersion: a stale (cached) set gives
    Conflict, and fields a cache transform dropped are not written back."""
    patch = {
        "metadata": {"resourceVersion": rs.metadata.resource_version, "annotations": annotations},
        "spec": spec,
    }
    patched: _apps.ReplicaSet = await client.patch(
        _apps.ReplicaSet, rs.metadata.name, patch, namespace=rs.metadata.namespace, type="merge"
    )
    return patched


def _with(new_rs: _apps.ReplicaSet | None, old: list[Any]) -> list[Any]:
    return ([new_rs] if new_rs is not None else []) + old


def _progressing(old: _apps.DeploymentStatus, new: _apps.DeploymentStatus) -> bool:
    old_old = old.replicas - old.updated_replicas
    new_old = new.replicas - new.updated_replicas
    return (
        new.updated_replicas > old.updated_replicas
        or new_old < old_old
        or new.ready_replicas > old.ready_replicas
        or new.available_replicas > old.available_replicas
    )


async def rollback(
    client: Client, name: str, *, namespace: str | None = None, to_revision: int = 0
) -> _apps.Deployment:
    """Roll a deployment back (``kubectl rollout undo [--to-revision=N]``).

    The pod template of the ReplicaSet with that revision (0: the previous revision) is
    written back into the deployment; the controller then rolls out to it, reusing that set
    (which gets a new, highest revision).

    Returns:
        The updated deployment (unchanged if it already runs that template).

    Raises:
        korch.errors.NotFound: no such deployment, or no such revision.
    """
    d = await client.get(_apps.Deployment, name, namespace=namespace)
    selector = _common.selector_of(d)
    listed = await client.list(_apps.ReplicaSet, namespace=d.metadata.namespace)
    owned = _common.claim(d, selector, listed.items).owned
    template = rules.rollback_template(d, owned, to_revision)
    if rules.templates_equal(template, d.spec.template):
        return d
    return await client.update(attrs.evolve(d, spec=attrs.evolve(d.spec, template=template)))
