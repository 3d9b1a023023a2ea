"""The codec: wire names, the omitempty rule, strict/lenient decoding, errors, speed."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from korch import errors
from korch.api import (
    _apps,
    _codec,
    _core_node,
    _core_other,
    _core_pod,
    _core_volume,
    _generic,
    _manifest,
    _meta,
    _registry,
)

FIXTURES = Path(__file__).parent / "fixtures"
UTC = datetime.UTC


def _documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in [FIXTURES / "seeds.yaml", *sorted((FIXTURES / "corpus").iterdir())]:
        docs, _ = _manifest._raw_documents(path.read_text(), str(path), round_trip=False)
        for index, raw in enumerate(docs, start=1):
            if raw is not None:
                out.append((f"{path.name}#{index}", _manifest._plain(raw, str(path))))
    return out


DOCUMENTS = _documents()
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
        },
    },
}


def _causes(exc: pytest.ExceptionInfo[errors.Invalid]) -> dict[str, str]:
    return {cause.field: cause.reason for cause in exc.value.causes}


# -- round trips -----------------------------------------------------------------------


def test_fixture_corpus_is_large_enough() -> None:
    assert len(DOCUMENTS) >= 40 + 11


@pytest.mark.parametrize(("name", "data"), DOCUMENTS, ids=[name for name, _ in DOCUMENTS])
def test_every_fixture_round_trips_exactly(name: str, data: dict[str, Any]) -> None:
    obj = _codec.from_dict(data)
    assert _codec.to_dict(obj) == data


@pytest.mark.parametrize(("name", "data"), DOCUMENTS, ids=[name for name, _ in DOCUMENTS])
def test_every_fixture_passes_strict_mode(name: str, data: dict[str, Any]) -> None:
    assert _codec.to_dict(_codec.from_dict(data, strict=True)) == data


def test_json_round_trip() -> None:
    deployment = _codec.from_dict(DEPLOYMENT)
    text = _codec.to_json(deployment)
    assert json.loads(text) == DEPLOYMENT
    assert _codec.from_json(text) == deployment
    assert _codec.from_json(text.decode()) == deployment


def test_kinds_decode_to_their_classes() -> None:
    deployment = _codec.from_dict(DEPLOYMENT)
    assert isinstance(deployment, _apps.Deployment)
    assert deployment.spec.replicas == 2
    assert deployment.spec.template.spec.containers[0].image == "nginx:1.25"
    assert deployment.spec.selector == _meta.LabelSelector(match_labels={"app": "web"})


# -- wire form -------------------------------------------------------------------------


def test_wire_names_follow_kubernetes_spelling() -> None:
    pod = _core_pod.Pod(
        spec=_core_pod.PodSpec(host_pid=True, set_hostname_as_fqdn=True),
        status=_core_pod.PodStatus(
            pod_ip="10.0.0.1", host_ips=[_core_pod.HostIP(ip="1.2.3.4")], qos_class="Burstable"
        ),
    )
    wire = _codec.to_dict(pod)
    assert wire["spec"] == {"hostPID": True, "setHostnameAsFQDN": True}
    assert wire["status"] == {
        "podIP": "10.0.0.1",
        "hostIPs": [{"ip": "1.2.3.4"}],
        "qosClass": "Burstable",
    }
    node = _core_node.Node(
        spec=_core_node.NodeSpec(pod_cidrs=["10.0.0.0/24"], provider_id="x"),
        status=_core_node.NodeStatus(
            daemon_endpoints=_core_node.NodeDaemonEndpoints(
                kubelet_endpoint=_core_node.DaemonEndpoint(port=10250)
            )
        ),
    )
    wire = _codec.to_dict(node)
    assert wire["spec"] == {"podCIDRs": ["10.0.0.0/24"], "providerID": "x"}
    assert wire["status"] == {"daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}
    assert _codec.to_dict(_meta.ListMeta(continue_="abc")) == {"continue": "abc"}


def test_top_level_objects_always_carry_type_meta() -> None:
    assert _codec.to_dict(_core_other.ConfigMap()) == {"apiVersion": "v1", "kind": "ConfigMap"}
    wire = _codec.to_dict(_core_pod.Pod(metadata=_meta.ObjectMeta(name="p")))
    assert list(wire) == ["apiVersion", "kind", "metadata"]


def test_omitempty_rule() -> None:
    empty = _apps.Deployment()
    assert _codec.to_dict(empty) == {"apiVersion": "apps/v1", "kind": "Deployment"}
    # A pointer set to its zero value is written; a value field at zero is not.
    deployment = _apps.Deployment(spec=_apps.DeploymentSpec(replicas=0, paused=False))
    assert _codec.to_dict(deployment)["spec"] == {"replicas": 0}
    # An empty pointer struct is meaningful: emptyDir: {} makes the volume an emptyDir.
    volume = _core_volume.Volume(name="v", empty_dir=_core_volume.EmptyDirVolumeSource())
    assert _codec.to_dict(volume) == {"name": "v", "emptyDir": {}}
    # Go fields without omitempty are written even at their zero value.
    status = _core_pod.ContainerStatus(name="c")
    assert _codec.to_dict(status) == {
        "name": "c",
        "ready": False,
        "restartCount": 0,
        "image": "",
        "imageID": "",
    }


def test_null_reads_as_absent_and_is_never_written() -> None:
    data = copy.deepcopy(DEPLOYMENT)
    data["metadata"]["creationTimestamp"] = None
    data["spec"]["template"]["metadata"]["creationTimestamp"] = None
    data["spec"]["strategy"] = None
    data["status"] = None
    assert _codec.to_dict(_codec.from_dict(data)) == DEPLOYMENT


def test_int_or_string_keeps_its_type() -> None:
    port = _core_node.ServicePort(port=80, target_port="http")
    assert _codec.to_dict(port) == {"port": 80, "targetPort": "http"}
    assert (
        _codec.from_dict({"port": 80, "targetPort": 8080}, _core_node.ServicePort).target_port
        == 8080
    )
    empty_name = _core_node.ServicePort(port=80, target_port="")
    assert _codec.from_dict(_codec.to_dict(empty_name), _core_node.ServicePort) == empty_name


def test_timestamps_are_aware_utc_datetimes() -> None:
    meta = _codec.from_dict({"creationTimestamp": "2024-05-01T12:00:00+02:00"}, _meta.ObjectMeta)
    assert meta.creation_timestamp == datetime.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert _codec.to_dict(meta) == {"creationTimestamp": "2024-05-01T10:00:00Z"}
    # metav1.Time has second precision on the wire; MicroTime keeps microseconds.
    micro = datetime.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert _codec.to_dict(_meta.ObjectMeta(creation_timestamp=micro)) == {
        "creationTimestamp": "2024-05-01T10:00:00Z"
    }
    event = _core_other.Event(event_time=micro)
    assert _codec.to_dict(event)["eventTime"] == "2024-05-01T10:00:00.123456Z"


def test_bytes_are_base64_on_the_wire() -> None:
    secret = _core_other.Secret(data={"password": b"s3cr3t!\x00"})
    wire = _codec.to_dict(secret)
    assert wire["data"] == {"password": "czNjcjN0IQA="}
    assert _codec.from_dict(wire) == secret


# -- unknown fields --------------------------------------------------------------------


def test_unknown_fields_are_kept_and_written_back() -> None:
    data = copy.deepcopy(DEPLOYMENT)
    data["spec"]["template"]["spec"]["containers"][0]["futureField"] = {"x": [1, 2]}
    data["spec"]["newTopLevelSpecField"] = True
    data["extra"] = "kept"
    deployment = _codec.from_dict(data)
    assert isinstance(deployment, _apps.Deployment)
    container = deployment.spec.template.spec.containers[0]
    assert container.unknown_fields == {"futureField": {"x": [1, 2]}}
    assert deployment.unknown_fields == {"extra": "kept"}
    assert _codec.to_dict(deployment) == data
    # Unknown fields survive an edit with attrs.evolve.
    edited = attrs.evolve(deployment, spec=attrs.evolve(deployment.spec, replicas=7))
    assert _codec.to_dict(edited)["spec"]["newTopLevelSpecField"] is True


def test_strict_mode_rejects_unknown_fields_with_their_paths() -> None:
    data = copy.deepcopy(DEPLOYMENT)
    data["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
    data["spec"]["replica"] = 3
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict(data, strict=True)
    assert set(_causes(exc)) == {
        "spec.template.spec.containers[0].imagePulPolicy",
        "spec.replica",
    }
    assert 'Deployment "web" is invalid' in str(exc.value)
    assert all(cause.message == "unknown field" for cause in exc.value.causes)


def test_strict_mode_does_not_leak_into_later_calls() -> None:
    data = {**DEPLOYMENT, "bogus": 1}
    with pytest.raises(errors.Invalid):
        _codec.from_dict(data, strict=True)
    assert _codec.from_dict(data).unknown_fields == {"bogus": 1}  # type: ignore[attr-defined]


# -- type errors -----------------------------------------------------------------------


def test_wrong_type_names_the_field_path() -> None:
    data = copy.deepcopy(DEPLOYMENT)
    data["spec"]["replicas"] = "three"
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict(data)
    assert _causes(exc) == {"spec.replicas": "FieldValueTypeInvalid"}
    assert 'Invalid value: "three": expected integer, got string' in str(exc.value)


def test_every_problem_is_reported_with_its_path() -> None:
    data = copy.deepcopy(DEPLOYMENT)
    pod_spec = data["spec"]["template"]["spec"]
    pod_spec["containers"].append(
        {"name": "sidecar", "image": 42, "ports": [{"containerPort": "80"}]}
    )
    data["metadata"]["labels"] = {"app": 1}
    data["spec"]["paused"] = "true"
    pod_spec["containers"][0]["env"] = "A=1"
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict(data)
    assert set(_causes(exc)) == {
        "metadata.labels[app]",
        "spec.paused",
        "spec.template.spec.containers[0].env",
        "spec.template.spec.containers[1].image",
        "spec.template.spec.containers[1].ports[0].containerPort",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("replicas", 3.0), ("replicas", True), ("paused", 1), ("minReadySeconds", "5")],
)
def test_no_json_type_coercion(field: str, value: Any) -> None:
    data = copy.deepcopy(DEPLOYMENT)
    data["spec"][field] = value
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict(data)
    assert list(_causes(exc)) == [f"spec.{field}"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("yesterday", "RFC 3339"), ("2024-05-01T10:00:00", "time zone"), (1714557600, "expected")],
)
def test_bad_timestamps(value: Any, fragment: str) -> None:
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict({"creationTimestamp": value}, _meta.ObjectMeta)
    assert list(_causes(exc)) == ["creationTimestamp"]
    assert fragment in exc.value.causes[0].message


def test_bad_base64() -> None:
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}})
    assert list(_causes(exc)) == ["data[k]"]


@pytest.mark.parametrize(
    "data",
    [
        [1, 2],
        "apiVersion: v1",
        {"apiVersion": "v1"},
        {"kind": "Pod"},
        {"apiVersion": 1, "kind": "Pod"},
    ],
)
def test_malformed_input_is_a_bad_request(data: Any) -> None:
    with pytest.raises(errors.BadRequest):
        _codec.from_dict(data)


def test_explicit_class_must_match_the_kind() -> None:
    with pytest.raises(errors.BadRequest, match="Deployment"):
        _codec.from_dict(DEPLOYMENT, _core_pod.Pod)
    container = _codec.from_dict({"name": "c", "image": "i"}, _core_pod.Container)
    assert container == _core_pod.Container(name="c", image="i")


def test_to_dict_rejects_non_objects() -> None:
    with pytest.raises(errors.BadRequest):
        _codec.to_dict({"apiVersion": "v1"})
    with pytest.raises(errors.BadRequest):
        _codec.from_json(b"{not json")


def test_frozen_objects_are_not_half_built_on_error() -> None:
    data = copy.deepcopy(DEPLOYMENT)
    data["spec"]["replicas"] = "x"
    with pytest.raises(errors.Invalid):
        _codec.from_dict(data)
    deployment = _codec.from_dict(DEPLOYMENT)
    assert type(deployment) is _apps.Deployment
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        deployment.kind = "Pod"  # type: ignore[misc]


# -- generic resources, lists, custom classes ------------------------------------------


def test_unknown_kinds_decode_to_generic_resources() -> None:
    data = {
        "apiVersion": "example.com/v1",
        "kind": "MySQLDatabase",
        "metadata": {"name": "db", "labels": {"a": "b"}},
        "spec": {"version": "5.7", "storage": 10},
        "status": {"ready": True},
    }
    obj = _codec.from_dict(data)
    assert isinstance(obj, _generic.GenericResource)
    assert obj.metadata.labels == {"a": "b"}
    assert obj.spec == {"version": "5.7", "storage": 10}
    assert obj.status == {"ready": True}
    assert (obj.group, obj.version) == ("example.com", "v1")
    assert _codec.to_dict(obj) == data
    data["spec"]["version"] = "changed"
    assert obj.spec["version"] == "5.7"  # decoding copies


def test_generic_resource_metadata_is_still_checked() -> None:
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": 5}})
    assert list(_causes(exc)) == ["metadata.name"]


def test_lists_decode_their_items() -> None:
    pod_list = {
        "apiVersion": "v1",
        "kind": "PodList",
        "metadata": {"resourceVersion": "10"},
        "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}],
    }
    decoded = _codec.from_dict(pod_list)
    assert isinstance(decoded, _meta.ResourceList)
    assert [type(item) for item in decoded.items] == [_core_pod.Pod, _core_pod.Pod]
    assert decoded.metadata.resource_version == "10"
    mixed = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            DEPLOYMENT,
            {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t"}},
        ],
    }
    decoded = _codec.from_dict(mixed)
    assert isinstance(decoded, _meta.ResourceList)
    assert isinstance(decoded.items[0], _apps.Deployment)
    assert isinstance(decoded.items[1], _generic.GenericResource)
    assert _codec.to_dict(decoded) == mixed


def test_list_item_errors_name_the_item() -> None:
    bad = {"apiVersion": "v1", "kind": "List", "items": [DEPLOYMENT, {"kind": "Pod"}]}
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict(bad)
    assert list(_causes(exc)) == ["items[1].apiVersion"]


@attrs.frozen(kw_only=True)
class BackupSpec(_meta.Model):
    schedule: str = ""
    retention_days: int = attrs.field(default=7, validator=attrs.validators.ge(1))


@attrs.frozen(kw_only=True)
class Backup(_meta.Model):
    api_version: str = "ops.example.com/v1"
    kind: str = "Backup"
    metadata: _meta.ObjectMeta = attrs.Factory(_meta.ObjectMeta)
    spec: BackupSpec = attrs.Factory(BackupSpec)


def test_registered_crd_classes_decode_typed() -> None:
    registry = _registry.default_registry().copy()
    registry.register(
        _registry.ResourceType(
            group="ops.example.com", version="v1", kind="Backup", plural="backups", cls=Backup
        )
    )
    data = {
        "apiVersion": "ops.example.com/v1",
        "kind": "Backup",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "@daily", "retentionDays": 30},
    }
    backup = _codec.from_dict(data, registry=registry)
    assert backup == Backup(
        metadata=_meta.ObjectMeta(name="nightly"),
        spec=BackupSpec(schedule="@daily", retention_days=30),
    )
    assert _codec.to_dict(backup) == data
    # The default registry did not learn the kind.
    assert isinstance(_codec.from_dict(data), _generic.GenericResource)
    # Classes with validators are built through __init__, so validators run.
    data["spec"]["retentionDays"] = 0
    with pytest.raises(errors.Invalid) as exc:
        _codec.from_dict(data, registry=registry)
    assert list(_causes(exc)) == ["spec"]


# -- speed -----------------------------------------------------------------------------


def _typical_pods(count: int) -> list[dict[str, Any]]:
    """``count`` distinct running Pods shaped like the API server returns them."""
    base = datetime.datetime(2024, 5, 1, tzinfo=UTC)
    pods = []
    for i in range(count):
        created = base + datetime.timedelta(seconds=7 * i)
        ready = created + datetime.timedelta(seconds=5)
        t0, t1 = created.isoformat()[:-6] + "Z", ready.isoformat()[:-6] + "Z"
        ip = f"10.244.{i // 250}.{i % 250}"
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"web-7d4b9c-{i:05d}",
                    "generateName": "web-7d4b9c-",
                    "namespace": "default",
                    "uid": f"0b1c2d3e-1111-2222-3333-{i:012d}",
                    "resourceVersion": str(100000 + i),
                    "creationTimestamp": t0,
                    "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": "web-7d4b9c",
                            "uid": "6c7d8e9f-aaaa-bbbb-cccc-ddddeeeeffff",
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "env": [{"name": "MODE", "value": "prod"}],
                            "volumeMounts": [
                                {
                                    "name": "kube-api-access",
                                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                    "readOnly": True,
                                }
                            ],
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "imagePullPolicy": "IfNotPresent",
                        }
                    ],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "serviceAccountName": "default",
                    "serviceAccount": "default",
                    "nodeName": f"node-{i % 50}",
                    "securityContext": {},
                    "schedulerName": "default-scheduler",
                    "tolerations": [
                        {
                            "key": f"node.kubernetes.io/{taint}",
                            "operator": "Exists",
                            "effect": "NoExecute",
                            "tolerationSeconds": 300,
                        }
                        for taint in ("not-ready", "unreachable")
                    ],
                    "priority": 0,
                    "enableServiceLinks": True,
                    "preemptionPolicy": "PreemptLowerPriority",
                    "volumes": [
                        {
                            "name": "kube-api-access",
                            "projected": {
                                "sources": [
                                    {
                                        "serviceAccountToken": {
                                            "path": "token",
                                            "expirationSeconds": 3607,
                                        }
                                    }
                                ],
                                "defaultMode": 420,
                            },
                        }
                    ],
                },
                "status": {
                    "phase": "Running",
                    "conditions": [
                        {"type": kind, "status": "True", "lastTransitionTime": when}
                        for kind, when in (
                            ("Initialized", t0),
                            ("Ready", t1),
                            ("ContainersReady", t1),
                            ("PodScheduled", t0),
                        )
                    ],
                    "hostIP": f"10.0.0.{i % 50}",
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "startTime": t0,
                    "containerStatuses": [
                        {
                            "name": "web",
                            "state": {"running": {"startedAt": t1}},
                            "ready": True,
                            "restartCount": 0,
                            "image": "nginx:1.25",
                            "imageID": "docker.io/library/nginx@sha256:abc",
                            "containerID": f"containerd://{i:064x}",
                            "started": True,
                        }
                    ],
                    "qosClass": "Burstable",
                },
            }
        )
    return pods


def test_many_distinct_pods_round_trip() -> None:
    """Distinct typical Pods survive decode + encode (speed: benchmarks/resources.py)."""
    pods = _typical_pods(1_000)
    objs = [_codec.from_dict(pod) for pod in pods]
    assert [_codec.to_dict(obj) for obj in objs] == pods


def test_numeric_quantities_are_accepted_as_canonical_strings() -> None:
    # `cpu: 1` / `memory: 0.5` are common in manifests; kube-apiserver stores them as strings
    pod = _codec.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "c", "image": "i", "resources": {"limits": {"cpu": 1, "memory": 0.5}}}
                ]
            },
        }
    )
    assert isinstance(pod, _core_pod.Pod) and pod.spec is not None
    assert pod.spec.containers[0].resources.limits == {"cpu": "1", "memory": "500m"}
    with pytest.raises(errors.Invalid) as info:
        _codec.from_dict(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "labels": {"app": 1}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            }
        )
    assert info.value.causes[0].field == "metadata.labels[app]"  # labels stay strings
