"""Strategic merge patch: Kubernetes' list-merging rules, directives and per-kind schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api import _strategic

DEPLOYMENT = _strategic.schema_for_kind("apps/v1", "Deployment")
POD = _strategic.schema_for_kind("v1", "Pod")


def deployment(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "patch-demo"},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": list(containers), **spec}},
        },
    }


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


def smp(obj: dict[str, Any], patch: dict[str, Any], schema: Any = DEPLOYMENT) -> dict[str, Any]:
    return _strategic.strategic_merge_patch(obj, patch, schema)


# -- the kubectl patch task of the Kubernetes docs ---------------------------------------


def test_adding_a_container_keeps_the_existing_one_and_puts_the_new_one_first() -> None:
    live = deployment({"name": "patch-demo-ctr", "image": "nginx"})
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}
        }
    }
    assert containers(smp(live, patch)) == [
        {"name": "patch-demo-ctr-2", "image": "redis"},
        {"name": "patch-demo-ctr", "image": "nginx"},
    ]


def test_tolerations_have_no_merge_key_and_are_replaced() -> None:
    live = deployment({"name": "c", "image": "nginx"}, tolerations=[{"key": "dedicated"}])
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "disktype"}]}}}}
    assert smp(live, patch)["spec"]["template"]["spec"]["tolerations"] == [{"key": "disktype"}]


def test_retain_keys_clears_the_other_members_of_a_union() -> None:
    live = deployment({"name": "c"})
    live["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert smp(live, patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_field_the_patch_sets() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}
    with pytest.raises(errors.BadRequest, match=r"missing from \$retainKeys"):
        smp(deployment(), patch)


# -- list items: merge keys and directives -----------------------------------------------


def test_changing_one_container_merges_by_name_and_keeps_the_rest() -> None:
    live = deployment({"name": "a", "image": "a:1", "args": ["x"]}, {"name": "b", "image": "b:1"})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}}
    assert containers(smp(live, patch)) == [
        {"name": "a", "image": "a:1", "args": ["x"]},
        {"name": "b", "image": "b:2"},
    ]


def test_patch_delete_removes_a_container() -> None:
    live = deployment({"name": "a"}, {"name": "b"})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}
    assert containers(smp(live, patch)) == [{"name": "b"}]


def test_patch_replace_item_replaces_the_whole_list() -> None:
    live = deployment({"name": "a"}, {"name": "b"})
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "c"}]}
            }
        }
    }
    assert containers(smp(live, patch)) == [{"name": "c", "image": "c"}]


def test_patch_merge_item_is_the_default_merge() -> None:
    live = deployment({"name": "a", "image": "a:1"})
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"$patch": "merge", "name": "a", "tty": True}]}}
        }
    }
    assert containers(smp(live, patch)) == [{"name": "a", "image": "a:1", "tty": True}]


def test_nested_lists_merge_by_their_own_keys() -> None:
    live = deployment(
        {
            "name": "app",
            "ports": [{"containerPort": 80, "name": "http"}],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }
    )
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "ports": [{"containerPort": 80, "name": "web"}],
                            "env": [{"name": "B", "value": None, "valueFrom": {"x": 1}}],
                            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                        }
                    ]
                }
            }
        }
    }
    (merged,) = containers(smp(live, patch))
    assert merged["ports"] == [{"containerPort": 80, "name": "web"}]
    assert merged["env"] == [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"x": 1}}]
    assert merged["volumeMounts"] == [
        {"name": "cache", "mountPath": "/cache"},
        {"name": "data", "mountPath": "/data"},
    ]


def test_a_list_item_without_its_merge_key_is_a_bad_request() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
    with pytest.raises(errors.BadRequest, match="merge key 'name'"):
        smp(deployment({"name": "a"}), patch)


def test_unknown_directives_are_bad_requests() -> None:
    with pytest.raises(errors.BadRequest, match="unknown \\$patch directive 'frob'"):
        smp(deployment(), {"spec": {"$patch": "frob"}})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "x"}]}}}}
    with pytest.raises(errors.BadRequest, match="unknown \\$patch directive 'x'"):
        smp(deployment({"name": "a"}), patch)
    with pytest.raises(errors.BadRequest, match="unknown directive"):
        smp(deployment(), {"$frobnicate": 1})


def test_a_patch_that_is_not_an_object_is_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest, match="must be a JSON object"):
        _strategic.strategic_merge_patch({}, [{"op": "add"}], DEPLOYMENT)  # type: ignore[arg-type]


# -- maps --------------------------------------------------------------------------------


def test_null_deletes_and_maps_merge_recursively() -> None:
    live = {"metadata": {"labels": {"app": "web", "tier": "front"}, "annotations": {"a": "1"}}}
    patch = {"metadata": {"labels": {"tier": None, "env": "prod"}, "annotations": None}}
    assert smp(live, patch) == {"metadata": {"labels": {"app": "web", "env": "prod"}}}


def test_patch_replace_on_a_map_replaces_it() -> None:
    live = {"metadata": {"labels": {"app": "web", "tier": "front"}}}
    patch = {"metadata": {"labels": {"$patch": "replace", "only": "this"}}}
    assert smp(live, patch) == {"metadata": {"labels": {"only": "this"}}}


def test_patch_delete_on_a_map_removes_the_field() -> None:
    live = {"metadata": {"labels": {"app": "web"}, "name": "x"}}
    assert smp(live, {"metadata": {"labels": {"$patch": "delete"}}}) == {"metadata": {"name": "x"}}


def test_nulls_and_directives_never_reach_the_result() -> None:
    patch = {
        "metadata": {"labels": {"a": None, "b": "1"}, "annotations": {"$patch": "delete"}},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": None}]}}},
    }
    assert smp({}, patch) == {
        "metadata": {"labels": {"b": "1"}},
        "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}},
    }


# -- lists of primitives and ordering ----------------------------------------------------


def test_finalizers_are_a_set_union_and_delete_from_primitive_list_removes() -> None:
    live = {"metadata": {"finalizers": ["a", "b"]}}
    assert smp(live, {"metadata": {"finalizers": ["b", "c"]}}) == {
        "metadata": {"finalizers": ["a", "b", "c"]}
    }
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert smp(live, patch) == {"metadata": {"finalizers": ["b"]}}


def test_set_element_order_reorders_primitives_and_maps() -> None:
    live = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"]}}
    assert smp(live, patch) == {"metadata": {"finalizers": ["b", "c", "a"]}}
    live = deployment({"name": "a"}, {"name": "b"}, {"name": "c"})
    order = [{"name": "b"}, {"name": "c"}, {"name": "a"}]
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": order}}}}
    assert [c["name"] for c in containers(smp(live, patch))] == ["b", "c", "a"]


def test_set_element_order_applies_to_items_the_patch_adds() -> None:
    live = deployment({"name": "a"}, {"name": "b"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}, {"name": "new"}, {"name": "b"}],
                    "containers": [{"name": "new", "image": "n"}],
                }
            }
        }
    }
    assert [c["name"] for c in containers(smp(live, patch))] == ["a", "new", "b"]


def test_set_element_order_must_contain_the_patch_items() -> None:
    patch = {
        "metadata": {"$setElementOrder/finalizers": ["a"], "finalizers": ["zzz"]},
    }
    with pytest.raises(errors.BadRequest, match="setElementOrder"):
        smp({"metadata": {"finalizers": ["a"]}}, patch)


# -- per-kind schemas --------------------------------------------------------------------


def test_owner_references_merge_by_uid_and_conditions_by_type() -> None:
    live = {
        "metadata": {"ownerReferences": [{"uid": "1", "name": "rs-a"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }
    patch = {
        "metadata": {"ownerReferences": [{"uid": "2", "name": "rs-b"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    merged = smp(live, patch, POD)
    assert [o["uid"] for o in merged["metadata"]["ownerReferences"]] == ["2", "1"]
    assert merged["status"]["conditions"] == [{"type": "Ready", "status": "True"}]


def test_service_ports_merge_by_port() -> None:
    schema = _strategic.schema_for_kind("v1", "Service")
    live = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    assert smp(live, patch, schema)["spec"]["ports"] == [
        {"port": 80, "targetPort": 9090},
        {"port": 443},
    ]


def test_node_taints_are_replaced_and_pod_cidrs_merge() -> None:
    schema = _strategic.schema_for_kind("v1", "Node")
    live = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]}}
    patch = {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}], "podCIDRs": ["fd00::/64"]}}
    merged = smp(live, patch, schema)
    assert merged["spec"]["taints"] == [{"key": "b", "effect": "NoExecute"}]
    # An item the live list cannot place goes first, as Kubernetes orders merged lists.
    assert merged["spec"]["podCIDRs"] == ["fd00::/64", "10.0.0.0/24"]


def test_role_rules_are_replaced() -> None:
    schema = _strategic.schema_for_kind("rbac.authorization.k8s.io/v1", "Role")
    live = {"rules": [{"verbs": ["get"], "resources": ["pods"]}]}
    patch = {"rules": [{"verbs": ["list"], "resources": ["pods"]}]}
    assert smp(live, patch, schema) == patch


def test_cronjob_pod_template_is_reached_through_the_job_template() -> None:
    schema = _strategic.schema_for_kind("batch/v1", "CronJob")
    live = {
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}}
    }
    patch = {
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b"}]}}}}}
    }
    merged = smp(live, patch, schema)
    names = [
        c["name"] for c in merged["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    ]
    assert names == ["b", "a"]


def test_custom_resources_do_not_support_strategic_merge_patch() -> None:
    with pytest.raises(errors.UnsupportedMediaType) as info:
        _strategic.schema_for_kind("example.com/v1", "Widget")
    assert "application/merge-patch+json" in str(info.value)
    assert info.value.details == {"group": "example.com", "version": "v1", "kind": "Widget"}
    lenient = _strategic.schema_for_kind("example.com/v1", "Widget", strict=False)
    assert lenient.field("metadata").field("ownerReferences").merge_key == "uid"
    assert lenient.field("spec") == _strategic.PatchSchema()


# -- two-way diff and invariants ---------------------------------------------------------


def test_create_strategic_merge_patch_uses_directives() -> None:
    original = deployment({"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"})
    original["metadata"]["finalizers"] = ["x", "y"]
    modified = deployment({"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"})
    modified["metadata"]["finalizers"] = ["y", "z"]
    patch = _strategic.create_strategic_merge_patch(original, modified, DEPLOYMENT)
    assert patch["metadata"] == {
        "finalizers": ["z"],
        "$deleteFromPrimitiveList/finalizers": ["x"],
        "$setElementOrder/finalizers": ["y", "z"],
    }
    assert patch["spec"]["template"]["spec"] == {
        "containers": [
            {"name": "b", "image": "b:2"},
            {"name": "c", "image": "c:1"},
            {"name": "a", "$patch": "delete"},
        ],
        "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}],
    }
    assert smp(original, patch) == modified


names = st.sampled_from(["a", "b", "c", "d", "e"])
scalars = st.booleans() | st.integers(-3, 3) | st.text(max_size=2)
labels = st.dictionaries(st.sampled_from(["app", "tier", "x"]), st.text(max_size=2), max_size=3)
container = st.fixed_dictionaries(
    {"image": st.text(max_size=2)},
    optional={
        "env": st.lists(
            st.fixed_dictionaries({"name": names}, optional={"value": st.text(max_size=2)}),
            unique_by=lambda e: e["name"],
            max_size=3,
        ),
        "args": st.lists(scalars, max_size=2),
        "tty": st.booleans(),
    },
)


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    picked = draw(st.lists(names, unique=True, max_size=4))
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod"}
    metadata = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "labels": labels,
                "finalizers": st.lists(st.sampled_from("pqrs"), unique=True, max_size=3),
            },
        )
    )
    pod["metadata"] = metadata
    pod["spec"] = {
        "containers": [{"name": name, **draw(container)} for name in picked],
        **draw(st.fixed_dictionaries({}, optional={"tolerations": st.lists(labels, max_size=2)})),
    }
    return pod


@given(pods())
def test_an_empty_patch_is_the_identity(pod: dict[str, Any]) -> None:
    assert _strategic.strategic_merge_patch(pod, {}, POD) == pod


@given(pods(), pods())
def test_applying_the_two_way_diff_gives_the_modified_object(
    original: dict[str, Any], modified: dict[str, Any]
) -> None:
    before = copy.deepcopy(original)
    patch = _strategic.create_strategic_merge_patch(original, modified, POD)
    assert _strategic.strategic_merge_patch(original, patch, POD) == modified
    assert original == before
