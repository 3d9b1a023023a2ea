"""Typed kinds and the registry: defaults, wire names, lookups, and round trips of every kind."""

from __future__ import annotations

import datetime
import types
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from korch import errors
from korch.api import (
    _apiextensions,
    _apps,
    _batch,
    _codec,
    _core_container,
    _core_node,
    _core_other,
    _core_pod,
    _core_volume,
    _generic,
    _manifest,
    _meta,
    _misc,
    _registry,
)

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = _registry.default_registry()
TYPED = [rt for rt in REGISTRY if rt.typed]
MODEL_MODULES = (
    _meta,
    _core_container,
    _core_volume,
    _core_pod,
    _core_node,
    _core_other,
    _apps,
    _batch,
    _misc,
    _apiextensions,
)
MODEL_CLASSES = sorted(
    {
        obj
        for module in MODEL_MODULES
        for obj in vars(module).values()
        if isinstance(obj, type) and attrs.has(obj) and issubclass(obj, _meta.Model)
    },
    key=lambda cls: cls.__qualname__,
)
NON_RESOURCE_KINDS = [
    _meta.Status,
    _meta.Table,
    _meta.PartialObjectMetadata,
    _meta.DeleteOptions,
    _misc.Scale,
    _misc.Eviction,
]


# -- kinds -----------------------------------------------------------------------------

CORE_KINDS = [
    "Pod",
    "Node",
    "Namespace",
    "Service",
    "Endpoints",
    "ConfigMap",
    "Secret",
    "Event",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ServiceAccount",
    "PodTemplate",
    "ResourceQuota",
    "LimitRange",
    "ReplicationController",
    "Binding",
]


def test_the_brief_kinds_are_all_registered_typed() -> None:
    wanted = {("v1", kind) for kind in CORE_KINDS} | {
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ControllerRevision"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("coordination.k8s.io/v1", "Lease"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("certificates.k8s.io/v1", "CertificateSigningRequest"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("autoscaling/v1", "HorizontalPodAutoscaler"),
    }
    assert wanted <= {(rt.api_version, rt.kind) for rt in TYPED}


@pytest.mark.parametrize("rt", TYPED, ids=lambda rt: f"{rt.api_version}/{rt.kind}")
def test_typed_kinds_default_their_type_meta(rt: _registry.ResourceType) -> None:
    obj = rt.cls()
    assert (obj.api_version, obj.kind) == (rt.api_version, rt.kind)
    assert isinstance(obj.metadata, _meta.ObjectMeta)
    assert REGISTRY.class_for(rt.api_version, rt.kind) is rt.cls
    wire = _codec.to_dict(obj)
    assert list(wire.items())[:2] == [("apiVersion", rt.api_version), ("kind", rt.kind)]


@pytest.mark.parametrize("cls", NON_RESOURCE_KINDS, ids=lambda cls: cls.__name__)
def test_non_resource_kinds_decode_by_kind(cls: type) -> None:
    obj = cls()
    assert REGISTRY.class_for(obj.api_version, obj.kind) is cls
    assert isinstance(_codec.from_dict(_codec.to_dict(obj)), cls)


def test_models_are_frozen_values() -> None:
    pod = _core_pod.Pod(metadata=_meta.ObjectMeta(name="a"))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        pod.metadata = _meta.ObjectMeta()  # type: ignore[misc]
    renamed = attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, name="b"))
    assert (pod.metadata.name, renamed.metadata.name) == ("a", "b")
    assert renamed != pod and attrs.evolve(renamed, metadata=pod.metadata) == pod


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__qualname__)
def test_wire_names_are_unique_camel_case(cls: type) -> None:
    names = [_meta.wire_name(a) for a in _meta.model_fields(cls)]
    assert len(set(names)) == len(names)
    for name in names:
        assert name[0].isalpha() and "_" not in name, name


@pytest.mark.parametrize(
    ("cls", "attribute", "wire"),
    [
        (_core_pod.PodStatus, "pod_ip", "podIP"),
        (_core_pod.PodStatus, "host_ips", "hostIPs"),
        (_core_pod.PodSpec, "host_ipc", "hostIPC"),
        (_core_pod.PodSpec, "set_hostname_as_fqdn", "setHostnameAsFQDN"),
        (_core_node.NodeSpec, "pod_cidrs", "podCIDRs"),
        (_core_node.NodeSystemInfo, "system_uuid", "systemUUID"),
        (_core_node.DaemonEndpoint, "port", "Port"),
        (_core_node.ServiceSpec, "external_ips", "externalIPs"),
        (_core_node.SessionAffinityConfig, "client_ip", "clientIP"),
        (_core_container.ContainerStatus, "image_id", "imageID"),
        (_core_volume.Volume, "scale_io", "scaleIO"),
        (_core_volume.Volume, "downward_api", "downwardAPI"),
        (_core_volume.Volume, "aws_elastic_block_store", "awsElasticBlockStore"),
        (_apiextensions.CustomResourceValidation, "open_api_v3_schema", "openAPIV3Schema"),
        (_misc.PolicyRule, "non_resource_urls", "nonResourceURLs"),
        (_misc.HorizontalPodAutoscalerSpec, "target_cpu_utilization_percentage",
         "targetCPUUtilizationPercentage"),
        (_meta.ListMeta, "continue_", "continue"),
        (_meta.ManagedFieldsEntry, "fields_v1", "fieldsV1"),
    ],
)  # fmt: skip
def test_wire_name_exceptions(cls: type, attribute: str, wire: str) -> None:
    assert _meta.wire_name(attrs.fields_dict(cls)[attribute]) == wire


def test_field_metadata_supports_generators() -> None:
    container = attrs.fields_dict(_core_container.Container)
    assert container["name"].metadata.get(_meta.REQUIRED) is True
    assert container["image"].metadata.get(_meta.REQUIRED) is True
    assert _meta.field_info(description="x") == {_meta.DESCRIPTION: "x"}
    renew = attrs.fields_dict(_misc.LeaseSpec)["renew_time"]
    assert renew.metadata.get(_meta.FORMAT) == "micro"


def test_generic_resource_body_cannot_hold_type_meta() -> None:
    with pytest.raises(ValueError, match="metadata"):
        _generic.GenericResource(api_version="x/v1", kind="X", body={"metadata": {}})
    obj = _generic.GenericResource(api_version="v1", kind="X", body={"spec": 3})
    assert obj.spec == {} and obj.status == {}


# -- registry --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "plural", "group"),
    [
        ("po", "pods", ""), ("pod", "pods", ""), ("Pod", "pods", ""), ("pods", "pods", ""),
        ("deploy", "deployments", "apps"), ("deployments.apps", "deployments", "apps"),
        ("deployments.v1.apps", "deployments", "apps"), ("rs", "replicasets", "apps"),
        ("sts", "statefulsets", "apps"), ("ds", "daemonsets", "apps"),
        ("cj", "cronjobs", "batch"), ("jobs", "jobs", "batch"), ("svc", "services", ""),
        ("ep", "endpoints", ""), ("cm", "configmaps", ""), ("ns", "namespaces", ""),
        ("no", "nodes", ""), ("pv", "persistentvolumes", ""),
        ("pvc", "persistentvolumeclaims", ""), ("sa", "serviceaccounts", ""),
        ("ev", "events", ""), ("pdb", "poddisruptionbudgets", "policy"),
        ("pc", "priorityclasses", "scheduling.k8s.io"), ("quota", "resourcequotas", ""),
        ("limits", "limitranges", ""), ("ing", "ingresses", "networking.k8s.io"),
        ("csr", "certificatesigningrequests", "certificates.k8s.io"),
        ("crd", "customresourcedefinitions", "apiextensions.k8s.io"),
        ("crds", "customresourcedefinitions", "apiextensions.k8s.io"),
        ("rc", "replicationcontrollers", ""), ("hpa", "horizontalpodautoscalers", "autoscaling"),
        ("leases", "leases", "coordination.k8s.io"),
        ("ingresses.networking.k8s.io", "ingresses", "networking.k8s.io"),
    ],
)  # fmt: skip
def test_resolve_kubectl_names(name: str, plural: str, group: str) -> None:
    rt = REGISTRY.resolve(name)
    assert (rt.plural, rt.group) == (plural, group)


def test_resolve_prefers_core_and_preferred_versions() -> None:
    assert [rt.group for rt in REGISTRY.resolve_all("ev")] == ["", "events.k8s.io"]
    assert REGISTRY.resolve("hpa").version == "v2"
    assert REGISTRY.resolve("horizontalpodautoscalers.v1.autoscaling").cls is (
        _misc.HorizontalPodAutoscaler
    )
    with pytest.raises(errors.NotFound):
        REGISTRY.resolve("nosuchthing")


def test_scope_subresources_categories_and_lists() -> None:
    pods = REGISTRY.lookup("v1", "Pod")
    assert pods.namespaced and pods.short_names == ("po",) and pods.list_kind == "PodList"
    assert {"status", "binding", "eviction", "log", "exec"} <= set(pods.subresources)
    assert {"status", "scale"} <= set(REGISTRY.lookup("apps/v1", "Deployment").subresources)
    assert not REGISTRY.lookup("v1", "Node").namespaced
    assert not REGISTRY.lookup("apiextensions.k8s.io/v1", "CustomResourceDefinition").namespaced
    assert {rt.plural for rt in REGISTRY.with_category("all")} == {
        "pods", "services", "deployments", "replicasets", "statefulsets", "daemonsets",
        "jobs", "cronjobs", "replicationcontrollers", "horizontalpodautoscalers",
    }  # fmt: skip
    assert REGISTRY.class_for("v1", "PodList") is _meta.ResourceList
    assert REGISTRY.item_class_for_list("apps/v1", "DeploymentList") is _apps.Deployment
    assert REGISTRY.for_resource("apps", "v1", "deployments") is REGISTRY.get(
        "apps/v1", "Deployment"
    )
    assert REGISTRY.for_class(_batch.Job) is REGISTRY.get("batch/v1", "Job")
    with pytest.raises(errors.NotFound, match="no matches for kind"):
        REGISTRY.lookup("v1", "Nope")


def _crontab_crd() -> _apiextensions.CustomResourceDefinition:
    objs = _manifest.load_manifests(FIXTURES / "corpus" / "extensions.yaml")
    crd = objs[0]
    assert isinstance(crd, _apiextensions.CustomResourceDefinition)
    return crd


def test_register_crd_in_a_copy() -> None:
    registry = REGISTRY.copy()
    crd = _crontab_crd()
    types_ = registry.register_crd(crd)
    assert [rt.version for rt in types_] == ["v1", "v1beta1"]
    v1 = types_[0]
    assert (v1.plural, v1.singular, v1.kind, v1.list_kind) == (
        "crontabs", "crontab", "CronTab", "CronTabList"
    )  # fmt: skip
    assert v1.short_names == ("ct",) and "all" in v1.categories
    assert v1.subresources == ("status", "scale") and types_[1].subresources == ()
    assert registry.resolve("ct") is v1 and registry.resolve("crontabs.v1beta1.stable.example.com")
    assert registry.resolve("crontab.stable.example.com") is v1
    assert REGISTRY.get("stable.example.com/v1", "CronTab") is None  # the default is untouched
    # Re-registering replaces; versions no longer served disappear.
    only_v1 = attrs.evolve(crd, spec=attrs.evolve(crd.spec, versions=[crd.spec.versions[0]]))
    assert [rt.version for rt in registry.register_crd(only_v1)] == ["v1"]
    assert registry.get("stable.example.com/v1beta1", "CronTab") is None
    registry.unregister("stable.example.com", "v1", "crontabs")
    assert registry.resolve_all("ct") == []


def test_register_conflicts() -> None:
    registry = REGISTRY.copy()
    pods = registry.lookup("v1", "Pod")
    with pytest.raises(errors.AlreadyExists):
        registry.register(pods)
    replaced = registry.register(attrs.evolve(pods, short_names=("p",)), replace=True)
    assert registry.resolve("p") is replaced and registry.resolve_all("po") == []
    assert len(registry) == len(REGISTRY)


def test_version_priority() -> None:
    versions = ["v1beta1", "foo", "v2", "v1alpha1", "v1", "v10", "v2beta2", "v2beta1", "bar"]
    assert sorted(versions, key=_registry.version_priority) == [
        "v10", "v2", "v1", "v2beta2", "v2beta1", "v1beta1", "v1alpha1", "bar", "foo"
    ]  # fmt: skip


# -- Hypothesis: every kind round-trips ------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=4,
)
_TIMES = st.datetimes(
    min_value=datetime.datetime(1970, 1, 1),
    max_value=datetime.datetime(2100, 1, 1),
    timezones=st.just(datetime.UTC),
)


def _strategy(t: Any, *, micro: bool, depth: int) -> st.SearchStrategy[Any]:
    if t is str:
        return st.text(max_size=8)
    if t is bool:
        return st.booleans()
    if t is int:
        return st.integers(min_value=-(2**40), max_value=2**40)
    if t is bytes:
        return st.binary(max_size=8)
    if t is datetime.datetime:
        return _TIMES if micro else _TIMES.map(lambda d: d.replace(microsecond=0))
    if t is Any or t is object:
        return _JSON
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        options = [_strategy(a, micro=micro, depth=depth) for a in rest]
        if len(rest) < len(args):
            options.insert(0, st.none())
        return st.one_of(*options)
    if origin is list:
        return st.lists(_strategy(args[0], micro=micro, depth=depth), max_size=2)
    if origin is dict:
        return st.dictionaries(
            st.text(max_size=5), _strategy(args[1], micro=micro, depth=depth), max_size=2
        )
    if isinstance(t, type) and attrs.has(t):
        return _instances(t, depth + 1)
    raise AssertionError(f"no strategy for {t!r}")


def _instances(cls: type, depth: int = 0) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` with a random subset of fields set (nesting bounded)."""
    fields = [a for a in _meta.model_fields(cls) if a.name not in ("api_version", "kind")]
    if depth > 3:
        return st.just(cls())
    optional_kwargs = {
        a.alias: _strategy(a.type, micro=a.metadata.get(_meta.FORMAT) == "micro", depth=depth)
        for a in fields
    }
    return st.fixed_dictionaries({}, optional=optional_kwargs).map(lambda kw: cls(**kw))


@pytest.mark.parametrize(
    "cls", [rt.cls for rt in TYPED] + NON_RESOURCE_KINDS, ids=lambda c: c.__name__
)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_kind_round_trips(cls: type, data: st.DataObject) -> None:
    obj = data.draw(_instances(cls))
    wire = _codec.to_dict(obj)
    assert _codec.from_dict(wire, cls, strict=True) == obj
    assert _codec.from_dict(wire) == obj


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generic_resources_round_trip(data: st.DataObject) -> None:
    body = data.draw(st.dictionaries(st.sampled_from(["spec", "status", "data", "x"]), _JSON))
    obj = _generic.GenericResource(
        api_version="example.com/v1",
        kind="Widget",
        metadata=data.draw(_instances(_meta.ObjectMeta)),
        body=body,
    )
    assert _codec.from_dict(_codec.to_dict(obj)) == obj
