"""VolumeBinding and VolumeZone basics: pods with PersistentVolumeClaims.

The scheduler watches PersistentVolumeClaims and PersistentVolumes (``Scheduler.claims``,
``Scheduler.volumes``). For a pod whose volumes use claims:

* **VolumeBinding** — PreFilter: every claim must exist (``persistentvolumeclaim "data" not
  found``), not be being deleted, and be bound to a volume (``pod has unbound immediate
  PersistentVolumeClaims``), all unresolvable. Filter: a bound volume's
  ``spec.nodeAffinity.required`` must match the node (``node(s) had volume node affinity
  conflict``). Delayed binding (``WaitForFirstConsumer``: choosing and provisioning a volume
  for the chosen node) is not done; such claims count as unbound.
* **VolumeZone** — Filter: a bound volume labelled with a zone or region
  (``topology.kubernetes.io/zone``/``region`` and the ``failure-domain.beta`` forms; several
  values joined by ``__``) restricts the pod to nodes with a matching label; nodes without
  any zone or region label are not restricted, as in kube-scheduler (``node(s) had no
  available volume zone``).

Pods without claims skip both plugins at PreFilter, so they cost nothing on the fast path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from korch.api import _scheduling_terms
from korch.scheduler import _cache, _plugins_node, _podinfo
from korch.scheduler import _framework as fw

__all__ = ("VolumeBinding", "VolumeZone")

REASON_AFFINITY = "node(s) had volume node affinity conflict"
REASON_ZONE = "node(s) had no available volume zone"
UNBOUND = "pod has unbound immediate PersistentVolumeClaims"
TOPOLOGY_LABELS = (
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
)
_CLAIM_EVENTS = (
    fw.ClusterEvent(fw.EventResource.PERSISTENT_VOLUME_CLAIM, fw.ActionType.ADD),
    fw.ClusterEvent(fw.EventResource.PERSISTENT_VOLUME_CLAIM, fw.ActionType.UPDATE),
    fw.ClusterEvent(fw.EventResource.PERSISTENT_VOLUME, fw.ActionType.ADD),
    fw.ClusterEvent(fw.EventResource.PERSISTENT_VOLUME, fw.ActionType.UPDATE),
    fw.ClusterEvent(fw.EventResource.NODE, fw.ActionType.ADD | fw.ActionType.UPDATE_NODE_LABEL),
)


def _claims(pod: _podinfo.PodInfo) -> list[str]:
    return [
        v.persistent_volume_claim.claim_name
        for v in pod.pod.spec.volumes
        if v.persistent_volume_claim is not None
    ]


class _VolumePlugin(_plugins_node.PluginBase):
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def _bound_volumes(self, pod: _podinfo.PodInfo) -> tuple[list[Any], fw.Status]:
        """The pod's bound PersistentVolumes, or why the pod cannot be placed."""
        scheduler = self.handle.extra.get("scheduler")
        claims = scheduler.claims.known if scheduler and scheduler.claims else {}
        volumes = scheduler.volumes.known if scheduler and scheduler.volumes else {}
        found = []
        for name in _claims(pod):
            claim = claims.get(f"{pod.namespace}/{name}")
            if claim is None:
                return [], fw.Status.unresolvable(
                    f'persistentvolumeclaim "{name}" not found', plugin=self.name
                )
            if claim.metadata.deletion_timestamp is not None:
                return [], fw.Status.unresolvable(
                    f'persistentvolumeclaim "{name}" is being deleted', plugin=self.name
                )
            volume = volumes.get(f"/{claim.spec.volume_name}") if claim.spec.volume_name else None
            if volume is None:
                return [], fw.Status.unresolvable(UNBOUND, plugin=self.name)
            found.append(volume)
        return found, fw.SUCCESS

    def pre_filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, cache: _cache.Cache
    ) -> tuple[fw.PreFilterResult | None, fw.Status]:
        if not _claims(pod):
            return None, fw.Status(fw.Code.SKIP)
        volumes, status = self._bound_volumes(pod)
        state.write(self.name, volumes)
        return None, status

    def events_to_register(self) -> Sequence[fw.ClusterEvent]:
        return _CLAIM_EVENTS


class VolumeBinding(_VolumePlugin):
    """See the module docstring."""

    name = "VolumeBinding"

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        fields = _scheduling_terms.node_fields(node.name)
        for volume in state.read(self.name):
            affinity = volume.spec.node_affinity
            if affinity is None or affinity.required is None:
                continue
            terms = _scheduling_terms.compile_node_selector(affinity.required.node_selector_terms)
            if not terms.matches(node.labels, fields):
                return fw.Status.unresolvable(REASON_AFFINITY, plugin=self.name)
        return fw.SUCCESS


class VolumeZone(_VolumePlugin):
    """See the module docstring."""

    name = "VolumeZone"

    def filter(
        self, state: fw.CycleState, pod: _podinfo.PodInfo, node: _cache.NodeInfo
    ) -> fw.Status:
        if not any(key in node.labels for key in TOPOLOGY_LABELS):
            return fw.SUCCESS
        for volume in state.read(self.name):
            for key in TOPOLOGY_LABELS:
                value = volume.metadata.labels.get(key)
                if value is None:
                    continue
                if node.labels.get(key) not in set(value.split("__")):
                    return fw.Status.unresolvable(REASON_ZONE, plugin=self.name)
        return fw.SUCCESS
