"""Per-kind server behaviour that is more than a flag: pods and namespaces.

kube-apiserver's registries (``pkg/registry/core/pod``, ``.../namespace``) do a few things
on create, update and delete that only make sense for one kind; they are the functions
here, plugged into :class:`korch.apiserver._strategy.Strategy` entries:

* Pod create: ``status`` becomes ``{phase: Pending, qosClass: <computed>}`` (plus the
  ``PodScheduled=False/SchedulingGated`` condition for gated pods);
* Pod delete: the grace period (:func:`pod_grace_period`) — the request's, else the pod's
  ``terminationGracePeriodSeconds``; 0 for a pod on no node or already finished;
* Namespace create: ``status.phase: Active`` and the ``kubernetes`` finalizer in
  ``spec.finalizers``; updates cannot change ``spec.finalizers`` (only the ``finalize``
  subresource can).
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from korch import errors
from korch.api import _core_node, _core_pod, _quantity

__all__ = (
    "NAMESPACE_FINALIZER",
    "pod_grace_period",
    "pod_qos_class",
    "prepare_namespace_create",
    "prepare_namespace_update",
    "prepare_pod_create",
)

NAMESPACE_FINALIZER: Final = "kubernetes"
_QOS_RESOURCES: Final = ("cpu", "memory")


def _nonzero(amounts: dict[str, str], into: dict[str, _quantity.Quantity]) -> set[str]:
    found = set()
    for name in _QOS_RESOURCES:
        text = amounts.get(name)
        if text is None:
            continue
        try:
            amount = _quantity.Quantity(text)
        except errors.BadRequest:
            continue  # validation reports it; QoS ignores what it cannot read
        if not amount.is_zero():
            found.add(name)
            into[name] = into[name] + amount if name in into else amount
    return found


def pod_qos_class(pod: _core_pod.Pod) -> str:
    """The pod's QoS class (``Guaranteed``, ``Burstable`` or ``BestEffort``), as the kubelet
    and kube-apiserver compute it from the containers' cpu and memory requests and limits."""
    requests: dict[str, _quantity.Quantity] = {}
    limits: dict[str, _quantity.Quantity] = {}
    guaranteed = True
    for container in [*pod.spec.init_containers, *pod.spec.containers]:
        resources = container.resources
        _nonzero(resources.requests, requests)
        if _nonzero(resources.limits, limits) != set(_QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    same = all(limits.get(name) == amount for name, amount in requests.items())
    if guaranteed and same and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def prepare_pod_create(pod: Any) -> Any:
    """A new pod's server-set status: Pending, its QoS class, and SchedulingGated if gated."""
    conditions = []
    if pod.spec.scheduling_gates:
        conditions.append(
            _core_pod.PodCondition(
                type="PodScheduled",
                status="False",
                reason="SchedulingGated",
                message="Scheduling is blocked due to non-empty scheduling gates",
            )
        )
    status = _core_pod.PodStatus(
        phase="Pending", qos_class=pod_qos_class(pod), conditions=conditions
    )
    return attrs.evolve(pod, status=status)


def pod_grace_period(pod: Any, requested: int | None) -> int:
    """The grace period of a pod deletion (kube-apiserver's ``CheckGracefulDelete``).

    Args:
        pod: the pod being deleted.
        requested: the request's ``gracePeriodSeconds`` (``None``: use the pod's).

    Returns:
        Seconds; 0 when the pod is on no node or has finished (it is deleted at once).
    """
    if requested is not None:
        period = requested
    else:
        period = pod.spec.termination_grace_period_seconds or 0
    if not pod.spec.node_name or pod.status.phase in ("Failed", "Succeeded"):
        period = 0
    return 1 if period < 0 else period


def prepare_namespace_create(namespace: Any) -> Any:
    """A new namespace is Active and carries the ``kubernetes`` finalizer."""
    finalizers = list(namespace.spec.finalizers)
    if NAMESPACE_FINALIZER not in finalizers:
        finalizers.append(NAMESPACE_FINALIZER)
    return attrs.evolve(
        namespace,
        spec=attrs.evolve(namespace.spec, finalizers=finalizers),
        status=_core_node.NamespaceStatus(phase="Active"),
    )


def prepare_namespace_update(new: Any, old: Any, subresource: str) -> Any:
    """Only the ``finalize`` subresource may change ``spec.finalizers``."""
    if subresource == "finalize":
        return attrs.evolve(new, status=old.status)
    if subresource == "":
        return attrs.evolve(new, spec=attrs.evolve(new.spec, finalizers=old.spec.finalizers))
    return new
