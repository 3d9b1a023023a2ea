"""The fast FieldsV1 walk of a create equals the plain walk, and never changes shared nodes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from korch import errors
from korch.api import _fields_v1, _fieldset, _manifest, _strategic

FIXTURES = Path(__file__).parent / "fixtures"
STRIPPED = [("f:apiVersion",), ("f:kind",), ("f:metadata",), ("f:metadata", "f:name")]
STRIPPED += [("f:metadata", "f:" + name) for name in ("namespace", "uid", "generation")]


def _plain(obj: dict[str, Any], schema: _strategic.PatchSchema) -> str:
    return json.dumps(_fieldset.object_fields_v1(obj, schema, STRIPPED))


DEEP = [*STRIPPED, ("f:spec", "f:containers"), ("f:spec", "f:nodeSelector")]
DEEP += [("f:spec", "f:containers", 'k:{"name":"app"}', "f:image")]


def _fast(obj: dict[str, Any], schema: _strategic.PatchSchema) -> str:
    # json.dumps keeps insertion order: FieldsV1 order is compared too; the frozen set takes
    # the one-pass strip for shallow paths, the list and the deep paths the general one
    shallow = json.dumps(_fields_v1.object_fields_v1(obj, schema, frozenset(STRIPPED)))
    general = json.dumps(_fields_v1.object_fields_v1(obj, schema, STRIPPED))
    assert shallow == general
    deep = json.dumps(_fields_v1.object_fields_v1(obj, schema, tuple(DEEP)))
    assert deep == json.dumps(_fieldset.object_fields_v1(obj, schema, DEEP))
    return shallow


def _schema(obj: dict[str, Any]) -> _strategic.PatchSchema:
    return _strategic.schema_for_kind(obj["apiVersion"], obj["kind"], strict=False)


def _documents() -> list[dict[str, Any]]:
    out = []
    for path in [FIXTURES / "seeds.yaml", *sorted((FIXTURES / "corpus").iterdir())]:
        docs, _ = _manifest._raw_documents(path.read_text(), str(path), round_trip=False)
        out += [_manifest._plain(raw, str(path)) for raw in docs if raw is not None]
    return [doc for doc in out if isinstance(doc, dict) and "kind" in doc]


DOCUMENTS = _documents()


@pytest.mark.parametrize(
    "doc", DOCUMENTS, ids=[f"{d['kind']}-{i}" for i, d in enumerate(DOCUMENTS)]
)
def test_fast_walk_equals_the_plain_walk_over_the_fixture_corpus(doc: dict[str, Any]) -> None:
    assert _fast(doc, _schema(doc)) == _plain(doc, _schema(doc))


POD_SCHEMA = _strategic.schema_for_kind("v1", "Pod", strict=False)
_names = st.sampled_from(["a", "b", "c", "é", 'q"uote'])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), _names, st.just(1.5))
_container = st.fixed_dictionaries(
    {"name": _names},
    optional={
        "image": _names,
        "args": st.lists(_names, max_size=3),
        "ports": st.lists(
            st.fixed_dictionaries(
                {"containerPort": st.integers(1, 3)},
                optional={"protocol": st.sampled_from(["TCP", "UDP"]), "name": _names},
            ),
            max_size=3,
        ),
        "env": st.lists(
            st.fixed_dictionaries({"name": _names}, optional={"value": _scalars}), max_size=3
        ),
        "resources": st.dictionaries(_names, st.dictionaries(_names, _names), max_size=2),
    },
)
_pod = st.fixed_dictionaries(
    {"apiVersion": st.just("v1"), "kind": st.just("Pod")},
    optional={
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "name": _names,
                "uid": _names,
                "labels": st.dictionaries(_names, _names, max_size=3),
                "finalizers": st.lists(_scalars, max_size=3),
                "ownerReferences": st.lists(
                    st.fixed_dictionaries({}, optional={"uid": _scalars, "name": _names}),
                    max_size=2,
                ),
            },
        ),
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "containers": st.lists(_container, max_size=3),
                "nodeSelector": st.dictionaries(_names, _names, max_size=2),
                "tolerations": st.lists(st.dictionaries(_names, _scalars), max_size=2),
                "volumes": st.lists(
                    st.one_of(st.fixed_dictionaries({"name": _names}), _scalars), max_size=2
                ),
            },
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(_pod)
def test_fast_walk_equals_the_plain_walk_or_fails_the_same_way(pod: dict[str, Any]) -> None:
    # duplicates, missing keys, non-object items, floats and non-ASCII text included
    outcomes = []
    for walk in (_plain, _fast):
        try:
            outcomes.append(walk(pod, POD_SCHEMA))
        except errors.Invalid as exc:
            outcomes.append(repr(exc.causes))
    assert outcomes[0] == outcomes[1]


def _pod_wire(name: str, uid: str, **metadata: Any) -> dict[str, Any]:
    container = {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "1"}}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "uid": uid, **metadata},
        "spec": {"containers": [container], "nodeSelector": {"disk": "ssd"}},
    }


def test_equal_parts_are_shared_and_never_modified_by_later_walks() -> None:
    first = _fields_v1.object_fields_v1(_pod_wire("a", "1"), POD_SCHEMA, frozenset(STRIPPED))
    snapshot = copy.deepcopy(first)
    # metadata holding only stripped fields is removed from the result, yet the shared
    # nodes of the first result stay as they were
    second = _fields_v1.object_fields_v1(_pod_wire("b", "2"), POD_SCHEMA, tuple(DEEP))
    third = _fields_v1.object_fields_v1(
        _pod_wire("c", "3", labels={"app": "web"}), POD_SCHEMA, STRIPPED
    )
    assert first == snapshot
    assert "f:metadata" not in second
    assert "f:nodeSelector" not in second["f:spec"]
    assert "f:image" not in second["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert third["f:metadata"] == {"f:labels": {"f:app": {}}}
    requests = first["f:spec"]["f:containers"]['k:{"name":"app"}']["f:resources"]["f:requests"]
    again = second["f:spec"]["f:containers"]['k:{"name":"app"}']["f:resources"]["f:requests"]
    assert requests is again


def test_decoded_trees_are_relinked_to_the_shared_nodes() -> None:
    created = _fields_v1.object_fields_v1(_pod_wire("d", "4"), POD_SCHEMA, frozenset(STRIPPED))
    decoded = json.loads(json.dumps(created))
    relinked = _fields_v1.shared(decoded)
    assert relinked == created
    requests = created["f:spec"]["f:containers"]['k:{"name":"app"}']["f:resources"]["f:requests"]
    again = relinked["f:spec"]["f:containers"]['k:{"name":"app"}']["f:resources"]["f:requests"]
    assert again is requests


@pytest.mark.parametrize("bad", [[], "x", {"f:a": []}, {"f:a": {"f:b": 1}}, {"f:a": None}])
def test_what_is_not_a_tree_of_objects_is_not_relinked(bad: Any) -> None:
    assert _fields_v1.shared(bad) is None
