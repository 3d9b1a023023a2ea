"""The registry of resource types: what kinds exist and how they are named and served.

A :class:`ResourceType` describes one served resource (``apps/v1 deployments``): group,
version, kind, plural/singular/short names, categories (``all``), scope, subresources,
verbs, the Python class objects decode to and the list kind. A :class:`Registry` indexes
them for the lookups the rest of korch needs:

* by ``(apiVersion, kind)`` — decoding (:meth:`Registry.class_for`), admission, storage;
* by ``(group, version, plural)`` — HTTP paths (:meth:`Registry.for_resource`);
* by any name kubectl accepts — ``po``, ``pods``, ``pod``, ``Pod``, ``deploy.apps``,
  ``deployments.v1.apps`` (:meth:`Registry.resolve`);
* by category (``kubectl get all``) and by Python class.

Besides resource types a registry knows *kinds* that are not resources but still decode to a
class: ``Status``, ``Table``, ``Scale``, ``Eviction``, ``DeleteOptions``, ``WatchEvent``…

:func:`default_registry` is the built-in registry; an API server should work on a
:meth:`Registry.copy` so custom resources it learns (:meth:`Registry.register_crd`) do not
leak into other servers or tests. Within one registry, registration order is preference
order: when a name matches several types, the earliest wins (core before other groups, a
CRD's higher-priority version before lower ones), as with kubectl.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from korch import errors
from korch.api import (
    _apiextensions,
    _apps,
    _batch,
    _core_node,
    _core_other,
    _core_pod,
    _core_volume,
    _generic,
    _meta,
    _misc,
)

__all__ = (
    "STANDARD_VERBS",
    "Registry",
    "ResourceType",
    "builtin_resource_types",
    "default_registry",
    "register",
    "version_priority",
)

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _default_singular(instance: ResourceType) -> str:
    return instance.kind.lower()


def _default_list_kind(instance: ResourceType) -> str:
    return instance.kind + "List"


@attrs.frozen(kw_only=True)
class ResourceType:
    """One served resource: names, scope, subresources and the class objects decode to."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str = attrs.field(default=attrs.Factory(_default_singular, takes_self=True))
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    cls: type = _generic.GenericResource
    list_kind: str = attrs.field(default=attrs.Factory(_default_list_kind, takes_self=True))

    @property
    def api_version(self) -> str:
        """``group/version`` (just ``version`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``plural.group`` (just ``plural`` for the core group), as in RBAC and errors."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def typed(self) -> bool:
        """Whether objects decode to a typed class rather than GenericResource."""
        return self.cls is not _generic.GenericResource

    def names(self) -> frozenset[str]:
        """Every lower-case name this type answers to (plural, singular, kind, short)."""
        return frozenset((self.plural, self.singular, self.kind.lower(), *self.short_names))

    @classmethod
    def from_crd(
        cls, crd: _apiextensions.CustomResourceDefinition, *, typed: type | None = None
    ) -> list[ResourceType]:
        """The resource types a CRD defines: one per served version, by version priority.

        Args:
            crd: the definition.
            typed: the class to decode objects to (default: GenericResource).
        """
        spec, names = crd.spec, crd.spec.names
        out = []
        served = [v for v in spec.versions if v.served]
        for version in sorted(served, key=lambda v: version_priority(v.name)):
            sub = version.subresources
            subresources = tuple(
                name
                for name, present in (
                    ("status", sub is not None and sub.status is not None),
                    ("scale", sub is not None and sub.scale is not None),
                )
                if present
            )
            out.append(
                cls(
                    group=spec.group,
                    version=version.name,
                    kind=names.kind,
                    plural=names.plural,
                    singular=names.singular or names.kind.lower(),
                    namespaced=spec.scope != "Cluster",
                    short_names=tuple(names.short_names),
                    categories=tuple(names.categories),
                    subresources=subresources,
                    cls=typed or _generic.GenericResource,
                    list_kind=names.list_kind or names.kind + "List",
                )
            )
        return out


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key giving Kubernetes' version priority (v2 > v1 > v1beta2 > v1alpha1 > other).

    GA before beta before alpha, higher numbers first; versions not of the form
    ``v<N>[alpha|beta<M>]`` come last, alphabetically.
    """
    match = _VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), "")


class Registry:
    """Resource types and decodable kinds, with the lookups of the module docstring."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._types: list[ResourceType] = []
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        self._by_list_kind: dict[tuple[str, str], ResourceType] = {}
        self._by_resource: dict[tuple[str, str, str], ResourceType] = {}
        self._kinds: dict[tuple[str, str], type] = {}
        for resource_type in types:
            self.register(resource_type)

    # -- registration ------------------------------------------------------------------

    def register(self, resource_type: ResourceType, *, replace: bool = False) -> ResourceType:
        """Add a resource type (a CRD version, or a built-in) and return it.

        Raises:
            korch.errors.AlreadyExists: the kind or the resource is already registered and
                ``replace`` is false.
        """
        rt = resource_type
        kind_key = (rt.api_version, rt.kind)
        resource_key = (rt.group, rt.version, rt.plural)
        existing = self._by_kind.get(kind_key) or self._by_resource.get(resource_key)
        if existing is not None:
            if not replace:
                raise errors.AlreadyExists(
                    f"{rt.api_version} {rt.kind} ({rt.group_resource}) is already registered"
                )
            self._remove(existing)
        self._types.append(rt)
        self._by_kind[kind_key] = rt
        self._by_list_kind[(rt.api_version, rt.list_kind)] = rt
        self._by_resource[resource_key] = rt
        return rt

    def register_kind(self, api_version: str, kind: str, cls: type) -> None:
        """Make a non-resource kind (Status, Scale…) decodable to ``cls``."""
        self._kinds[(api_version, kind)] = cls

    def register_crd(
        self,
        crd: _apiextensions.CustomResourceDefinition,
        *,
        cls: type | None = None,
    ) -> list[ResourceType]:
        """Register (or re-register) every served version of ``crd``.

        Versions no longer served are removed. ``cls`` is the class objects decode to
        (default GenericResource). Returns the registered types, preferred first.
        """
        group, plural = crd.spec.group, crd.spec.names.plural
        for stale in [t for t in self._types if (t.group, t.plural) == (group, plural)]:
            self._remove(stale)
        return [self.register(rt) for rt in ResourceType.from_crd(crd, typed=cls)]

    def unregister(self, group: str, version: str, plural: str) -> None:
        """Remove a resource type (no error when it is not registered)."""
        existing = self._by_resource.get((group, version, plural))
        if existing is not None:
            self._remove(existing)

    def _remove(self, rt: ResourceType) -> None:
        self._types.remove(rt)
        if self._by_kind.get((rt.api_version, rt.kind)) is rt:
            del self._by_kind[(rt.api_version, rt.kind)]
        if self._by_list_kind.get((rt.api_version, rt.list_kind)) is rt:
            del self._by_list_kind[(rt.api_version, rt.list_kind)]
        if self._by_resource.get((rt.group, rt.version, rt.plural)) is rt:
            del self._by_resource[(rt.group, rt.version, rt.plural)]

    def copy(self) -> Registry:
        """An independent registry with the same contents."""
        clone = Registry(self._types)
        clone._kinds = dict(self._kinds)
        return clone

    # -- lookups -----------------------------------------------------------------------

    def get(self, api_version: str, kind: str) -> ResourceType | None:
        """The resource type of ``(apiVersion, kind)``, or None."""
        return self._by_kind.get((api_version, kind))

    def lookup(self, api_version: str, kind: str) -> ResourceType:
        """Like :meth:`get` but raising.

        Raises:
            korch.errors.NotFound: no such kind (Kubernetes: "no matches for kind").
        """
        rt = self._by_kind.get((api_version, kind))
        if rt is None:
            raise errors.NotFound(f'no matches for kind "{kind}" in version "{api_version}"')
        return rt

    def class_for(self, api_version: str, kind: str) -> type | None:
        """The class ``(apiVersion, kind)`` decodes to; ResourceList for list kinds; else None."""
        rt = self._by_kind.get((api_version, kind))
        if rt is not None:
            return rt.cls
        cls = self._kinds.get((api_version, kind))
        if cls is not None:
            return cls
        if (api_version, kind) in self._by_list_kind:
            return _meta.ResourceList
        return None

    def item_class_for_list(self, api_version: str, list_kind: str) -> type | None:
        """The class of the items of list kind ``list_kind`` (``PodList`` -> Pod), or None."""
        rt = self._by_list_kind.get((api_version, list_kind))
        return rt.cls if rt is not None else None

    def for_resource(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource type served at ``/apis/group/version/plural``, or None."""
        return self._by_resource.get((group, version, plural))

    def for_class(self, cls: type) -> ResourceType | None:
        """The (first) resource type decoding to typed class ``cls``, or None."""
        if cls is _generic.GenericResource:
            return None
        return next((rt for rt in self._types if rt.cls is cls), None)

    def resolve_all(self, name: str) -> list[ResourceType]:
        """Every resource type ``name`` can mean, preferred first (kubectl's rules).

        ``name`` is a plural, singular, short name or kind (any case), optionally qualified
        as ``name.group`` or ``name.version.group``.
        """
        wanted = name.strip().lower()
        head, _, rest = wanted.partition(".")
        out = []
        for rt in self._types:
            names = rt.names()
            if wanted in names or (
                rest and head in names and rest in (rt.group, f"{rt.version}.{rt.group}")
            ):
                out.append(rt)
        return out

    def resolve(self, name: str) -> ResourceType:
        """The preferred resource type called ``name`` (see :meth:`resolve_all`).

        Raises:
            korch.errors.NotFound: nothing is called ``name``.
        """
        matches = self.resolve_all(name)
        if not matches:
            raise errors.NotFound(f'the server doesn\'t have a resource type "{name}"')
        return matches[0]

    def with_category(self, category: str) -> list[ResourceType]:
        """The resource types in ``category`` (one per group and plural: the preferred)."""
        seen: set[tuple[str, str]] = set()
        out = []
        for rt in self._types:
            if category in rt.categories and (rt.group, rt.plural) not in seen:
                seen.add((rt.group, rt.plural))
                out.append(rt)
        return out

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types))

    def __len__(self) -> int:
        return len(self._types)

    def __repr__(self) -> str:
        return f"<Registry of {len(self._types)} resource types>"


# -- built-ins -------------------------------------------------------------------------

_ALL = ("all",)
_SCALE = ("status", "scale")
_POD_SUBRESOURCES = (
    "status",
    "binding",
    "eviction",
    "log",
    "exec",
    "attach",
    "portforward",
    "proxy",
    "ephemeralcontainers",
    "resize",
)


def _rt(group: str, version: str, kind: str, plural: str, cls: type, **kw: Any) -> ResourceType:
    return ResourceType(group=group, version=version, kind=kind, plural=plural, cls=cls, **kw)


def builtin_resource_types() -> tuple[ResourceType, ...]:
    """The resource types korch serves out of the box, in preference order."""
    generic = _generic.GenericResource
    return (
        # core/v1
        _rt("", "v1", "Pod", "pods", _core_pod.Pod, short_names=("po",), categories=_ALL,
            subresources=_POD_SUBRESOURCES),
        _rt("", "v1", "Service", "services", _core_node.Service, short_names=("svc",),
            categories=_ALL, subresources=("status", "proxy")),
        _rt("", "v1", "Endpoints", "endpoints", _core_node.Endpoints, short_names=("ep",),
            singular="endpoints"),
        _rt("", "v1", "ConfigMap", "configmaps", _core_other.ConfigMap, short_names=("cm",)),
        _rt("", "v1", "Secret", "secrets", _core_other.Secret),
        _rt("", "v1", "Namespace", "namespaces", _core_node.Namespace, short_names=("ns",),
            namespaced=False, subresources=("status", "finalize")),
        _rt("", "v1", "Node", "nodes", _core_node.Node, short_names=("no",), namespaced=False,
            subresources=("status", "proxy")),
        _rt("", "v1", "Event", "events", _core_other.Event, short_names=("ev",)),
        _rt("", "v1", "PersistentVolume", "persistentvolumes", _core_volume.PersistentVolume,
            short_names=("pv",), namespaced=False, subresources=("status",)),
        _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims",
            _core_volume.PersistentVolumeClaim, short_names=("pvc",), subresources=("status",)),
        _rt("", "v1", "ServiceAccount", "serviceaccounts", _core_other.ServiceAccount,
            short_names=("sa",), subresources=("token",)),
        _rt("", "v1", "PodTemplate", "podtemplates", _core_pod.PodTemplate),
        _rt("", "v1", "ReplicationController", "replicationcontrollers",
            _core_other.ReplicationController, short_names=("rc",), categories=_ALL,
            subresources=_SCALE),
        _rt("", "v1", "ResourceQuota", "resourcequotas", _core_other.ResourceQuota,
            short_names=("quota",), subresources=("status",)),
        _rt("", "v1", "LimitRange", "limitranges", _core_other.LimitRange,
            short_names=("limits",)),
        _rt("", "v1", "Binding", "bindings", _core_pod.Binding, verbs=("create",)),
        # apps/v1
        _rt("apps", "v1", "Deployment", "deployments", _apps.Deployment,
            short_names=("deploy",), categories=_ALL, subresources=_SCALE),
        _rt("apps", "v1", "ReplicaSet", "replicasets", _apps.ReplicaSet, short_names=("rs",),
            categories=_ALL, subresources=_SCALE),
        _rt("apps", "v1", "StatefulSet", "statefulsets", _apps.StatefulSet,
            short_names=("sts",), categories=_ALL, subresources=_SCALE),
        _rt("apps", "v1", "DaemonSet", "daemonsets", _apps.DaemonSet, short_names=("ds",),
            categories=_ALL, subresources=("status",)),
        _rt("apps", "v1", "ControllerRevision", "controllerrevisions",
            _apps.ControllerRevision),
        # batch/v1
        _rt("batch", "v1", "Job", "jobs", _batch.Job, categories=_ALL,
            subresources=("status",)),
        _rt("batch", "v1", "CronJob", "cronjobs", _batch.CronJob, short_names=("cj",),
            categories=_ALL, subresources=("status",)),
        # autoscaling: v2 is the preferred version, as in Kubernetes
        _rt("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
            generic, short_names=("hpa",), categories=_ALL, subresources=("status",)),
        _rt("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
            _misc.HorizontalPodAutoscaler, short_names=("hpa",), categories=_ALL,
            subresources=("status",)),
        # smaller groups
        _rt("coordination.k8s.io", "v1", "Lease", "leases", _misc.Lease),
        _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses",
            _misc.PriorityClass, short_names=("pc",), namespaced=False),
        _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
            _misc.PodDisruptionBudget, short_names=("pdb",), subresources=("status",)),
        _rt("networking.k8s.io", "v1", "Ingress", "ingresses", _misc.Ingress,
            short_names=("ing",), subresources=("status",)),
        _rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", _misc.IngressClass,
            namespaced=False),
        _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", generic,
            short_names=("netpol",)),
        _rt("certificates.k8s.io", "v1", "CertificateSigningRequest",
            "certificatesigningrequests", _misc.CertificateSigningRequest,
            short_names=("csr",), namespaced=False, subresources=("status", "approval")),
        _rt("rbac.authorization.k8s.io", "v1", "Role", "roles", _misc.Role),
        _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles",
            _misc.ClusterRole, namespaced=False),
        _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings",
            _misc.RoleBinding),
        _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
            _misc.ClusterRoleBinding, namespaced=False),
        _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
            "customresourcedefinitions", _apiextensions.CustomResourceDefinition,
            short_names=("crd", "crds"), categories=("api-extensions",), namespaced=False,
            subresources=("status",)),
        # served, but decoded as GenericResource
        _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", generic),
        _rt("events.k8s.io", "v1", "Event", "events", generic, short_names=("ev",)),
        _rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", generic,
            short_names=("sc",), namespaced=False),
        _rt("storage.k8s.io", "v1", "CSIDriver", "csidrivers", generic, namespaced=False),
        _rt("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", generic,
            namespaced=False, subresources=("status",)),
        _rt("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", generic,
            namespaced=False),
        _rt("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations", generic, categories=("api-extensions",),
            namespaced=False),
        _rt("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations", generic, categories=("api-extensions",),
            namespaced=False),
    )  # fmt: skip


_BUILTIN_KINDS: tuple[tuple[str, str, type], ...] = (
    ("v1", "Status", _meta.Status),
    ("meta.k8s.io/v1", "Status", _meta.Status),
    ("meta.k8s.io/v1", "Table", _meta.Table),
    ("meta.k8s.io/v1", "PartialObjectMetadata", _meta.PartialObjectMetadata),
    ("meta.k8s.io/v1", "PartialObjectMetadataList", _meta.ResourceList),
    ("v1", "DeleteOptions", _meta.DeleteOptions),
    ("meta.k8s.io/v1", "DeleteOptions", _meta.DeleteOptions),
    ("meta.k8s.io/v1", "WatchEvent", _meta.WatchEvent),
    ("v1", "WatchEvent", _meta.WatchEvent),
    ("v1", "List", _meta.ResourceList),
    ("autoscaling/v1", "Scale", _misc.Scale),
    ("policy/v1", "Eviction", _misc.Eviction),
)


def _build_default() -> Registry:
    registry = Registry(builtin_resource_types())
    for api_version, kind, cls in _BUILTIN_KINDS:
        registry.register_kind(api_version, kind, cls)
    return registry


_DEFAULT = _build_default()


def default_registry() -> Registry:
    """The process-wide registry of built-in types (shared: prefer ``.copy()`` to extend)."""
    return _DEFAULT


def register(resource_type: ResourceType, *, replace: bool = False) -> ResourceType:
    """Register ``resource_type`` in the default registry (see :meth:`Registry.register`)."""
    return _DEFAULT.register(resource_type, replace=replace)
