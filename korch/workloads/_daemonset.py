"""The DaemonSet controller: one pod on every eligible node, updated node by node.

One reconcile (kube-controller-manager's ``daemonset`` controller):

* **eligible nodes** (:func:`should_run_on`) — the template's ``nodeSelector`` and required
  node affinity match the node, and every ``NoSchedule``/``NoExecute`` taint is tolerated
  by the template's tolerations plus the ones every daemon pod gets
  (:data:`DEFAULT_TOLERATIONS`: ``not-ready``/``unreachable`` NoExecute without a time
  limit, ``disk-pressure``, ``memory-pressure``, ``pid-pressure`` and ``unschedulable``
  NoSchedule, and ``network-unavailable`` for host-network pods). A cordoned node
  (``spec.unschedulable``) therefore keeps its daemon pod, as in Kubernetes;
  A pod already on a node stays unless a ``NoExecute`` taint it does not tolerate appears
  or the node no longer matches;
* **pods** — a missing pod is created for the node with those tolerations and a required
  node affinity ``matchFields: metadata.name In [<node>]`` (the scheduler binds it), so nodes
  joining get a pod; pods on nodes that left, or that are no longer eligible, are deleted;
  extra pods on one node are deleted (the oldest stays); failed pods are deleted and
  replaced;
* **updates** — pods carry the ``controller-revision-hash`` of the template's
  ControllerRevision. ``RollingUpdate`` (default) deletes old pods while at most
  ``maxUnavailable`` (default 1; a percentage of the desired nodes, rounded up) eligible
  nodes are without an available pod — old pods that are not available go first;
  ``OnDelete`` waits for the user;
* **status** — ``desiredNumberScheduled``, ``currentNumberScheduled``,
  ``numberMisscheduled``, ``numberReady``, ``numberAvailable``, ``numberUnavailable``,
  ``updatedNumberScheduled``, ``observedGeneration``.

Not done: ``maxSurge`` (updates never run two pods on a node) and the failed-pod back-off.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import (
    _apps,
    _core_node,
    _core_pod,
    _core_volume,
    _quantity,
    _scheduling_terms,
    _selector,
)
from korch.client import Client
from korch.workloads import _common, _expectations, _revisions

__all__ = ("DEFAULT_TOLERATIONS", "DaemonSetReconciler", "daemon_tolerations", "should_run_on")

logger = logging.getLogger(__name__)

_TOLERATE: Final = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
DEFAULT_TOLERATIONS: Final = tuple(
    _core_pod.Toleration(key=key, operator="Exists", effect=effect) for key, effect in _TOLERATE
)
_NETWORK_UNAVAILABLE: Final = _core_pod.Toleration(
    key="node.kubernetes.io/network-unavailable", operator="Exists", effect="NoSchedule"
)
_UNSCHEDULABLE_TAINT: Final = _core_node.Taint(
    key="node.kubernetes.io/unschedulable", effect="NoSchedule"
)


def daemon_tolerations(spec: _core_pod.PodSpec) -> list[_core_pod.Toleration]:
    """The pod's tolerations plus the daemon defaults it lacks."""
    tolerations = list(spec.tolerations)
    extra = list(DEFAULT_TOLERATIONS)
    if spec.host_network:
        extra.append(_NETWORK_UNAVAILABLE)
    for toleration in extra:
        if toleration not in tolerations:
            tolerations.append(toleration)
    return tolerations


def should_run_on(
    template: _core_pod.PodTemplateSpec,
    node: _core_node.Node,
    *,
    effects: tuple[str, ...] = ("NoSchedule", "NoExecute"),
) -> bool:
    """Whether a daemon pod from ``template`` belongs on ``node`` (see the module docstring).

    With ``effects=("NoExecute",)`` it answers whether a pod already there may *stay*
    (a new ``NoSchedule`` taint does not evict it).
    """
    spec = template.spec
    required = None
    affinity = spec.affinity.node_affinity if spec.affinity is not None else None
    if affinity is not None and affinity.required_during_scheduling_ignored_during_execution:
        required = affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
    fields = _scheduling_terms.node_fields(node.metadata.name)
    if not _scheduling_terms.required_node_affinity_matches(
        spec.node_selector, required, node.metadata.labels, fields
    ):
        return False
    taints = list(node.spec.taints)
    if node.spec.unschedulable:
        taints.append(_UNSCHEDULABLE_TAINT)
    untolerated = _scheduling_terms.find_untolerated_taint(
        taints, daemon_tolerations(spec), effects
    )
    return untolerated is None


def _node_of(pod: _core_pod.Pod) -> str:
    if pod.spec.node_name:
        return pod.spec.node_name
    affinity = pod.spec.affinity.node_affinity if pod.spec.affinity is not None else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    for term in required.node_selector_terms if required else ():
        for field in term.match_fields:
            if field.key == "metadata.name" and field.operator == "In" and len(field.values) == 1:
                return field.values[0]
    return ""


def _pin_to_node(spec: _core_pod.PodSpec, node: str) -> _core_pod.PodSpec:
    term = _core_volume.NodeSelectorTerm(
        match_fields=[
            _core_volume.NodeSelectorRequirement(key="metadata.name", operator="In", values=[node])
        ]
    )
    selector = _core_volume.NodeSelector(node_selector_terms=[term])
    affinity = spec.affinity or _core_pod.Affinity()
    node_affinity = affinity.node_affinity or _core_pod.NodeAffinity()
    node_affinity = attrs.evolve(
        node_affinity, required_during_scheduling_ignored_during_execution=selector
    )
    return attrs.evolve(
        spec,
        affinity=attrs.evolve(affinity, node_affinity=node_affinity),
        tolerations=daemon_tolerations(spec),
    )


class DaemonSetReconciler:
    """Reconciles one DaemonSet per key (see the module docstring).

    Args:
        client: writes pods, revisions and status.
        reader: reads daemon sets, nodes, pods and revisions (default: live via ``client``).
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
        self.expectations = _expectations.Expectations(self.clock)

    async def reconcile(self, key: str) -> _common.Result:
        """Put a pod on every eligible node, take the others away, update, report."""
        namespace, name = _common.split_key(key)
        ds = await self.reader.get(_apps.DaemonSet, name, namespace=namespace)
        if ds is None:
            self.expectations.forget(key)
            return _common.Result()
        selector = _selector.label_selector_as_selector(ds.spec.selector)
        candidates = await self.reader.list(_core_pod.Pod, namespace=namespace)
        claimed = _common.claim(ds, selector, candidates)
        for pod in claimed.release:
            await _common.release(self.client, ds, pod)
        owned = list(claimed.owned)
        for pod in claimed.adopt:
            try:
                owned.append(await _common.adopt(self.client, ds, pod))
            except (errors.NotFound, errors.Conflict):
                continue
        nodes = await self.reader.list(_core_node.Node)
        revisions = await _revisions.list_revisions(self.reader, ds)
        synced = await _revisions.sync_revisions(self.client, ds, revisions)
        update = synced.update.metadata.name
        by_node: dict[str, list[_core_pod.Pod]] = {}
        for pod in owned:
            if pod.metadata.deletion_timestamp is None:
                by_node.setdefault(_node_of(pod), []).append(pod)
        eligible = {n.metadata.name for n in nodes if should_run_on(ds.spec.template, n)}
        staying = {
            n.metadata.name
            for n in nodes
            if should_run_on(ds.spec.template, n, effects=("NoExecute",))
        }
        settled = self.expectations.satisfied(key, owned)
        if ds.metadata.deletion_timestamp is None and settled:
            by_node = await self._manage(key, ds, eligible, staying, by_node, update)
            by_node = await self._rolling_update(key, ds, eligible, by_node, update)
        await self._write_status(ds, eligible, by_node, update)
        in_use = {update} | {
            p.metadata.labels.get(_revisions.REVISION_LABEL, "")
            for pods in by_node.values()
            for p in pods
        }
        await _revisions.truncate_history(self.client, ds, synced.all, in_use)
        flat = [p for pods in by_node.values() for p in pods]
        wait = _common.available_in(flat, ds.spec.min_ready_seconds, self.clock.time())
        return _common.Result(wait)

    async def _manage(
        self,
        key: str,
        ds: _apps.DaemonSet,
        eligible: set[str],
        staying: set[str],
        by_node: dict[str, list[_core_pod.Pod]],
        update: str,
    ) -> dict[str, list[_core_pod.Pod]]:
        result: dict[str, list[_core_pod.Pod]] = {}
        for node, pods in by_node.items():
            keep: list[_core_pod.Pod] = []
            for pod in _common.oldest_first(pods):
                failed = pod.status.phase == "Failed"
                if node in staying and not failed and not keep:
                    keep.append(pod)
                else:
                    await self._delete(key, pod)
            if keep:
                result[node] = keep
        for node in sorted(eligible - set(result)):
            result[node] = [await self._create(key, ds, node, update)]
        return result

    async def _rolling_update(
        self,
        key: str,
        ds: _apps.DaemonSet,
        eligible: set[str],
        by_node: dict[str, list[_core_pod.Pod]],
        update: str,
    ) -> dict[str, list[_core_pod.Pod]]:
        strategy = ds.spec.update_strategy
        if strategy.type not in ("", "RollingUpdate"):
            return by_node
        rolling = strategy.rolling_update
        limit_value: int | str = 1
        if rolling is not None and rolling.max_unavailable is not None:
            limit_value = rolling.max_unavailable
        max_unavailable = _quantity.parse_int_or_percent(limit_value, len(eligible), round_up=True)
        now = self.clock.time()
        min_ready = ds.spec.min_ready_seconds

        def available(node: str) -> bool:
            pods = by_node.get(node, [])
            return any(_common.is_pod_available(p, min_ready, now) for p in pods)

        unavailable = sum(1 for node in eligible if not available(node))
        old = [
            node
            for node in sorted(eligible)
            if any(
                p.metadata.labels.get(_revisions.REVISION_LABEL) != update
                for p in by_node.get(node, [])
            )
        ]
        result = dict(by_node)
        for node in sorted(old, key=available):  # unavailable old pods first: free to replace
            if available(node):
                if unavailable >= max_unavailable:
                    break
                unavailable += 1
            for pod in result.pop(node, []):
                await self._delete(key, pod)
        return result

    async def _create(self, key: str, ds: _apps.DaemonSet, node: str, update: str) -> _core_pod.Pod:
        template = attrs.evolve(ds.spec.template, spec=_pin_to_node(ds.spec.template.spec, node))
        pod = _common.pod_from_template(
            template,
            ds,
            generate_name=_common.generate_name_prefix(ds.metadata.name),
            extra_labels={_revisions.REVISION_LABEL: update},
        )
        created: _core_pod.Pod = await self.client.create(pod)
        self.expectations.expect(key, created=[created.metadata.name])
        return created

    async def _delete(self, key: str, pod: _core_pod.Pod) -> None:
        self.expectations.expect(key, deleted=[pod.metadata.uid])
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(
                _core_pod.Pod, pod.metadata.name, namespace=pod.metadata.namespace
            )

    async def _write_status(
        self,
        ds: _apps.DaemonSet,
        eligible: set[str],
        by_node: dict[str, list[_core_pod.Pod]],
        update: str,
    ) -> None:
        now = self.clock.time()
        scheduled = [n for n in by_node if n in eligible]
        first = {n: by_node[n][0] for n in scheduled}
        ready = sum(1 for p in first.values() if _common.is_pod_ready(p))
        available = sum(
            1 for p in first.values() if _common.is_pod_available(p, ds.spec.min_ready_seconds, now)
        )
        status = attrs.evolve(
            ds.status,
            desired_number_scheduled=len(eligible),
            current_number_scheduled=len(scheduled),
            number_misscheduled=sum(1 for n in by_node if n not in eligible),
            number_ready=ready,
            number_available=available,
            number_unavailable=max(len(eligible) - available, 0),
            updated_number_scheduled=sum(
                1
                for p in first.values()
                if p.metadata.labels.get(_revisions.REVISION_LABEL) == update
            ),
            observed_generation=ds.metadata.generation,
        )
        if status == ds.status:
            return
        with contextlib.suppress(errors.NotFound):
            await self.client.update_status(attrs.evolve(ds, status=status))
