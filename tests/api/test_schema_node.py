"""Validating, defaulting and pruning objects with a compiled structural schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from korch.api import _go_compat as go
from korch.api import _schema


def compile_spec(spec: dict[str, Any], **options: Any) -> _schema.StructuralSchema:
    return _schema.compile_schema({"type": "object", "properties": {"spec": spec}}, **options)


def errs(spec: dict[str, Any], value: Any, **options: Any) -> list[tuple[str, str]]:
    causes = compile_spec(spec, **options).validate({"spec": value})
    return [(c.field, c.message) for c in causes]


def obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, **extra}


# -- validation: keywords ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "good", "bad", "got"),
    [
        ("string", "x", 1, "integer"),
        ("integer", 3, 1.5, "number"),
        ("integer", -7, True, "boolean"),
        ("number", 1.5, "1.5", "string"),
        ("boolean", False, 0, "integer"),
        ("object", {}, [], "array"),
        ("array", [], {}, "object"),
    ],
)
def test_types(type_: str, good: Any, bad: Any, got: str) -> None:
    spec: dict[str, Any] = {"type": type_}
    if type_ == "array":
        spec["items"] = {"type": "string"}
    assert errs(spec, good) == []
    assert errs(spec, bad) == [
        ("spec", f'Invalid value: "{got}": spec in body must be of type {type_}: "{got}"')
    ]


def test_numbers_cross_integer_and_number_as_in_kubernetes() -> None:
    assert errs({"type": "integer"}, 2.0) == []  # an integral float is an integer
    assert errs({"type": "number"}, 2) == []


def test_nullable() -> None:
    assert errs({"type": "string"}, None) == [
        ("spec", 'Invalid value: "null": spec in body must be of type string: "null"')
    ]
    assert errs({"type": "string", "nullable": True}, None) == []


def test_format_is_compared_before_the_type_as_kube_openapi_does() -> None:
    assert errs({"type": "string", "format": "date-time"}, True) == [
        ("spec", 'Invalid value: "": spec in body must be of type date-time: ""')
    ]


def test_required_and_nested_paths() -> None:
    spec = obj(
        {
            "items": {
                "type": "array",
                "items": obj({"name": {"type": "string"}}, required=["name"]),
            }
        },
        required=["items", "size"],
    )
    value = {"items": [{"name": "a"}, {"name": "b"}, {"name": 3}, {}]}
    assert errs(spec, value) == [
        ("spec.size", "Required value"),
        (
            "spec.items[2].name",
            'Invalid value: "integer": spec.items[2].name in body must be of type string: '
            '"integer"',
        ),
        ("spec.items[3].name", "Required value"),
    ]


def test_enum() -> None:
    spec = {"type": "string", "enum": ["Always", "Never"]}
    assert errs(spec, "Always") == []
    assert errs(spec, "Sometimes") == [
        ("spec", 'Unsupported value: "Sometimes": supported values: "Always", "Never"')
    ]
    numbers = {"type": "integer", "enum": [1, 2]}
    assert errs(numbers, 2) == []
    assert errs(numbers, 3) == [("spec", 'Unsupported value: 3: supported values: "1", "2"')]
    flags = {"x-kubernetes-preserve-unknown-fields": True, "enum": [1]}
    assert errs(flags, True) != []  # true is not 1 in JSON
    assert errs(flags, 1.0) == []


def test_pattern_uses_go_end_of_text() -> None:
    spec = {"type": "string", "pattern": "^[a-z]+$"}
    assert errs(spec, "abc") == []
    assert errs(spec, "abc\n") == [
        ("spec", "Invalid value: \"abc\\n\": spec in body should match '^[a-z]+$'")
    ]
    assert errs({"type": "string", "pattern": "b"}, "abc") == []  # unanchored search


def test_numeric_bounds() -> None:
    spec = {"type": "integer", "minimum": 1, "maximum": 10}
    assert errs(spec, 1) == []
    assert errs(spec, 10) == []
    assert errs(spec, 11) == [
        ("spec", "Invalid value: 11: spec in body should be less than or equal to 10")
    ]
    assert errs(spec, 0) == [
        ("spec", "Invalid value: 0: spec in body should be greater than or equal to 1")
    ]
    exclusive = {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 1.5,
        "exclusiveMaximum": True,
    }
    assert errs(exclusive, 0.5) == []
    assert errs(exclusive, 0) == [
        ("spec", "Invalid value: 0: spec in body should be greater than 0")
    ]
    assert errs(exclusive, 1.5) == [
        ("spec", "Invalid value: 1.5: spec in body should be less than 1.5")
    ]


def test_multiple_of() -> None:
    assert errs({"type": "integer", "multipleOf": 5}, 15) == []
    assert errs({"type": "integer", "multipleOf": 5}, 7) == [
        ("spec", "Invalid value: 7: spec in body should be a multiple of 5")
    ]
    assert errs({"type": "number", "multipleOf": 0.5}, 2.5) == []


def test_string_lengths_count_characters() -> None:
    spec = {"type": "string", "minLength": 2, "maxLength": 3}
    assert errs(spec, "héé") == []
    assert errs(spec, "abcd") == [("spec", "Too long: may not be more than 3 bytes")]
    assert errs(spec, "a") == [
        ("spec", 'Invalid value: "a": spec in body should be at least 2 chars long')
    ]


def test_item_counts() -> None:
    spec = {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2}
    assert errs(spec, [1]) == []
    assert errs(spec, []) == [
        ("spec", "Invalid value: 0: spec in body should have at least 1 items")
    ]
    [(field, message)] = errs(spec, [1, 2, 3])
    assert (field, message) == ("spec", "Too many: 3: must have at most 2 items")


def test_property_counts() -> None:
    spec = {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "minProperties": 1,
        "maxProperties": 2,
    }
    assert errs(spec, {"a": "x"}) == []
    assert errs(spec, {}) == [
        ("spec", "Invalid value: 0: spec in body should have at least 1 properties")
    ]
    assert errs(spec, {"a": "", "b": "", "c": ""}) == [
        ("spec", "Too many: 3: must have at most 2 items")
    ]


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date-time", "2024-01-02T03:04:05Z", "2024-13-02T03:04:05Z"),
        ("date-time", "2024-01-02T03:04:05.123+01:00", "yesterday"),
        ("date-time", "2024-01-02 03:04", "2024-01-02T24:00:00Z"),
        ("date", "2024-02-29", "2023-02-29"),
        ("date", "2024-01-02", "2024-W01-1"),
        ("byte", "aGVsbG8=", "not base64!"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
        ("ipv4", "10.0.0.1", "10.0.0.256"),
        ("ipv6", "::1", "10.0.0.1"),
        ("cidr", "10.0.0.0/8", "10.0.0.0"),
        ("hostname", "node-1.example.com", "-node"),
        ("email", "a@example.com", "a.example.com"),
        ("mac", "00:1a:2b:3c:4d:5e", "00:1a:2b"),
        ("uri", "https://example.com/x", "example"),
        ("duration", "1h30m", "ninety minutes"),
    ],
)
def test_string_formats(fmt: str, good: str, bad: str) -> None:
    spec = {"type": "string", "format": fmt}
    assert errs(spec, good) == []
    assert errs(spec, bad) == [
        (
            "spec",
            f"Invalid value: {go.go_quote(bad)}: spec in body must be of type {fmt}: "
            f"{go.go_quote(bad)}",
        )
    ]
    assert compile_spec(spec).validate({"spec": bad})[0].reason == "FieldValueTypeInvalid"


def test_numeric_and_unknown_formats_are_not_range_checked() -> None:
    assert errs({"type": "integer", "format": "int32"}, 2**40) == []
    assert errs({"type": "string", "format": "k8s-something-new"}, "anything") == []


def test_int_or_string() -> None:
    spec = {"x-kubernetes-int-or-string": True}
    assert errs(spec, 80) == []
    assert errs(spec, "http") == []
    assert errs(spec, 1.5) == [
        ("spec", 'Invalid value: "number": spec in body must be of type integer,string: "number"')
    ]


def test_additional_properties_paths_use_keys() -> None:
    spec = obj({"labels": {"type": "object", "additionalProperties": {"type": "string"}}})
    assert errs(spec, {"labels": {"foo": 1, "bar": "ok"}}) == [
        (
            "spec.labels[foo]",
            'Invalid value: "integer": spec.labels[foo] in body must be of type string: "integer"',
        )
    ]


def test_additional_properties_false_forbids_unknown_keys() -> None:
    spec = {"type": "object", "additionalProperties": False}
    assert errs(spec, {}) == []
    assert errs(spec, {"x": 1}) == [
        ("spec", 'Invalid value: "x": spec.x in body is a forbidden property')
    ]


def test_unknown_fields_are_not_validation_errors() -> None:
    assert errs(obj({"a": {"type": "string"}}), {"b": 1}) == []


def test_embedded_resources() -> None:
    spec = obj(
        {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
            }
        }
    )
    ok = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}}}
    assert errs(spec, {"template": ok}) == []
    assert errs(spec, {"template": {"metadata": {"labels": {"a": "-"}}}}) == [
        ("spec.template.apiVersion", "Required value: must not be empty"),
        ("spec.template.kind", "Required value: must not be empty"),
        (
            "spec.template.metadata.labels",
            'Invalid value: "-": a valid label must be an empty string or consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
    ]
    [(field, message)] = errs(spec, {"template": {**ok, "kind": "Bad Kind"}})
    assert field == "spec.template.kind"
    assert message.startswith('Invalid value: "Bad Kind": may have mixed case, but should')


def test_list_type_set_and_map_find_duplicates() -> None:
    sets = {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
    assert errs(sets, ["a", "b"]) == []
    assert errs(sets, ["a", "b", "a"]) == [("spec[2]", 'Duplicate value: "a"')]
    item = obj({"name": {"type": "string"}, "port": {"type": "integer"}}, required=["name"])
    maps = {
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
    }
    value = [{"name": "a", "port": 1}, {"name": "b"}, {"name": "a", "port": 2}]
    assert errs(maps, value) == [("spec[2]", 'Duplicate value: {"name":"a"}')]


def test_any_of_one_of_all_of_not() -> None:
    any_of = obj(
        {"a": {"type": "string"}, "b": {"type": "string"}},
        anyOf=[{"required": ["a"]}, {"required": ["b"]}],
    )
    assert errs(any_of, {"b": "x"}) == []
    assert errs(any_of, {}) == [
        ("spec", 'Invalid value: "": "spec" must validate at least one schema (anyOf)'),
        ("spec.a", "Required value"),
    ]
    one_of = {**any_of, "oneOf": any_of["anyOf"]}
    del one_of["anyOf"]
    assert errs(one_of, {"a": "x"}) == []
    assert errs(one_of, {"a": "x", "b": "y"}) == [
        (
            "spec",
            'Invalid value: "": "spec" must validate one and only one schema (oneOf). '
            "Found 2 valid alternatives",
        )
    ]
    all_of = {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 5}]}
    assert errs(all_of, 3) == []
    assert errs(all_of, 9) == [
        ("spec", "Invalid value: 9: spec in body should be less than or equal to 5"),
        ("spec", 'Invalid value: "": "spec" must validate all the schemas (allOf)'),
    ]
    not_ = {"type": "string", "not": {"enum": ["forbidden"]}}
    assert errs(not_, "ok") == []
    assert errs(not_, "forbidden") == [
        ("spec", 'Invalid value: "": "spec" must not validate the schema (not)')
    ]


def test_validate_never_raises_on_non_objects() -> None:
    schema = compile_spec(obj({"version": {"type": "string"}}))
    assert [(c.field, c.message) for c in schema.validate(["x"])] == [
        ("", 'Invalid value: "array": in body must be of type object: "array"')
    ]
    assert schema.validate({"spec": {"version": ("tuple",)}})[0].reason == "FieldValueTypeInvalid"


# -- defaulting -------------------------------------------------------------------------

DEFAULTS = obj(
    {
        "spec": obj(
            {
                "replicas": {"type": "integer", "default": 1},
                "strategy": obj(
                    {"type": {"type": "string", "default": "Rolling"}, "max": {"type": "integer"}},
                    default={},
                ),
                "ports": {
                    "type": "array",
                    "items": obj(
                        {
                            "protocol": {"type": "string", "default": "TCP"},
                            "port": {"type": "integer"},
                        }
                    ),
                },
                "env": {
                    "type": "object",
                    "additionalProperties": obj({"value": {"type": "string", "default": ""}}),
                },
                "note": {"type": "string", "nullable": True, "default": "n"},
                "tags": {"type": "array", "items": {"type": "string", "default": "x"}},
            }
        )
    }
)


def test_defaults_fill_missing_fields_top_down() -> None:
    schema = _schema.compile_schema(DEFAULTS)
    original = {"spec": {"ports": [{"port": 80}], "env": {"A": {}}}}
    before = copy.deepcopy(original)
    assert schema.default(original) == {
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Rolling"},  # the default {} is defaulted in turn
            "ports": [{"port": 80, "protocol": "TCP"}],
            "env": {"A": {"value": ""}},
            "note": "n",
        }
    }
    assert original == before  # the input is not mutated


def test_defaults_replace_nulls_of_non_nullable_fields_only() -> None:
    schema = _schema.compile_schema(DEFAULTS)
    value = {"spec": {"replicas": None, "note": None, "tags": [None, "a"], "env": {"B": None}}}
    defaulted = schema.default(value)["spec"]
    assert defaulted["replicas"] == 1
    assert defaulted["note"] is None  # nullable: null is a value
    assert defaulted["tags"] == ["x", "a"]
    assert defaulted["env"] == {"B": None}  # no default for the map value itself


def test_defaults_do_not_touch_root_metadata() -> None:
    schema = _schema.compile_schema(DEFAULTS)
    assert schema.default({"metadata": {"name": "a"}})["metadata"] == {"name": "a"}


# -- pruning ----------------------------------------------------------------------------

PRUNING = obj(
    {
        "spec": obj(
            {
                "size": {"type": "integer"},
                "config": obj(
                    {"known": obj({"a": {"type": "string"}})},
                    **{"x-kubernetes-preserve-unknown-fields": True},
                ),
                "items": {"type": "array", "items": obj({"name": {"type": "string"}})},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "anything": {"type": "object", "additionalProperties": True},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": obj({"x": {"type": "string"}})},
                },
            }
        )
    }
)


def test_prune_removes_unknown_fields_and_reports_them() -> None:
    schema = _schema.compile_schema(PRUNING)
    original = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "a", "unknownMeta": 1},
        "status": {"ready": True},
        "spec": {
            "size": 1,
            "extra": 2,
            "config": {"free": {"x": 1}, "known": {"a": "k", "b": "gone"}},
            "items": [{"name": "a", "bad": 1}],
            "labels": {"a": "b"},
            "anything": {"k": {"nested": 1}, "s": "kept"},
            "template": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "bogus": 1},
                "spec": {"x": "y", "z": 1},
                "other": 1,
            },
        },
    }
    before = copy.deepcopy(original)
    pruned, paths = schema.prune(original)
    assert paths == [
        "spec.anything[k].nested",
        "spec.config.known.b",
        "spec.extra",
        "spec.items[0].bad",
        "spec.template.metadata.bogus",
        "spec.template.other",
        "spec.template.spec.z",
        "status",
    ]
    assert pruned == {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "a", "unknownMeta": 1},  # root metadata is left to ObjectMeta
        "spec": {
            "size": 1,
            "config": {"free": {"x": 1}, "known": {"a": "k"}},
            "items": [{"name": "a"}],
            "labels": {"a": "b"},
            "anything": {"k": {}, "s": "kept"},
            "template": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"x": "y"},
            },
        },
    }
    assert original == before


def test_prune_drops_nulls_of_non_nullable_fields_without_defaults() -> None:
    schema = _schema.compile_schema(DEFAULTS)
    pruned, paths = schema.prune({"spec": {"replicas": None, "ports": None, "note": None}})
    assert pruned == {"spec": {"replicas": None, "note": None}}  # replicas has a default
    assert paths == []


def test_prune_keeps_unknown_fields_of_items_under_a_preserving_array() -> None:
    schema = obj(
        {
            "l": {
                "type": "array",
                "x-kubernetes-preserve-unknown-fields": True,
                "items": obj({"a": obj({"b": {"type": "string"}})}),
            }
        }
    )
    pruned, paths = _schema.compile_schema(schema).prune({"l": [{"x": 1, "a": {"c": 2}}]})
    assert pruned == {"l": [{"x": 1, "a": {}}]}
    assert paths == ["l[0].a.c"]
