"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386)."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api import _patch

# -- JSON patch: the examples of RFC 6902, appendix A ------------------------------------


@pytest.mark.parametrize(
    ("document", "operations", "expected"),
    [
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"foo": "bar", "baz": "qux"},
        ),
        (
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
        ),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        (
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
        ),
        (
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
        ),
        (
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        ),
        (
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
        ),
        (
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
            ],
            {"baz": "qux", "foo": ["a", 2, "c"]},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
        ),
        (
            {"/": 9, "~1": 10},
            [
                {"op": "test", "path": "/~01", "value": 10},
                {"op": "test", "path": "/~1", "value": 9},
            ],
            {"/": 9, "~1": 10},
        ),
        (
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
        ),
        ({"a": 1}, [{"op": "copy", "from": "/a", "path": "/b"}], {"a": 1, "b": 1}),
        ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
        ({"a": 1}, [], {"a": 1}),
    ],
)
def test_json_patch_rfc6902_examples(document: Any, operations: Any, expected: Any) -> None:
    assert _patch.json_patch(document, operations) == expected


def test_json_patch_adds_a_finalizer_and_bumps_replicas_on_a_deployment() -> None:
    deployment = {"metadata": {"name": "web"}, "spec": {"replicas": 1}}
    patched = _patch.json_patch(
        deployment,
        [
            {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/x"]},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
        ],
    )
    assert patched == {
        "metadata": {"name": "web", "finalizers": ["example.com/x"]},
        "spec": {"replicas": 3},
    }


def test_json_patch_annotation_keys_with_slashes_use_the_1_escape() -> None:
    pod = {"metadata": {"annotations": {}}}
    patched = _patch.json_patch(
        pod, [{"op": "add", "path": "/metadata/annotations/example.com~1team", "value": "a"}]
    )
    assert patched["metadata"]["annotations"] == {"example.com/team": "a"}


@pytest.mark.parametrize(
    ("document", "operation", "words"),
    [
        ({"foo": "bar"}, {"op": "remove", "path": "/missing"}, "/missing"),
        ({"foo": "bar"}, {"op": "replace", "path": "/a/b", "value": 1}, "/a"),
        ({"foo": [1]}, {"op": "add", "path": "/foo/5", "value": 1}, "out of range"),
        ({"foo": [1]}, {"op": "remove", "path": "/foo/01"}, "/foo/01"),
        ({"baz": "qux"}, {"op": "test", "path": "/baz", "value": "bar"}, "test failed"),
        ({"baz": 10}, {"op": "test", "path": "/baz", "value": "10"}, "test failed"),
        ({"baz": True}, {"op": "test", "path": "/baz", "value": 1}, "test failed"),
        ({"a": {"b": 1}}, {"op": "move", "from": "/a", "path": "/a/b/c"}, "its own children"),
        ({"a": 1}, {"op": "copy", "from": "/nope", "path": "/b"}, "/nope"),
        ({"a": "text"}, {"op": "add", "path": "/a/b", "value": 1}, "neither an object"),
        ({"a": 1}, {"op": "remove", "path": ""}, "whole document"),
        ({"a": [1]}, {"op": "test", "path": "/a/-", "value": 1}, "/a/-"),
    ],
)
def test_json_patch_failures_are_invalid_and_name_op_and_path(
    document: Any, operation: dict[str, Any], words: str
) -> None:
    operations = [{"op": "test", "path": "", "value": document}, operation]
    with pytest.raises(errors.Invalid) as info:
        _patch.json_patch(document, operations)
    assert "json patch operation 1" in str(info.value)
    assert repr(operation["path"]) in str(info.value)
    assert info.value.causes[0].field.startswith("/")
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("operations", "words"),
    [
        ({"op": "add"}, "list of operations"),
        (["add"], "must be an object"),
        ([{"op": "frobnicate", "path": "/a"}], "unknown op 'frobnicate'"),
        ([{"op": "add", "value": 1}], "missing 'path'"),
        ([{"op": "add", "path": "/a"}], "missing 'value'"),
        ([{"op": "move", "path": "/a"}], "missing 'from'"),
        ([{"op": "add", "path": "a", "value": 1}], "must start with '/'"),
        ([{"op": "add", "path": "/a~2", "value": 1}], "bad '~' escape"),
        ([{"op": "add", "path": 5, "value": 1}], "must be a string"),
    ],
)
def test_malformed_json_patches_are_bad_requests(operations: Any, words: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        _patch.json_patch({"a": 1}, operations)
    assert words in str(info.value)


def test_a_failed_json_patch_leaves_the_document_unchanged() -> None:
    document = {"a": [1, 2], "b": {"c": 1}}
    before = copy.deepcopy(document)
    with pytest.raises(errors.Invalid):
        _patch.json_patch(
            document,
            [{"op": "add", "path": "/a/-", "value": 3}, {"op": "remove", "path": "/zzz"}],
        )
    assert document == before


def test_values_added_by_a_json_patch_are_not_shared_with_the_patch() -> None:
    value = {"x": [1]}
    operations = [{"op": "add", "path": "/v", "value": value}]
    patched = _patch.json_patch({}, operations)
    patched["v"]["x"].append(2)
    assert value == {"x": [1]}


# -- merge patch: the examples of RFC 7386, appendix A -----------------------------------


@pytest.mark.parametrize(
    ("document", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386_examples(document: Any, patch: Any, expected: Any) -> None:
    assert _patch.merge_patch(document, patch) == expected


def test_merge_patch_null_deletes_a_label_and_replaces_lists() -> None:
    pod = {
        "metadata": {"labels": {"app": "web", "tier": "front"}},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
    }
    patch = {"metadata": {"labels": {"tier": None}}, "spec": {"containers": [{"name": "c"}]}}
    assert _patch.merge_patch(pod, patch) == {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c"}]},
    }


def test_merge_patch_result_does_not_alias_the_document() -> None:
    document = {"keep": {"deep": [1]}, "change": 1}
    result = _patch.merge_patch(document, {"change": 2})
    result["keep"]["deep"].append(2)
    assert document == {"keep": {"deep": [1]}, "change": 1}


def test_create_merge_patch_lists_only_the_differences() -> None:
    original = {"a": 1, "b": {"c": 1, "d": 2}, "e": [1], "f": True}
    modified = {"a": 1, "b": {"c": 1, "d": 3}, "e": [1, 2], "f": 1}
    assert _patch.create_merge_patch(original, modified) == {"b": {"d": 3}, "e": [1, 2], "f": 1}
    assert _patch.create_merge_patch(original, original) == {}
    assert _patch.create_merge_patch({"a": 1}, {}) == {"a": None}


def test_json_equal_follows_json_not_python() -> None:
    assert _patch.json_equal(1, 1.0)
    assert not _patch.json_equal(True, 1)
    assert not _patch.json_equal(0, False)
    assert _patch.json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not _patch.json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not _patch.json_equal("1", 1)


# -- invariants --------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
_keys = st.sampled_from(["a", "b", "c", "d", "e/f", "g~h"])
# Object members are never null: a merge patch cannot say "set to null" (null deletes).
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(_keys, children.filter(lambda v: v is not None), max_size=4)
    ),
    max_leaves=12,
)
_objects = st.dictionaries(_keys, _json.filter(lambda v: v is not None), max_size=5)


@given(_objects, _objects)
def test_merge_patch_of_create_merge_patch_gives_the_modified_object(
    original: dict[str, Any], modified: dict[str, Any]
) -> None:
    before = copy.deepcopy(original)
    patch = _patch.create_merge_patch(original, modified)
    assert _patch.json_equal(_patch.merge_patch(original, patch), modified)
    assert original == before


def _pointers(value: Any, prefix: str = "") -> list[str]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            escaped = key.replace("~", "~0").replace("/", "~1")
            out += _pointers(child, f"{prefix}/{escaped}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _pointers(child, f"{prefix}/{index}")
    return out


@given(_objects, st.data())
def test_json_patch_never_mutates_its_input(document: dict[str, Any], data: st.DataObject) -> None:
    pointers = _pointers(document)
    operation = data.draw(
        st.fixed_dictionaries(
            {
                "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]),
                "path": st.sampled_from(pointers) | st.just("/new"),
                "from": st.sampled_from(pointers),
                "value": _json,
            }
        )
    )
    before = copy.deepcopy(document)
    # A failed operation (Invalid is a BadRequest) is fine; a mutated input is not.
    with contextlib.suppress(errors.BadRequest):
        _patch.json_patch(document, [operation])
    assert document == before
