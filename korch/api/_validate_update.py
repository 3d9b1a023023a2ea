"""Update rules: which fields may change when an object is replaced (``Validate*Update``).

On top of validating the new object, kube-apiserver refuses updates that change immutable
fields. The rules here, with Kubernetes' messages:

* every kind: ``metadata.name``, ``namespace``, ``uid`` and ``creationTimestamp`` are
  immutable (``field is immutable``; an empty uid or timestamp in the new object means
  "unchanged": the server copies them from the stored object);
* Deployment, ReplicaSet, DaemonSet, StatefulSet: ``spec.selector`` is immutable;
  StatefulSet: only ``replicas``, ``ordinals``, ``template``, ``updateStrategy``,
  ``persistentVolumeClaimRetentionPolicy`` and ``minReadySeconds`` may change;
* Job: ``spec.selector`` and ``spec.completions`` are immutable, and ``spec.template``
  too, except its labels, annotations, node selector, affinity, tolerations and scheduling
  gates while the Job is suspended and has never started;
* Pod: ``pod updates may not change fields other than …`` (images,
  ``activeDeadlineSeconds`` — only set or lowered —, tolerations — only added —,
  ``terminationGracePeriodSeconds`` from negative to 1, and removing scheduling gates);
* Service: ``spec.clusterIP`` cannot change once set (unless to or from ExternalName);
* ConfigMap/Secret with ``immutable: true``: data and the flag are frozen; Secret ``type``
  is immutable;
* PersistentVolumeClaim: the spec is immutable except ``resources.requests`` (which may
  not shrink), ``volumeAttributesClassName``, and ``volumeName`` while it is empty;
* RoleBinding/ClusterRoleBinding ``roleRef``; CRD ``spec.group`` and ``spec.scope``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from korch.api import _apiextensions as ext
from korch.api import _apps, _batch, _meta, _misc
from korch.api import _core_node as cn
from korch.api import _core_other as co
from korch.api import _core_pod as cp
from korch.api import _core_volume as cv
from korch.api import _defaults_pod as dp
from korch.api import _validate_common as vc
from korch.api import _validation as fv

__all__ = ("update_causes",)

Causes = vc.Causes

POD_UPDATABLE: Final = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)
STATEFUL_SET_UPDATABLE: Final = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
    "forbidden"
)


def _immutable(new: Any, old: Any, path: str, causes: Causes) -> None:
    if new != old:
        causes.append(fv.invalid(path, vc.wire(new), vc.IMMUTABLE))


def _meta_update(new: _meta.ObjectMeta, old: _meta.ObjectMeta, causes: Causes) -> None:
    _immutable(new.name, old.name, "metadata.name", causes)
    _immutable(new.namespace, old.namespace, "metadata.namespace", causes)
    if new.uid:
        _immutable(new.uid, old.uid, "metadata.uid", causes)
    if new.creation_timestamp is not None and new.creation_timestamp != old.creation_timestamp:
        stamp = new.creation_timestamp.isoformat().replace("+00:00", "Z")
        causes.append(fv.invalid("metadata.creationTimestamp", stamp, vc.IMMUTABLE))


# -- workloads -----------------------------------------------------------------------------


def _selector_immutable(new: Any, old: Any, causes: Causes) -> None:
    _immutable(new.spec.selector, old.spec.selector, "spec.selector", causes)


def _stateful_set(new: _apps.StatefulSet, old: _apps.StatefulSet, causes: Causes) -> None:
    _selector_immutable(new, old, causes)
    mutable = (
        "replicas",
        "ordinals",
        "template",
        "update_strategy",
        "persistent_volume_claim_retention_policy",
        "min_ready_seconds",
        "selector",  # reported on its own above
    )
    munged = dp.copy_with(new.spec, {name: getattr(old.spec, name) for name in mutable})
    if munged != old.spec:
        causes.append(fv.forbidden("spec", STATEFUL_SET_UPDATABLE))


_SCHEDULING_DIRECTIVES: Final = ("node_selector", "affinity", "tolerations", "scheduling_gates")


def _job(new: _batch.Job, old: _batch.Job, causes: Causes) -> None:
    _immutable(new.spec.selector, old.spec.selector, "spec.selector", causes)
    _immutable(new.spec.completions, old.spec.completions, "spec.completions", causes)
    template, old_template = new.spec.template, old.spec.template
    if template == old_template:
        return
    if old.spec.suspend and old.status.start_time is None:
        # Suspended Jobs that never ran may move their pods: scheduling directives and
        # template metadata are mutable then (Kubernetes' mutable scheduling directives).
        spec = dp.copy_with(
            template.spec,
            {name: getattr(old_template.spec, name) for name in _SCHEDULING_DIRECTIVES},
        )
        metadata = dp.copy_with(
            template.metadata,
            {
                "labels": old_template.metadata.labels,
                "annotations": old_template.metadata.annotations,
            },
        )
        template = dp.copy_with(template, {"spec": spec, "metadata": metadata})
        if template == old_template:
            return
    causes.append(fv.invalid("spec.template", vc.wire(new.spec.template), vc.IMMUTABLE))


# -- pods ----------------------------------------------------------------------------------


def _toleration_key(toleration: cp.Toleration) -> cp.Toleration:
    return dp.copy_with(toleration, {"toleration_seconds": None})


def _pod(new: cp.Pod, old: cp.Pod, causes: Causes) -> None:
    spec, old_spec = new.spec, old.spec
    if spec == old_spec:
        return
    if len(spec.containers) != len(old_spec.containers):
        causes.append(
            fv.forbidden("spec.containers", "pod updates may not add or remove containers")
        )
        return
    if len(spec.init_containers) != len(old_spec.init_containers):
        detail = "pod updates may not add or remove containers"
        causes.append(fv.forbidden("spec.initContainers", detail))
        return
    new_tolerations = {_toleration_key(t) for t in spec.tolerations}
    if any(_toleration_key(t) not in new_tolerations for t in old_spec.tolerations):
        detail = "existing toleration can not be modified except its tolerationSeconds"
        causes.append(fv.forbidden("spec.tolerations", detail))
    old_gates = {gate.name for gate in old_spec.scheduling_gates}
    for i, gate in enumerate(spec.scheduling_gates):
        if gate.name not in old_gates:
            detail = f"only deletion is allowed, but found new scheduling gate '{gate.name}'"
            causes.append(fv.forbidden(f"spec.schedulingGates[{i}]", detail))
    deadline, old_deadline = spec.active_deadline_seconds, old_spec.active_deadline_seconds
    if old_deadline is not None:
        if deadline is None:
            detail = "must not update from a positive integer to nil value"
            causes.append(fv.invalid("spec.activeDeadlineSeconds", None, detail))
        elif deadline > old_deadline:
            detail = "must be less than or equal to previous value"
            causes.append(fv.invalid("spec.activeDeadlineSeconds", deadline, detail))
    grace = spec.termination_grace_period_seconds
    old_grace = old_spec.termination_grace_period_seconds
    if old_grace is not None and old_grace < 0 and grace == 1:
        grace = old_grace

    def images(items: list[Any], old_items: list[Any]) -> list[Any]:
        return [dp.copy_with(c, {"image": o.image}) for c, o in zip(items, old_items, strict=True)]

    munged = dp.copy_with(
        spec,
        {
            "containers": images(spec.containers, old_spec.containers),
            "init_containers": images(spec.init_containers, old_spec.init_containers),
            "active_deadline_seconds": old_deadline,
            "tolerations": old_spec.tolerations,
            "scheduling_gates": old_spec.scheduling_gates,
            "termination_grace_period_seconds": grace,
        },
    )
    if munged != old_spec:
        changed = [
            _meta.wire_name(a)
            for a in _meta.model_fields(cp.PodSpec)
            if getattr(munged, a.name) != getattr(old_spec, a.name)
        ]
        detail = f"pod updates may not change fields other than {POD_UPDATABLE}"
        causes.append(fv.forbidden("spec", f"{detail}\nchanged: {', '.join(changed)}"))


# -- services, configuration, storage ------------------------------------------------------


def _service(new: cn.Service, old: cn.Service, causes: Causes) -> None:
    external = "ExternalName" in (new.spec.type, old.spec.type)
    if old.spec.cluster_ip and not external and new.spec.cluster_ip != old.spec.cluster_ip:
        causes.append(fv.invalid("spec.clusterIP", new.spec.cluster_ip, vc.IMMUTABLE))


def _frozen_data(new: Any, old: Any, fields: tuple[str, ...], causes: Causes) -> None:
    if not old.immutable:
        return
    if not new.immutable:
        causes.append(fv.forbidden("immutable", "field is immutable when `immutable` is set"))
    if any(getattr(new, name) != getattr(old, name) for name in fields):
        causes.append(fv.forbidden("data", "field is immutable when `immutable` is set"))


def _config_map(new: co.ConfigMap, old: co.ConfigMap, causes: Causes) -> None:
    _frozen_data(new, old, ("data", "binary_data"), causes)


def _secret(new: co.Secret, old: co.Secret, causes: Causes) -> None:
    _immutable(new.type or "Opaque", old.type or "Opaque", "type", causes)
    _frozen_data(new, old, ("data", "string_data"), causes)


def _claim(new: cv.PersistentVolumeClaim, old: cv.PersistentVolumeClaim, causes: Causes) -> None:
    spec, old_spec = new.spec, old.spec
    changes: dict[str, Any] = {
        "resources": old_spec.resources,
        "volume_attributes_class_name": old_spec.volume_attributes_class_name,
    }
    if not old_spec.volume_name:
        changes["volume_name"] = spec.volume_name
    if dp.copy_with(spec, changes) != old_spec:
        detail = (
            "spec is immutable after creation except resources.requests and "
            "volumeAttributesClassName for bound claims"
        )
        causes.append(fv.forbidden("spec", detail))
    new_size = spec.resources.requests.get("storage")
    old_size = old_spec.resources.requests.get("storage")
    if new_size is not None and old_size is not None:
        parsed_new = vc.quantity(new_size, "spec.resources.requests[storage]", [])
        parsed_old = vc.quantity(old_size, "spec.resources.requests[storage]", [])
        if parsed_new is not None and parsed_old is not None and parsed_new < parsed_old:
            detail = "field can not be less than previous value"
            causes.append(fv.forbidden("spec.resources.requests.storage", detail))


def _binding(new: Any, old: Any, causes: Causes) -> None:
    if new.role_ref != old.role_ref:
        causes.append(fv.invalid("roleRef", vc.wire(new.role_ref), "cannot change roleRef"))


def _crd(
    new: ext.CustomResourceDefinition, old: ext.CustomResourceDefinition, causes: Causes
) -> None:
    _immutable(new.spec.group, old.spec.group, "spec.group", causes)
    _immutable(new.spec.scope, old.spec.scope, "spec.scope", causes)


_RULES: Final[dict[type, Callable[[Any, Any, Causes], None]]] = {
    _apps.Deployment: _selector_immutable,
    _apps.ReplicaSet: _selector_immutable,
    _apps.DaemonSet: _selector_immutable,
    _apps.StatefulSet: _stateful_set,
    _batch.Job: _job,
    cp.Pod: _pod,
    cn.Service: _service,
    co.ConfigMap: _config_map,
    co.Secret: _secret,
    cv.PersistentVolumeClaim: _claim,
    _misc.RoleBinding: _binding,
    _misc.ClusterRoleBinding: _binding,
    ext.CustomResourceDefinition: _crd,
}


def update_causes(new: Any, old: Any) -> Causes:
    """The immutable-field causes of replacing ``old`` by ``new`` (same class)."""
    causes: Causes = []
    metadata = getattr(new, "metadata", None)
    old_metadata = getattr(old, "metadata", None)
    if isinstance(metadata, _meta.ObjectMeta) and isinstance(old_metadata, _meta.ObjectMeta):
        _meta_update(metadata, old_metadata, causes)
    rule = _RULES.get(new.__class__)
    if rule is not None:
        rule(new, old, causes)
    return causes
