"""Validation of the built-in kinds, as kube-apiserver validates them: the public entry points.

:func:`validate` raises :class:`korch.errors.Invalid` listing *every* problem of an object
at once, with kube-apiserver's message shape and Status details::

    Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater
    than or equal to 0, spec.template.spec.containers[0].image: Required value

(``<Kind>[.<group>] "<name>" is invalid: <field>: <message>, …``: the group-qualified
kind, as Kubernetes prints it). :func:`validation_causes` returns the same causes as a
list; :func:`validate_update` adds the immutable-field rules of an update
(:mod:`korch.api._validate_update`).

Each kind is checked by its rule function after ``metadata``: ``_validate_pod`` (with
``_validate_volumes``, ``_validate_resources`` and ``_validate_scheduling``),
``_validate_workloads`` (with ``_validate_cron``), ``_validate_other`` and
``_validate_groups``, on the helpers of ``_validate_common``. Name rules per kind: most
kinds a DNS-1123 subdomain, Namespaces a DNS-1123 label, Services a DNS-1035 label, RBAC
objects a path segment, CRDs ``<plural>.<group>``. GenericResource and kinds without rules
get metadata validation only (a custom resource's schema is checked by the API server with
:mod:`korch.api._schema`).

What validation assumes about defaulting: the API server validates ``default(obj)``, and
so should callers. Where :func:`korch.api._defaults.default` fills a field (``restartPolicy``,
``imagePullPolicy``, a Service's ``type``, a Deployment's strategy…), an *unset* value is
accepted here too, so a manifest as users write it validates as its defaulted form does;
a wrong value is always reported. Fields Kubernetes never defaults stay required (a Job
template's ``restartPolicy`` must be ``OnFailure`` or ``Never``). An empty namespace on a
namespaced kind is accepted (the server fills it from the request).

Validation is pure and never raises on bad input other than the documented errors; it is
built for speed (see ``benchmarks/resources.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _apiextensions as ext
from korch.api import _apps, _batch, _generic, _meta, _misc, _registry
from korch.api import _core_node as cn
from korch.api import _core_other as co
from korch.api import _core_pod as cp
from korch.api import _core_volume as cv
from korch.api import _validate_common as vc
from korch.api import _validate_groups as vg
from korch.api import _validate_other as vo
from korch.api import _validate_pod as vp
from korch.api import _validate_update as vu
from korch.api import _validate_workloads as vw
from korch.api import _validation as fv

__all__ = ("validate", "validate_update", "validation_causes")

Causes = vc.Causes
Rule = Callable[[Any, Causes], None]


def _pod(obj: cp.Pod, causes: Causes) -> None:
    vp.pod_spec(obj.spec, "spec", causes)


def _nothing(obj: Any, causes: Causes) -> None:
    """Kinds with metadata rules only."""


_subdomain, _label = fv.name_is_dns_subdomain, fv.name_is_dns_label
_dns1035, _segment = fv.name_is_dns1035_label, fv.name_is_path_segment

#: class -> (rule, name rule); CRDs compute their name rule from the object.
_KINDS: Final[dict[type, tuple[Rule, fv.NameValidator]]] = {
    cp.Pod: (_pod, _subdomain),
    cp.PodTemplate: (vo.pod_template, _subdomain),
    co.ReplicationController: (vw.replication_controller, _subdomain),
    cn.Service: (vo.service, _dns1035),
    cn.Endpoints: (vo.endpoints, _subdomain),
    co.ConfigMap: (vo.config_map, _subdomain),
    co.Secret: (vo.secret, _subdomain),
    co.ServiceAccount: (_nothing, _subdomain),
    co.Event: (_nothing, _subdomain),
    co.ResourceQuota: (vo.resource_quota, _subdomain),
    co.LimitRange: (vo.limit_range, _subdomain),
    cn.Namespace: (vo.namespace, _label),
    cn.Node: (vo.node, _subdomain),
    cv.PersistentVolume: (vo.persistent_volume, _subdomain),
    cv.PersistentVolumeClaim: (vo.persistent_volume_claim, _subdomain),
    _apps.Deployment: (vw.deployment, _subdomain),
    _apps.ReplicaSet: (vw.replica_set, _subdomain),
    _apps.StatefulSet: (vw.stateful_set, _subdomain),
    _apps.DaemonSet: (vw.daemon_set, _subdomain),
    _apps.ControllerRevision: (vg.controller_revision, _subdomain),
    _batch.Job: (vw.job, _subdomain),
    _batch.CronJob: (vw.cron_job, _subdomain),
    _misc.Lease: (vg.lease, _subdomain),
    _misc.PriorityClass: (vg.priority_class, _subdomain),
    _misc.PodDisruptionBudget: (vg.pdb, _subdomain),
    _misc.Ingress: (vg.ingress, _subdomain),
    _misc.IngressClass: (vg.ingress_class, _subdomain),
    _misc.Role: (vg.role, _segment),
    _misc.ClusterRole: (vg.cluster_role, _segment),
    _misc.RoleBinding: (vg.role_binding, _segment),
    _misc.ClusterRoleBinding: (vg.cluster_role_binding, _segment),
    _misc.HorizontalPodAutoscaler: (vg.hpa, _subdomain),
    _misc.CertificateSigningRequest: (vg.csr, _subdomain),
    ext.CustomResourceDefinition: (vg.crd, _subdomain),
}

_NAMESPACED: dict[type, bool | None] = {}


def _namespaced(obj: Any) -> bool | None:
    """Whether ``obj``'s kind is namespaced, per the default registry (None: unknown)."""
    registry = _registry.default_registry()
    if isinstance(obj, _generic.GenericResource):
        resource_type = registry.get(obj.api_version, obj.kind)
        return None if resource_type is None else resource_type.namespaced
    cls = obj.__class__
    if cls not in _NAMESPACED:
        resource_type = registry.for_class(cls)
        _NAMESPACED[cls] = None if resource_type is None else resource_type.namespaced
    return _NAMESPACED[cls]


def _check_model(obj: Any, what: str) -> None:
    if not attrs.has(obj.__class__) or not isinstance(
        getattr(obj, "metadata", None), _meta.ObjectMeta
    ):
        raise errors.BadRequest(
            f"{what} expects a korch API object with metadata, got {type(obj).__name__}"
        )


def validation_causes(obj: Any, *, old: Any = None) -> list[errors.Cause]:
    """Every problem of ``obj`` (rules in the module docstring), as causes.

    Args:
        obj: a typed object (``Pod``, ``Deployment``…) or GenericResource; validate
            ``default(obj)`` to check it as the API server does.
        old: the stored object this one replaces; adds the update rules
            (:func:`validate_update`).

    Returns:
        The causes, in field order; empty when ``obj`` is valid.

    Raises:
        korch.errors.BadRequest: ``obj`` is not an API object with metadata, or ``old``
            is of another class.
    """
    _check_model(obj, "validation_causes()")
    causes: Causes = []
    entry = _KINDS.get(obj.__class__)
    if entry is None:
        rule: Rule = _nothing
        name_rule: fv.NameValidator = _subdomain
    else:
        rule, name_rule = entry
        if obj.__class__ is ext.CustomResourceDefinition:
            name_rule = vg.crd_name_rule(obj)
    vc.object_meta(obj.metadata, causes, namespaced=_namespaced(obj), name_rule=name_rule)
    rule(obj, causes)
    if old is not None:
        if old.__class__ is not obj.__class__:
            raise errors.BadRequest(
                f"cannot validate an update of a {type(old).__name__} to a {type(obj).__name__}"
            )
        causes.extend(vu.update_causes(obj, old))
    return causes


def _qualified_kind(obj: Any) -> tuple[str, str]:
    group = _meta.split_api_version(getattr(obj, "api_version", "") or "")[0]
    kind = getattr(obj, "kind", "") or type(obj).__name__
    return group, kind


def _raise(obj: Any, causes: Causes) -> None:
    if not causes:
        return
    group, kind = _qualified_kind(obj)
    name = obj.metadata.name
    qualified = f"{kind}.{group}" if group else kind
    details: dict[str, object] = {
        "name": name,
        "group": group,
        "kind": kind,
        "causes": [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes],
    }
    raise errors.Invalid(f'{qualified} "{name}" is invalid', causes, details=details)


def validate(obj: Any) -> None:
    """Validate an object as kube-apiserver does on create.

    Args:
        obj: a typed object or GenericResource (normally ``default(obj)``).

    Raises:
        korch.errors.Invalid: with every cause (``.causes``) and Status-like ``.details``;
            the message reads ``<Kind>[.<group>] "<name>" is invalid: <field>: <message>, …``.
        korch.errors.BadRequest: ``obj`` is not an API object with metadata.
    """
    _raise(obj, validation_causes(obj))


def validate_update(old: Any, new: Any) -> None:
    """Validate ``new`` replacing ``old``: every rule of :func:`validate` plus the
    immutable-field rules of updates (``metadata.name``, selectors, …).

    Raises:
        korch.errors.Invalid: with every cause.
        korch.errors.BadRequest: the objects are not API objects of the same class.
    """
    _check_model(old, "validate_update()")
    _raise(new, validation_causes(new, old=old))
