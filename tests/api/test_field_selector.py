"""Field selectors: syntax and escaping, matching, per-kind field sets and label validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api._field_selector import (
    FieldSelector,
    escape_field_value,
    field_set_for,
    parse_field_selector,
    unescape_field_value,
    validate_field_selector,
)


@pytest.mark.parametrize(
    ("text", "terms", "canonical"),
    [
        ("a=b", [("a", "=", "b")], "a=b"),
        ("a==b", [("a", "=", "b")], "a=b"),
        ("a!=b", [("a", "!=", "b")], "a!=b"),
        ("b=1,a=2", [("a", "=", "2"), ("b", "=", "1")], "a=2,b=1"),
        ("a=x\\,y", [("a", "=", "x,y")], "a=x\\,y"),
        ("a=x\\=y\\\\z", [("a", "=", "x=y\\z")], "a=x\\=y\\\\z"),
        ("a=", [("a", "=", "")], "a="),
        ("a = b", [("a ", "=", " b")], "a = b"),  # nothing is trimmed
        ("", [], ""),
        (",,", [], ""),
        ("a!b=c", [("a!b", "=", "c")], "a!b=c"),
    ],
)
def test_parse(text: str, terms: list[tuple[str, str, str]], canonical: str) -> None:
    selector = parse_field_selector(text)
    assert [tuple(r) for r in selector.requirements] == terms
    assert str(selector) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "can't understand 'a'"),
        ("a=b\\", "invalid escape sequence: \\"),
        ("a=\\q", "invalid escape sequence: \\q"),
        ("a=b=c", "unescaped character in value: ="),
    ],
)
def test_invalid_field_selectors(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        parse_field_selector(text)
    assert message in str(caught.value)


def test_matching_treats_missing_fields_as_empty() -> None:
    selector = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert selector.matches({"spec.nodeName": "n1", "status.phase": "Running"})
    assert selector.matches({"spec.nodeName": "n1"})
    assert not selector.matches({"spec.nodeName": "n2"})
    assert parse_field_selector("spec.nodeName=").matches({})
    assert not parse_field_selector("spec.nodeName!=").matches({})
    assert FieldSelector().matches({})
    assert FieldSelector().is_empty()
    assert selector.exact_matches() == {"spec.nodeName": "n1"}
    assert selector.requires_exact_match("status.phase") is None


def test_pod_field_set() -> None:
    pod = {
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": True},
        "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.1"}]},
    }
    assert field_set_for("Pod", pod) == {
        "metadata.name": "web-1",
        "metadata.namespace": "default",
        "spec.nodeName": "n1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "",
        "spec.serviceAccountName": "",
        "spec.hostNetwork": "true",
        "status.phase": "Running",
        "status.podIP": "10.0.0.1",
        "status.nominatedNodeName": "",
    }
    bare = field_set_for("Pod", {"metadata": {"name": "p"}, "status": {"podIP": "10.1.1.1"}})
    assert bare["spec.hostNetwork"] == "false"
    assert bare["status.podIP"] == "10.1.1.1"
    assert bare["metadata.namespace"] == ""


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        ("Node", {"metadata": {"name": "n1"}}, {"spec.unschedulable": "false"}),
        ("Node", {"spec": {"unschedulable": True}}, {"spec.unschedulable": "true"}),
        ("Secret", {"type": "Opaque"}, {"type": "Opaque"}),
        ("Namespace", {"status": {"phase": "Active"}}, {"status.phase": "Active"}),
        ("ReplicationController", {"status": {"replicas": 3}}, {"status.replicas": "3"}),
        ("ReplicaSet", {}, {"status.replicas": "0"}),
        ("Job", {"status": {"succeeded": 2}}, {"status.successful": "2"}),
        (
            "Service",
            {"spec": {"type": "ClusterIP"}},
            {"spec.type": "ClusterIP", "spec.clusterIP": ""},
        ),
        ("CertificateSigningRequest", {"spec": {"signerName": "x/y"}}, {"spec.signerName": "x/y"}),
        ("ConfigMap", {"metadata": {"name": "c"}}, {"metadata.name": "c"}),
        (
            "Event",
            {
                "involvedObject": {"kind": "Pod", "name": "p"},
                "reason": "Started",
                "reportingComponent": "kubelet",
            },
            {
                "involvedObject.kind": "Pod",
                "involvedObject.name": "p",
                "involvedObject.uid": "",
                "reason": "Started",
                "source": "kubelet",
                "reportingComponent": "kubelet",
                "type": "",
            },
        ),
    ],
)
def test_kind_field_sets(kind: str, obj: dict[str, object], expected: dict[str, str]) -> None:
    fields = field_set_for(kind, obj)
    assert {k: fields[k] for k in expected} == expected
    assert "metadata.name" in fields
    assert "metadata.namespace" in fields


def test_event_source_prefers_the_source_component() -> None:
    event = {"source": {"component": "scheduler"}, "reportingComponent": "other"}
    assert field_set_for("Event", event)["source"] == "scheduler"


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("Pod", "spec.foo=x", "field label not supported: spec.foo"),
        ("Node", "metadata.namespace=x", "field label not supported: metadata.namespace"),
        ("Job", "status.active=1", 'field label "status.active" not supported for Job'),
        ("ConfigMap", "data.x=1", '"data.x" is not a known field selector'),
        ("Deployment", "status.replicas=1", '"status.replicas" is not a known field selector'),
    ],
)
def test_validate_rejects_unsupported_labels(kind: str, text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        validate_field_selector(kind, parse_field_selector(text))
    assert message in str(caught.value)


def test_validate_accepts_and_converts() -> None:
    converted = validate_field_selector("Pod", parse_field_selector("spec.host=n1"))
    assert str(converted) == "spec.nodeName=n1"
    for kind, text in [
        ("Pod", "spec.nodeName=n1,status.phase!=Failed,metadata.namespace=default"),
        ("Node", "spec.unschedulable=false,metadata.name=n1"),
        ("Event", "involvedObject.uid=u,reason=Killing,type=Warning"),
        ("ConfigMap", "metadata.name=c,metadata.namespace=ns"),
        ("Job", "status.successful=1"),
    ]:
        selector = parse_field_selector(text)
        assert validate_field_selector(kind, selector) == selector
    custom = parse_field_selector("spec.color=red")
    assert validate_field_selector("Widget", custom, extra_fields=["spec.color"]) == custom


# -- properties -------------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.sampled_from("ab.,=\\! -_/é"), max_size=8)
_FIELDS = st.text(alphabet=st.sampled_from("abz.Nx-_/"), min_size=1, max_size=8)


@given(_TEXT)
def test_escape_round_trips(value: str) -> None:
    assert unescape_field_value(escape_field_value(value)) == value


@given(st.lists(st.tuples(_FIELDS, st.sampled_from(["=", "!="]), _TEXT), max_size=5))
def test_string_round_trip(terms: list[tuple[str, str, str]]) -> None:
    selector = FieldSelector(terms)
    parsed = parse_field_selector(str(selector))
    assert parsed == selector
    assert sorted(tuple(r) for r in parsed.requirements) == sorted(terms)


@given(
    st.lists(st.tuples(_FIELDS, st.sampled_from(["=", "!="]), _TEXT), max_size=4),
    st.dictionaries(_FIELDS, _TEXT, max_size=4),
)
def test_matches_agrees_with_a_naive_evaluator(
    terms: list[tuple[str, str, str]], fields: dict[str, str]
) -> None:
    expected = all((fields.get(f, "") == v) == (op == "=") for f, op, v in terms)
    assert FieldSelector(terms).matches(fields) is expected
