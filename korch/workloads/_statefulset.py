"""The StatefulSet controller: stable names, ordered changes, a volume claim per replica.

One reconcile (kube-controller-manager's ``statefulset`` controller, one step at a time):

* **identity** — pod ``<set>-<ordinal>`` for ordinals ``start … start+replicas-1``
  (``spec.ordinals.start``, default 0), with ``hostname`` = its name, ``subdomain`` =
  ``serviceName``, and the labels ``statefulset.kubernetes.io/pod-name``,
  ``apps.kubernetes.io/pod-index`` and ``controller-revision-hash``;
* **storage** — before a pod is created, each ``volumeClaimTemplates`` entry ``data`` gets
  the claim ``data-<pod>`` (labelled with the selector's labels), mounted as the pod's volume
  ``data``. Claims are **kept** on scale-down and when the set is deleted (the default
  ``Retain`` policy); with ``whenDeleted: Delete`` they get an ownerReference to the set so
  the garbage collector removes them with it;
* **revisions** — the template's ControllerRevision is ``status.updateRevision``;
  ``status.currentRevision`` follows it once every replica runs it;
* **scaling** — ``OrderedReady`` (default) creates the lowest missing ordinal only when all
  lower ones are Running and Ready, and removes the highest surplus ordinal only when every
  other pod is Running and Ready, one at a time; ``Parallel`` creates and deletes them all
  at once. Failed pods are deleted and recreated with the same name;
* **updates** — ``RollingUpdate`` deletes (to recreate at the new revision) the highest
  ordinal ``>= partition`` whose revision is old, one at a time, only while every pod is
  Running and Ready; pods below ``partition`` are recreated at ``currentRevision``.
  ``OnDelete`` leaves updating to the user: a pod someone deletes comes back new;
* **status** — ``replicas``, ``readyReplicas``, ``availableReplicas`` (``minReadySeconds``),
  ``currentReplicas``, ``updatedReplicas``, the revisions, ``observedGeneration``.

Not done: ``maxUnavailable`` for rolling updates (beta in Kubernetes; updates go one pod at a
time), ``whenScaled: Delete``, and starting a recreated pod below ``partition`` at
``currentRevision`` when no partition is set (the new revision is used).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _apps, _core_pod, _core_volume, _meta, _selector
from korch.client import Client
from korch.workloads import _common, _revisions

__all__ = ("StatefulSetReconciler", "parse_ordinal")

logger = logging.getLogger(__name__)

POD_NAME_LABEL: Final = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL: Final = "apps.kubernetes.io/pod-index"


def parse_ordinal(set_name: str, pod_name: str) -> int | None:
    """The ordinal of ``pod_name`` in the set ``set_name`` (``web-3`` -> 3), else ``None``."""
    prefix = f"{set_name}-"
    if not pod_name.startswith(prefix):
        return None
    tail = pod_name[len(prefix) :]
    return int(tail) if tail.isdigit() and (tail == "0" or not tail.startswith("0")) else None


def _running_and_ready(pod: _core_pod.Pod) -> bool:
    return (
        pod.status.phase == "Running"
        and _common.is_pod_ready(pod)
        and pod.metadata.deletion_timestamp is None
    )


class StatefulSetReconciler:
    """Reconciles one StatefulSet per key (see the module docstring).

    Args:
        client: writes pods, claims, revisions and status.
        reader: reads sets, pods, claims and revisions (default: live via ``client``).
        clock: ``minReadySeconds`` is measured on it.
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

    async def reconcile(self, key: str) -> _common.Result:
        """Take the set one step towards its spec and write its status."""
        namespace, name = _common.split_key(key)
        sts = await self.reader.get(_apps.StatefulSet, name, namespace=namespace)
        if sts is None:
            return _common.Result()
        selector = _selector.label_selector_as_selector(sts.spec.selector)
        candidates = await self.reader.list(_core_pod.Pod, namespace=namespace)
        claimed = _common.claim(sts, selector, candidates)
        for pod in claimed.release:
            await _common.release(self.client, sts, pod)
        pods: dict[int, _core_pod.Pod] = {}
        for pod in claimed.owned + claimed.adopt:
            ordinal = parse_ordinal(name, pod.metadata.name)
            if ordinal is None:
                continue
            if pod in claimed.adopt:
                try:
                    pod = await _common.adopt(self.client, sts, pod)
                except (errors.NotFound, errors.Conflict):
                    continue
            pods[ordinal] = pod
        revisions = await _revisions.list_revisions(self.reader, sts)
        synced = await _revisions.sync_revisions(self.client, sts, revisions)
        update = synced.update.metadata.name
        current = sts.status.current_revision or update
        if not any(r.metadata.name == current for r in synced.all):
            current = update
        if sts.metadata.deletion_timestamp is None:
            pods = await self._step(sts, pods, current, update)
        await self._write_status(sts, pods, current, update)
        in_use = {current, update} | {
            p.metadata.labels.get(_revisions.REVISION_LABEL, "") for p in pods.values()
        }
        await _revisions.truncate_history(self.client, sts, synced.all, in_use)
        wait = _common.available_in(pods.values(), sts.spec.min_ready_seconds, self.clock.time())
        return _common.Result(wait)

    # -- one step ------------------------------------------------------------------------

    def _range(self, sts: _apps.StatefulSet) -> range:
        start = sts.spec.ordinals.start if sts.spec.ordinals is not None else 0
        replicas = 1 if sts.spec.replicas is None else sts.spec.replicas
        return range(start, start + replicas)

    def _target_revision(
        self, sts: _apps.StatefulSet, ordinal: int, current: str, update: str
    ) -> str:
        strategy = sts.spec.update_strategy
        if strategy.type in ("", "RollingUpdate"):
            rolling = strategy.rolling_update
            partition = rolling.partition if rolling is not None else None
            if partition is not None and ordinal < partition:
                return current
        return update

    async def _step(
        self, sts: _apps.StatefulSet, pods: dict[int, _core_pod.Pod], current: str, update: str
    ) -> dict[int, _core_pod.Pod]:
        wanted = self._range(sts)
        parallel = sts.spec.pod_management_policy == "Parallel"
        pods = dict(pods)
        # failed pods are deleted, to be recreated with the same identity
        for ordinal, pod in list(pods.items()):
            if pod.status.phase == "Failed" and pod.metadata.deletion_timestamp is None:
                await self._delete(pod)
                del pods[ordinal]
        for ordinal in wanted:
            existing = pods.get(ordinal)
            if existing is None:
                revision = self._target_revision(sts, ordinal, current, update)
                pods[ordinal] = await self._create(sts, ordinal, revision)
                if not parallel:
                    return pods
                continue
            if not parallel and not _running_and_ready(existing):
                return pods  # OrderedReady: wait for this one before going on
        surplus = sorted((o for o in pods if o not in wanted), reverse=True)
        if surplus:
            if parallel:
                for ordinal in surplus:
                    if pods[ordinal].metadata.deletion_timestamp is None:
                        await self._delete(pods[ordinal])
                return pods
            if any(not _running_and_ready(p) for o, p in pods.items() if o != surplus[0]):
                return pods
            if pods[surplus[0]].metadata.deletion_timestamp is None:
                await self._delete(pods[surplus[0]])
            return pods
        strategy = sts.spec.update_strategy.type or "RollingUpdate"
        if strategy != "RollingUpdate":
            return pods
        if any(not _running_and_ready(p) for p in pods.values()):
            return pods
        for ordinal in sorted(wanted, reverse=True):
            pod = pods[ordinal]
            target = self._target_revision(sts, ordinal, current, update)
            if pod.metadata.labels.get(_revisions.REVISION_LABEL) != target:
                await self._delete(pod)
                return pods
        return pods

    async def _create(self, sts: _apps.StatefulSet, ordinal: int, revision: str) -> _core_pod.Pod:
        name = f"{sts.metadata.name}-{ordinal}"
        template = sts.spec.template
        volumes = list(template.spec.volumes)
        for claim_template in sts.spec.volume_claim_templates:
            claim_name = f"{claim_template.metadata.name}-{name}"
            await self._ensure_claim(sts, claim_template, claim_name)
            volumes = [v for v in volumes if v.name != claim_template.metadata.name]
            volumes.append(
                _core_volume.Volume(
                    name=claim_template.metadata.name,
                    persistent_volume_claim=_core_volume.PersistentVolumeClaimVolumeSource(
                        claim_name=claim_name
                    ),
                )
            )
        spec = attrs.evolve(
            template.spec,
            hostname=name,
            subdomain=sts.spec.service_name,
            volumes=volumes,
        )
        labels = {
            POD_NAME_LABEL: name,
            POD_INDEX_LABEL: str(ordinal),
            _revisions.REVISION_LABEL: revision,
        }
        pod = _common.pod_from_template(
            attrs.evolve(template, spec=spec), sts, name=name, extra_labels=labels
        )
        try:
            created: _core_pod.Pod = await self.client.create(pod)
        except errors.AlreadyExists:
            existing: _core_pod.Pod = await self.client.get(
                _core_pod.Pod, name, namespace=sts.metadata.namespace
            )
            return existing
        return created

    async def _ensure_claim(
        self,
        sts: _apps.StatefulSet,
        claim_template: _core_volume.PersistentVolumeClaim,
        claim_name: str,
    ) -> None:
        namespace = sts.metadata.namespace
        if await self.reader.get(
            _core_volume.PersistentVolumeClaim, claim_name, namespace=namespace
        ):
            return
        labels = dict(claim_template.metadata.labels)
        if sts.spec.selector is not None:
            labels.update(sts.spec.selector.match_labels)
        owners: list[_meta.OwnerReference] = []
        policy = sts.spec.persistent_volume_claim_retention_policy
        if policy is not None and policy.when_deleted == "Delete":
            owners.append(_common.owner_reference(sts))
        claim = _core_volume.PersistentVolumeClaim(
            metadata=_meta.ObjectMeta(
                name=claim_name,
                namespace=namespace,
                labels=labels,
                annotations=dict(claim_template.metadata.annotations),
                owner_references=owners,
            ),
            spec=claim_template.spec,
        )
        with contextlib.suppress(errors.AlreadyExists):
            await self.client.create(claim)

    async def _delete(self, pod: _core_pod.Pod) -> None:
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(
                _core_pod.Pod,
                pod.metadata.name,
                namespace=pod.metadata.namespace,
                preconditions=_meta.Preconditions(uid=pod.metadata.uid),
            )

    # -- status --------------------------------------------------------------------------

    async def _write_status(
        self, sts: _apps.StatefulSet, pods: dict[int, _core_pod.Pod], current: str, update: str
    ) -> None:
        now = self.clock.time()
        live = [p for p in pods.values() if p.metadata.deletion_timestamp is None]
        revision_of = [p.metadata.labels.get(_revisions.REVISION_LABEL) for p in live]
        ready = sum(1 for p in live if _common.is_pod_ready(p))
        available = sum(
            1 for p in live if _common.is_pod_available(p, sts.spec.min_ready_seconds, now)
        )
        updated = revision_of.count(update)
        replicas = len(self._range(sts))
        if updated == replicas and ready == replicas and len(live) == replicas:
            current = update
        status = attrs.evolve(
            sts.status,
            observed_generation=sts.metadata.generation,
            replicas=len(live),
            ready_replicas=ready,
            available_replicas=available,
            current_replicas=revision_of.count(current),
            updated_replicas=updated,
            current_revision=current,
            update_revision=update,
        )
        if status == sts.status:
            return
        with contextlib.suppress(errors.NotFound):
            await self.client.update_status(attrs.evolve(sts, status=status))
