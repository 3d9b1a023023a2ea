"""Names of OpenAPI components: Kubernetes' naming of kinds, structs and primitive types.

kube-openapi names a schema after the Go package and type it describes, and published
documents are read by tools that look components up by those names (``kubectl explain``
follows ``$ref``s; clients generated from Kubernetes' OpenAPI import them), so korch uses the
same names:

* built-in kinds and structs: ``io.k8s.api.<package>.<version>.<Type>``, where the package is
  the group's first label (``apps``, ``networking`` for ``networking.k8s.io``, ``core`` for
  the core group), with the exceptions of :data:`_GO_PACKAGES` (meta, apiextensions…);
  a model class maps to its group through its module (``_misc`` through a table);
* kinds of other groups (custom resources): the reversed group,
  ``com.example.stable.v1.CronTab``;
* primitives: ``io.k8s.apimachinery.pkg.apis.meta.v1.Time``/``MicroTime``,
  ``io.k8s.apimachinery.pkg.api.resource.Quantity``,
  ``io.k8s.apimachinery.pkg.util.intstr.IntOrString`` (schemas in :data:`PRIMITIVES`);
* any other class: its Python path.

Invariant: within one document a name stands for one class; :mod:`korch.api._openapi_schema`
raises if two classes it reaches share a name.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from korch import errors
from korch.api import (
    _apiextensions,
    _apps,
    _batch,
    _core_container,
    _core_node,
    _core_other,
    _core_pod,
    _core_volume,
    _generic,
    _meta,
    _misc,
    _registry,
)

__all__ = (
    "INT_OR_STRING",
    "LIST_META",
    "MICRO_TIME",
    "OBJECT_META",
    "PRIMITIVES",
    "QUANTITY",
    "REF_PREFIX",
    "TIME",
    "component_name",
    "group_version_kinds",
    "kind_component_name",
    "ref",
)

REF_PREFIX: Final = "#/components/schemas/"
_META_PACKAGE: Final = "io.k8s.apimachinery.pkg.apis.meta.v1"
TIME: Final = f"{_META_PACKAGE}.Time"
MICRO_TIME: Final = f"{_META_PACKAGE}.MicroTime"
OBJECT_META: Final = f"{_META_PACKAGE}.ObjectMeta"
LIST_META: Final = f"{_META_PACKAGE}.ListMeta"
QUANTITY: Final = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING: Final = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"

#: The schemas of the components that are not model classes, by name.
PRIMITIVES: Final[dict[str, dict[str, Any]]] = {
    TIME: {
        "description": "A timestamp in RFC 3339 form, to the second (2024-05-01T10:00:00Z).",
        "type": "string",
        "format": "date-time",
    },
    MICRO_TIME: {
        "description": "A timestamp in RFC 3339 form with microseconds.",
        "type": "string",
        "format": "date-time",
    },
    QUANTITY: {
        "description": (
            "An amount with an optional SI or binary suffix: 500m, 2, 1.5Gi, 128974848. "
            "Written as a string; plain numbers are accepted."
        ),
        "oneOf": [{"type": "string"}, {"type": "number"}],
    },
    INT_OR_STRING: {
        "description": "Either an integer or a string (often a percentage such as 25%).",
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    },
}

# -- naming -----------------------------------------------------------------------------

# Go packages of API groups whose types kube-openapi names after the package, not the group.
_GO_PACKAGES: Final = {
    "": "io.k8s.api.core",
    "meta.k8s.io": "io.k8s.apimachinery.pkg.apis.meta",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
    "internal.apiserver.k8s.io": "io.k8s.api.apiserverinternal",
    **{
        group: "io.k8s.api." + group.split(".")[0]
        for group in (
            "admissionregistration.k8s.io",
            "apps",
            "authentication.k8s.io",
            "authorization.k8s.io",
            "autoscaling",
            "batch",
            "certificates.k8s.io",
            "coordination.k8s.io",
            "discovery.k8s.io",
            "events.k8s.io",
            "extensions",
            "flowcontrol.apiserver.k8s.io",
            "networking.k8s.io",
            "node.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
            "resource.k8s.io",
            "scheduling.k8s.io",
            "storage.k8s.io",
            "storagemigration.k8s.io",
        )
    },
}
_MODULE_GROUPS: Final = {
    _meta.__name__: "meta.k8s.io",
    _core_container.__name__: "",
    _core_volume.__name__: "",
    _core_pod.__name__: "",
    _core_node.__name__: "",
    _core_other.__name__: "",
    _apps.__name__: "apps",
    _batch.__name__: "batch",
    _apiextensions.__name__: "apiextensions.k8s.io",
}
# _misc gathers several small groups; its classes say which one here.
_MISC_GROUPS: Final = {
    name: group
    for group, names in (
        ("coordination.k8s.io", "Lease LeaseSpec"),
        ("scheduling.k8s.io", "PriorityClass"),
        (
            "policy",
            "PodDisruptionBudget PodDisruptionBudgetSpec PodDisruptionBudgetStatus Eviction",
        ),
        (
            "networking.k8s.io",
            "Ingress IngressSpec IngressStatus IngressBackend IngressServiceBackend "
            "ServiceBackendPort IngressRule HTTPIngressRuleValue HTTPIngressPath IngressTLS "
            "IngressLoadBalancerStatus IngressClass IngressClassSpec "
            "IngressClassParametersReference",
        ),
        (
            "certificates.k8s.io",
            "CertificateSigningRequest CertificateSigningRequestSpec "
            "CertificateSigningRequestStatus CertificateSigningRequestCondition",
        ),
        (
            "rbac.authorization.k8s.io",
            "Role ClusterRole RoleBinding ClusterRoleBinding PolicyRule AggregationRule "
            "Subject RoleRef",
        ),
        (
            "autoscaling",
            "Scale ScaleSpec ScaleStatus HorizontalPodAutoscaler HorizontalPodAutoscalerSpec "
            "HorizontalPodAutoscalerStatus CrossVersionObjectReference",
        ),
    )
    for name in names.split()
}


def _group_package(group: str) -> str:
    """``io.k8s.api.apps`` for a built-in group, the reversed group for any other
    (``stable.example.com`` -> ``com.example.stable``), as Kubernetes names CRD schemas."""
    known = _GO_PACKAGES.get(group)
    if known is not None:
        return known
    return ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"


def kind_component_name(group: str, version: str, kind: str) -> str:
    """The component name Kubernetes gives kind ``kind`` of ``group/version``.

    Built-in groups use their Go package (``io.k8s.api.networking.v1.Ingress``); other groups,
    i.e. custom resources, the reversed group (``com.example.stable.v1.CronTab``).
    """
    return f"{_group_package(group)}.{version}.{kind}"


def component_name(cls: type, *, registry: _registry.Registry | None = None) -> str:
    """The component name of model class ``cls``.

    Built-in classes get Kubernetes' names (``io.k8s.api.core.v1.Pod``,
    ``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``); a class registered as a kind in
    ``registry`` (default: the built-in registry) gets :func:`kind_component_name`; any
    other class its Python path (``myapp.models.BackupSpec``).

    Raises:
        korch.errors.BadRequest: ``cls`` is not an attrs class.
    """
    if not (isinstance(cls, type) and attrs.has(cls)):
        raise errors.BadRequest(f"{cls!r} is not a model class (an attrs class)")
    module = cls.__module__
    group = _MISC_GROUPS.get(cls.__name__) if module == _misc.__name__ else None
    if group is None:
        group = _MODULE_GROUPS.get(module)
    if group is not None:
        return f"{_group_package(group)}.v1.{cls.__name__}"
    if cls is not _generic.GenericResource:
        rt = (registry or _registry.default_registry()).for_class(cls)
        if rt is not None:
            return kind_component_name(rt.group, rt.version, rt.kind)
    return f"{module}.{cls.__qualname__}"


def ref(name: str) -> dict[str, Any]:
    """A ``$ref`` to component ``name`` of the same document."""
    return {"$ref": REF_PREFIX + name}


_NON_RESOURCE_KINDS: Final = (
    ("v1", "Status"),
    ("meta.k8s.io/v1", "Status"),
    ("v1", "DeleteOptions"),
    ("meta.k8s.io/v1", "DeleteOptions"),
    ("v1", "WatchEvent"),
    ("meta.k8s.io/v1", "WatchEvent"),
    ("meta.k8s.io/v1", "Table"),
    ("meta.k8s.io/v1", "PartialObjectMetadata"),
    ("autoscaling/v1", "Scale"),
    ("policy/v1", "Eviction"),
)


def group_version_kinds(cls: type, registry: _registry.Registry) -> list[dict[str, str]]:
    """The ``x-kubernetes-group-version-kind`` entries of ``cls``: every (group, version,
    kind) of ``registry`` decoding to it, resources and other kinds (Status, Scale…)."""
    found = {(rt.group, rt.version, rt.kind) for rt in registry if rt.cls is cls}
    for api_version, kind in _NON_RESOURCE_KINDS:
        if registry.class_for(api_version, kind) is cls:
            group, version = _meta.split_api_version(api_version)
            found.add((group, version, kind))
    return [{"group": g, "kind": k, "version": v} for g, v, k in sorted(found)]
