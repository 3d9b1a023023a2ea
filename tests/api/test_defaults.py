"""Defaulting of the built-in kinds: kube-apiserver's defaults, purity and idempotence."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from korch.api import _codec, _defaults, _manifest, _meta

FIXTURES = Path(__file__).parent / "fixtures"
FILES = [FIXTURES / "seeds.yaml", *sorted((FIXTURES / "corpus").iterdir())]


def _objects() -> list[Any]:
    out: list[Any] = []
    for path in FILES:
        for obj in _manifest.load_manifests(path):
            if isinstance(obj, _meta.ResourceList):
                out.extend(obj.items)
            elif isinstance(getattr(obj, "metadata", None), _meta.ObjectMeta):
                out.append(obj)
    return out


OBJECTS = _objects()


def defaulted(manifest: dict[str, Any]) -> dict[str, Any]:
    """The wire form of ``default(from_dict(manifest))``."""
    return _codec.to_dict(_defaults.default(_codec.from_dict(manifest)))


def pod(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}, "spec": spec}


def template(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "a"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}], **spec},
    }


# -- pods ----------------------------------------------------------------------------------


def test_pod_spec_defaults() -> None:
    spec = defaulted(pod({"containers": [{"name": "c", "image": "nginx:1.25"}]}))["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["priority"] == 0
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"


def test_priority_is_left_to_admission_when_a_class_is_named() -> None:
    spec = {"priorityClassName": "high", "containers": [{"name": "c", "image": "x:1"}]}
    assert "priority" not in defaulted(pod(spec))["spec"]


def test_tolerations_for_unready_nodes_are_not_added() -> None:
    spec = defaulted(pod({"containers": [{"name": "c", "image": "x:1"}]}))["spec"]
    assert "tolerations" not in spec


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("registry.example.com:5000/team/app", "Always"),
        ("registry.example.com:5000/team/app:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("registry.example.com:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    spec = defaulted(pod({"containers": [{"name": "c", "image": image}]}))["spec"]
    assert spec["containers"][0]["imagePullPolicy"] == policy


def test_an_explicit_pull_policy_is_kept() -> None:
    container = {"name": "c", "image": "nginx", "imagePullPolicy": "Never"}
    assert defaulted(pod({"containers": [container]}))["spec"]["containers"][0][
        "imagePullPolicy"
    ] == ("Never")


def test_container_port_protocol_env_field_ref_and_probes() -> None:
    container = {
        "name": "c",
        "image": "x:1",
        "ports": [{"containerPort": 80}],
        "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "livenessProbe": {"httpGet": {"port": 80}},
        "readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 3},
        "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}},
    }
    out = defaulted(pod({"containers": [container]}))["spec"]["containers"][0]
    assert out["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert out["env"][0]["valueFrom"]["fieldRef"] == {
        "apiVersion": "v1",
        "fieldPath": "metadata.name",
    }
    liveness = out["livenessProbe"]
    assert liveness["httpGet"] == {"path": "/", "port": 80, "scheme": "HTTP"}
    assert (liveness["timeoutSeconds"], liveness["periodSeconds"]) == (1, 10)
    assert (liveness["successThreshold"], liveness["failureThreshold"]) == (1, 3)
    readiness = out["readinessProbe"]
    assert readiness["periodSeconds"] == 3
    assert readiness["grpc"] == {"port": 9000, "service": ""}
    assert out["lifecycle"]["preStop"]["httpGet"]["scheme"] == "HTTP"


def test_requests_default_to_limits_in_pods_only() -> None:
    resources = {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}
    container = {"name": "c", "image": "x:1", "resources": resources}
    out = defaulted(pod({"containers": [container], "initContainers": [container]}))["spec"]
    want = {"cpu": "500m", "memory": "1Gi"}
    assert out["containers"][0]["resources"]["requests"] == want
    assert out["initContainers"][0]["resources"]["requests"] == want
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }
    template_container = defaulted(deployment)["spec"]["template"]["spec"]["containers"][0]
    assert template_container["resources"]["requests"] == {"cpu": "500m"}


def test_host_network_pods_get_host_ports() -> None:
    container = {"name": "c", "image": "x:1", "ports": [{"containerPort": 9100}]}
    out = defaulted(pod({"hostNetwork": True, "containers": [container]}))["spec"]
    assert out["containers"][0]["ports"][0]["hostPort"] == 9100


def test_volume_defaults() -> None:
    volumes = [
        {"name": "none"},
        {"name": "cm", "configMap": {"name": "c"}},
        {"name": "s", "secret": {"secretName": "s"}},
        {"name": "h", "hostPath": {"path": "/var"}},
        {"name": "d", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "x"}}]}},
        {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
        {
            "name": "e",
            "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}},
        },
    ]
    out = defaulted(pod({"volumes": volumes, "containers": [{"name": "c", "image": "x"}]}))
    by_name = {v["name"]: v for v in out["spec"]["volumes"]}
    assert by_name["none"]["emptyDir"] == {}
    assert by_name["cm"]["configMap"]["defaultMode"] == 420
    assert by_name["s"]["secret"]["defaultMode"] == 420
    assert by_name["h"]["hostPath"]["type"] == ""
    assert by_name["d"]["downwardAPI"]["defaultMode"] == 420
    assert by_name["d"]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"
    projected = by_name["p"]["projected"]
    assert projected["defaultMode"] == 420
    assert projected["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600
    claim = by_name["e"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["volumeMode"] == "Filesystem"


# -- workloads -----------------------------------------------------------------------------


def test_deployment_defaults() -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    spec = defaulted({**manifest, "spec": {"template": template()}})["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert "enableServiceLinks" not in spec["template"]["spec"]
    recreate = defaulted({**manifest, "spec": {"strategy": {"type": "Recreate"}}})["spec"]
    assert recreate["strategy"] == {"type": "Recreate"}
    partial = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}}
    rolling = defaulted({**manifest, "spec": {"strategy": partial}})["spec"]["strategy"]
    assert rolling["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": 0}


def test_replica_set_and_replication_controller_defaults() -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}, "spec": {}}
    assert defaulted(rs)["spec"]["replicas"] == 1
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "r"},
        "spec": {"template": template()},
    }
    out = defaulted(rc)
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["selector"] == {"app": "a"}
    assert out["metadata"]["labels"] == {"app": "a"}


def test_stateful_set_defaults() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {"template": template(), "volumeClaimTemplates": [claim]},
    }
    spec = defaulted(manifest)["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    template_claim = spec["volumeClaimTemplates"][0]
    assert template_claim["spec"]["volumeMode"] == "Filesystem"
    assert template_claim["status"] == {"phase": "Pending"}


def test_stateful_set_explicit_rolling_update_without_parameters_gets_no_partition() -> None:
    # Kubernetes only fills the partition of a rollingUpdate it created or was given.
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {"updateStrategy": {"type": "RollingUpdate"}},
    }
    assert defaulted(manifest)["spec"]["updateStrategy"] == {"type": "RollingUpdate"}


def test_daemon_set_defaults() -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"}}
    spec = defaulted({**manifest, "spec": {"template": template()}})["spec"]
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert spec["revisionHistoryLimit"] == 10
    on_delete = defaulted({**manifest, "spec": {"updateStrategy": {"type": "OnDelete"}}})
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}


def job(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": spec}


def test_job_defaults() -> None:
    spec = defaulted(job(template=template()))["spec"]
    assert (spec["completions"], spec["parallelism"]) == (1, 1)
    assert spec["backoffLimit"] == 6
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert "manualSelector" not in spec
    assert "selector" not in spec
    # The template's restartPolicy is left for the user (validation asks for one).
    assert "restartPolicy" not in spec["template"]["spec"]
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert defaulted(job(template=template()))["metadata"]["labels"] == {"app": "a"}


@pytest.mark.parametrize(
    ("given", "completions", "parallelism"),
    [({"completions": 5}, 5, 1), ({"parallelism": 3}, None, 3), ({}, 1, 1)],
)
def test_job_completions_and_parallelism(
    given: dict[str, Any], completions: int | None, parallelism: int
) -> None:
    spec = defaulted(job(**given))["spec"]
    assert spec.get("completions") == completions
    assert spec["parallelism"] == parallelism


def test_job_backoff_limit_per_index_and_failure_policy() -> None:
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    spec = defaulted(job(backoffLimitPerIndex=1, podFailurePolicy=policy))["spec"]
    assert spec["backoffLimit"] == 2**31 - 1
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"


def test_job_selector_defaults_generate_selector_and_labels() -> None:
    obj = _codec.from_dict(job(template=template()))
    out = _codec.to_dict(_defaults.job_selector_defaults(obj, "uid-1"))
    assert out["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}
    }
    assert out["spec"]["template"]["metadata"]["labels"] == {
        "app": "a",
        "batch.kubernetes.io/controller-uid": "uid-1",
        "batch.kubernetes.io/job-name": "j",
        "controller-uid": "uid-1",
        "job-name": "j",
    }
    manual = _codec.from_dict(job(manualSelector=True, template=template()))
    assert _defaults.job_selector_defaults(manual, "uid-1") is manual


def test_job_selector_defaults_are_not_part_of_default() -> None:
    assert "selector" not in defaulted(job(template=template()))["spec"]


def test_cron_job_defaults() -> None:
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template()}}},
    }
    spec = defaulted(manifest)["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["suspend"] is False
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 1
    job_spec = spec["jobTemplate"]["spec"]
    assert "backoffLimit" not in job_spec
    assert job_spec["template"]["spec"]["schedulerName"] == "default-scheduler"
    assert "restartPolicy" not in job_spec["template"]["spec"]


# -- services and the other core kinds -----------------------------------------------------


def service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}


def test_service_defaults() -> None:
    spec = defaulted(service(selector={"app": "a"}, ports=[{"port": 80}]))["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"protocol": "TCP", "port": 80, "targetPort": 80}]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in spec


def test_service_defaults_by_type() -> None:
    balancer = defaulted(service(type="LoadBalancer", ports=[{"port": 443, "targetPort": "h"}]))
    spec = balancer["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert spec["ports"][0]["targetPort"] == "h"
    external = defaulted(service(type="ExternalName", externalName="x.example.com"))["spec"]
    assert "ipFamilyPolicy" not in external
    assert "internalTrafficPolicy" not in external
    headless = defaulted(service(clusterIP="None"))["spec"]
    assert headless["ipFamilyPolicy"] == "RequireDualStack"
    sticky = defaulted(service(sessionAffinity="ClientIP"))["spec"]
    assert sticky["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_namespace_secret_claims_volumes_and_nodes() -> None:
    ns = defaulted({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    secret = defaulted({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    assert secret["type"] == "Opaque"
    claim = defaulted(
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}}
    )
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["status"] == {"phase": "Pending"}
    volume = defaulted({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"}})
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert volume["spec"]["volumeMode"] == "Filesystem"
    assert volume["status"]["phase"] == "Pending"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}
    out = defaulted({**node, "status": {"capacity": {"cpu": "2"}}})
    assert out["status"]["allocatable"] == {"cpu": "2"}


def test_endpoints_limit_ranges_and_other_groups() -> None:
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "e"},
        "subsets": [{"ports": [{"port": 80}]}],
    }
    assert defaulted(endpoints)["subsets"][0]["ports"][0]["protocol"] == "TCP"
    limit = {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}}
    lr = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "l"},
        "spec": {"limits": [limit]},
    }
    item = defaulted(lr)["spec"]["limits"][0]
    assert item["default"] == {"cpu": "2"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "1Mi"}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}],
    }
    out = defaulted(binding)
    assert out["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert out["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    assert "apiGroup" not in out["subjects"][1]
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "p"}}
    assert defaulted(pc)["preemptionPolicy"] == "PreemptLowerPriority"
    hpa = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"maxReplicas": 3},
    }
    assert defaulted(hpa)["spec"]["minReplicas"] == 1
    ingress_class = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "i"},
        "spec": {"controller": "x/y", "parameters": {"kind": "K", "name": "n"}},
    }
    assert defaulted(ingress_class)["spec"]["parameters"]["scope"] == "Cluster"


def test_custom_resource_definition_defaults() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    out = defaulted(crd)
    assert out["spec"]["names"]["singular"] == "widget"
    assert out["spec"]["names"]["listKind"] == "WidgetList"
    assert out["spec"]["conversion"] == {"strategy": "None"}
    assert out["status"]["storedVersions"] == ["v1"]
    unscoped = copy.deepcopy(crd)
    del unscoped["spec"]["scope"]
    assert defaulted(unscoped)["spec"].get("scope", "") == ""  # required in v1, not defaulted
    webhook = copy.deepcopy(crd)
    webhook["spec"]["conversion"] = {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {"service": {"namespace": "n", "name": "s"}},
        },
    }
    service_ref = defaulted(webhook)["spec"]["conversion"]["webhook"]["clientConfig"]["service"]
    assert service_ref["port"] == 443


# -- invariants ----------------------------------------------------------------------------


def test_kinds_without_defaults_come_back_unchanged() -> None:
    cm = _codec.from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    assert _defaults.default(cm) is cm
    generic = _codec.from_dict({"apiVersion": "example.com/v1", "kind": "W", "spec": {"a": 1}})
    assert _defaults.default(generic) is generic


def test_a_defaulted_object_is_returned_itself() -> None:
    once = _defaults.default(_codec.from_dict(pod({"containers": [{"name": "c", "image": "x"}]})))
    assert _defaults.default(once) is once


@settings(max_examples=len(OBJECTS) * 2, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(OBJECTS))
def test_default_is_pure_and_idempotent_over_the_fixture_corpus(obj: Any) -> None:
    before = _codec.to_dict(obj)
    once = _defaults.default(obj)
    assert _codec.to_dict(obj) == before  # the argument is not modified
    assert _defaults.default(once) == once


def _drop(value: Any, data: st.DataObject) -> Any:
    """``value`` with some optional parts removed (keys of mappings below the top level)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key not in ("apiVersion", "kind", "metadata") and data.draw(
                st.booleans(), label=f"drop {key}"
            ):
                continue
            out[key] = _drop(item, data)
        return out
    if isinstance(value, list):
        return [_drop(item, data) for item in value]
    return value


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(OBJECTS), st.data())
def test_default_is_idempotent_on_partial_manifests(obj: Any, data: st.DataObject) -> None:
    manifest = _drop(_codec.to_dict(obj), data)
    try:
        partial = _codec.from_dict(manifest)
    except ValueError:  # a required field was dropped: not a decodable manifest
        return
    once = _defaults.default(partial)
    assert _defaults.default(once) == once
