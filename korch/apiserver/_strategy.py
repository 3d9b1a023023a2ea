"""Per-kind rules of create, update and delete (kube-apiserver's "REST strategies").

A :class:`Strategy` says, for one kind, what kube-apiserver's ``PrepareForCreate`` /
``PrepareForUpdate`` / ``CheckGracefulDelete`` do:

* **generation** — kinds that track ``metadata.generation`` start at 1 and bump it when
  the spec changes (Deployments also on annotation changes; custom resources on any change
  outside ``metadata`` and ``status``), never for status or metadata-only writes; every
  kind with a generation bumps it when ``deletionTimestamp`` is first set;
* **status subresource** — for kinds that have one, a main-resource write keeps the stored
  ``status`` and a status write keeps everything but ``status`` and (for built-in kinds,
  as their status strategies allow) ``metadata``, minus per-kind exceptions (a Deployment's
  status write cannot change its labels, a Pod's not its ownerReferences); a custom
  resource's status write changes only ``status``. A create resets ``status`` (Nodes keep
  theirs; Pods start ``Pending``);
* **unconditional update** — an update without ``resourceVersion`` is allowed for built-in
  kinds and refused for custom resources;
* **graceful deletion** — only Pods (:func:`korch.apiserver._kinds.pod_grace_period`);
* **scale** — where ``spec.replicas``, ``status.replicas`` and the selector live.

:func:`strategy_for` finds a kind's strategy: an explicit entry of :data:`STRATEGIES`, the
built-in default for other built-in kinds, the custom-resource default for everything else.
CRD serving registers its kinds' strategies on the server (``APIServer.register_strategy``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from korch.api import _defaults_pod, _generic, _registry
from korch.apiserver import _kinds

__all__ = (
    "BUILTIN",
    "CUSTOM_RESOURCE",
    "STRATEGIES",
    "ScalePaths",
    "Strategy",
    "carry_system_metadata",
    "part",
    "prepare_for_create",
    "prepare_for_update",
    "strategy_for",
    "with_part",
)

_MISSING: Final = object()


@attrs.frozen(kw_only=True)
class ScalePaths:
    """Where a scalable kind keeps its replicas and selector (wire-format paths).

    ``selector`` points at a ``metav1.LabelSelector`` (built-ins: ``spec.selector``) or,
    with ``selector_is_string``, at a selector string (a CRD's ``labelSelectorPath``).
    """

    spec_replicas: tuple[str, ...] = ("spec", "replicas")
    status_replicas: tuple[str, ...] = ("status", "replicas")
    selector: tuple[str, ...] | None = ("spec", "selector")
    selector_is_string: bool = False


@attrs.frozen(kw_only=True)
class Strategy:
    """How the server treats one kind (see the module docstring)."""

    generation: bool = False
    generation_on_annotations: bool = False
    generation_on_any_change: bool = False
    reset_status_on_create: bool = True
    status_writes_metadata: bool = True
    status_keeps_old_metadata: tuple[str, ...] = ()
    allow_unconditional_update: bool = True
    graceful_delete: Callable[[Any, int | None], int] | None = None
    prepare_create: Callable[[Any], Any] | None = None
    prepare_update: Callable[[Any, Any, str], Any] | None = None
    scale: ScalePaths | None = None
    selectable_fields: tuple[str, ...] = ()


BUILTIN: Final = Strategy()
CUSTOM_RESOURCE: Final = Strategy(
    generation=True,
    generation_on_any_change=True,
    status_writes_metadata=False,
    allow_unconditional_update=False,
)
_TRACKED: Final = Strategy(generation=True)
_SCALED: Final = Strategy(generation=True, scale=ScalePaths())

#: Built-in kinds with rules of their own, by (group, kind).
STRATEGIES: Final[dict[tuple[str, str], Strategy]] = {
    ("", "Pod"): Strategy(
        generation=True,
        status_keeps_old_metadata=("owner_references",),
        graceful_delete=_kinds.pod_grace_period,
        prepare_create=_kinds.prepare_pod_create,
    ),
    ("", "Node"): Strategy(reset_status_on_create=False),
    ("", "Namespace"): Strategy(
        prepare_create=_kinds.prepare_namespace_create,
        prepare_update=_kinds.prepare_namespace_update,
    ),
    ("", "ReplicationController"): _SCALED,
    ("apps", "Deployment"): Strategy(
        generation=True,
        generation_on_annotations=True,
        status_keeps_old_metadata=("labels",),
        scale=ScalePaths(),
    ),
    ("apps", "ReplicaSet"): _SCALED,
    ("apps", "StatefulSet"): _SCALED,
    ("apps", "DaemonSet"): _TRACKED,
    ("batch", "Job"): _TRACKED,
    ("batch", "CronJob"): _TRACKED,
    ("policy", "PodDisruptionBudget"): _TRACKED,
    ("networking.k8s.io", "Ingress"): _TRACKED,
    ("networking.k8s.io", "NetworkPolicy"): _TRACKED,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _TRACKED,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _TRACKED,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _TRACKED,
}

_BUILTIN_KINDS: Final = frozenset((rt.group, rt.kind) for rt in _registry.builtin_resource_types())


def strategy_for(
    rt: _registry.ResourceType, overrides: Mapping[tuple[str, str], Strategy] | None = None
) -> Strategy:
    """The strategy of ``rt``: ``overrides``, then :data:`STRATEGIES`, then a default."""
    key = (rt.group, rt.kind)
    if overrides is not None and key in overrides:
        return overrides[key]
    found = STRATEGIES.get(key)
    if found is not None:
        return found
    return BUILTIN if key in _BUILTIN_KINDS else CUSTOM_RESOURCE


# -- parts of typed and generic objects ---------------------------------------------------


def part(obj: Any, name: str) -> Any:
    """Top-level field ``name`` (``spec``, ``status``…) of a typed or generic object.

    Returns a private sentinel when the kind has no such field (test with :func:`has_part`).
    """
    if isinstance(obj, _generic.GenericResource):
        return obj.body.get(name, _MISSING)
    return getattr(obj, name, _MISSING)


def has_part(value: Any) -> bool:
    """Whether a :func:`part` result is a real field value."""
    return value is not _MISSING


def with_part(obj: Any, name: str, value: Any) -> Any:
    """``obj`` with top-level field ``name`` set to ``value`` (removed from a generic
    object when ``value`` is the :func:`part` sentinel); a no-op if the kind lacks it."""
    if isinstance(obj, _generic.GenericResource):
        body = dict(obj.body)
        if value is _MISSING:
            body.pop(name, None)
        else:
            body[name] = value
        return attrs.evolve(obj, body=body)
    if value is _MISSING or name not in attrs.fields_dict(type(obj)):
        return obj
    return attrs.evolve(obj, **{name: value})


def _empty_status(obj: Any) -> Any:
    if isinstance(obj, _generic.GenericResource):
        return _MISSING
    cls = type(obj)
    status = _DEFAULT_STATUS.get(cls)
    if status is None:
        fields = attrs.fields_dict(cls)
        # every kind builds with its defaults; the status is frozen, so it is shareable
        status = _DEFAULT_STATUS[cls] = cls().status if "status" in fields else _MISSING
    return status


_DEFAULT_STATUS: dict[type, Any] = {}


def _content(obj: Any) -> Any:
    """Everything but metadata and status (what a custom resource's generation tracks)."""
    if isinstance(obj, _generic.GenericResource):
        return {k: v for k, v in obj.body.items() if k != "status"}
    names = [f.name for f in attrs.fields(type(obj))]
    return [getattr(obj, n) for n in names if n not in ("metadata", "status")]


# -- create and update ------------------------------------------------------------------


def prepare_for_create(rt: _registry.ResourceType, strategy: Strategy, obj: Any) -> Any:
    """``obj`` as a create stores it: status reset, kind rules applied, generation 1."""
    if strategy.reset_status_on_create and "status" in rt.subresources:
        obj = with_part(obj, "status", _empty_status(obj))
    if strategy.prepare_create is not None:
        obj = strategy.prepare_create(obj)
    if strategy.generation:
        metadata = _defaults_pod.copy_with(obj.metadata, {"generation": 1})
        obj = _defaults_pod.copy_with(obj, {"metadata": metadata})
    return obj


def carry_system_metadata(new: Any, old: Any) -> Any:
    """Fields an update cannot change (kube-apiserver's ``BeforeUpdate``): generation (the
    strategy bumps it), creationTimestamp, deletionTimestamp, and an unset uid or
    deletionGracePeriodSeconds taken from the stored object."""
    meta, old_meta = new.metadata, old.metadata
    grace = meta.deletion_grace_period_seconds
    if old_meta.deletion_grace_period_seconds is not None and grace is None:
        grace = old_meta.deletion_grace_period_seconds
    return attrs.evolve(
        new,
        metadata=attrs.evolve(
            meta,
            uid=meta.uid or old_meta.uid,
            generation=old_meta.generation,
            creation_timestamp=old_meta.creation_timestamp,
            deletion_timestamp=old_meta.deletion_timestamp,
            deletion_grace_period_seconds=grace,
        ),
    )


def _status_write(strategy: Strategy, new: Any, old: Any) -> Any:
    result = with_part(old, "status", part(new, "status"))
    if not strategy.status_writes_metadata:
        metadata = attrs.evolve(old.metadata, managed_fields=new.metadata.managed_fields)
    else:
        kept = {name: getattr(old.metadata, name) for name in strategy.status_keeps_old_metadata}
        metadata = attrs.evolve(new.metadata, **kept)
    return attrs.evolve(result, metadata=metadata)


def prepare_for_update(
    rt: _registry.ResourceType, strategy: Strategy, new: Any, old: Any, subresource: str = ""
) -> Any:
    """``new`` as an update of ``old`` through ``subresource`` stores it.

    Args:
        rt: the resource type.
        strategy: its strategy.
        new: the object the request sends (after :func:`carry_system_metadata`).
        old: the stored object.
        subresource: ``""`` (main resource), ``"status"``, ``"scale"`` or ``"finalize"``.

    Returns:
        The object to validate and store, with the generation bumped if its spec changed.
    """
    has_status = "status" in rt.subresources
    if subresource == "status":
        new = _status_write(strategy, new, old)
    elif has_status and subresource in ("", "scale"):
        new = with_part(new, "status", part(old, "status"))
    if strategy.prepare_update is not None:
        new = strategy.prepare_update(new, old, subresource)
    if strategy.generation and subresource != "status" and _spec_changed(strategy, new, old):
        new = attrs.evolve(
            new, metadata=attrs.evolve(new.metadata, generation=old.metadata.generation + 1)
        )
    return new


def _spec_changed(strategy: Strategy, new: Any, old: Any) -> bool:
    if strategy.generation_on_any_change:
        return bool(_content(new) != _content(old))
    if strategy.generation_on_annotations and new.metadata.annotations != old.metadata.annotations:
        return True
    return bool(part(new, "spec") != part(old, "spec"))
