"""The Deployment controller's rules as pure functions over ReplicaSets (``deploymentutil``).

* **pod-template-hash** — :func:`pod_template_hash` is FNV-1a (32 bit) over the template's
  canonical JSON (keys sorted) plus the deployment's ``collisionCount``, its decimal digits
  spelled in Kubernetes' safe alphabet (no vowels, no look-alikes), so names look like
  ``web-6d4cf56db6``. The new ReplicaSet of a deployment is the oldest one whose template
  equals the deployment's, the ``pod-template-hash`` label aside (:func:`find_new_replica_set`).
* **fenceposts** — ``maxSurge`` rounds **up**, ``maxUnavailable`` rounds **down**; when both
  resolve to 0, one pod may be unavailable (:func:`resolve_fenceposts`).
* **rolling update** — the new set grows while all sets' ``spec.replicas`` stay within
  ``replicas + maxSurge`` (:func:`new_replica_set_replicas`); old sets shrink while the
  available pods stay at least ``replicas - maxUnavailable``, unhealthy old pods first
  (:func:`old_replica_sets_scale_down`).
* **proportional scaling** — resizing a deployment mid-rollout spreads the change over the
  active sets in proportion to their size (:func:`proportional_scale`), using the
  ``deployment.kubernetes.io/max-replicas`` annotation each set carries.
* **revisions** — each new template gets ``max(old revisions) + 1`` in
  ``deployment.kubernetes.io/revision``; :func:`rollback_template` is what
  ``kubectl rollout undo [--to-revision=N]`` applies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _apps, _codec, _core_pod, _quantity

__all__ = (
    "DESIRED_REPLICAS_ANNOTATION",
    "MAX_REPLICAS_ANNOTATION",
    "POD_TEMPLATE_HASH_LABEL",
    "REVISION_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "deployment_complete",
    "find_new_replica_set",
    "is_saturated",
    "max_revision",
    "max_surge",
    "max_unavailable",
    "new_replica_set_replicas",
    "old_replica_sets_scale_down",
    "pod_template_hash",
    "proportional_scale",
    "resolve_fenceposts",
    "revision_of",
    "rollback_template",
    "templates_equal",
)

POD_TEMPLATE_HASH_LABEL: Final = "pod-template-hash"
REVISION_ANNOTATION: Final = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION: Final = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION: Final = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION: Final = "deployment.kubernetes.io/max-replicas"
#: annotations of a deployment that are not copied onto its ReplicaSets
SKIPPED_ANNOTATIONS: Final = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        "deprecated.deployment.rollback.to",
    }
)
_SAFE_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET: Final = 0x811C9DC5
_FNV_PRIME: Final = 0x01000193


def _fnv1a(data: bytes, state: int = _FNV_OFFSET) -> int:
    for byte in data:
        state = ((state ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return state


def pod_template_hash(
    template: _core_pod.PodTemplateSpec, collision_count: int | None = None
) -> str:
    """A short, stable name suffix for ``template`` (see the module docstring)."""
    canonical = json.dumps(_codec.to_dict(template), sort_keys=True, separators=(",", ":"))
    state = _fnv1a(canonical.encode())
    if collision_count is not None:
        state = _fnv1a(collision_count.to_bytes(8, "little"), state)
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(state))


def _without_hash(template: _core_pod.PodTemplateSpec) -> dict[str, Any]:
    wire = _codec.to_dict(template)
    labels = wire.get("metadata", {}).get("labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
        if not labels:
            del wire["metadata"]["labels"]
    if "metadata" in wire and not wire["metadata"]:
        del wire["metadata"]
    return wire


def templates_equal(a: _core_pod.PodTemplateSpec, b: _core_pod.PodTemplateSpec) -> bool:
    """Whether two templates are equal, ignoring the ``pod-template-hash`` label."""
    return _without_hash(a) == _without_hash(b)


def revision_of(obj: Any) -> int:
    """The ``deployment.kubernetes.io/revision`` annotation as an int (0 when absent/bad)."""
    try:
        return int(obj.metadata.annotations.get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def max_revision(replica_sets: Sequence[_apps.ReplicaSet]) -> int:
    """The highest revision among ``replica_sets`` (0 for none)."""
    return max((revision_of(rs) for rs in replica_sets), default=0)


def replicas_of(obj: Any) -> int:
    """``spec.replicas``, defaulted to 1 (as the API server would have)."""
    replicas = obj.spec.replicas
    return 1 if replicas is None else int(replicas)


def _creation(obj: Any) -> tuple[float, str]:
    created = obj.metadata.creation_timestamp
    return (created.timestamp() if created else 0.0, obj.metadata.name)


def find_new_replica_set(
    deployment: _apps.Deployment, replica_sets: Sequence[_apps.ReplicaSet]
) -> _apps.ReplicaSet | None:
    """The oldest set whose template equals the deployment's (``FindNewReplicaSet``)."""
    want = _without_hash(deployment.spec.template)
    for rs in sorted(replica_sets, key=_creation):
        if _without_hash(rs.spec.template) == want:
            return rs
    return None


# -- fenceposts ------------------------------------------------------------------------


def is_rolling_update(deployment: _apps.Deployment) -> bool:
    """Whether the strategy is RollingUpdate (the default)."""
    return deployment.spec.strategy.type in ("", "RollingUpdate")


def resolve_fenceposts(
    surge: int | str | None, unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` as pod counts of ``desired``.

    Raises:
        korch.errors.BadRequest: a value is neither an int nor a percentage.
    """
    surge_count = _quantity.parse_int_or_percent(
        "25%" if surge is None else surge, desired, round_up=True
    )
    unavailable_count = _quantity.parse_int_or_percent(
        "25%" if unavailable is None else unavailable, desired, round_up=False
    )
    if surge_count == 0 and unavailable_count == 0:
        unavailable_count = 1  # otherwise the rollout could never start
    return surge_count, unavailable_count


def _fenceposts(deployment: _apps.Deployment) -> tuple[int, int]:
    rolling = deployment.spec.strategy.rolling_update
    surge = rolling.max_surge if rolling else None
    unavailable = rolling.max_unavailable if rolling else None
    return resolve_fenceposts(surge, unavailable, replicas_of(deployment))


def max_surge(deployment: _apps.Deployment) -> int:
    """How many pods above ``replicas`` a rolling update may run (0 for Recreate)."""
    return _fenceposts(deployment)[0] if is_rolling_update(deployment) else 0


def max_unavailable(deployment: _apps.Deployment) -> int:
    """How many of ``replicas`` may be unavailable (0 for Recreate or 0 replicas)."""
    replicas = replicas_of(deployment)
    if not is_rolling_update(deployment) or replicas == 0:
        return 0
    return min(_fenceposts(deployment)[1], replicas)


# -- rolling update arithmetic ------------------------------------------------------------


def new_replica_set_replicas(
    deployment: _apps.Deployment,
    all_replica_sets: Sequence[_apps.ReplicaSet],
    new_rs: _apps.ReplicaSet | None,
) -> int:
    """The size the new set may have now (``NewRSNewReplicas``)."""
    replicas = replicas_of(deployment)
    if not is_rolling_update(deployment):
        return replicas
    new_replicas = replicas_of(new_rs) if new_rs is not None else 0
    current = sum(replicas_of(rs) for rs in all_replica_sets)
    allowed_total = replicas + max_surge(deployment)
    if current >= allowed_total:
        return new_replicas
    scale_up = min(allowed_total - current, replicas - new_replicas)
    return new_replicas + max(scale_up, 0)


def old_replica_sets_scale_down(
    deployment: _apps.Deployment,
    all_replica_sets: Sequence[_apps.ReplicaSet],
    old_replica_sets: Sequence[_apps.ReplicaSet],
    new_rs: _apps.ReplicaSet | None,
) -> dict[str, int]:
    """New sizes of old sets for one rolling-update step (``reconcileOldReplicaSets``).

    First unhealthy old pods (``spec.replicas - availableReplicas``) go, oldest sets first,
    within ``total - minAvailable - newUnavailable``; then available old pods, while the
    available total stays at least ``replicas - maxUnavailable``. Returns ``{name: size}``
    for the sets that change.
    """
    old = sorted((rs for rs in old_replica_sets if replicas_of(rs) > 0), key=_creation)
    if not old:
        return {}
    sizes = {rs.metadata.name: replicas_of(rs) for rs in all_replica_sets}
    available = {rs.metadata.name: rs.status.available_replicas for rs in all_replica_sets}
    min_available = replicas_of(deployment) - max_unavailable(deployment)
    new_unavailable = 0
    if new_rs is not None:
        new_unavailable = max(replicas_of(new_rs) - new_rs.status.available_replicas, 0)
    max_scaled_down = sum(sizes.values()) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    changed: dict[str, int] = {}
    cleaned = 0
    for rs in old:
        if cleaned >= max_scaled_down:
            break
        name = rs.metadata.name
        unhealthy = sizes[name] - available[name]
        if unhealthy <= 0:
            continue
        step = min(unhealthy, max_scaled_down - cleaned)
        sizes[name] -= step
        changed[name] = sizes[name]
        cleaned += step
    # then available old pods, keeping minAvailable
    to_scale = sum(available.values()) - min_available
    for rs in old:
        if to_scale <= 0:
            break
        name = rs.metadata.name
        if sizes[name] == 0:
            continue
        step = min(sizes[name], to_scale)
        sizes[name] -= step
        changed[name] = sizes[name]
        to_scale -= step
    return changed


def is_saturated(deployment: _apps.Deployment, new_rs: _apps.ReplicaSet | None) -> bool:
    """The new set has all replicas, is annotated with them, and all are available."""
    if new_rs is None:
        return False
    replicas = replicas_of(deployment)
    desired = new_rs.metadata.annotations.get(DESIRED_REPLICAS_ANNOTATION)
    return (
        replicas_of(new_rs) == replicas
        and desired == str(replicas)
        and new_rs.status.available_replicas == replicas
    )


def _round_half_away(value: float) -> int:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def proportional_scale(
    deployment: _apps.Deployment,
    new_rs: _apps.ReplicaSet | None,
    old_replica_sets: Sequence[_apps.ReplicaSet],
) -> dict[str, int]:
    """New sizes of the sets after the deployment was resized (``dc.scale``).

    One active set (or none: the newest) simply gets ``replicas``; a saturated new set
    retires the old ones; otherwise the difference to ``replicas + maxSurge`` is shared in
    proportion to each active set's size, leftovers to the first (largest) set.
    """
    replicas = replicas_of(deployment)
    everyone = ([new_rs] if new_rs is not None else []) + list(old_replica_sets)
    if not everyone:
        return {}
    active = [rs for rs in everyone if replicas_of(rs) > 0]
    if len(active) <= 1:
        if active:
            target = active[0]
        elif new_rs is not None:
            target = new_rs
        else:
            target = max(old_replica_sets, key=_creation)
        if replicas_of(target) == replicas:
            return {}
        return {target.metadata.name: replicas}
    if is_saturated(deployment, new_rs):
        return {rs.metadata.name: 0 for rs in old_replica_sets if replicas_of(rs) > 0}
    if not is_rolling_update(deployment):
        return {}
    surge = max_surge(deployment)
    allowed = replicas + surge if replicas > 0 else 0
    to_add = allowed - sum(replicas_of(rs) for rs in active)
    if to_add == 0:
        return {}
    created = {rs.metadata.name: _creation(rs) for rs in active}
    if to_add > 0:  # biggest first, newer first among equals
        active.sort(key=lambda rs: created[rs.metadata.name], reverse=True)
        active.sort(key=replicas_of, reverse=True)
    else:  # biggest first, older first among equals
        active.sort(key=lambda rs: created[rs.metadata.name])
        active.sort(key=replicas_of, reverse=True)
    sizes: dict[str, int] = {}
    added = 0
    for rs in active:
        proportion = 0
        if to_add != added:
            if replicas == 0:
                fraction = -replicas_of(rs)
            else:
                annotated = _max_replicas(rs, deployment)
                scaled = replicas_of(rs) * (replicas + surge) / annotated if annotated else 0.0
                fraction = _round_half_away(scaled) - replicas_of(rs)
            remaining = to_add - added
            proportion = min(fraction, remaining) if to_add > 0 else max(fraction, remaining)
        sizes[rs.metadata.name] = replicas_of(rs) + proportion
        added += proportion
    first = active[0].metadata.name
    sizes[first] = max(sizes[first] + to_add - added, 0)
    return dict(sizes.items())


def _max_replicas(rs: _apps.ReplicaSet, deployment: _apps.Deployment) -> int:
    try:
        return int(rs.metadata.annotations[MAX_REPLICAS_ANNOTATION])
    except (KeyError, ValueError):
        return deployment.status.replicas


# -- completion and rollback --------------------------------------------------------------


def deployment_complete(deployment: _apps.Deployment, status: _apps.DeploymentStatus) -> bool:
    """Every replica updated and available, no old pods, the newest spec observed."""
    replicas = replicas_of(deployment)
    return (
        status.updated_replicas == replicas
        and status.replicas == replicas
        and status.available_replicas == replicas
        and status.observed_generation >= deployment.metadata.generation
    )


def rollback_template(
    deployment: _apps.Deployment,
    replica_sets: Sequence[_apps.ReplicaSet],
    to_revision: int = 0,
) -> _core_pod.PodTemplateSpec:
    """The template ``kubectl rollout undo --to-revision`` puts back (0: the previous one).

    Raises:
        korch.errors.NotFound: no ReplicaSet of the deployment has that revision (or there
            is no previous revision).
    """
    by_revision = {revision_of(rs): rs for rs in replica_sets if revision_of(rs) > 0}
    if to_revision == 0:
        current = revision_of(deployment)
        previous = sorted(r for r in by_revision if r != current)
        if not previous:
            raise errors.NotFound(
                f"no rollout history found for deployment {deployment.metadata.name!r}"
            )
        to_revision = previous[-1]
    rs = by_revision.get(to_revision)
    if rs is None:
        raise errors.NotFound(
            f"unable to find specified revision {to_revision} in history of deployment "
            f"{deployment.metadata.name!r}"
        )
    labels = dict(rs.spec.template.metadata.labels)
    labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    metadata = attrs.evolve(rs.spec.template.metadata, labels=labels)
    return attrs.evolve(rs.spec.template, metadata=metadata)
