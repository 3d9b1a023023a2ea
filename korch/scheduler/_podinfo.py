"""What the scheduler precomputes about a pod, once per pod (and once per spec signature).

:class:`PodInfo` holds a pod's resource requests (kube-scheduler's ``PodRequests``: the sum
of the containers, at least the largest init container, restartable init containers added,
plus overhead), its non-zero requests for scoring (100m CPU and 200Mi memory for a container
that requests none), host ports, compiled node affinity, tolerations, pod (anti-)affinity
terms and topology spread constraints, and a ``signature``: two pods with the same
signature are interchangeable for every default plugin, so the framework shares
precomputed work between them (``equivalent pods``).

Affinity terms are resolved as kube-scheduler does: ``namespaces`` empty and no
``namespaceSelector`` means the pod's own namespace; an empty ``namespaceSelector`` means
every namespace; ``matchLabelKeys``/``mismatchLabelKeys`` merge the pod's own label values
into the selector. A non-empty ``namespaceSelector`` needs Namespace labels, which the
scheduler does not track: such a term selects only its listed ``namespaces``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import attrs

from korch import errors
from korch.api import _core_pod, _quantity, _scheduling_terms, _selector

__all__ = ("AffinityTerm", "PodInfo", "QueuedPodInfo", "SpreadConstraint", "pod_key")

DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"
HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"


def pod_key(pod: _core_pod.Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


@functools.lru_cache(maxsize=4096)
def quantity_amount(resource: str, text: str) -> int:
    """A request as an integer: CPU in millicores, everything else in units (bytes…)."""
    q = _quantity.Quantity(text)
    return q.milli_value() if resource == CPU else q.value()


def resource_amounts(values: Mapping[str, str]) -> dict[str, int]:
    return {name: quantity_amount(name, str(text)) for name, text in values.items()}


def _add(into: dict[str, int], values: Mapping[str, int]) -> None:
    for name, amount in values.items():
        into[name] = into.get(name, 0) + amount


def pod_requests(spec: _core_pod.PodSpec, *, non_zero: bool = False) -> dict[str, int]:
    """kube-scheduler's pod requests; ``non_zero`` substitutes the scoring defaults for
    containers that do not request CPU or memory."""

    def container(c: Any) -> dict[str, int]:
        requests = resource_amounts(c.resources.requests if c.resources else {})
        if non_zero:
            requests.setdefault(CPU, DEFAULT_MILLI_CPU)
            requests.setdefault(MEMORY, DEFAULT_MEMORY)
        return requests

    total: dict[str, int] = {}
    for c in spec.containers:
        _add(total, container(c))
    sidecars: dict[str, int] = {}
    for c in spec.init_containers:
        requests = container(c)
        if c.restart_policy == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            continue
        # a regular init container runs alone, next to the sidecars started before it
        peak = dict(sidecars)
        _add(peak, requests)
        for name, amount in peak.items():
            if amount > total.get(name, 0):
                total[name] = amount
    _add(total, resource_amounts(spec.overhead))
    return {name: amount for name, amount in total.items() if amount or name in (CPU, MEMORY)}


@attrs.frozen
class AffinityTerm:
    """A resolved pod (anti-)affinity term: which pods it selects and along which label."""

    selector: _selector.Selector
    namespaces: frozenset[str] | None  # None: every namespace
    topology_key: str

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        if self.namespaces is not None and namespace not in self.namespaces:
            return False
        return self.selector.matches(labels)


@attrs.frozen
class SpreadConstraint:
    """A resolved topology spread constraint."""

    max_skew: int
    topology_key: str
    hard: bool  # whenUnsatisfiable: DoNotSchedule
    selector: _selector.Selector
    min_domains: int
    honor_node_affinity: bool
    honor_node_taints: bool


def _affinity_term(
    term: _core_pod.PodAffinityTerm, namespace: str, labels: Mapping[str, str]
) -> AffinityTerm:
    selector = _selector.label_selector_as_selector(term.label_selector)
    extra = [
        _selector.make_requirement(key, "in", (labels[key],))
        for key in term.match_label_keys
        if key in labels and term.label_selector is not None
    ] + [
        _selector.make_requirement(key, "notin", (labels[key],))
        for key in term.mismatch_label_keys
        if key in labels and term.label_selector is not None
    ]
    if extra:
        selector = selector.add(*extra)
    namespaces: frozenset[str] | None = frozenset(term.namespaces)
    ns_selector = term.namespace_selector
    if (
        ns_selector is not None
        and not ns_selector.match_labels
        and not (ns_selector.match_expressions)
    ):
        namespaces = None
    elif not term.namespaces and ns_selector is None:
        namespaces = frozenset({namespace})
    return AffinityTerm(selector, namespaces, term.topology_key)


@attrs.frozen(eq=False)
class PodInfo:
    """A pod with everything the plugins need, computed once (see the module docstring)."""

    pod: _core_pod.Pod
    key: str
    namespace: str
    labels: Mapping[str, str]
    priority: int
    requests: Mapping[str, int]
    non_zero_cpu: int
    non_zero_memory: int
    host_ports: tuple[tuple[str, str, int], ...]
    node_selector: Mapping[str, str]
    required_node_affinity: _scheduling_terms.CompiledNodeSelector | None
    preferred_node_affinity: tuple[tuple[int, _scheduling_terms.CompiledNodeSelectorTerm], ...]
    tolerations: tuple[_core_pod.Toleration, ...]
    required_affinity: tuple[AffinityTerm, ...]
    required_anti_affinity: tuple[AffinityTerm, ...]
    preferred_affinity: tuple[tuple[int, AffinityTerm], ...]
    preferred_anti_affinity: tuple[tuple[int, AffinityTerm], ...]
    spread_constraints: tuple[SpreadConstraint, ...]
    images: tuple[str, ...]
    signature: tuple[Any, ...]

    @property
    def terminating(self) -> bool:
        return self.pod.metadata.deletion_timestamp is not None

    @property
    def has_affinity(self) -> bool:
        return bool(
            self.required_affinity
            or self.required_anti_affinity
            or self.preferred_affinity
            or self.preferred_anti_affinity
        )

    @classmethod
    def of(cls, pod: _core_pod.Pod) -> PodInfo:
        """Precompute a pod's scheduling data.

        Raises:
            korch.errors.BadRequest: an invalid label selector or quantity in the spec.
        """
        meta = pod.metadata
        shared = _shared(_signature(pod), pod)
        return cls(pod=pod, key=f"{meta.namespace}/{meta.name}", **shared)


def normalized_image(name: str) -> str:
    """``nginx`` -> ``nginx:latest`` (a name without a tag or digest means ``:latest``)."""
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return name + ":latest"


def _signature(pod: _core_pod.Pod) -> tuple[Any, ...]:
    """What decides placement, minus the pod's identity (namespace and labels included:
    selectors match them). Equal signatures ⇒ interchangeable pods for every plugin."""
    spec = pod.spec
    return (
        pod.metadata.namespace,
        tuple(sorted(pod.metadata.labels.items())),
        spec.priority,
        repr(spec.containers),
        repr(spec.init_containers),
        tuple(sorted(spec.overhead.items())),
        tuple(sorted(spec.node_selector.items())),
        repr(spec.affinity),
        repr(spec.tolerations),
        repr(spec.topology_spread_constraints),
        spec.node_name,
    )


_SHARED: dict[tuple[Any, ...], dict[str, Any]] = {}


def _shared(signature: tuple[Any, ...], pod: _core_pod.Pod) -> dict[str, Any]:
    found = _SHARED.get(signature)
    if found is None:
        if len(_SHARED) > 4096:
            _SHARED.clear()
        found = _SHARED[signature] = _compute(signature, pod)
    return found


def _compute(signature: tuple[Any, ...], pod: _core_pod.Pod) -> dict[str, Any]:
    spec, meta = pod.spec, pod.metadata
    namespace, labels = meta.namespace, dict(meta.labels)
    non_zero = pod_requests(spec, non_zero=True)
    ports = tuple(
        (p.host_ip or "0.0.0.0", p.protocol or "TCP", p.host_port)
        for c in [*spec.init_containers, *spec.containers]
        for p in c.ports
        if p.host_port > 0
    )
    node_affinity = spec.affinity.node_affinity if spec.affinity else None
    required = None
    preferred: tuple[tuple[int, Any], ...] = ()
    if node_affinity is not None:
        if node_affinity.required_during_scheduling_ignored_during_execution is not None:
            required = _scheduling_terms.compile_node_selector(
                node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
            )
        preferred = tuple(
            (t.weight, _scheduling_terms.compile_node_selector_term(t.preference))
            for t in node_affinity.preferred_during_scheduling_ignored_during_execution
            if t.weight
        )
    affinity = spec.affinity.pod_affinity if spec.affinity else None
    anti = spec.affinity.pod_anti_affinity if spec.affinity else None

    def terms(source: Any) -> tuple[AffinityTerm, ...]:
        if source is None:
            return ()
        return tuple(
            _affinity_term(t, namespace, labels)
            for t in source.required_during_scheduling_ignored_during_execution
        )

    def weighted(source: Any) -> tuple[tuple[int, AffinityTerm], ...]:
        if source is None:
            return ()
        return tuple(
            (t.weight, _affinity_term(t.pod_affinity_term, namespace, labels))
            for t in source.preferred_during_scheduling_ignored_during_execution
            if t.weight
        )

    spread = []
    for c in spec.topology_spread_constraints:
        if c.label_selector is None:
            selector = _selector.Selector.nothing()
        else:
            selector = _selector.label_selector_as_selector(c.label_selector)
            extra = [
                _selector.make_requirement(key, "in", (labels[key],))
                for key in c.match_label_keys
                if key in labels
            ]
            if extra:
                selector = selector.add(*extra)
        if c.when_unsatisfiable not in ("DoNotSchedule", "ScheduleAnyway"):
            raise errors.BadRequest(
                f"whenUnsatisfiable: Unsupported value: {c.when_unsatisfiable!r}"
            )
        spread.append(
            SpreadConstraint(
                max_skew=c.max_skew,
                topology_key=c.topology_key,
                hard=c.when_unsatisfiable == "DoNotSchedule",
                selector=selector,
                min_domains=c.min_domains or 1,
                honor_node_affinity=(c.node_affinity_policy or "Honor") == "Honor",
                honor_node_taints=(c.node_taints_policy or "Ignore") == "Honor",
            )
        )
    return {
        "namespace": namespace,
        "labels": labels,
        "priority": spec.priority or 0,
        "requests": pod_requests(spec),
        "non_zero_cpu": non_zero.get(CPU, 0),
        "non_zero_memory": non_zero.get(MEMORY, 0),
        "host_ports": ports,
        "node_selector": dict(spec.node_selector),
        "required_node_affinity": required,
        "preferred_node_affinity": preferred,
        "tolerations": tuple(spec.tolerations),
        "required_affinity": terms(affinity),
        "required_anti_affinity": terms(anti),
        "preferred_affinity": weighted(affinity),
        "preferred_anti_affinity": weighted(anti),
        "spread_constraints": tuple(spread),
        "images": tuple(normalized_image(c.image) for c in spec.containers if c.image),
        "signature": signature,
    }


@attrs.define(eq=False)
class QueuedPodInfo:
    """A pod in the scheduling queue, with its attempt history."""

    info: PodInfo
    timestamp: float  # when it (re-)entered the queue; QueueSort's tie-breaker
    initial_attempt: float | None = None
    attempts: int = 0
    unschedulable_plugins: set[str] = attrs.Factory(set)
    gated: bool = False
    backoff_until: float = 0.0
