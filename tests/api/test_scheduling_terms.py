"""Taints and tolerations, node selector terms and node affinity."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from korch.api._scheduling_terms import (
    WireView,
    compile_node_selector,
    compile_node_selector_term,
    find_untolerated_taint,
    node_field_requirement_matches,
    node_fields,
    node_selector_requirement_matches,
    node_selector_terms_match,
    preferred_node_affinity_score,
    required_node_affinity_matches,
    tolerates,
    tolerations_tolerate_taint,
)


@attrs.frozen
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"


@attrs.frozen
class Toleration:
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


@attrs.frozen
class Requirement:
    key: str
    operator: str
    values: list[str] = attrs.field(factory=list)


@attrs.frozen
class Term:
    match_expressions: list[Requirement] = attrs.field(factory=list)
    match_fields: list[Requirement] = attrs.field(factory=list)


GPU = Taint("gpu", "true", "NoSchedule")


@pytest.mark.parametrize(
    ("toleration", "expected"),
    [
        (Toleration("gpu", "Equal", "true"), True),
        (Toleration("gpu", "", "true"), True),  # empty operator means Equal
        (Toleration("gpu", "Equal", "false"), False),
        (Toleration("gpu", "Exists"), True),
        (Toleration("", "Exists"), True),  # empty key + Exists tolerates everything
        (Toleration("other", "Exists"), False),
        (Toleration("gpu", "Exists", effect="NoSchedule"), True),
        (Toleration("gpu", "Exists", effect="NoExecute"), False),
        (Toleration("gpu", "Gt", "1"), False),  # unknown operators tolerate nothing
        (Toleration("", "Equal", "true"), True),
    ],
)
def test_tolerates(toleration: Toleration, expected: bool) -> None:
    assert tolerates(toleration, GPU) is expected
    wire = {"key": toleration.key, "operator": toleration.operator, "value": toleration.value}
    if toleration.effect:
        wire["effect"] = toleration.effect
    assert tolerates(wire, {"key": "gpu", "value": "true", "effect": "NoSchedule"}) is expected


def test_wire_dicts_may_omit_optional_fields() -> None:
    assert tolerates({"operator": "Exists"}, {"key": "k", "effect": "NoExecute"})
    assert tolerates({"key": "k"}, {"key": "k", "effect": "NoSchedule"})
    assert not tolerates({"key": "k"}, {"key": "k", "value": "v", "effect": "NoSchedule"})


def test_find_untolerated_taint() -> None:
    prefer = Taint("soft", effect="PreferNoSchedule")
    evict = Taint("dead", effect="NoExecute")
    assert find_untolerated_taint([prefer, GPU], []) is GPU
    assert find_untolerated_taint([prefer], []) is None  # PreferNoSchedule is not checked
    assert find_untolerated_taint([prefer], [], effects=None) is prefer
    assert find_untolerated_taint([GPU, evict], [Toleration("gpu", "Exists")]) is evict
    assert find_untolerated_taint([GPU], [Toleration(operator="Exists")]) is None
    assert find_untolerated_taint(None, None) is None
    assert find_untolerated_taint([evict], [], effects={"NoSchedule"}) is None
    assert tolerations_tolerate_taint([Toleration("x"), Toleration("gpu", "Exists")], GPU)


@pytest.mark.parametrize(
    ("requirement", "labels", "expected"),
    [
        (Requirement("zone", "In", ["a", "b"]), {"zone": "a"}, True),
        (Requirement("zone", "In", ["a", "b"]), {}, False),
        (Requirement("zone", "NotIn", ["a"]), {}, True),
        (Requirement("zone", "NotIn", ["a"]), {"zone": "a"}, False),
        (Requirement("zone", "Exists"), {"zone": ""}, True),
        (Requirement("zone", "DoesNotExist"), {"zone": ""}, False),
        (Requirement("cpus", "Gt", ["4"]), {"cpus": "8"}, True),
        (Requirement("cpus", "Gt", ["4"]), {"cpus": "4"}, False),
        (Requirement("cpus", "Lt", ["4"]), {"cpus": "3"}, True),
        (Requirement("cpus", "Lt", ["4"]), {"cpus": "three"}, False),  # bad label int
        (Requirement("cpus", "Gt", ["four"]), {"cpus": "8"}, False),  # bad requirement int
        (Requirement("cpus", "Gt", ["1", "2"]), {"cpus": "8"}, False),
        (Requirement("zone", "In", []), {"zone": ""}, False),
        (Requirement("zone", "Exists", ["a"]), {"zone": "a"}, False),
        (Requirement("zone", "Equals", ["a"]), {"zone": "a"}, False),  # not a node operator
        (Requirement("bad key!", "Exists"), {"bad key!": ""}, False),
    ],
)
def test_node_selector_requirement(
    requirement: Requirement, labels: dict[str, str], expected: bool
) -> None:
    assert node_selector_requirement_matches(requirement, labels) is expected
    wire = {"key": requirement.key, "operator": requirement.operator, "values": requirement.values}
    assert node_selector_requirement_matches(wire, labels) is expected


def test_field_requirements_support_only_metadata_name() -> None:
    fields = node_fields("n1")
    assert node_field_requirement_matches(Requirement("metadata.name", "In", ["n1"]), fields)
    assert node_field_requirement_matches(Requirement("metadata.name", "NotIn", ["n2"]), fields)
    assert not node_field_requirement_matches(Requirement("metadata.name", "In", ["n2"]), fields)
    assert not node_field_requirement_matches(
        Requirement("metadata.name", "In", ["a", "b"]), fields
    )
    assert not node_field_requirement_matches(Requirement("metadata.name", "Exists"), fields)
    assert not node_field_requirement_matches(Requirement("spec.x", "NotIn", ["n2"]), fields)
    assert node_fields("") == {}


def test_terms_are_ored_and_requirements_anded() -> None:
    terms = [
        Term([Requirement("zone", "In", ["a"]), Requirement("gpu", "Exists")]),
        Term([Requirement("zone", "In", ["b"])]),
    ]
    assert node_selector_terms_match(terms, {"zone": "a", "gpu": "1"})
    assert not node_selector_terms_match(terms, {"zone": "a"})
    assert node_selector_terms_match(terms, {"zone": "b"})
    assert not node_selector_terms_match(terms, {"zone": "c", "gpu": "1"})


def test_empty_terms_and_lists_match_nothing() -> None:
    assert not node_selector_terms_match([Term()], {"any": "thing"})
    assert not node_selector_terms_match([{}], {})
    assert not node_selector_terms_match([], {})
    assert not node_selector_terms_match(None, {})


def test_an_invalid_term_never_matches_but_others_still_can() -> None:
    bad = Term([Requirement("zone", "In", ["a"]), Requirement("cpus", "Gt", ["x"])])
    good = Term([Requirement("zone", "In", ["a"])])
    assert not node_selector_terms_match([bad], {"zone": "a", "cpus": "1"})
    assert node_selector_terms_match([bad, good], {"zone": "a"})
    compiled = compile_node_selector([bad, good])
    assert len(compiled.errors) == 1
    assert "matchExpressions[1]" in compiled.errors[0]


def test_match_fields() -> None:
    by_name = Term(match_fields=[Requirement("metadata.name", "In", ["n1"])])
    assert node_selector_terms_match([by_name], {}, node_fields("n1"))
    assert not node_selector_terms_match([by_name], {}, node_fields("n2"))
    # Kubernetes skips match_fields when the node has no fields (no name).
    assert node_selector_terms_match([by_name], {}, {})
    both = Term([Requirement("zone", "In", ["a"])], [Requirement("metadata.name", "In", ["n1"])])
    assert node_selector_terms_match([both], {"zone": "a"}, node_fields("n1"))
    assert not node_selector_terms_match([both], {"zone": "b"}, node_fields("n1"))
    unsupported = Term(match_fields=[Requirement("spec.unschedulable", "In", ["false"])])
    assert compile_node_selector_term(unsupported).error is not None
    assert not node_selector_terms_match([unsupported], {}, node_fields("n1"))


def test_wire_terms_and_compiled_reuse() -> None:
    terms: list[dict[str, Any]] = [
        {
            "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
            "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n9"]}],
        }
    ]
    compiled = compile_node_selector(terms)
    assert compiled.errors == ()
    assert compiled.matches({"zone": "a"}, node_fields("n1"))
    assert not compiled.matches({"zone": "a"}, node_fields("n9"))


def test_required_node_affinity() -> None:
    terms = [Term([Requirement("zone", "In", ["a"])])]
    labels = {"zone": "a", "disk": "ssd"}
    assert required_node_affinity_matches(None, None, labels)
    assert required_node_affinity_matches({"disk": "ssd"}, terms, labels)
    assert not required_node_affinity_matches({"disk": "hdd"}, terms, labels)
    assert not required_node_affinity_matches(None, [], labels)  # no terms: nothing matches
    assert not required_node_affinity_matches(
        {}, [Term([Requirement("zone", "In", ["b"])])], labels
    )


def test_preferred_node_affinity_score() -> None:
    def term(weight: int, **expression: Any) -> dict[str, Any]:
        return {"weight": weight, "preference": {"matchExpressions": [expression]}}

    preferred = [
        term(10, key="zone", operator="In", values=["a"]),
        term(5, key="disk", operator="Exists"),
        term(0, key="zone", operator="Exists"),  # weight 0 counts for nothing
        term(7, key="x", operator="Gt", values=["y"]),  # invalid
    ]
    assert preferred_node_affinity_score(preferred, {"zone": "a", "disk": "ssd", "x": "1"}) == 15
    assert preferred_node_affinity_score(preferred, {"zone": "b"}) == 0
    assert preferred_node_affinity_score(None, {}) == 0


def test_wire_view_adapts_dicts_to_attribute_access() -> None:
    view = WireView({"tolerationSeconds": 30, "key": "k", "matchExpressions": [{"key": "a"}]})
    assert view.toleration_seconds == 30
    assert view.missing_field is None
    assert view.match_expressions[0].key == "a"
    with pytest.raises(AttributeError):
        view.key = "x"
    assert tolerates(
        WireView({"operator": "Exists"}), WireView({"key": "k", "effect": "NoSchedule"})
    )
