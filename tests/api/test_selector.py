"""Label selectors: syntax, validation, canonical strings, matching, metav1.LabelSelector."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api._selector import (
    Operator,
    Selector,
    label_key_errors,
    label_selector_as_selector,
    label_value_errors,
    make_requirement,
    parse_selector,
    selector_from_label_selector,
    selector_from_set,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("a=b,c!=d,e in (x,y),f notin (z),g,!h", "a=b,c!=d,e in (x,y),f notin (z),g,!h"),
        ("a==b", "a==b"),
        (" a = b ,\tc in ( y , x ) ", "a=b,c in (x,y)"),
        ("z=1,a=2,m", "a=2,m,z=1"),
        ("", ""),
        ("   ", ""),
        ("x>1,y<05", "x>1,y<05"),
        ("a=", "a="),
        ("a in ()", "a in ()"),
        ("a in (b,)", "a in (,b)"),
        ("a in (b,b)", "a in (b)"),
        ("in=notin", "in=notin"),
        ("x in (in,notin)", "x in (in,notin)"),
        ("example.com/app=web-1", "example.com/app=web-1"),
    ],
)
def test_parse_and_canonical_string(text: str, canonical: str) -> None:
    selector = parse_selector(text)
    assert str(selector) == canonical
    assert parse_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("a b", "'b'"),
        ("a=b c", "'c'"),
        ("!", "''"),
        ("a in b", "'b'"),
        ("a in (b", "''"),
        ("a,", "''"),
        (",a", "','"),
        ("a=b=c", "'='"),
        ("x>a", '"a"'),
        ("x<-5", '"-5"'),  # Gt/Lt values are label values too
        ("a/b/c=d", '"a/b/c"'),
        ("-a=b", '"-a"'),
        ("a=-b", '"-b"'),
        ("Example.com/a=b", '"Example.com/a"'),
        ("a=" + "v" * 64, '"' + "v" * 64 + '"'),
        ("k" * 64, '"' + "k" * 64 + '"'),
        ("/a", '"/a"'),
    ],
)
def test_invalid_selectors_name_the_bad_token(text: str, token: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        parse_selector(text)
    assert token in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("tier in (a,b)", {"tier": "b"}, True),
        ("tier in (a,b)", {}, False),
        ("tier notin (a,b)", {}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("canary", {"canary": ""}, True),
        ("canary", {}, False),
        ("!canary", {}, True),
        ("!canary", {"canary": "x"}, False),
        ("a=", {"a": ""}, True),
        ("a=", {}, False),
        ("n>5", {"n": "6"}, True),
        ("n>5", {"n": "5"}, False),
        ("n<5", {"n": "-7"}, True),
        ("n<5", {"n": "x"}, False),
        ("n<5", {}, False),
        ("n>5", {"n": str(2**63)}, False),  # not an int64
        ("", {"anything": "x"}, True),
        ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "a"}, True),
        ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "a", "canary": ""}, False),
    ],
)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    selector = parse_selector(text)
    assert selector.matches(labels) is expected
    assert all(r.matches(labels) for r in selector.requirements) is expected


def test_empty_and_nothing() -> None:
    assert Selector.empty().matches({})
    assert Selector.empty().is_empty()
    assert parse_selector("") == Selector.empty()
    assert not Selector.nothing().matches({})
    assert not Selector.nothing().is_empty()
    assert str(Selector.nothing()) == ""


def test_exact_matches_for_indexes() -> None:
    selector = parse_selector("app=web,tier in (a),zone in (x,y),env!=prod,!canary")
    assert selector.exact_matches() == {"app": "web", "tier": "a"}
    assert selector.requires_exact_match("app") == "web"
    assert selector.requires_exact_match("zone") is None
    assert selector.requires_exact_match("missing") is None
    ops = {r.key: r.operator for r in selector.requirements}
    assert ops == {
        "app": Operator.EQUALS,
        "tier": Operator.IN,
        "zone": Operator.IN,
        "env": Operator.NOT_EQUALS,
        "canary": Operator.DOES_NOT_EXIST,
    }


def test_make_requirement_validates_like_new_requirement() -> None:
    assert str(make_requirement("a", "in", ["y", "x"])) == "a in (x,y)"
    assert str(selector_from_set({"b": "1"}).add(make_requirement("a", "exists"))) == "a,b=1"
    for key, op, values in [
        ("a", "in", []),
        ("a", "=", ["x", "y"]),
        ("a", "exists", ["x"]),
        ("a", "gt", ["1.5"]),
        ("a", "bogus", []),
        ("a", "=", "x"),
    ]:
        with pytest.raises(errors.BadRequest):
            make_requirement(key, op, values)


def test_label_key_and_value_rules() -> None:
    assert label_key_errors("app") == ()
    assert label_key_errors("kubernetes.io/hostname") == ()
    assert label_key_errors("a" * 63) == ()
    assert label_key_errors("a" * 64) != ()
    assert label_key_errors("UPPER.example/x") != ()
    assert label_key_errors("") != ()
    assert label_value_errors("") == ()
    assert label_value_errors("v1.2_3-x") == ()
    assert label_value_errors("-x") != ()
    assert label_value_errors("a" * 64) != ()


def test_selector_from_set() -> None:
    assert selector_from_set(None) == Selector.empty()
    assert selector_from_set({"b": "2", "a": "1"}) == parse_selector("a=1,b=2")
    with pytest.raises(errors.BadRequest):
        selector_from_set({"a b": "1"})


@attrs.frozen
class Expression:
    key: str
    operator: str
    values: list[str] | None = None


@attrs.frozen
class LabelSelector:
    match_labels: dict[str, str] | None = None
    match_expressions: list[Expression] | None = None


def test_label_selector_semantics() -> None:
    assert selector_from_label_selector(None, None).matches({"x": "y"})
    assert selector_from_label_selector({}, []) == Selector.empty()
    assert not label_selector_as_selector(None).matches({})
    assert label_selector_as_selector({}).matches({"x": "y"})
    assert label_selector_as_selector(LabelSelector()).is_empty()
    wire = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    selector = label_selector_as_selector(wire)
    assert str(selector) == "app=web,!canary,tier in (a,b)"
    typed = LabelSelector(
        {"app": "web"},
        [Expression("tier", "In", ["a", "b"]), Expression("canary", "DoesNotExist")],
    )
    assert label_selector_as_selector(typed) == selector
    assert selector.matches({"app": "web", "tier": "b"})


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "a", "operator": "Equals", "values": ["x"]},
        {"key": "a", "operator": "In", "values": []},
        {"key": "a", "operator": "NotIn"},
        {"key": "a", "operator": "Exists", "values": ["x"]},
        {"key": "a b", "operator": "Exists"},
        {"key": "a", "operator": "In", "values": "x"},
        {"operator": "Exists"},
        "not a requirement",
    ],
)
def test_label_selector_rejects_bad_expressions(expression: object) -> None:
    with pytest.raises(errors.BadRequest):
        selector_from_label_selector(None, [expression])  # type: ignore[list-item]


# -- properties -------------------------------------------------------------------------------

_KEYS = st.sampled_from(["a", "b", "app", "example.com/tier", "in", "x.y_z-1"])
_VALUES = st.sampled_from(["", "1", "03", "web", "in", "notin", "v.2"])


@st.composite
def requirements(draw: st.DrawFn) -> tuple[str, str, tuple[str, ...]]:
    key = draw(_KEYS)
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]))
    if op in ("exists", "!"):
        return key, op, ()
    if op in ("gt", "lt"):
        return key, op, (str(draw(st.integers(0, 5))),)
    if op in ("in", "notin"):
        return key, op, tuple(draw(st.lists(_VALUES, min_size=1, max_size=3, unique=True)))
    return key, op, (draw(_VALUES),)


def naive_match(reqs: list[tuple[str, str, tuple[str, ...]]], labels: Mapping[str, str]) -> bool:
    for key, op, values in reqs:
        present = key in labels
        value = labels.get(key)
        if op in ("=", "==", "in"):
            ok = present and value in values
        elif op in ("!=", "notin"):
            ok = not present or value not in values
        elif op == "exists":
            ok = present
        elif op == "!":
            ok = not present
        else:
            try:
                number = int(value) if value is not None else None
            except ValueError:
                number = None
            limit = int(values[0])
            ok = number is not None and (number > limit if op == "gt" else number < limit)
        if not ok:
            return False
    return True


_LABEL_SETS = st.dictionaries(
    _KEYS, st.one_of(_VALUES, st.sampled_from(["-3", "+2", "x"])), max_size=5
)


@given(st.lists(requirements(), max_size=5), st.lists(_LABEL_SETS, min_size=1, max_size=5))
def test_matches_agrees_with_a_naive_evaluator(
    reqs: list[tuple[str, str, tuple[str, ...]]], label_sets: list[dict[str, str]]
) -> None:
    selector = Selector(make_requirement(*r) for r in reqs)
    for labels in label_sets:
        assert selector.matches(labels) == naive_match(reqs, labels)


@given(st.lists(requirements(), max_size=5))
def test_string_round_trip(reqs: list[tuple[str, str, tuple[str, ...]]]) -> None:
    selector = Selector(make_requirement(*r) for r in reqs)
    parsed = parse_selector(str(selector))
    assert parsed == selector
    assert str(parsed) == str(selector)
