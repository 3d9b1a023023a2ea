"""Field-syntax validators and object metadata validation, in kube-apiserver's words."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api import _go_compat as go
from korch.api import _validation as v

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
QNAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def messages(causes: list[errors.Cause]) -> list[str]:
    return [c.message for c in causes]


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "my-app", "my-app.example.com", "0-9", "a" * 253])
def test_dns1123_subdomain_accepts_object_names(name: str) -> None:
    assert v.validate_dns1123_subdomain(name, "metadata.name") == []


def test_dns1123_subdomain_rejects_with_kubernetes_message() -> None:
    [cause] = v.validate_dns1123_subdomain("My_App", "metadata.name")
    assert cause == errors.Cause(
        "metadata.name", f'Invalid value: "My_App": {SUBDOMAIN_MSG}', "FieldValueInvalid"
    )


def test_dns1123_subdomain_too_long_reports_length_first() -> None:
    assert v.is_dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]
    assert v.is_dns1123_subdomain("-" * 254)[1] == SUBDOMAIN_MSG


def test_dns1123_label_says_dots_are_the_problem() -> None:
    assert v.is_dns1123_label("a.b") == ["must not contain dots"]
    assert v.is_dns1123_label("a" * 63) == []
    assert v.is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]
    assert v.is_dns1123_label("Web")[0].startswith("a lowercase RFC 1123 label must consist")


def test_dns1035_label_must_start_with_a_letter() -> None:
    assert v.validate_dns1035_label("web-1", "metadata.name") == []
    [cause] = v.validate_dns1035_label("1web", "metadata.name")
    assert "a DNS-1035 label must consist of lower case alphanumeric characters" in cause.message
    assert "(e.g. 'my-name',  or 'abc-123', regex used" in cause.message


@pytest.mark.parametrize(
    "key", ["app", "app.kubernetes.io/name", "example.com/MyName", "a_b.c-d", "A" * 63]
)
def test_qualified_names_accept_label_keys(key: str) -> None:
    assert v.is_qualified_name(key) == []


def test_qualified_name_messages() -> None:
    assert v.is_qualified_name("bad key") == [QNAME_MSG]
    assert v.is_qualified_name("/name") == ["prefix part must be non-empty"]
    assert v.is_qualified_name("example.com/") == ["name part must be non-empty", QNAME_MSG]
    assert v.is_qualified_name("x" * 64) == ["name part must be no more than 63 characters"]
    assert v.is_qualified_name("Example.com/x") == ["prefix part " + SUBDOMAIN_MSG]
    [too_many] = v.is_qualified_name("a/b/c")
    assert too_many.startswith("a valid label key must consist of alphanumeric characters")
    assert too_many.endswith(
        "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    )


def test_label_values() -> None:
    assert v.is_label_value("") == []
    assert v.is_label_value("v1.2_x-y") == []
    assert v.is_label_value("x" * 64) == ["must be no more than 63 characters"]
    [msg] = v.is_label_value("-bad")
    assert msg.startswith("a valid label must be an empty string or consist of alphanumeric")


@pytest.mark.parametrize(
    ("rule", "name", "prefix", "ok"),
    [
        (v.name_is_dns_subdomain, "web-", True, True),  # generateName keeps its trailing dash
        (v.name_is_dns_subdomain, "web-", False, False),
        (v.name_is_dns_label, "ns-", True, True),
        (v.name_is_dns_label, "a.b", False, False),
        (v.name_is_dns1035_label, "svc-", True, True),
        (v.name_is_dns1035_label, "1svc", True, False),
        (v.name_is_path_segment, "Any Name", False, True),
        (v.name_is_path_segment, "..", False, False),
        (v.name_is_path_segment, "a/b", False, False),
    ],
)
def test_name_rules(rule: v.NameValidator, name: str, prefix: bool, ok: bool) -> None:
    assert (rule(name, prefix) == []) is ok


def test_path_segment_messages() -> None:
    assert v.name_is_path_segment(".", False) == ["may not be '.'"]
    assert v.name_is_path_segment("a%2Fb/c", False) == [
        "may not contain '/'",
        "may not contain '%'",
    ]


def test_c_identifier() -> None:
    assert v.validate_c_identifier("MY_VAR_1", "f") == []
    [cause] = v.validate_c_identifier("1var", "f")
    assert cause.message == (
        'Invalid value: "1var": a valid C identifier must start with alphabetic character or '
        "'_', followed by a string of alphanumeric characters or '_' (e.g. 'my_name',  or "
        "'MY_NAME',  or 'MyName', regex used for validation is '[A-Za-z_][A-Za-z0-9_]*')"
    )


@pytest.mark.parametrize("name", ["MY_VAR", "my.env-name", "1st", "with space", "a:b"])
def test_env_var_names_allow_printable_ascii(name: str) -> None:
    assert v.validate_env_var_name(name, "env[0].name") == []


@pytest.mark.parametrize("name", ["A=B", "tab\tname", "é"])
def test_env_var_names_reject_equals_and_non_printable(name: str) -> None:
    [cause] = v.validate_env_var_name(name, "env[0].name")
    assert cause.message.endswith(
        "a valid environment variable name must consist only of printable ASCII characters "
        "other than '='"
    )


def test_env_var_name_must_not_be_empty() -> None:
    assert messages(v.validate_env_var_name("", "n")) == [
        'Invalid value: "": environment variable name must be non-empty'
    ]


def test_port_numbers() -> None:
    assert v.validate_port_number(80, "port") == []
    assert v.validate_port_number(65535, "port") == []
    assert messages(v.validate_port_number(0, "port")) == [
        "Invalid value: 0: must be between 1 and 65535, inclusive"
    ]
    assert v.validate_port_number(70000, "port")[0].reason == "FieldValueInvalid"
    [cause] = v.validate_port_number(True, "port")
    assert cause.reason == "FieldValueTypeInvalid"
    assert cause.message == 'Invalid value: "boolean": must be of type integer'


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("http", []),
        ("h2c-1", []),
        ("1234", ["must contain at least one letter (a-z)"]),
        ("a--b", ["must not contain consecutive hyphens"]),
        ("-http", ["must not begin or end with a hyphen"]),
        (
            "HTTP",
            [
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "must contain at least one letter (a-z)",
            ],
        ),
        ("a-very-long-port-name", ["must be no more than 15 characters"]),
    ],
)
def test_port_names(name: str, expected: list[str]) -> None:
    causes = v.validate_port_name(name, "ports[0].name")
    assert messages(causes) == [f"Invalid value: {go.go_quote(name)}: {m}" for m in expected]


def test_int_or_percent() -> None:
    assert v.validate_int_or_percent(3, "maxSurge") == []
    assert v.validate_int_or_percent("25%", "maxSurge") == []
    assert v.validate_int_or_percent("250%", "maxSurge") == []
    assert messages(v.validate_int_or_percent("250%", "m", max_100_percent=True)) == [
        'Invalid value: "250%": must not be greater than 100%'
    ]
    assert messages(v.validate_int_or_percent(-1, "m")) == [
        "Invalid value: -1: must be greater than or equal to 0"
    ]
    assert messages(v.validate_int_or_percent("25", "m")) == [
        'Invalid value: "25": a valid percent string must be a numeric string followed by an '
        "ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
    ]
    assert v.validate_int_or_percent(1.5, "m")[0].reason == "FieldValueTypeInvalid"


@pytest.mark.parametrize(
    "name", ["cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "example.com/gpu", "pods"]
)
def test_resource_names_accept_standard_and_qualified(name: str) -> None:
    assert v.validate_resource_name(name, "resources.limits") == []


def test_resource_names_reject_unknown_bare_names() -> None:
    assert messages(v.validate_resource_name("gpu", "resources.limits")) == [
        'Invalid value: "gpu": must be a standard resource type or fully qualified'
    ]
    assert v.validate_resource_name("bad name/x", "r")[0].reason == "FieldValueInvalid"


# -- metadata ---------------------------------------------------------------------------


def test_labels_are_checked_key_and_value_under_the_labels_path() -> None:
    causes = v.validate_labels({"app": "web", "bad key": "ok", "tier": "-x"}, "metadata.labels")
    assert [c.field for c in causes] == ["metadata.labels", "metadata.labels"]
    assert causes[0].message == f'Invalid value: "bad key": {QNAME_MSG}'
    assert causes[1].message.startswith('Invalid value: "-x": a valid label must be')


def test_labels_of_the_wrong_type_are_type_errors() -> None:
    [cause] = v.validate_labels(["app"], "metadata.labels")
    assert cause == errors.Cause(
        "metadata.labels", 'Invalid value: "array": must be of type object', "FieldValueTypeInvalid"
    )
    [cause] = v.validate_labels({"replicas": 3}, "metadata.labels")
    assert cause.reason == "FieldValueTypeInvalid"


def test_annotation_keys_ignore_case_and_total_size_is_limited() -> None:
    assert v.validate_annotations({"Example.com/Some-Key": "x" * 1000}, "a") == []
    big = {"k": "x" * (256 * 1024)}
    assert v.validate_annotations(big, "metadata.annotations") == [
        errors.Cause(
            "metadata.annotations",
            "Too long: may not be more than 262144 bytes",
            "FieldValueTooLong",
        )
    ]
    assert v.validate_annotations({"k": "x" * (256 * 1024 - 1)}, "a") == []


def test_finalizers() -> None:
    assert v.validate_finalizers(["example.com/cleanup", "kubernetes"], "f") == []
    [cause] = v.validate_finalizers(["bad finalizer"], "metadata.finalizers")
    assert cause.field == "metadata.finalizers"
    assert cause.message == f'Invalid value: "bad finalizer": {QNAME_MSG}'
    [cause] = v.validate_finalizers(["orphan", "foregroundDeletion"], "f")
    assert cause.message == (
        'Invalid value: ["orphan","foregroundDeletion"]: finalizer orphan and '
        "foregroundDeletion cannot be both set"
    )


def owner(**changes: Any) -> dict[str, Any]:
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u-1"}
    ref.update(changes)
    return ref


def test_owner_references_require_their_fields() -> None:
    assert v.validate_owner_references([owner()], "o") == []
    path = "metadata.ownerReferences"
    causes = v.validate_owner_references([{"apiVersion": "a/b/c"}], path)
    assert [(c.field, c.message) for c in causes] == [
        (f"{path}.apiVersion", 'Invalid value: "a/b/c": version must not be empty'),
        (f"{path}.kind", 'Invalid value: "": kind must not be empty'),
        (f"{path}.name", 'Invalid value: "": name must not be empty'),
        (f"{path}.uid", 'Invalid value: "": uid must not be empty'),
    ]


def test_owner_references_allow_one_controller() -> None:
    refs = [owner(controller=True), owner(name="b", controller=True), owner(name="c")]
    [cause] = v.validate_owner_references(refs, "metadata.ownerReferences")
    assert cause.field == "metadata.ownerReferences"
    assert cause.message.endswith(
        ': Only one reference can have Controller set to true. Found "true" in references for '
        "ReplicaSet/web and ReplicaSet/b"
    )


def test_owner_references_reject_events_and_bad_types() -> None:
    [cause] = v.validate_owner_references([owner(apiVersion="v1", kind="Event")], "o")
    assert cause.message.endswith("/v1, Kind=Event is disallowed from being an owner")
    causes = v.validate_owner_references([owner(uid=7, controller="yes")], "o")
    assert {c.field for c in causes} == {"o.uid", "o.controller"}
    assert {c.reason for c in causes} == {"FieldValueTypeInvalid"}
    assert v.validate_owner_references("x", "o")[0].reason == "FieldValueTypeInvalid"


def test_object_meta_valid() -> None:
    meta = {
        "name": "web",
        "namespace": "default",
        "labels": {"app": "web"},
        "annotations": {"example.com/a": "b"},
        "finalizers": ["example.com/f"],
        "ownerReferences": [owner(controller=True)],
        "generation": 1,
    }
    assert v.validate_object_meta(meta, namespaced=True) == []


def test_object_meta_requires_name_or_generate_name() -> None:
    assert v.validate_object_meta({}, namespaced=False) == [
        errors.Cause(
            "metadata.name",
            "Required value: name or generateName is required",
            "FieldValueRequired",
        )
    ]
    assert v.validate_object_meta({"generateName": "web-"}, namespaced=False) == []
    [cause] = v.validate_object_meta({"generateName": "Web-"}, namespaced=False)
    assert cause.field == "metadata.generateName"
    assert cause.message == f'Invalid value: "Web-": {SUBDOMAIN_MSG}'


def test_object_meta_namespace_rules() -> None:
    [cause] = v.validate_object_meta({"name": "a"}, namespaced=True)
    assert cause == errors.Cause("metadata.namespace", "Required value", "FieldValueRequired")
    [cause] = v.validate_object_meta({"name": "a", "namespace": "x"}, namespaced=False)
    assert cause == errors.Cause(
        "metadata.namespace", "Forbidden: not allowed on this type", "FieldValueForbidden"
    )
    [cause] = v.validate_object_meta({"name": "a", "namespace": "a.b"}, namespaced=True)
    assert cause.message == 'Invalid value: "a.b": must not contain dots'


def test_object_meta_uses_the_kinds_name_rule_and_path() -> None:
    meta = {"name": "my.service", "generation": -1}
    causes = v.validate_object_meta(
        meta, namespaced=False, name_validator=v.name_is_dns1035_label, path="spec.meta"
    )
    assert [c.field for c in causes] == ["spec.meta.name", "spec.meta.generation"]
    assert causes[1].message == "Invalid value: -1: must be greater than or equal to 0"


def test_object_meta_of_the_wrong_type() -> None:
    [cause] = v.validate_object_meta("web", namespaced=True)
    assert cause.reason == "FieldValueTypeInvalid"
    causes = v.validate_object_meta({"name": 5, "namespace": ["x"]}, namespaced=True)
    assert [c.reason for c in causes] == ["FieldValueTypeInvalid"] * 2


def test_raise_if_causes_has_kube_apiserver_message_shape() -> None:
    v.raise_if_causes([], "Pod", "web")  # nothing to raise
    causes = [
        v.required("spec.containers"),
        v.invalid("metadata.name", "Web", "bad"),
    ]
    with pytest.raises(errors.Invalid) as info:
        v.raise_if_causes(causes, "Pod", "Web")
    assert str(info.value) == (
        'Pod "Web" is invalid: spec.containers: Required value, '
        'metadata.name: Invalid value: "Web": bad'
    )
    assert info.value.causes == tuple(causes)
    assert info.value.details["kind"] == "Pod"
    assert info.value.details["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"},
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "Web": bad',
            "field": "metadata.name",
        },
    ]


def test_cause_constructors() -> None:
    assert v.not_supported("f", "c", ["a", "b"]).message == (
        'Unsupported value: "c": supported values: "a", "b"'
    )
    assert v.forbidden("f", "no").message == "Forbidden: no"
    assert v.too_many("f", 4, 3).message == "Too many: 4: must have at most 3 items"
    assert v.too_many("f", 2, 1).message == "Too many: 2: must have at most 1 item"
    assert v.duplicate("f", {"name": "a"}).message == 'Duplicate value: {"name":"a"}'
    assert v.required("f", "why").message == "Required value: why"


# -- invariants -------------------------------------------------------------------------

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.text(alphabet="abcXY.-_09/", max_size=300))
def test_subdomain_rule_matches_the_regex_and_length(name: str) -> None:
    valid = len(name) <= 253 and _SUBDOMAIN.fullmatch(name) is not None
    assert (v.is_dns1123_subdomain(name) == []) is valid


labels = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
names = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,40}[A-Za-z0-9])?", fullmatch=True)


@given(st.lists(labels, min_size=1, max_size=4), names)
def test_prefixed_names_built_from_valid_parts_are_qualified(parts: list[str], name: str) -> None:
    assert v.is_qualified_name(".".join(parts) + "/" + name) == []
    assert v.is_label_value(name) == []


@given(json_values)
def test_validators_never_raise_on_arbitrary_json(value: Any) -> None:
    for check in (
        v.validate_dns1123_label,
        v.validate_qualified_name,
        v.validate_port_number,
        v.validate_port_name,
        v.validate_int_or_percent,
        v.validate_resource_name,
        v.validate_env_var_name,
        v.validate_labels,
        v.validate_annotations,
        v.validate_owner_references,
        v.validate_finalizers,
    ):
        assert all(isinstance(c, errors.Cause) for c in check(value, "f"))
    meta_causes = v.validate_object_meta(value, namespaced=True)
    assert all(isinstance(c, errors.Cause) for c in meta_causes)
