"""Taints and tolerations, node selectors and node affinity, as pure functions.

These are the placement rules the scheduler, the DaemonSet controller, the node lifecycle
controller and the node agent share (Kubernetes' ``v1.Toleration.ToleratesTaint`` and
``component-helpers/scheduling/corev1/nodeaffinity``).

**Inputs.** Every function takes objects through small read-only Protocols named after the
API fields in snake_case (``key``, ``operator``, ``value``, ``effect``,
``toleration_seconds``; ``values``; ``match_expressions``, ``match_fields``; ``weight``,
``preference``), so the attrs classes of :mod:`korch.api` plug in unchanged. Plain
wire-format dicts (camelCase keys: ``tolerationSeconds``, ``matchExpressions``…) are
accepted too, read in place; :class:`WireView` wraps such a dict for code that wants
attribute access.

**Rules** (as Kubernetes):

* A toleration tolerates a taint when its effect is empty or equal, its key is empty or
  equal, and its operator is ``Exists``, or ``Equal``/empty with an equal value. An empty
  key with ``Exists`` tolerates everything; an unknown operator tolerates nothing.
* Node selector terms are ORed, the requirements inside a term ANDed. A term with neither
  expressions nor fields matches nothing, and an empty list of terms matches nothing. A
  term with an invalid requirement (unknown operator, ``In`` without values, a ``Gt``
  value that is not an integer, a bad label key…) never matches, but other terms still can.
  ``Gt``/``Lt`` compare the node's label as a 64-bit integer; a non-integer label does not
  match. ``match_fields`` supports only ``metadata.name`` with ``In``/``NotIn`` and one
  value, and is ignored when the node's field set is empty (a node without a name).

Compile once with :func:`compile_node_selector` when matching one pod against many nodes.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar

import attrs

from korch import errors
from korch.api import _field_selector, _selector

__all__ = (
    "CompiledNodeSelector",
    "CompiledNodeSelectorTerm",
    "NodeSelectorRequirementLike",
    "NodeSelectorTermLike",
    "PreferredSchedulingTermLike",
    "TaintLike",
    "TolerationLike",
    "WireView",
    "compile_node_selector",
    "compile_node_selector_term",
    "find_untolerated_taint",
    "node_field_requirement_matches",
    "node_fields",
    "node_selector_requirement_matches",
    "node_selector_terms_match",
    "preferred_node_affinity_score",
    "required_node_affinity_matches",
    "tolerates",
    "tolerations_tolerate_taint",
)

NO_SCHEDULE: Final = "NoSchedule"
PREFER_NO_SCHEDULE: Final = "PreferNoSchedule"
NO_EXECUTE: Final = "NoExecute"
_DEFAULT_EFFECTS: Final = frozenset({NO_SCHEDULE, NO_EXECUTE})


# -- inputs -----------------------------------------------------------------------------------


class TaintLike(Protocol):
    """A ``v1.Taint``."""

    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str | None: ...
    @property
    def effect(self) -> str: ...


class TolerationLike(Protocol):
    """A ``v1.Toleration``."""

    @property
    def key(self) -> str | None: ...
    @property
    def operator(self) -> str | None: ...
    @property
    def value(self) -> str | None: ...
    @property
    def effect(self) -> str | None: ...
    @property
    def toleration_seconds(self) -> int | None: ...


class NodeSelectorRequirementLike(Protocol):
    """A ``v1.NodeSelectorRequirement`` (operators In, NotIn, Exists, DoesNotExist, Gt, Lt)."""

    @property
    def key(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def values(self) -> Sequence[str] | None: ...


class NodeSelectorTermLike(Protocol):
    """A ``v1.NodeSelectorTerm``."""

    @property
    def match_expressions(self) -> Sequence[Any] | None: ...
    @property
    def match_fields(self) -> Sequence[Any] | None: ...


class PreferredSchedulingTermLike(Protocol):
    """A ``v1.PreferredSchedulingTerm``."""

    @property
    def weight(self) -> int: ...
    @property
    def preference(self) -> Any: ...


@functools.lru_cache(maxsize=256)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _get(obj: Any, name: str) -> Any:
    """Attribute ``name`` of an object, or its camelCase key in a wire dict."""
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(_camel(name))
    return getattr(obj, name, None)


class WireView:
    """Read-only snake_case attribute access over a wire-format (camelCase) dict.

    ``WireView({"tolerationSeconds": 30}).toleration_seconds == 30``; missing keys read as
    ``None``; nested dicts and lists of dicts come back wrapped. It satisfies every Protocol
    of this module.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _wrap(self._data.get(_camel(name)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("WireView is read-only")

    def __repr__(self) -> str:
        return f"WireView({self._data!r})"


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return WireView(value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


# -- taints and tolerations ----------------------------------------------------------------


def tolerates(
    toleration: TolerationLike | Mapping[str, Any], taint: TaintLike | Mapping[str, Any]
) -> bool:
    """Whether ``toleration`` tolerates ``taint`` (Kubernetes ``ToleratesTaint``).

    Effects and keys must be equal unless the toleration leaves them empty; operator
    ``Exists`` then matches any value, ``Equal`` (the default) needs equal values.
    """
    effect = _get(toleration, "effect")
    if effect and effect != _get(taint, "effect"):
        return False
    key = _get(toleration, "key")
    if key and key != _get(taint, "key"):
        return False
    operator = _get(toleration, "operator")
    if not operator or operator == "Equal":
        return (_get(toleration, "value") or "") == (_get(taint, "value") or "")
    return bool(operator == "Exists")


def tolerations_tolerate_taint(
    tolerations: Iterable[TolerationLike | Mapping[str, Any]] | None,
    taint: TaintLike | Mapping[str, Any],
) -> bool:
    """Whether any of ``tolerations`` tolerates ``taint``."""
    return any(tolerates(toleration, taint) for toleration in tolerations or ())


_Taint = TypeVar("_Taint")


def find_untolerated_taint(
    taints: Iterable[_Taint] | None,
    tolerations: Iterable[TolerationLike | Mapping[str, Any]] | None,
    effects: Collection[str] | None = _DEFAULT_EFFECTS,
) -> _Taint | None:
    """The first taint whose effect is in ``effects`` that no toleration tolerates.

    ``effects`` defaults to ``NoSchedule`` and ``NoExecute`` (what the scheduler's
    TaintToleration filter checks); ``None`` considers every effect. Returns the taint
    object itself, or ``None`` when every considered taint is tolerated.
    """
    tolerations = list(tolerations or ())
    for taint in taints or ():
        if effects is not None and _get(taint, "effect") not in effects:
            continue
        if not tolerations_tolerate_taint(tolerations, taint):  # type: ignore[arg-type]
            return taint
    return None


# -- node selectors -------------------------------------------------------------------------

_NODE_OPERATORS: Final = {
    "In": _selector.Operator.IN,
    "NotIn": _selector.Operator.NOT_IN,
    "Exists": _selector.Operator.EXISTS,
    "DoesNotExist": _selector.Operator.DOES_NOT_EXIST,
    "Gt": _selector.Operator.GREATER_THAN,
    "Lt": _selector.Operator.LESS_THAN,
}
_FIELD_OPERATORS: Final = {"In": "=", "NotIn": "!="}
_SUPPORTED_FIELDS: Final = frozenset({"metadata.name"})


def _label_requirement(requirement: Any) -> _selector.Requirement:
    """A node selector requirement as a validated label requirement, or BadRequest."""
    operator = _get(requirement, "operator")
    op = _NODE_OPERATORS.get(operator) if isinstance(operator, str) else None
    if op is None:
        raise errors.BadRequest(
            f"operator: Unsupported value: {operator!r}: supported values: "
            + ", ".join(f'"{name}"' for name in _NODE_OPERATORS)
        )
    return _selector.make_requirement(
        _get(requirement, "key"), op, _get(requirement, "values") or ()
    )


def _field_requirement(requirement: Any) -> _field_selector.FieldRequirement:
    """A node selector field requirement as a field selector term, or BadRequest."""
    key, operator = _get(requirement, "key"), _get(requirement, "operator")
    values: Sequence[Any] = _get(requirement, "values") or ()
    if key not in _SUPPORTED_FIELDS:
        raise errors.BadRequest(
            f'key: Unsupported value: {key!r}: supported values: "metadata.name"'
        )
    op = _FIELD_OPERATORS.get(operator) if isinstance(operator, str) else None
    if op is None:
        raise errors.BadRequest(
            f'operator: Unsupported value: {operator!r}: supported values: "In", "NotIn"'
        )
    if len(values) != 1 or not isinstance(values[0], str):
        raise errors.BadRequest(f"values: Invalid value: {list(values)!r}: must have one element")
    return _field_selector.FieldRequirement(key, op, values[0])


def node_selector_requirement_matches(
    requirement: NodeSelectorRequirementLike | Mapping[str, Any], labels: Mapping[str, str]
) -> bool:
    """Whether node ``labels`` satisfy one ``match_expressions`` requirement.

    An invalid requirement (unknown operator, wrong number of values, a non-integer
    ``Gt``/``Lt`` value, invalid key or value syntax) matches nothing.
    """
    try:
        return _label_requirement(requirement).matches(labels)
    except errors.BadRequest:
        return False


def node_field_requirement_matches(
    requirement: NodeSelectorRequirementLike | Mapping[str, Any], fields: Mapping[str, str]
) -> bool:
    """Whether node ``fields`` (see :func:`node_fields`) satisfy one ``match_fields``
    requirement; an invalid requirement matches nothing."""
    try:
        field, operator, value = _field_requirement(requirement)
    except errors.BadRequest:
        return False
    return (fields.get(field, "") == value) == (operator == "=")


def node_fields(node_name: str) -> dict[str, str]:
    """The fields node affinity can select on: ``metadata.name``, when the node has one."""
    return {"metadata.name": node_name} if node_name else {}


@attrs.frozen
class CompiledNodeSelectorTerm:
    """A parsed node selector term; ``error`` says why it can never match, if it cannot."""

    labels: _selector.Selector | None = None
    fields: _field_selector.FieldSelector | None = None
    error: str | None = None

    def matches(self, labels: Mapping[str, str], fields: Mapping[str, str] | None = None) -> bool:
        """Whether a node with ``labels`` and ``fields`` satisfies this term."""
        if self.error is not None or (self.labels is None and self.fields is None):
            return False
        if self.labels is not None and not self.labels.matches(labels):
            return False
        return self.fields is None or not fields or self.fields.matches(fields)


def compile_node_selector_term(
    term: NodeSelectorTermLike | Mapping[str, Any],
) -> CompiledNodeSelectorTerm:
    """Parse one ``v1.NodeSelectorTerm``; never raises (invalid terms record ``error``)."""
    expressions = _get(term, "match_expressions") or ()
    field_terms = _get(term, "match_fields") or ()
    problems: list[str] = []
    labels = fields = None
    if expressions:
        requirements = []
        for i, requirement in enumerate(expressions):
            try:
                requirements.append(_label_requirement(requirement))
            except errors.BadRequest as exc:
                problems.append(f"matchExpressions[{i}].{exc.message}")
        labels = _selector.Selector(requirements)
    if field_terms:
        terms = []
        for i, requirement in enumerate(field_terms):
            try:
                terms.append(_field_requirement(requirement))
            except errors.BadRequest as exc:
                problems.append(f"matchFields[{i}].{exc.message}")
        fields = _field_selector.FieldSelector(terms)
    return CompiledNodeSelectorTerm(labels, fields, "; ".join(problems) or None)


@attrs.frozen
class CompiledNodeSelector:
    """Parsed node selector terms, ORed. ``errors`` lists why some terms cannot match."""

    terms: tuple[CompiledNodeSelectorTerm, ...]

    @property
    def errors(self) -> tuple[str, ...]:
        """The problems of the invalid terms."""
        return tuple(term.error for term in self.terms if term.error is not None)

    def matches(self, labels: Mapping[str, str], fields: Mapping[str, str] | None = None) -> bool:
        """Whether any term matches a node with ``labels`` and ``fields``."""
        return any(term.matches(labels, fields) for term in self.terms)


def compile_node_selector(
    terms: Iterable[NodeSelectorTermLike | Mapping[str, Any]] | None,
) -> CompiledNodeSelector:
    """Parse ``v1.NodeSelector.nodeSelectorTerms`` once, to match against many nodes."""
    return CompiledNodeSelector(tuple(compile_node_selector_term(t) for t in terms or ()))


def node_selector_terms_match(
    terms: Iterable[NodeSelectorTermLike | Mapping[str, Any]] | None,
    labels: Mapping[str, str],
    fields: Mapping[str, str] | None = None,
) -> bool:
    """Whether any of ``terms`` matches a node with ``labels`` and ``fields``.

    ``fields`` is the node's field set (:func:`node_fields`); when it is empty,
    ``match_fields`` are not checked, as in Kubernetes.
    """
    return compile_node_selector(terms).matches(labels, fields)


def required_node_affinity_matches(
    node_selector: Mapping[str, str] | None,
    required_terms: Iterable[NodeSelectorTermLike | Mapping[str, Any]] | None,
    labels: Mapping[str, str],
    fields: Mapping[str, str] | None = None,
) -> bool:
    """Whether a node fits a pod's ``spec.nodeSelector`` and required node affinity.

    ``required_terms`` is
    ``affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms``,
    ``None`` when the pod has no required node affinity (then only ``node_selector``
    counts). Kubernetes' ``GetRequiredNodeAffinity(pod).Match(node)``.
    """
    if node_selector and any(labels.get(k) != v for k, v in node_selector.items()):
        return False
    return required_terms is None or node_selector_terms_match(required_terms, labels, fields)


def preferred_node_affinity_score(
    preferred_terms: Iterable[PreferredSchedulingTermLike | Mapping[str, Any]] | None,
    labels: Mapping[str, str],
    fields: Mapping[str, str] | None = None,
) -> int:
    """The sum of the weights of the preferred terms a node matches (NodeAffinity score).

    Terms with weight 0 and invalid terms count for nothing.
    """
    score = 0
    for preferred in preferred_terms or ():
        weight = _get(preferred, "weight") or 0
        preference = _get(preferred, "preference")
        if (
            weight
            and preference is not None
            and compile_node_selector_term(preference).matches(labels, fields)
        ):
            score += weight
    return score
