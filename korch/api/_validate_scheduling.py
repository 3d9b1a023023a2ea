"""Validation of a pod spec's scheduling constraints, and of node taints.

kube-apiserver's rules and messages for ``nodeSelector``, ``tolerations``, ``affinity``
(node, pod, anti-pod; required terms and weighted preferences), ``topologySpreadConstraints``,
``schedulingGates`` and ``readinessGates``, plus Node ``taints`` (same effect vocabulary as
tolerations). The scheduler (``korch.api._scheduling_terms``) evaluates these terms; this
module only decides whether they are well formed, so a bad term is refused at write time
rather than silently matching nothing.
"""

from __future__ import annotations

from typing import Final

from korch import errors
from korch.api import _core_node as cn
from korch.api import _core_pod as cp
from korch.api import _core_volume as cv
from korch.api import _selector
from korch.api import _validate_common as vc
from korch.api import _validation as fv

__all__ = ("node_selector", "scheduling", "taints", "tolerations")

Causes = vc.Causes

TAINT_EFFECTS: Final = ("NoSchedule", "PreferNoSchedule", "NoExecute")
NODE_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
WHEN_UNSATISFIABLE: Final = ("DoNotSchedule", "ScheduleAnyway")
INCLUSION_POLICIES: Final = ("Honor", "Ignore")
NOT_POSITIVE: Final = "must be greater than zero"


def _effect(effect: str, path: str, causes: Causes, *, allow_empty: bool) -> None:
    if effect in TAINT_EFFECTS:
        return
    if not effect:
        if not allow_empty:
            causes.append(fv.required(path))
        return
    causes.append(fv.not_supported(path, effect, TAINT_EFFECTS))


def tolerations(items: list[cp.Toleration], path: str, causes: Causes) -> None:
    """``ValidateTolerations``: keys, operator/value pairing, effects, tolerationSeconds."""
    for i, toleration in enumerate(items):
        at = f"{path}[{i}]"
        if toleration.key:
            vc.label_name(toleration.key, f"{at}.key", causes)
        operator = toleration.operator
        if not toleration.key and operator != "Exists":
            detail = (
                "operator must be Exists when `key` is empty, which means "
                '"match all values and all keys"'
            )
            causes.append(fv.invalid(f"{at}.operator", operator, detail))
        if toleration.toleration_seconds is not None and toleration.effect != "NoExecute":
            detail = "effect must be 'NoExecute' when `tolerationSeconds` is set"
            causes.append(fv.invalid(f"{at}.effect", toleration.effect, detail))
        if operator in ("Equal", ""):
            problems = _selector.label_value_errors(toleration.value)
            if problems:
                causes.append(fv.invalid(f"{at}.operator", toleration.value, ";".join(problems)))
        elif operator == "Exists":
            if toleration.value:
                detail = "value must be empty when `operator` is 'Exists'"
                causes.append(fv.invalid(f"{at}.operator", vc.wire(toleration), detail))
        else:
            causes.append(fv.not_supported(f"{at}.operator", operator, ("Equal", "Exists")))
        if toleration.effect:
            _effect(toleration.effect, f"{at}.effect", causes, allow_empty=True)


def taints(items: list[cn.Taint], path: str, causes: Causes) -> None:
    """``validateNodeTaints``: key (qualified name), value (label value), effect (required,
    enum), and unique ``(key, effect)`` pairs."""
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(items):
        at = f"{path}[{i}]"
        vc.label_name(taint.key, f"{at}.key", causes)
        for message in _selector.label_value_errors(taint.value):
            causes.append(fv.invalid(f"{at}.value", taint.value, message))
        _effect(taint.effect, f"{at}.effect", causes, allow_empty=False)
        pair = (taint.key, taint.effect)
        if pair in seen:
            detail = "taints must be unique by key and effect pair"
            duplicate = fv.duplicate(at, vc.wire(taint))
            causes.append(errors.Cause(at, f"{duplicate.message}: {detail}", duplicate.reason))
        seen.add(pair)


# -- node affinity -------------------------------------------------------------------------


def _requirement(req: cv.NodeSelectorRequirement, path: str, causes: Causes) -> None:
    operator, values = req.operator, req.values
    if operator in ("In", "NotIn"):
        if not values:
            detail = "must be specified when `operator` is 'In' or 'NotIn'"
            causes.append(fv.required(f"{path}.values", detail))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            detail = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            causes.append(fv.forbidden(f"{path}.values", detail))
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            detail = "must be specified single value when `operator` is 'Lt' or 'Gt'"
            causes.append(fv.required(f"{path}.values", detail))
    else:
        causes.append(fv.invalid(f"{path}.operator", operator, "not a valid selector operator"))
    vc.label_name(req.key, f"{path}.key", causes)


def _field_requirement(req: cv.NodeSelectorRequirement, path: str, causes: Causes) -> None:
    if req.operator in ("In", "NotIn"):
        if len(req.values) != 1:
            detail = (
                "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"
            )
            causes.append(fv.required(f"{path}.values", detail))
    else:
        causes.append(fv.invalid(f"{path}.operator", req.operator, "not a valid selector operator"))
    if req.key != "metadata.name":
        causes.append(fv.invalid(f"{path}.key", req.key, "not a valid field selector key"))


def _term(term: cv.NodeSelectorTerm, path: str, causes: Causes) -> None:
    for j, req in enumerate(term.match_expressions):
        _requirement(req, f"{path}.matchExpressions[{j}]", causes)
    for j, req in enumerate(term.match_fields):
        _field_requirement(req, f"{path}.matchFields[{j}]", causes)


def node_selector(selector: cv.NodeSelector, path: str, causes: Causes) -> None:
    """``ValidateNodeSelector``: at least one term, each requirement well formed."""
    terms = selector.node_selector_terms
    if not terms:
        detail = "must have at least one node selector term"
        causes.append(fv.required(f"{path}.nodeSelectorTerms", detail))
    for i, term in enumerate(terms):
        _term(term, f"{path}.nodeSelectorTerms[{i}]", causes)


def _weight(weight: int, path: str, causes: Causes) -> None:
    if not 1 <= weight <= 100:
        causes.append(fv.invalid(path, weight, "must be in the range 1-100"))


# -- pod affinity --------------------------------------------------------------------------


def _pod_affinity_term(term: cp.PodAffinityTerm, path: str, causes: Causes) -> None:
    vc.label_selector(term.label_selector, f"{path}.labelSelector", causes)
    vc.label_selector(term.namespace_selector, f"{path}.namespaceSelector", causes)
    for i, namespace in enumerate(term.namespaces):
        causes.extend(fv.validate_dns1123_label(namespace, f"{path}.namespaces[{i}]"))
    if not term.topology_key:
        causes.append(fv.required(f"{path}.topologyKey", "can not be empty"))
    else:
        vc.label_name(term.topology_key, f"{path}.topologyKey", causes)
    for wire, keys in (
        ("matchLabelKeys", term.match_label_keys),
        ("mismatchLabelKeys", term.mismatch_label_keys),
    ):
        for i, key in enumerate(keys):
            vc.label_name(key, f"{path}.{wire}[{i}]", causes)


def _pod_affinity(affinity: cp.PodAffinity | cp.PodAntiAffinity, path: str, causes: Causes) -> None:
    required = affinity.required_during_scheduling_ignored_during_execution
    for i, term in enumerate(required):
        _pod_affinity_term(
            term, f"{path}.requiredDuringSchedulingIgnoredDuringExecution[{i}]", causes
        )
    preferred = affinity.preferred_during_scheduling_ignored_during_execution
    for i, weighted in enumerate(preferred):
        at = f"{path}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
        _weight(weighted.weight, f"{at}.weight", causes)
        _pod_affinity_term(weighted.pod_affinity_term, f"{at}.podAffinityTerm", causes)


def _affinity(affinity: cp.Affinity, path: str, causes: Causes) -> None:
    node = affinity.node_affinity
    if node is not None:
        at = f"{path}.nodeAffinity"
        required = node.required_during_scheduling_ignored_during_execution
        if required is not None:
            node_selector(required, f"{at}.requiredDuringSchedulingIgnoredDuringExecution", causes)
        for i, preferred in enumerate(node.preferred_during_scheduling_ignored_during_execution):
            pref = f"{at}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            _weight(preferred.weight, f"{pref}.weight", causes)
            _term(preferred.preference, f"{pref}.preference", causes)
    if affinity.pod_affinity is not None:
        _pod_affinity(affinity.pod_affinity, f"{path}.podAffinity", causes)
    if affinity.pod_anti_affinity is not None:
        _pod_affinity(affinity.pod_anti_affinity, f"{path}.podAntiAffinity", causes)


# -- spreading and gates -------------------------------------------------------------------


def _spread(items: list[cp.TopologySpreadConstraint], path: str, causes: Causes) -> None:
    for i, constraint in enumerate(items):
        at = f"{path}[{i}]"
        if constraint.max_skew <= 0:
            causes.append(fv.invalid(f"{at}.maxSkew", constraint.max_skew, NOT_POSITIVE))
        if not constraint.topology_key:
            causes.append(fv.required(f"{at}.topologyKey", "can not be empty"))
        else:
            vc.label_name(constraint.topology_key, f"{at}.topologyKey", causes)
        action = constraint.when_unsatisfiable
        if action not in WHEN_UNSATISFIABLE:
            causes.append(fv.not_supported(f"{at}.whenUnsatisfiable", action, WHEN_UNSATISFIABLE))
        for other in items[i + 1 :]:
            if (other.topology_key, other.when_unsatisfiable) == (constraint.topology_key, action):
                value = f"{{{constraint.topology_key}, {action}}}"
                causes.append(fv.duplicate(f"{at}.{{topologyKey, whenUnsatisfiable}}", value))
                break
        domains = constraint.min_domains
        if domains is not None:
            if domains <= 0:
                causes.append(fv.invalid(f"{at}.minDomains", domains, NOT_POSITIVE))
            if action != "DoNotSchedule":
                detail = f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}"
                causes.append(fv.invalid(f"{at}.minDomains", domains, detail))
        for policy, wire in (
            (constraint.node_affinity_policy, "nodeAffinityPolicy"),
            (constraint.node_taints_policy, "nodeTaintsPolicy"),
        ):
            if policy is not None and policy not in INCLUSION_POLICIES:
                causes.append(fv.not_supported(f"{at}.{wire}", policy, INCLUSION_POLICIES))
        vc.label_selector(constraint.label_selector, f"{at}.labelSelector", causes)
        for j, key in enumerate(constraint.match_label_keys):
            vc.label_name(key, f"{at}.matchLabelKeys[{j}]", causes)


def scheduling(spec: cp.PodSpec, path: str, causes: Causes) -> None:
    """Every scheduling-related rule of a pod spec (module docstring)."""
    if spec.node_selector:
        vc.labels(spec.node_selector, f"{path}.nodeSelector", causes)
    if spec.tolerations:
        tolerations(spec.tolerations, f"{path}.tolerations", causes)
    if spec.affinity is not None:
        _affinity(spec.affinity, f"{path}.affinity", causes)
    if spec.topology_spread_constraints:
        _spread(spec.topology_spread_constraints, f"{path}.topologySpreadConstraints", causes)
    seen: set[str] = set()
    for i, gate in enumerate(spec.scheduling_gates):
        at = f"{path}.schedulingGates[{i}].name"
        causes.extend(fv.validate_qualified_name(gate.name, at))
        if gate.name in seen:
            causes.append(fv.duplicate(at, gate.name))
        seen.add(gate.name)
    for i, readiness in enumerate(spec.readiness_gates):
        at = f"{path}.readinessGates[{i}].conditionType"
        causes.extend(fv.validate_qualified_name(readiness.condition_type, at))
