"""Validation of the built-in kinds: every rule reports the field and reason kube-apiserver
reports, all problems at once, and every fixture is valid once defaulted."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from korch import errors
from korch.api import _codec, _defaults, _manifest, _meta, _validate_kinds, _validation
from korch.api import _validate_common as vc
from korch.api import _validate_cron as cron

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = FIXTURES / "seeds.yaml"
FILES = [SEEDS, *sorted((FIXTURES / "corpus").iterdir())]

#: Fixtures Kubernetes itself would reject, with the one cause it reports (none: every
#: fixture of the corpus is a valid manifest).
KNOWN_INVALID: dict[tuple[str, str], tuple[str, str]] = {}


def _objects(paths: list[Path]) -> list[Any]:
    out: list[Any] = []
    for path in paths:
        for obj in _manifest.load_manifests(path):
            if isinstance(obj, _meta.ResourceList):
                out.extend(obj.items)
            elif isinstance(getattr(obj, "metadata", None), _meta.ObjectMeta):
                out.append(obj)
    return out


OBJECTS = _objects(FILES)


def causes_of(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) of every cause of the defaulted manifest."""
    obj = _defaults.default(_codec.from_dict(manifest))
    return [(c.field, c.reason) for c in _validate_kinds.validation_causes(obj)]


def set_in(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with ``path`` (``spec/containers/0/image``) set; a value of
    :data:`DELETE` removes the key."""
    out = copy.deepcopy(document)
    *parents, last = path.split("/")
    node: Any = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DELETE:
        del node[last]
    else:
        node[last] = value
    return out


DELETE = object()

CONTAINER = {"name": "app", "image": "nginx:1.25"}
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"containers": [CONTAINER]},
}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [CONTAINER]}}
SELECTOR = {"matchLabels": {"app": "web"}}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"replicas": 2, "selector": SELECTOR, "template": TEMPLATE},
}
REPLICA_SET = {**DEPLOYMENT, "kind": "ReplicaSet"}
DAEMON_SET = {
    **DEPLOYMENT,
    "kind": "DaemonSet",
    "spec": {"selector": SELECTOR, "template": TEMPLATE},
}
STATEFUL_SET = {**DEPLOYMENT, "kind": "StatefulSet"}
JOB_TEMPLATE = {"spec": {"restartPolicy": "Never", "containers": [CONTAINER]}}
JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "job", "namespace": "default"},
    "spec": {"template": JOB_TEMPLATE},
}
CRON_JOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "cron", "namespace": "default"},
    "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": JOB_TEMPLATE}}},
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
}
CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "cfg", "namespace": "default"},
    "data": {"key": "value"},
}
SECRET = {**CONFIG_MAP, "kind": "Secret", "data": {"key": "dmFsdWU="}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "n1"},
    "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]},
}
LEASE = {
    "apiVersion": "coordination.k8s.io/v1",
    "kind": "Lease",
    "metadata": {"name": "l", "namespace": "default"},
    "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15},
}
PRIORITY_CLASS = {
    "apiVersion": "scheduling.k8s.io/v1",
    "kind": "PriorityClass",
    "metadata": {"name": "high"},
    "value": 1000,
}
PDB = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "pdb", "namespace": "default"},
    "spec": {"minAvailable": 1, "selector": SELECTOR},
}
QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "q", "namespace": "default"},
    "spec": {"hard": {"pods": "10", "requests.cpu": "4"}},
}
LIMIT_RANGE = {
    "apiVersion": "v1",
    "kind": "LimitRange",
    "metadata": {"name": "l", "namespace": "default"},
    "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}}]},
}
INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "i", "namespace": "default"},
    "spec": {
        "rules": [
            {
                "host": "shop.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/api",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "api", "port": {"number": 80}}},
                        }
                    ]
                },
            }
        ]
    },
}
RBAC = "rbac.authorization.k8s.io"
ROLE = {
    "apiVersion": f"{RBAC}/v1",
    "kind": "Role",
    "metadata": {"name": "r", "namespace": "default"},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
}
CLUSTER_ROLE = {**ROLE, "kind": "ClusterRole", "metadata": {"name": "r"}}
ROLE_BINDING = {
    "apiVersion": f"{RBAC}/v1",
    "kind": "RoleBinding",
    "metadata": {"name": "b", "namespace": "default"},
    "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "r"},
    "subjects": [{"kind": "User", "name": "jane", "apiGroup": RBAC}],
}
CLUSTER_ROLE_BINDING = {
    **ROLE_BINDING,
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "b"},
    "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "r"},
}
SCHEMA = {"type": "object", "properties": {"spec": {"type": "object"}}}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"},
        "versions": [
            {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}}
        ],
    },
}
CLAIM = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "c", "namespace": "default"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}

BASES = {
    "pod": POD,
    "deployment": DEPLOYMENT,
    "replicaset": REPLICA_SET,
    "daemonset": DAEMON_SET,
    "statefulset": STATEFUL_SET,
    "job": JOB,
    "cronjob": CRON_JOB,
    "service": SERVICE,
    "configmap": CONFIG_MAP,
    "secret": SECRET,
    "namespace": NAMESPACE,
    "node": NODE,
    "lease": LEASE,
    "priorityclass": PRIORITY_CLASS,
    "pdb": PDB,
    "quota": QUOTA,
    "limitrange": LIMIT_RANGE,
    "ingress": INGRESS,
    "role": ROLE,
    "clusterrole": CLUSTER_ROLE,
    "rolebinding": ROLE_BINDING,
    "clusterrolebinding": CLUSTER_ROLE_BINDING,
    "crd": CRD,
    "claim": CLAIM,
}

C0 = "spec/containers/0"
P0 = "spec/ports/0"
T = "spec/template/spec"
REQ, INV, NS, FORB, DUP, NF, TOO_LONG = (
    "FieldValueRequired",
    "FieldValueInvalid",
    "FieldValueNotSupported",
    "FieldValueForbidden",
    "FieldValueDuplicate",
    "FieldValueNotFound",
    "FieldValueTooLong",
)
WITH_VOLUME = {"name": "data", "emptyDir": {}}

# (base, [(path, value), …], field, reason): the change makes the object invalid with
# exactly this cause among its causes.
CASES: list[tuple[str, list[tuple[str, Any]], str, str]] = [
    # -- metadata
    ("pod", [("metadata/name", "Bad_Name")], "metadata.name", INV),
    ("pod", [("metadata/name", DELETE)], "metadata.name", REQ),
    ("pod", [("metadata/namespace", "Bad.NS")], "metadata.namespace", INV),
    ("pod", [("metadata/labels", {"bad key!": "v"})], "metadata.labels", INV),
    ("pod", [("metadata/labels", {"k": "-bad-"})], "metadata.labels", INV),
    ("pod", [("metadata/annotations", {"bad key!": "v"})], "metadata.annotations", INV),
    ("pod", [("metadata/generation", -1)], "metadata.generation", INV),
    ("pod", [("metadata/finalizers", ["not/valid/finalizer"])], "metadata.finalizers", INV),
    (
        "pod",
        [("metadata/ownerReferences", [{"apiVersion": "v1", "kind": "Pod", "name": "o"}])],
        "metadata.ownerReferences.uid",
        INV,
    ),
    ("namespace", [("metadata/name", "a.b")], "metadata.name", INV),
    ("namespace", [("metadata/namespace", "default")], "metadata.namespace", FORB),
    ("service", [("metadata/name", "1web")], "metadata.name", INV),
    # -- containers
    ("pod", [(f"{C0}/name", "Bad_Name")], "spec.containers[0].name", INV),
    ("pod", [(f"{C0}/name", "")], "spec.containers[0].name", REQ),
    ("pod", [("spec/containers", [CONTAINER, CONTAINER])], "spec.containers[1].name", DUP),
    ("pod", [("spec/initContainers", [CONTAINER])], "spec.containers[0].name", DUP),
    ("pod", [(f"{C0}/image", "")], "spec.containers[0].image", REQ),
    ("pod", [(f"{C0}/image", " nginx")], "spec.containers[0].image", INV),
    ("pod", [("spec/containers", [])], "spec.containers", REQ),
    ("pod", [(f"{C0}/imagePullPolicy", "Sometimes")], "spec.containers[0].imagePullPolicy", NS),
    (
        "pod",
        [(f"{C0}/terminationMessagePolicy", "X")],
        "spec.containers[0].terminationMessagePolicy",
        NS,
    ),
    ("pod", [(f"{C0}/restartPolicy", "Always")], "spec.containers[0].restartPolicy", FORB),
    (
        "pod",
        [(f"{C0}/ports", [{"containerPort": 0}])],
        "spec.containers[0].ports[0].containerPort",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/ports", [{"containerPort": 70000}])],
        "spec.containers[0].ports[0].containerPort",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/ports", [{"containerPort": 80, "name": "HTTP"}])],
        "spec.containers[0].ports[0].name",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/ports", [{"containerPort": 80, "name": "a"}, {"containerPort": 81, "name": "a"}])],
        "spec.containers[0].ports[1].name",
        DUP,
    ),
    (
        "pod",
        [(f"{C0}/ports", [{"containerPort": 80}, {"containerPort": 80}])],
        "spec.containers[0].ports[1].containerPort",
        DUP,
    ),
    (
        "pod",
        [(f"{C0}/ports", [{"containerPort": 80, "protocol": "HTTP"}])],
        "spec.containers[0].ports[0].protocol",
        NS,
    ),
    (
        "pod",
        [("spec/hostNetwork", True), (f"{C0}/ports", [{"containerPort": 80, "hostPort": 81}])],
        "spec.containers[0].ports[0].hostPort",
        INV,
    ),
    ("pod", [(f"{C0}/env", [{"name": "", "value": "v"}])], "spec.containers[0].env[0].name", REQ),
    (
        "pod",
        [(f"{C0}/env", [{"name": "A=B", "value": "v"}])],
        "spec.containers[0].env[0].name",
        INV,
    ),
    (
        "pod",
        [
            (
                f"{C0}/env",
                [
                    {
                        "name": "A",
                        "value": "v",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                    }
                ],
            )
        ],
        "spec.containers[0].env[0].valueFrom",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/env", [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}])],
        "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
        NS,
    ),
    (
        "pod",
        [
            (
                f"{C0}/env",
                [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "bad key"}}}],
            )
        ],
        "spec.containers[0].env[0].valueFrom.configMapKeyRef.key",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}})],
        "spec.containers[0].resources.requests",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/resources", {"requests": {"cpu": "lots"}})],
        "spec.containers[0].resources.requests[cpu]",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/resources", {"requests": {"cpu": "-1"}})],
        "spec.containers[0].resources.requests[cpu]",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/resources", {"requests": {"gpu": "1"}})],
        "spec.containers[0].resources.requests[gpu]",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/resources", {"requests": {"example.com/gpu": "1"}})],
        "spec.containers[0].resources.limits",
        REQ,
    ),
    (
        "pod",
        [(f"{C0}/resources", {"limits": {"example.com/gpu": "500m"}})],
        "spec.containers[0].resources.limits[example.com/gpu]",
        INV,
    ),
    # -- probes and hooks
    (
        "pod",
        [(f"{C0}/livenessProbe", {"periodSeconds": 5})],
        "spec.containers[0].livenessProbe",
        REQ,
    ),
    (
        "pod",
        [(f"{C0}/livenessProbe", {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}})],
        "spec.containers[0].livenessProbe.tcpSocket",
        FORB,
    ),
    (
        "pod",
        [(f"{C0}/livenessProbe", {"tcpSocket": {"port": 80}, "timeoutSeconds": -1})],
        "spec.containers[0].livenessProbe.timeoutSeconds",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/livenessProbe", {"tcpSocket": {"port": 80}, "successThreshold": 2})],
        "spec.containers[0].livenessProbe.successThreshold",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/readinessProbe", {"httpGet": {"port": 0}})],
        "spec.containers[0].readinessProbe.httpGet.port",
        INV,
    ),
    (
        "pod",
        [(f"{C0}/readinessProbe", {"httpGet": {"port": 80, "scheme": "FTP"}})],
        "spec.containers[0].readinessProbe.httpGet.scheme",
        NS,
    ),
    ("pod", [(f"{C0}/lifecycle", {"preStop": {}})], "spec.containers[0].lifecycle.preStop", REQ),
    (
        "pod",
        [
            (
                "spec/initContainers",
                [{"name": "i", "image": "x", "readinessProbe": {"exec": {"command": ["a"]}}}],
            )
        ],
        "spec.initContainers[0].readinessProbe",
        FORB,
    ),
    # -- pod-level enums and fields
    ("pod", [("spec/restartPolicy", "Sometimes")], "spec.restartPolicy", NS),
    ("pod", [("spec/dnsPolicy", "Google")], "spec.dnsPolicy", NS),
    ("pod", [("spec/dnsPolicy", "None")], "spec.dnsConfig.nameservers", REQ),
    ("pod", [("spec/activeDeadlineSeconds", 0)], "spec.activeDeadlineSeconds", INV),
    ("pod", [("spec/serviceAccountName", "Bad_SA")], "spec.serviceAccountName", INV),
    ("pod", [("spec/hostname", "a.b")], "spec.hostname", INV),
    ("pod", [("spec/preemptionPolicy", "Sometimes")], "spec.preemptionPolicy", NS),
    ("pod", [("spec/os", {"name": "plan9"})], "spec.os.name", NS),
    # -- volumes and mounts
    ("pod", [("spec/volumes", [{"name": "Bad_Vol", "emptyDir": {}}])], "spec.volumes[0].name", INV),
    ("pod", [("spec/volumes", [WITH_VOLUME, WITH_VOLUME])], "spec.volumes[1].name", DUP),
    (
        "pod",
        [("spec/volumes", [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}])],
        "spec.volumes[0].emptyDir",
        FORB,
    ),
    (
        "pod",
        [("spec/volumes", [{"name": "v", "hostPath": {"path": "/x", "type": "Dir"}}])],
        "spec.volumes[0].hostPath.type",
        NS,
    ),
    (
        "pod",
        [("spec/volumes", [{"name": "v", "configMap": {"name": "c", "defaultMode": 0o1000}}])],
        "spec.volumes[0].configMap.defaultMode",
        INV,
    ),
    (
        "pod",
        [
            (
                "spec/volumes",
                [
                    {
                        "name": "v",
                        "secret": {"secretName": "s", "items": [{"key": "k", "path": "../x"}]},
                    }
                ],
            )
        ],
        "spec.volumes[0].secret.items[0].path",
        INV,
    ),
    (
        "pod",
        [("spec/volumes", [{"name": "v", "persistentVolumeClaim": {"claimName": ""}}])],
        "spec.volumes[0].persistentVolumeClaim.claimName",
        REQ,
    ),
    (
        "pod",
        [(f"{C0}/volumeMounts", [{"name": "missing", "mountPath": "/data"}])],
        "spec.containers[0].volumeMounts[0].name",
        NF,
    ),
    (
        "pod",
        [
            ("spec/volumes", [WITH_VOLUME]),
            (
                f"{C0}/volumeMounts",
                [{"name": "data", "mountPath": "/a"}, {"name": "data", "mountPath": "/a"}],
            ),
        ],
        "spec.containers[0].volumeMounts[1].mountPath",
        INV,
    ),
    (
        "pod",
        [
            ("spec/volumes", [WITH_VOLUME]),
            (f"{C0}/volumeMounts", [{"name": "data", "mountPath": "/a", "subPath": "/abs"}]),
        ],
        "spec.containers[0].volumeMounts[0].subPath",
        INV,
    ),
    # -- scheduling
    ("pod", [("spec/nodeSelector", {"bad key!": "x"})], "spec.nodeSelector", INV),
    (
        "pod",
        [("spec/tolerations", [{"key": "k", "operator": "Exists", "value": "v"}])],
        "spec.tolerations[0].operator",
        INV,
    ),
    (
        "pod",
        [("spec/tolerations", [{"key": "k", "operator": "Like"}])],
        "spec.tolerations[0].operator",
        NS,
    ),
    (
        "pod",
        [("spec/tolerations", [{"key": "k", "effect": "NoRun"}])],
        "spec.tolerations[0].effect",
        NS,
    ),
    (
        "pod",
        [("spec/tolerations", [{"operator": "Equal", "value": "v"}])],
        "spec.tolerations[0].operator",
        INV,
    ),
    (
        "pod",
        [("spec/tolerations", [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}])],
        "spec.tolerations[0].effect",
        INV,
    ),
    (
        "pod",
        [
            (
                "spec/affinity",
                {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "k", "operator": "Near", "values": ["a"]}
                                    ]
                                }
                            ]
                        }
                    }
                },
            )
        ],
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator",
        INV,
    ),
    (
        "pod",
        [
            (
                "spec/affinity",
                {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "k", "operator": "In"}]}
                            ]
                        }
                    }
                },
            )
        ],
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
        REQ,
    ),
    (
        "pod",
        [
            (
                "spec/affinity",
                {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}
                    }
                },
            )
        ],
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
        REQ,
    ),
    (
        "pod",
        [
            (
                "spec/affinity",
                {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 101, "podAffinityTerm": {"topologyKey": "zone"}}
                        ]
                    }
                },
            )
        ],
        "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
        INV,
    ),
    (
        "pod",
        [
            (
                "spec/affinity",
                {
                    "podAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {"labelSelector": SELECTOR}
                        ]
                    }
                },
            )
        ],
        "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
        REQ,
    ),
    (
        "pod",
        [
            (
                "spec/topologySpreadConstraints",
                [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}],
            )
        ],
        "spec.topologySpreadConstraints[0].maxSkew",
        INV,
    ),
    (
        "pod",
        [
            (
                "spec/topologySpreadConstraints",
                [{"maxSkew": 1, "topologyKey": "", "whenUnsatisfiable": "DoNotSchedule"}],
            )
        ],
        "spec.topologySpreadConstraints[0].topologyKey",
        REQ,
    ),
    (
        "pod",
        [
            (
                "spec/topologySpreadConstraints",
                [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}],
            )
        ],
        "spec.topologySpreadConstraints[0].whenUnsatisfiable",
        NS,
    ),
    # -- workloads
    ("deployment", [("spec/replicas", -1)], "spec.replicas", INV),
    ("deployment", [("spec/selector", DELETE)], "spec.selector", REQ),
    ("deployment", [("spec/selector", {})], "spec.selector", INV),
    (
        "deployment",
        [("spec/selector", {"matchLabels": {"app": "other"}})],
        "spec.template.metadata.labels",
        INV,
    ),
    ("deployment", [(f"{T}/restartPolicy", "Never")], "spec.template.spec.restartPolicy", NS),
    (
        "deployment",
        [(f"{T}/containers/0/image", "")],
        "spec.template.spec.containers[0].image",
        REQ,
    ),
    ("deployment", [("spec/strategy", {"type": "Canary"})], "spec.strategy", NS),
    (
        "deployment",
        [("spec/strategy", {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})],
        "spec.strategy.rollingUpdate.maxUnavailable",
        INV,
    ),
    (
        "deployment",
        [("spec/strategy", {"rollingUpdate": {"maxSurge": -1}})],
        "spec.strategy.rollingUpdate.maxSurge",
        INV,
    ),
    (
        "deployment",
        [("spec/strategy", {"rollingUpdate": {"maxUnavailable": "150%"}})],
        "spec.strategy.rollingUpdate.maxUnavailable",
        INV,
    ),
    (
        "deployment",
        [("spec/strategy", {"rollingUpdate": {"maxUnavailable": "lots"}})],
        "spec.strategy.rollingUpdate.maxUnavailable",
        INV,
    ),
    (
        "deployment",
        [("spec/strategy", {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}})],
        "spec.strategy.rollingUpdate",
        FORB,
    ),
    ("deployment", [("spec/minReadySeconds", 700)], "spec.progressDeadlineSeconds", INV),
    (
        "replicaset",
        [("spec/selector", {"matchLabels": {"app": "other"}})],
        "spec.template.metadata.labels",
        INV,
    ),
    ("replicaset", [(f"{T}/restartPolicy", "OnFailure")], "spec.template.spec.restartPolicy", NS),
    (
        "daemonset",
        [("spec/updateStrategy", {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})],
        "spec.updateStrategy.rollingUpdate.maxUnavailable",
        INV,
    ),
    ("daemonset", [(f"{T}/restartPolicy", "Never")], "spec.template.spec.restartPolicy", NS),
    ("statefulset", [("spec/podManagementPolicy", "Random")], "spec.podManagementPolicy", NS),
    (
        "statefulset",
        [("spec/updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}})],
        "spec.updateStrategy.rollingUpdate.partition",
        INV,
    ),
    (
        "statefulset",
        [(f"{T}/containers/0/volumeMounts", [{"name": "data", "mountPath": "/d"}])],
        "spec.template.spec.containers[0].volumeMounts[0].name",
        NF,
    ),
    ("job", [(f"{T}/restartPolicy", "Always")], "spec.template.spec.restartPolicy", NS),
    ("job", [(f"{T}/restartPolicy", DELETE)], "spec.template.spec.restartPolicy", NS),
    ("job", [("spec/completions", -1)], "spec.completions", INV),
    ("job", [("spec/parallelism", -1)], "spec.parallelism", INV),
    ("job", [("spec/backoffLimit", -1)], "spec.backoffLimit", INV),
    ("job", [("spec/manualSelector", True)], "spec.selector", REQ),
    (
        "job",
        [("spec/selector", {"matchLabels": {"app": "x"}}), ("spec/manualSelector", True)],
        "spec.template.metadata.labels",
        INV,
    ),
    ("job", [("spec/completionMode", "Sometimes")], "spec.completionMode", NS),
    ("job", [("spec/completionMode", "Indexed"), ("spec/parallelism", 2)], "spec.completions", REQ),
    ("cronjob", [("spec/schedule", "every minute")], "spec.schedule", INV),
    ("cronjob", [("spec/schedule", "@every 5m")], "spec.schedule", INV),
    ("cronjob", [("spec/schedule", "")], "spec.schedule", REQ),
    ("cronjob", [("spec/timeZone", "Mars/Olympus")], "spec.timeZone", INV),
    ("cronjob", [("spec/timeZone", "")], "spec.timeZone", INV),
    ("cronjob", [("spec/concurrencyPolicy", "Sometimes")], "spec.concurrencyPolicy", NS),
    ("cronjob", [("metadata/name", "c" * 53)], "metadata.name", INV),
    (
        "cronjob",
        [("spec/jobTemplate/spec/template/spec/restartPolicy", "Always")],
        "spec.jobTemplate.spec.template.spec.restartPolicy",
        NS,
    ),
    # -- services
    ("service", [("spec/ports", [])], "spec.ports", REQ),
    (
        "service",
        [("spec/ports", [{"port": 80}, {"port": 81, "name": "b"}])],
        "spec.ports[0].name",
        REQ,
    ),
    (
        "service",
        [("spec/ports", [{"port": 80, "name": "a"}, {"port": 81, "name": "a"}])],
        "spec.ports[1].name",
        DUP,
    ),
    ("service", [(f"{P0}/port", 0)], "spec.ports[0].port", INV),
    ("service", [(f"{P0}/targetPort", 70000)], "spec.ports[0].targetPort", INV),
    ("service", [(f"{P0}/targetPort", "Not_A_Name")], "spec.ports[0].targetPort", INV),
    ("service", [(f"{P0}/protocol", "ICMP")], "spec.ports[0].protocol", NS),
    ("service", [(f"{P0}/nodePort", 30080)], "spec.ports[0].nodePort", FORB),
    ("service", [("spec/type", "NodePort"), (f"{P0}/nodePort", 80)], "spec.ports[0].nodePort", INV),
    ("service", [("spec/type", "Magic")], "spec.type", NS),
    ("service", [("spec/selector", {"app": "-bad-"})], "spec.selector", INV),
    ("service", [("spec/sessionAffinity", "Cookie")], "spec.sessionAffinity", NS),
    ("service", [("spec/clusterIP", "10.0.0.300")], "spec.clusterIP", INV),
    ("service", [("spec/type", "ExternalName")], "spec.externalName", REQ),
    # -- configuration
    ("configmap", [("data", {"bad key": "v"})], "data[bad key]", INV),
    ("configmap", [("data", {"..hidden": "v"})], "data[..hidden]", INV),
    ("configmap", [("data", {"big": "x" * (1024 * 1024 + 1)})], "", TOO_LONG),
    ("secret", [("data", {"bad key": "dg=="})], "data[bad key]", INV),
    ("secret", [("type", "kubernetes.io/tls")], "data[tls.crt]", REQ),
    (
        "secret",
        [
            ("type", "kubernetes.io/dockerconfigjson"),
            ("data", {".dockerconfigjson": "bm90IGpzb24="}),
        ],
        "data[.dockerconfigjson]",
        INV,
    ),
    ("namespace", [("spec", {"finalizers": ["custom"]})], "spec.finalizers", INV),
    # -- nodes and smaller groups
    ("node", [("spec/taints/0/effect", "Evict")], "spec.taints[0].effect", NS),
    ("node", [("spec/taints/0/effect", "")], "spec.taints[0].effect", REQ),
    ("node", [("spec/taints/0/key", "bad key")], "spec.taints[0].key", INV),
    (
        "node",
        [
            (
                "spec/taints",
                [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}],
            )
        ],
        "spec.taints[1]",
        DUP,
    ),
    ("lease", [("spec/leaseDurationSeconds", 0)], "spec.leaseDurationSeconds", INV),
    ("priorityclass", [("value", 2_000_000_000)], "value", FORB),
    ("priorityclass", [("metadata/name", "system-mine")], "metadata.name", FORB),
    ("pdb", [("spec/maxUnavailable", 1)], "spec", INV),
    ("pdb", [("spec/minAvailable", "120%")], "spec.minAvailable", INV),
    ("quota", [("spec/hard", {"cpu": "many"})], "spec.hard[cpu]", INV),
    ("quota", [("spec/hard", {"gpus": "1"})], "spec.hard[gpus]", INV),
    ("limitrange", [("spec/limits/0/min", {"cpu": "3"})], "spec.limits[0].min[cpu]", INV),
    ("limitrange", [("spec/limits/0/type", "Namespace")], "spec.limits[0].type", NS),
    (
        "ingress",
        [("spec/rules/0/http/paths/0/pathType", DELETE)],
        "spec.rules[0].http.paths[0].pathType",
        REQ,
    ),
    (
        "ingress",
        [("spec/rules/0/http/paths/0/path", "api")],
        "spec.rules[0].http.paths[0].path",
        INV,
    ),
    (
        "ingress",
        [("spec/rules/0/http/paths/0/backend/service/port", {})],
        "spec.rules[0].http.paths[0].backend",
        REQ,
    ),
    ("ingress", [("spec/rules/0/host", "Shop.Example.com")], "spec.rules[0].host", INV),
    ("role", [("rules/0/verbs", [])], "rules[0].verbs", REQ),
    (
        "role",
        [("rules", [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])],
        "rules[0].nonResourceURLs",
        INV,
    ),
    (
        "clusterrole",
        [("rules", [{"nonResourceURLs": ["/m"], "resources": ["pods"], "verbs": ["get"]}])],
        "rules[0].nonResourceURLs",
        INV,
    ),
    (
        "clusterrole",
        [("rules", [{"resources": ["pods"], "verbs": ["get"]}])],
        "rules[0].apiGroups",
        REQ,
    ),
    ("rolebinding", [("roleRef/kind", "Group")], "roleRef.kind", NS),
    ("rolebinding", [("roleRef/apiGroup", "example.com")], "roleRef.apiGroup", NS),
    ("rolebinding", [("subjects/0/kind", "Robot")], "subjects[0].kind", NS),
    ("clusterrolebinding", [("roleRef/kind", "Role")], "roleRef.kind", NS),
    (
        "clusterrolebinding",
        [("subjects", [{"kind": "ServiceAccount", "name": "sa"}])],
        "subjects[0].namespace",
        REQ,
    ),
    ("claim", [("spec/accessModes", [])], "spec.accessModes", REQ),
    ("claim", [("spec/volumeMode", "Raw")], "spec.volumeMode", NS),
    # -- custom resource definitions
    ("crd", [("metadata/name", "widgets.other.com")], "metadata.name", INV),
    ("crd", [("spec/group", "example"), ("metadata/name", "widgets.example")], "spec.group", INV),
    ("crd", [("spec/scope", "Global")], "spec.scope", NS),
    ("crd", [("spec/scope", "")], "spec.scope", REQ),
    ("crd", [("spec/names/kind", "")], "spec.names.kind", REQ),
    ("crd", [("spec/versions", [])], "spec.versions", REQ),
    ("crd", [("spec/versions/0/storage", False)], "spec.versions", INV),
    (
        "crd",
        [
            (
                "spec/versions",
                [CRD["spec"]["versions"][0], {**CRD["spec"]["versions"][0], "storage": False}],
            )
        ],
        "spec.versions",
        INV,
    ),
    ("crd", [("spec/versions/0/schema", DELETE)], "spec.versions[0].schema.openAPIV3Schema", REQ),
    (
        "crd",
        [("spec/versions/0/schema/openAPIV3Schema/properties/spec/type", "thing")],
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type",
        NS,
    ),
]


@pytest.mark.parametrize(
    ("base", "changes", "field", "reason"),
    CASES,
    ids=[f"{c[0]}:{c[2]}:{i}" for i, c in enumerate(CASES)],
)
def test_rule(base: str, changes: list[tuple[str, Any]], field: str, reason: str) -> None:
    manifest = BASES[base]
    assert causes_of(manifest) == []  # the base is valid …
    for path, value in changes:
        manifest = set_in(manifest, path, value)
    assert (field, reason) in causes_of(manifest)  # … and the change breaks exactly this


@pytest.mark.parametrize("name", sorted(BASES))
def test_every_base_manifest_is_valid_without_defaulting_too(name: str) -> None:
    obj = _codec.from_dict(BASES[name])
    assert _validate_kinds.validation_causes(obj) == []


# -- the error -----------------------------------------------------------------------------


def test_invalid_names_the_qualified_kind_the_object_and_every_cause() -> None:
    manifest = set_in(set_in(DEPLOYMENT, "spec/replicas", -1), f"{T}/containers/0/image", "")
    with pytest.raises(errors.Invalid) as info:
        _validate_kinds.validate(_defaults.default(_codec.from_dict(manifest)))
    exc = info.value
    assert str(exc) == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0, spec.template.spec.containers[0].image: Required value"
    )
    assert [(c.field, c.reason) for c in exc.causes] == [
        ("spec.replicas", "FieldValueInvalid"),
        ("spec.template.spec.containers[0].image", "FieldValueRequired"),
    ]
    assert exc.details["kind"] == "Deployment"
    assert exc.details["group"] == "apps"
    assert exc.details["name"] == "web"


def test_core_kinds_are_not_group_qualified() -> None:
    manifest = set_in(POD, f"{C0}/image", "")
    with pytest.raises(errors.Invalid, match=r'^Pod "web" is invalid: spec\.containers\[0\]'):
        _validate_kinds.validate(_codec.from_dict(manifest))


def test_not_supported_lists_the_supported_values() -> None:
    manifest = set_in(POD, "spec/restartPolicy", "Sometimes")
    [cause] = _validate_kinds.validation_causes(_codec.from_dict(manifest))
    assert cause.message == (
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    )


def test_selector_mismatch_uses_kubernetes_message() -> None:
    manifest = set_in(DEPLOYMENT, "spec/selector", {"matchLabels": {"app": "other"}})
    causes = _validate_kinds.validation_causes(_codec.from_dict(manifest))
    [cause] = [c for c in causes if c.field == "spec.template.metadata.labels"]
    assert cause.message == (
        'Invalid value: {"app":"web"}: `selector` does not match template `labels`'
    )


def test_validation_never_crashes_on_non_objects() -> None:
    with pytest.raises(errors.BadRequest):
        _validate_kinds.validate({"kind": "Pod"})
    with pytest.raises(errors.BadRequest):
        _validate_kinds.validation_causes(42)


def test_namespace_may_be_left_to_the_server_but_not_set_on_cluster_kinds() -> None:
    pod = set_in(POD, "metadata/namespace", DELETE)
    assert causes_of(pod) == []
    node = set_in(NODE, "metadata/namespace", "default")
    assert ("metadata.namespace", FORB) in causes_of(node)


def test_generic_resources_get_metadata_validation_only() -> None:
    custom = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"anything": [1, 2]},
    }
    assert causes_of(custom) == []
    assert causes_of(set_in(custom, "metadata/name", "Bad_Name")) == [("metadata.name", INV)]


def test_crd_schema_causes_are_propagated_with_their_paths() -> None:
    manifest = set_in(CRD, "spec/versions/0/schema/openAPIV3Schema", {"properties": {}})
    fields = [field for field, _ in causes_of(manifest)]
    assert any(f.startswith("spec.versions[0].schema.openAPIV3Schema") for f in fields)


def test_metadata_fast_path_agrees_with_validate_object_meta() -> None:
    metas = [
        {"name": "ok", "namespace": "default"},
        {"generateName": "web-", "namespace": "default"},
        {"name": "Bad", "generateName": "Bad-", "namespace": "x_y", "generation": -1},
        {
            "name": "o",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"},
                {"apiVersion": "a/b/c", "kind": "K", "name": "n", "uid": "2", "controller": True},
                {"apiVersion": "v1", "kind": "K", "name": "m", "uid": "3", "controller": True},
            ],
            "finalizers": ["orphan", "foregroundDeletion"],
        },
    ]
    for wire in metas:
        meta = _codec.from_dict(wire, _meta.ObjectMeta)
        causes: list[errors.Cause] = []
        vc.object_meta(meta, causes, namespaced=True)
        assert causes == _validation.validate_object_meta(
            _codec.to_dict(meta), namespaced=bool(meta.namespace)
        )


# -- fixtures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj", OBJECTS, ids=[f"{o.kind}:{o.metadata.name or o.metadata.generate_name}" for o in OBJECTS]
)
def test_every_fixture_is_valid_once_defaulted(obj: Any) -> None:
    causes = [
        (c.field, c.reason) for c in _validate_kinds.validation_causes(_defaults.default(obj))
    ]
    known = KNOWN_INVALID.get((obj.kind, obj.metadata.name))
    assert causes == ([known] if known else [])


@pytest.mark.parametrize("obj", _objects([SEEDS]), ids=lambda o: f"{o.kind}:{o.metadata.name}")
def test_seed_manifests_validate_as_written(obj: Any) -> None:
    _validate_kinds.validate(obj)
    _validate_kinds.validate(_defaults.default(obj))


def test_generated_job_selector_validates_and_its_labels_are_checked() -> None:
    job = _defaults.default(_codec.from_dict(set_in(JOB, "metadata/uid", "u-1")))
    generated = _defaults.job_selector_defaults(job, "u-1")
    _validate_kinds.validate(generated)
    labels = {**generated.spec.template.metadata.labels, "batch.kubernetes.io/job-name": "x"}
    tampered = _codec.to_dict(generated)
    tampered["spec"]["template"]["metadata"]["labels"] = labels
    causes = causes_of(tampered)
    assert ("spec.template.metadata.labels[batch.kubernetes.io/job-name]", INV) in causes


# -- cron schedules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [
        "*/5 * * * *",
        "0 0 * * *",
        "30 2 * * 1-5",
        "0 9-17/2 * jan-jun mon,wed,fri",
        "0 0 1,15 * ?",
        "@hourly",
        "@daily",
        "@midnight",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
    ],
)
def test_valid_cron_schedules(schedule: str) -> None:
    assert cron.schedule_error(schedule) == ""


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("@reboot", "unrecognized descriptor: @reboot"),
    ],
)
def test_invalid_cron_schedules_name_the_problem(schedule: str, message: str) -> None:
    assert cron.schedule_error(schedule) == message


def test_every_descriptor_is_not_a_cronjob_schedule() -> None:
    assert cron.schedule_error("@every 1h30m") != ""


def test_time_zone_in_schedule_is_refused() -> None:
    manifest = set_in(CRON_JOB, "spec/schedule", "CRON_TZ=UTC 0 * * * *")
    assert causes_of(manifest) == [("spec.schedule", INV)]


# -- updates -------------------------------------------------------------------------------


def update_causes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    before = _defaults.default(_codec.from_dict(old))
    after = _defaults.default(_codec.from_dict(new))
    with pytest.raises(errors.Invalid) as info:
        _validate_kinds.validate_update(before, after)
    return [(c.field, c.reason) for c in info.value.causes]


def test_an_unchanged_update_is_valid() -> None:
    for manifest in BASES.values():
        obj = _defaults.default(_codec.from_dict(manifest))
        _validate_kinds.validate_update(obj, obj)


@pytest.mark.parametrize(
    ("base", "path", "value", "field", "reason"),
    [
        ("pod", "metadata/name", "other", "metadata.name", INV),
        ("pod", "metadata/namespace", "other", "metadata.namespace", INV),
        ("pod", "metadata/uid", "changed", "metadata.uid", INV),
        ("pod", "spec/nodeName", "n1", "spec", FORB),
        ("pod", "spec/containers/0/name", "other", "spec", FORB),
        (
            "pod",
            "spec/containers",
            [CONTAINER, {**CONTAINER, "name": "b"}],
            "spec.containers",
            FORB,
        ),
        (
            "deployment",
            "spec/selector",
            {"matchLabels": {"app": "web", "v": "2"}},
            "spec.selector",
            INV,
        ),
        (
            "replicaset",
            "spec/selector",
            {"matchLabels": {"app": "web", "v": "2"}},
            "spec.selector",
            INV,
        ),
        (
            "daemonset",
            "spec/selector",
            {"matchLabels": {"app": "web", "v": "2"}},
            "spec.selector",
            INV,
        ),
        ("statefulset", "spec/serviceName", "other", "spec", FORB),
        ("job", "spec/completions", 3, "spec.completions", INV),
        ("job", "spec/template/spec/containers/0/image", "nginx:2", "spec.template", INV),
        ("secret", "type", "kubernetes.io/basic-auth", "type", INV),
        ("claim", "spec/accessModes", ["ReadWriteMany"], "spec", FORB),
        (
            "claim",
            "spec/resources/requests/storage",
            "500Mi",
            "spec.resources.requests.storage",
            FORB,
        ),
        ("rolebinding", "roleRef/name", "other", "roleRef", INV),
        ("crd", "spec/scope", "Cluster", "spec.scope", INV),
    ],
)
def test_update_rule(base: str, path: str, value: Any, field: str, reason: str) -> None:
    old = BASES[base]
    assert (field, reason) in update_causes(old, set_in(old, path, value))


def test_pod_updates_may_change_images_deadline_and_add_tolerations() -> None:
    old = set_in(POD, "spec/activeDeadlineSeconds", 100)
    new = set_in(old, f"{C0}/image", "nginx:1.26")
    new = set_in(new, "spec/activeDeadlineSeconds", 50)
    new = set_in(new, "spec/tolerations", [{"key": "k", "operator": "Exists"}])
    before = _defaults.default(_codec.from_dict(old))
    _validate_kinds.validate_update(before, _defaults.default(_codec.from_dict(new)))
    longer = set_in(old, "spec/activeDeadlineSeconds", 200)
    assert ("spec.activeDeadlineSeconds", INV) in update_causes(old, longer)


def test_pod_update_message_lists_the_updatable_fields() -> None:
    with pytest.raises(errors.Invalid, match="pod updates may not change fields other than"):
        _validate_kinds.validate_update(
            _defaults.default(_codec.from_dict(POD)),
            _defaults.default(_codec.from_dict(set_in(POD, "spec/nodeName", "n1"))),
        )


def test_job_template_is_mutable_while_suspended_and_never_started() -> None:
    old = set_in(JOB, "spec/suspend", True)
    new = set_in(old, "spec/template/spec/nodeSelector", {"zone": "a"})
    new = set_in(new, "spec/template/metadata", {"labels": {"queue": "q"}})
    _validate_kinds.validate_update(
        _defaults.default(_codec.from_dict(old)), _defaults.default(_codec.from_dict(new))
    )
    image = set_in(old, "spec/template/spec/containers/0/image", "nginx:2")
    assert ("spec.template", INV) in update_causes(old, image)


def test_service_cluster_ip_is_immutable_once_set() -> None:
    old = set_in(SERVICE, "spec/clusterIP", "10.96.0.10")
    assert ("spec.clusterIP", INV) in update_causes(
        old, set_in(old, "spec/clusterIP", "10.96.0.11")
    )


def test_immutable_config_maps_and_secrets_are_frozen() -> None:
    for base in (CONFIG_MAP, SECRET):
        old = set_in(base, "immutable", True)
        changed = set_in(old, "data", {"key": "b3RoZXI="})
        assert ("data", FORB) in update_causes(old, changed)
        assert ("immutable", FORB) in update_causes(old, set_in(old, "immutable", False))
    mutable = _defaults.default(_codec.from_dict(CONFIG_MAP))
    new = _defaults.default(_codec.from_dict(set_in(CONFIG_MAP, "data", {"k": "v"})))
    _validate_kinds.validate_update(mutable, new)


def test_claims_may_grow() -> None:
    old = _defaults.default(_codec.from_dict(CLAIM))
    grown = set_in(CLAIM, "spec/resources/requests/storage", "2Gi")
    _validate_kinds.validate_update(old, _defaults.default(_codec.from_dict(grown)))


def test_update_of_another_class_is_a_bad_request() -> None:
    pod = _codec.from_dict(POD)
    service = _codec.from_dict(SERVICE)
    with pytest.raises(errors.BadRequest):
        _validate_kinds.validate_update(pod, service)


# -- robustness ----------------------------------------------------------------------------

_WEIRD_STRINGS = ("", "Bad_Value", "-1", "a" * 300, "*", "..", "/abs", "x=y", "10.0.0.1")
_WEIRD_INTS = (-1, 0, 1, 70000, 2**40)


def _mutate(value: Any, data: st.DataObject) -> Any:
    """``value`` with some leaves replaced by odd values of the same JSON type."""
    if isinstance(value, dict):
        return {k: v if k in ("apiVersion", "kind") else _mutate(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, data) for v in value]
    if isinstance(value, bool) or data.draw(st.integers(0, 9), label="mutate?") != 0:
        return value
    if isinstance(value, str):
        return data.draw(st.sampled_from(_WEIRD_STRINGS))
    if isinstance(value, int):
        return data.draw(st.sampled_from(_WEIRD_INTS))
    return value


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(OBJECTS), st.data())
def test_validation_reports_odd_values_and_never_crashes(obj: Any, data: st.DataObject) -> None:
    manifest = _mutate(_codec.to_dict(obj), data)
    try:
        mutated = _codec.from_dict(manifest)
    except errors.BadRequest:  # e.g. a base64 field that no longer decodes
        return
    for candidate in (mutated, _defaults.default(mutated)):
        causes = _validate_kinds.validation_causes(candidate)
        assert all(isinstance(c, errors.Cause) and c.message for c in causes)
        _validate_kinds.validation_causes(candidate, old=candidate)
