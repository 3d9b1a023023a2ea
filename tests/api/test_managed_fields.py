"""Server-side apply: FieldSet, FieldsV1, ownership, conflicts and pruning."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api import _managed_fields as mf
from korch.api import _strategic

DEPLOYMENT = _strategic.schema_for_kind("apps/v1", "Deployment")
T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"


def config(replicas: int = 3, image: str = "nginx:1", **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "nginx", "image": image, **extra}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container]},
            },
        },
    }


def fields_of(entries: list[dict[str, Any]], manager: str) -> mf.FieldSet:
    (entry,) = [e for e in entries if e["manager"] == manager]
    return mf.FieldSet.from_fields_v1(entry["fieldsV1"])


def path(text: str) -> tuple[str, ...]:
    return tuple("f:" + part for part in text.strip(".").split("."))


# -- FieldSet ----------------------------------------------------------------------------

FIELDS_V1 = {
    "f:spec": {
        "f:replicas": {},
        "f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}}},
    }
}


def test_fields_v1_round_trip_and_membership() -> None:
    fields = mf.FieldSet.from_fields_v1(FIELDS_V1)
    assert ("f:spec", "f:replicas") in fields
    assert ("f:spec", "f:containers", 'k:{"name":"c"}') in fields
    assert ("f:spec",) not in fields  # a field holding others is not itself a member
    assert len(fields) == 3
    assert fields.to_fields_v1() == FIELDS_V1


def test_set_operations() -> None:
    a = mf.FieldSet.of([path("spec.replicas"), path("spec.paused")])
    b = mf.FieldSet.of([path("spec.replicas"), path("spec.minReadySeconds")])
    assert (a & b) == mf.FieldSet.of([path("spec.replicas")])
    assert (a - b) == a.difference(b) == mf.FieldSet.of([path("spec.paused")])
    assert len(a | b) == len(a.union(b)) == 3
    assert not (a - a)


def test_elements_are_normalised_and_sorted_like_kube_apiserver() -> None:
    fields = mf.FieldSet.of(
        [
            ("f:ports", 'k:{"protocol":"TCP","containerPort":80}'),
            ("f:finalizers", 'v:"b"'),
            ("f:args", "i:10"),
            ("f:args", "i:2"),
            ("f:a",),
        ]
    )
    assert ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}') in fields
    assert [p[0] for p in fields] == ["f:a", "f:args", "f:args", "f:finalizers", "f:ports"]
    assert list(fields.to_fields_v1()["f:args"]) == ["i:2", "i:10"]


@pytest.mark.parametrize(
    "bad", [{"x:spec": {}}, {"f:spec": []}, {"k:notjson": {}}, {"i:-1": {}}, {"f:a": {"i:x": {}}}]
)
def test_malformed_fields_v1_is_a_bad_request(bad: dict[str, Any]) -> None:
    with pytest.raises(errors.BadRequest, match=r"managedFields|FieldsV1"):
        mf.FieldSet.from_fields_v1(bad)


def test_paths_print_like_kube_apiserver() -> None:
    key = 'k:{"containerPort":80,"protocol":"TCP"}'
    assert mf.format_path(("f:spec", "f:ports", key, "f:name")) == (
        '.spec.ports[containerPort=80,protocol="TCP"].name'
    )
    assert mf.format_path(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'
    assert mf.format_path(("f:spec", "f:args", "i:0")) == ".spec.args[0]"


element = st.one_of(
    st.text("abcXY/.", min_size=1, max_size=4).map(lambda s: "f:" + s),
    st.integers(0, 20).map(lambda i: f"i:{i}"),
    (st.text(max_size=3) | st.integers() | st.booleans()).map(lambda v: "v:" + json.dumps(v)),
    st.sampled_from(["a", "b"]).map(lambda s: 'k:{"name":"' + s + '"}'),
)


@given(st.frozensets(st.lists(element, min_size=1, max_size=4).map(tuple), max_size=8))
def test_fields_v1_round_trip(paths: frozenset[tuple[str, ...]]) -> None:
    fields = mf.FieldSet.of(paths)
    assert mf.FieldSet.from_fields_v1(fields.to_fields_v1()) == fields


# -- fieldset_of -------------------------------------------------------------------------


def test_fieldset_of_keys_list_items_like_kubernetes() -> None:
    obj = config(ports=[{"containerPort": 80}])
    obj["metadata"]["finalizers"] = ["x"]
    obj["spec"]["template"]["spec"]["tolerations"] = [{"key": "a"}]
    fields = mf.fieldset_of(obj, DEPLOYMENT)
    containers = ("f:spec", "f:template", "f:spec", "f:containers")
    item = (*containers, 'k:{"name":"nginx"}')
    assert item in fields
    assert (*item, "f:image") in fields
    assert (*item, "f:name") in fields
    assert (*item, "f:ports", 'k:{"containerPort":80,"protocol":"TCP"}') in fields
    assert ("f:metadata", "f:finalizers", 'v:"x"') in fields
    assert ("f:spec", "f:selector") in fields  # a label selector is atomic
    assert ("f:spec", "f:selector", "f:matchLabels") not in fields
    assert ("f:spec", "f:template", "f:spec", "f:tolerations") in fields  # atomic list


def test_fieldset_of_rejects_missing_keys_and_duplicates() -> None:
    obj = config()
    obj["spec"]["template"]["spec"]["containers"].append({"image": "x"})
    with pytest.raises(errors.Invalid, match="omits the key field 'name'") as info:
        mf.fieldset_of(obj, DEPLOYMENT)
    assert info.value.causes[0].field == "spec.template.spec.containers"
    obj["spec"]["template"]["spec"]["containers"][1] = {"name": "nginx"}
    with pytest.raises(errors.Invalid, match='duplicate entries for \\[name="nginx"\\]'):
        mf.fieldset_of(obj, DEPLOYMENT)


# -- apply -------------------------------------------------------------------------------


def test_apply_creates_and_records_the_applied_fields_only() -> None:
    obj, entries = mf.apply(None, config(), "kubectl", [], DEPLOYMENT, time=T1)
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["managedFields"] == entries
    (entry,) = entries
    assert {k: v for k, v in entry.items() if k != "fieldsV1"} == {
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T1,
        "fieldsType": "FieldsV1",
    }
    fields = mf.FieldSet.from_fields_v1(entry["fieldsV1"])
    assert ("f:spec", "f:replicas") in fields
    assert not any(p[0] in ("f:apiVersion", "f:kind") for p in fields)
    assert ("f:metadata", "f:name") not in fields


def test_apply_conflicts_with_an_updater_and_force_takes_ownership() -> None:
    obj, entries = mf.apply(None, config(replicas=3), "kubectl", [], DEPLOYMENT, time=T1)
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 5
    entries = mf.update_managed_fields(obj, scaled, "kube-controller-manager", time=T2)
    assert ("f:spec", "f:replicas") in fields_of(entries, "kube-controller-manager")
    assert ("f:spec", "f:replicas") not in fields_of(entries, "kubectl")

    with pytest.raises(errors.Conflict) as info:
        mf.apply(scaled, config(replicas=3), "kubectl", entries, DEPLOYMENT)
    assert str(info.value) == (
        'Apply failed with 1 conflict: conflict with "kube-controller-manager" using apps/v1: '
        ".spec.replicas"
    )
    assert info.value.details["causes"] == [
        {
            "type": "FieldManagerConflict",
            "message": 'conflict with "kube-controller-manager" using apps/v1',
            "field": ".spec.replicas",
        }
    ]

    forced, entries = mf.apply(scaled, config(replicas=3), "kubectl", entries, force=True)
    assert forced["spec"]["replicas"] == 3
    assert [e["manager"] for e in entries] == ["kubectl"]  # the updater owned nothing else
    assert ("f:spec", "f:replicas") in fields_of(entries, "kubectl")


def test_applying_the_same_value_shares_ownership_without_conflict() -> None:
    obj, entries = mf.apply(None, config(), "alice", [], DEPLOYMENT, time=T1)
    obj, entries = mf.apply(obj, config(), "bob", entries, DEPLOYMENT, time=T2)
    replicas = ("f:spec", "f:replicas")
    assert replicas in fields_of(entries, "alice")
    assert replicas in fields_of(entries, "bob")
    with pytest.raises(errors.Conflict) as info:
        mf.apply(obj, config(replicas=1, image="nginx:2"), "bob", entries, DEPLOYMENT)
    assert str(info.value) == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image'
    )


def test_a_field_the_applier_omits_is_removed() -> None:
    obj, entries = mf.apply(None, config(tty=True), "kubectl", [], DEPLOYMENT, time=T1)
    obj, entries = mf.apply(obj, config(), "kubectl", entries, DEPLOYMENT, time=T2)
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "image": "nginx:1"}]
    assert entries[0]["time"] == T2


def test_an_omitted_field_another_manager_owns_is_kept() -> None:
    obj, entries = mf.apply(None, config(tty=True), "alice", [], DEPLOYMENT, time=T1)
    obj, entries = mf.apply(obj, config(tty=True), "bob", entries, DEPLOYMENT, time=T2)
    obj, entries = mf.apply(obj, config(), "alice", entries, DEPLOYMENT, time=T3)
    assert obj["spec"]["template"]["spec"]["containers"][0]["tty"] is True
    tty = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"nginx"}', "f:tty")
    assert tty not in fields_of(entries, "alice")
    assert tty in fields_of(entries, "bob")


def test_an_omitted_list_item_is_removed_and_other_items_stay() -> None:
    two = config()
    two["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "s"})
    obj, entries = mf.apply(None, two, "kubectl", [], DEPLOYMENT, time=T1)
    obj, entries = mf.apply(obj, config(), "kubectl", entries, DEPLOYMENT, time=T2)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["nginx"]


def test_apply_merges_into_fields_it_does_not_own_and_keeps_live_order() -> None:
    live = config()
    live["spec"]["template"]["spec"]["containers"].insert(0, {"name": "first", "image": "f"})
    live["spec"]["paused"] = False
    applied = config(image="nginx:2")
    applied["spec"]["template"]["spec"]["containers"].append({"name": "last", "image": "l"})
    entries = mf.update_managed_fields(None, live, "creator", time=T1)
    obj, _ = mf.apply(live, applied, "kubectl", entries, DEPLOYMENT, force=True, time=T2)
    names = [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]]
    assert names == ["first", "nginx", "last"]
    assert obj["spec"]["paused"] is False


def test_first_apply_to_an_untracked_object_credits_before_first_apply() -> None:
    live = config(replicas=5)
    live["metadata"]["uid"] = "u1"
    with pytest.raises(errors.Conflict, match='conflict with "before-first-apply" using apps/v1'):
        mf.apply(live, config(replicas=3), "kubectl", [], DEPLOYMENT)
    _obj, entries = mf.apply(live, config(replicas=5), "kubectl", [], DEPLOYMENT, time=T1)
    assert {e["manager"] for e in entries} == {"kubectl", "before-first-apply"}


def test_apply_rejects_bad_requests() -> None:
    with pytest.raises(errors.BadRequest, match="fieldManager is required"):
        mf.apply(None, config(), "", [], DEPLOYMENT)
    bad = config()
    bad["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(errors.BadRequest, match="managedFields must be nil"):
        mf.apply(None, bad, "kubectl", [], DEPLOYMENT)
    with pytest.raises(errors.BadRequest, match="operation must be Apply or Update"):
        mf.apply(None, config(), "kubectl", [{"manager": "x", "operation": "Nope"}], DEPLOYMENT)


def test_status_subresource_manager_and_custom_resources() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    obj, entries = mf.apply(None, {**widget, "spec": {"size": 1, "tags": ["a"]}}, "op", [], time=T1)
    status = {**widget, "status": {"ready": True}}
    obj, entries = mf.apply(obj, status, "op", entries, subresource="status", time=T2)
    assert obj["spec"] == {"size": 1, "tags": ["a"]}
    assert obj["status"] == {"ready": True}
    assert [(e["manager"], e.get("subresource")) for e in entries] == [
        ("op", None),
        ("op", "status"),
    ]
    # Without a schema a custom resource's lists are atomic.
    assert ("f:spec", "f:tags") in fields_of(entries[:1], "op")


# -- update ------------------------------------------------------------------------------


def test_update_takes_changed_fields_and_drops_removed_ones() -> None:
    obj, entries = mf.apply(None, config(tty=True), "kubectl", [], DEPLOYMENT, time=T1)
    edited = copy.deepcopy(obj)
    container = edited["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "nginx:2"
    del container["tty"]
    entries = mf.update_managed_fields(obj, edited, "kubectl-edit", time=T2)
    item = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"nginx"}')
    assert fields_of(entries, "kubectl-edit") == mf.FieldSet.of([(*item, "f:image")])
    kubectl = fields_of(entries, "kubectl")
    assert (*item, "f:image") not in kubectl
    assert (*item, "f:tty") not in kubectl
    assert [e["operation"] for e in entries] == ["Apply", "Update"]


def test_update_of_an_untracked_object_stays_untracked() -> None:
    live = config()
    live["metadata"]["uid"] = "u1"
    assert mf.update_managed_fields(live, config(replicas=9), "kubectl-edit") == []
    with pytest.raises(errors.BadRequest, match="operation must be 'Update'"):
        mf.update_managed_fields(None, live, "x", operation="Apply")


def test_more_than_ten_updaters_fold_into_ancient_changes() -> None:
    obj = config(replicas=0)
    entries = mf.update_managed_fields(None, obj, "creator", time="2024-01-01T00:00:00Z")
    for n in range(1, 12):
        new = copy.deepcopy(obj)
        new["metadata"].setdefault("annotations", {})[f"a{n}"] = "x"
        time = f"2024-01-{n + 1:02}T00:00:00Z"
        entries = mf.update_managed_fields(obj, new, f"m{n:02}", managed_fields=entries, time=time)
        obj = new
    managers = [e["manager"] for e in entries]
    assert len(managers) == 10
    assert "ancient-changes" in managers
    assert "creator" not in managers
    ancient = fields_of(entries, "ancient-changes")
    assert ("f:metadata", "f:annotations", "f:a1") in ancient


@given(st.integers(0, 5), st.sampled_from(["a", "b"]), st.booleans())
def test_reapplying_the_same_configuration_changes_nothing(
    replicas: int, image: str, tty: bool
) -> None:
    applied = config(replicas=replicas, image=image, tty=tty)
    obj, entries = mf.apply(None, applied, "kubectl", [], DEPLOYMENT, time=T1)
    again, entries_again = mf.apply(obj, applied, "kubectl", entries, DEPLOYMENT, time=T2)
    assert again == obj
    assert entries_again == entries
