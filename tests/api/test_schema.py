"""Structural schemas of CRDs: compilation, validation, defaulting and pruning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from korch import errors
from korch.api import _schema, _validation

# The MySQLDatabase CRD and resource of the seed manifests (shared/seed-manifests.yaml),
# kept with the other seed manifests in fixtures/seeds.yaml.
SEEDS = Path(__file__).parent / "fixtures" / "seeds.yaml"


def seed() -> tuple[dict[str, Any], dict[str, Any]]:
    docs = list(YAML(typ="safe").load_all(SEEDS.read_text()))
    crd = next(d for d in docs if d and d.get("kind") == "CustomResourceDefinition")
    resource = next(d for d in docs if d and d.get("kind") == "MySQLDatabase")
    return crd, resource


def schema_for_seed() -> _schema.StructuralSchema:
    crd, _ = seed()
    return _schema.compile_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_seed_resource_with_integer_storage_is_rejected_on_spec_storage() -> None:
    _, resource = seed()
    causes = schema_for_seed().validate(resource)
    assert causes == [
        errors.Cause(
            "spec.storage",
            'Invalid value: "integer": spec.storage in body must be of type string: "integer"',
            "FieldValueTypeInvalid",
        )
    ]
    with pytest.raises(errors.Invalid) as info:
        _validation.raise_if_causes(causes, "MySQLDatabase.example.com", "my-database")
    assert str(info.value) == (
        'MySQLDatabase.example.com "my-database" is invalid: spec.storage: Invalid value: '
        '"integer": spec.storage in body must be of type string: "integer"'
    )


def test_seed_resource_with_string_storage_is_valid() -> None:
    _, resource = seed()
    resource["spec"]["storage"] = "10Gi"  # format int64 is not a string format: unchecked
    assert schema_for_seed().validate(resource) == []


# -- helpers ----------------------------------------------------------------------------


def compile_spec(spec: dict[str, Any], **options: Any) -> _schema.StructuralSchema:
    return _schema.compile_schema({"type": "object", "properties": {"spec": spec}}, **options)


def errs(spec: dict[str, Any], value: Any, **options: Any) -> list[tuple[str, str]]:
    causes = compile_spec(spec, **options).validate({"spec": value})
    return [(c.field, c.message) for c in causes]


def compile_causes(schema: Any, **options: Any) -> list[tuple[str, str]]:
    with pytest.raises(errors.Invalid) as info:
        _schema.compile_schema(schema, **options)
    return [(c.field, c.message) for c in info.value.causes]


def obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, **extra}


# -- compilation: structural rules ------------------------------------------------------


def test_every_node_needs_a_type() -> None:
    assert compile_causes({"properties": {"spec": {"type": "object"}}}) == [
        ("openAPIV3Schema.type", "Required value: must not be empty at the root")
    ]
    assert compile_causes(obj({"spec": obj({"size": {}})})) == [
        (
            "openAPIV3Schema.properties[spec].properties[size].type",
            "Required value: must not be empty for specified object fields",
        )
    ]
    assert compile_causes(obj({"l": {"type": "array", "items": {}}}), path="s") == [
        (
            "s.properties[l].items.type",
            "Required value: must not be empty for specified array items",
        )
    ]


def test_untyped_nodes_are_allowed_with_int_or_string_or_preserve_unknown_fields() -> None:
    spec = obj({"port": {"x-kubernetes-int-or-string": True}})
    spec["properties"]["any"] = {"x-kubernetes-preserve-unknown-fields": True}
    assert compile_spec(spec).validate({"spec": {"port": "http", "any": [1]}}) == []


def test_type_names_are_checked() -> None:
    assert compile_causes(obj({"a": {"type": "strin"}, "b": {"type": "null"}})) == [
        (
            "openAPIV3Schema.properties[a].type",
            'Unsupported value: "strin": supported values: "array", "boolean", "integer", '
            '"number", "object", "string"',
        ),
        (
            "openAPIV3Schema.properties[b].type",
            "Forbidden: type cannot be set to null, use nullable as an alternative",
        ),
    ]


def test_root_must_be_an_object_without_additional_properties() -> None:
    assert compile_causes({"type": "string"}) == [
        ("openAPIV3Schema.type", 'Invalid value: "string": must be object at the root')
    ]
    assert compile_causes({"type": "object", "additionalProperties": True}) == [
        ("openAPIV3Schema.additionalProperties", "Forbidden: must not be used at the root")
    ]


def test_properties_and_additional_properties_are_mutually_exclusive() -> None:
    spec = obj({"a": {"type": "string"}}, additionalProperties={"type": "string"})
    assert compile_causes(obj({"spec": spec})) == [
        (
            "openAPIV3Schema.properties[spec].additionalProperties",
            "Forbidden: additionalProperties and properties are mutual exclusive",
        )
    ]


def test_arrays_need_one_items_schema() -> None:
    assert compile_causes(obj({"l": {"type": "array"}})) == [
        ("openAPIV3Schema.properties[l].items", "Required value: must be specified")
    ]
    causes = compile_causes(obj({"l": {"type": "array", "items": [{"type": "string"}]}}))
    assert causes == [
        (
            "openAPIV3Schema.properties[l].items",
            "Forbidden: items must be a schema object and not an array",
        )
    ]


@pytest.mark.parametrize(
    "keyword", ["$ref", "definitions", "dependencies", "additionalItems", "patternProperties"]
)
def test_unsupported_keywords_are_forbidden(keyword: str) -> None:
    spec = obj({}, **{keyword: {}})
    assert compile_causes(obj({"spec": spec})) == [
        (f"openAPIV3Schema.properties[spec].{keyword}", f"Forbidden: {keyword} is not supported")
    ]


def test_unique_items_is_forbidden_unless_allowed() -> None:
    spec = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    assert compile_causes(obj({"spec": spec})) == [
        (
            "openAPIV3Schema.properties[spec].uniqueItems",
            "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes "
            "quadratic",
        )
    ]
    assert errs(spec, ["a", "b", "a"], allow_unique_items=True) == [
        ("spec", 'Invalid value: "": spec in body shouldn\'t contain duplicates')
    ]
    assert errs(spec, ["a", "b"], allow_unique_items=True) == []


def test_preserve_unknown_fields_must_be_true() -> None:
    spec = obj({}, **{"x-kubernetes-preserve-unknown-fields": False})
    assert compile_causes(obj({"spec": spec})) == [
        (
            "openAPIV3Schema.properties[spec].x-kubernetes-preserve-unknown-fields",
            "Invalid value: false: must be true or undefined",
        )
    ]


def test_value_validations_must_not_carry_structure() -> None:
    spec = obj(
        {"a": {"type": "string"}},
        anyOf=[{"type": "object", "nullable": True, "description": "x"}],
        allOf=[{"properties": {"b": {"maxLength": 2}}}],
        oneOf=[{"properties": {"metadata": {}}}],
    )
    causes = compile_causes(obj({"spec": spec}))
    at = "openAPIV3Schema.properties[spec]"
    assert causes == [
        (f"{at}.anyOf[0].description", "Forbidden: must be empty to be structural"),
        (f"{at}.anyOf[0].type", "Forbidden: must be empty to be structural"),
        (f"{at}.anyOf[0].nullable", "Forbidden: must be false to be structural"),
        (
            f"{at}.oneOf[0].properties[metadata]",
            "Forbidden: must not be specified in a nested context",
        ),
        (
            f"{at}.properties[b]",
            f"Required value: because it is defined in {at}.allOf[0].properties[b]",
        ),
        (
            f"{at}.properties[metadata]",
            f"Required value: because it is defined in {at}.oneOf[0].properties[metadata]",
        ),
    ]


def test_int_or_string_pattern_may_name_types() -> None:
    spec = {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": "^[0-9]+%$",
    }
    assert errs(spec, 5) == []
    assert errs(spec, "5%") == []
    assert errs(spec, "five") == [
        ("spec", "Invalid value: \"five\": spec in body should match '^[0-9]+%$'")
    ]


def test_root_metadata_may_only_restrict_name_and_generate_name() -> None:
    ok = obj({"metadata": obj({"name": {"type": "string", "maxLength": 5}})})
    causes = _schema.compile_schema(ok).validate({"metadata": {"name": "toolong"}})
    assert [(c.field, c.message) for c in causes] == [
        ("metadata.name", "Too long: may not be more than 5 bytes")
    ]
    bad = obj({"metadata": obj({"labels": {"type": "object"}}), "kind": {"type": "integer"}})
    assert compile_causes(bad) == [
        ("openAPIV3Schema.properties[kind].type", 'Invalid value: "integer": must be string'),
        (
            "openAPIV3Schema.properties[metadata]",
            "Forbidden: must not specify anything other than name and generateName, but "
            "metadata is implicitly specified",
        ),
    ]


def test_defaults_are_forbidden_in_top_level_metadata_and_must_validate() -> None:
    bad = obj(
        {
            "metadata": obj({"name": {"type": "string", "default": "x"}}),
            "spec": obj(
                {
                    "replicas": {"type": "integer", "default": "one"},
                    "template": obj({"a": {"type": "string"}}, default={"a": "x", "b": 1}),
                }
            ),
        }
    )
    at = "openAPIV3Schema.properties"
    assert compile_causes(bad) == [
        (
            f"{at}[metadata].properties[name].default",
            "Forbidden: must not be set in top-level metadata",
        ),
        (
            f"{at}[spec].properties[replicas].default",
            f'Invalid value: "string": {at}[spec].properties[replicas].default in body must be '
            'of type integer: "string"',
        ),
        (
            f"{at}[spec].properties[template].default",
            'Invalid value: {"a":"x","b":1}: must not have unknown fields [b]',
        ),
    ]


def test_embedded_resource_needs_an_object_type() -> None:
    schema = obj({"t": {"x-kubernetes-embedded-resource": True, "properties": {}}})
    assert compile_causes(schema) == [
        (
            "openAPIV3Schema.properties[t].type",
            "Required value: must be object if x-kubernetes-embedded-resource is true",
        )
    ]


def test_list_type_rules() -> None:
    at = "openAPIV3Schema.properties[l]"
    item = obj({"name": {"type": "string"}, "port": {"type": "integer"}})
    no_keys = {"type": "array", "items": item, "x-kubernetes-list-type": "map"}
    assert compile_causes(obj({"l": no_keys})) == [
        (
            f"{at}.x-kubernetes-list-map-keys",
            "Required value: must not be empty if x-kubernetes-list-type is map",
        )
    ]
    optional_key = {**no_keys, "x-kubernetes-list-map-keys": ["name"]}
    assert compile_causes(obj({"l": optional_key})) == [
        (
            f"{at}.items.properties[name].default",
            "Required value: this property is in x-kubernetes-list-map-keys, so it must have a "
            "default or be a required property",
        )
    ]
    unknown = {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bag"}
    assert compile_causes(obj({"l": unknown})) == [
        (
            f"{at}.x-kubernetes-list-type",
            'Unsupported value: "bag": supported values: "atomic", "set", "map"',
        )
    ]


def test_bad_patterns_are_rejected() -> None:
    [(field, message)] = compile_causes(obj({"s": {"type": "string", "pattern": "(?=x)"}}))
    assert field == "openAPIV3Schema.properties[s].pattern"
    assert message.startswith('Invalid value: "(?=x)": must be a valid regular expression')


@pytest.mark.parametrize(
    "schema",
    [
        "not a schema",
        {"type": "object", "properties": ["spec"]},
        obj({"s": {"type": "string", "minLength": "3"}}),
        obj({"s": {"type": "string", "required": "a"}}),
        obj({"s": {"type": 7}}),
        obj({"s": {"type": "string", "enum": "a"}}),
        obj({"s": {"type": "string", "nullable": "yes"}}),
        obj({"s": {"type": "object", "additionalProperties": 3}}),
        obj({"s": {"type": "string", "pattern": 5}}),
        obj({"s": {"type": "number", "multipleOf": 0}}),
        obj({"s": {"anyOf": {"type": "string"}, "type": "string"}}),
    ],
)
def test_malformed_schemas_raise_invalid_not_a_crash(schema: Any) -> None:
    assert compile_causes(schema)


# -- invariants -------------------------------------------------------------------------

HYPOTHESIS_SCHEMA = obj(
    {
        "spec": obj(
            {
                "replicas": {"type": "integer", "minimum": 0, "maximum": 5, "default": 1},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "name": {"type": "string", "maxLength": 4, "nullable": True, "default": "n"},
                "ratio": {"type": "number", "minimum": 0.5},
                "on": {"type": "boolean", "default": True},
                "ports": {
                    "type": "array",
                    "maxItems": 3,
                    "items": obj(
                        {
                            "port": {"type": "integer", "maximum": 100},
                            "protocol": {
                                "type": "string",
                                "enum": ["TCP", "UDP"],
                                "default": "TCP",
                            },
                        },
                        required=["port"],
                    ),
                },
                "env": {
                    "type": "object",
                    "additionalProperties": obj({"v": {"type": "string", "default": "x"}}),
                },
                "sub": obj({"deep": {"type": "integer", "default": 2}}, default={}),
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            required=["mode"],
        )
    }
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=6,
)


def typed(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Well-typed values for ``schema`` (constraints other than types may be violated)."""
    nullable = st.none() if schema.get("nullable") or "default" in schema else st.nothing()
    kind = schema.get("type")
    if kind == "integer":
        return st.integers(-10, 200) | nullable
    if kind == "number":
        return st.floats(-10, 10, allow_nan=False) | nullable
    if kind == "string":
        return st.sampled_from(["", "a", "b", "TCP", "toolong"]) | nullable
    if kind == "boolean":
        return st.booleans() | nullable
    if kind == "array":
        return st.lists(typed(schema["items"]), max_size=4) | nullable
    if "additionalProperties" in schema:
        return st.dictionaries(
            st.text(max_size=3), typed(schema["additionalProperties"]), max_size=3
        )
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return st.dictionaries(st.text(max_size=3), json_values, max_size=3)
    fields = {k: typed(s) for k, s in schema.get("properties", {}).items()}
    return st.fixed_dictionaries({}, optional=fields) | nullable


@settings(max_examples=300)
@given(typed(HYPOTHESIS_SCHEMA))
def test_defaulting_never_adds_errors(value: dict[str, Any]) -> None:
    schema = _schema.compile_schema(HYPOTHESIS_SCHEMA)
    before = {(c.field, c.message) for c in schema.validate(value)}
    after = {(c.field, c.message) for c in schema.validate(schema.default(value))}
    assert after <= before


@settings(max_examples=300)
@given(
    st.one_of(typed(HYPOTHESIS_SCHEMA), json_values),
    st.dictionaries(st.text(max_size=4), json_values, max_size=3),
)
def test_prune_is_idempotent(value: Any, unknown: dict[str, Any]) -> None:
    if isinstance(value, dict) and isinstance(value.get("spec"), dict):
        value["spec"].update(unknown)
    schema = _schema.compile_schema(HYPOTHESIS_SCHEMA)
    once, _ = schema.prune(value)
    twice, paths = schema.prune(once)
    assert twice == once
    assert paths == []
