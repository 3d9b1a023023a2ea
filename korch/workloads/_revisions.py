"""ControllerRevisions: the template history of StatefulSets and DaemonSets.

A revision is an immutable ``apps/v1`` ControllerRevision owned by the workload, named
``<workload>-<hash>`` (the hash of the pod template and the workload's
``collisionCount``, as :func:`korch.workloads._deployment_rules.pod_template_hash`),
labelled with the workload's selector labels and ``controller.kubernetes.io/hash``, whose
``data`` is ``{"spec": {"template": <template>}}`` and whose ``revision`` number grows by
one per new template. Going back to an earlier template re-uses its revision object and
gives it the next number (``kubectl rollout undo`` for StatefulSets and DaemonSets works so).

Pods carry the name of the revision they were made from in the
``controller-revision-hash`` label. Old revisions beyond ``revisionHistoryLimit`` (default
10) that no pod uses are deleted, lowest numbers first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _apps, _codec, _core_pod, _meta
from korch.client import Client
from korch.workloads import _common
from korch.workloads import _deployment_rules as rules

__all__ = ("REVISION_LABEL", "Revisions", "sync_revisions")

REVISION_LABEL: Final = "controller-revision-hash"
HASH_LABEL: Final = "controller.kubernetes.io/hash"


@attrs.frozen
class Revisions:
    """The revision objects of a workload, and which one its template is now."""

    update: _apps.ControllerRevision
    all: list[_apps.ControllerRevision]


def template_of(revision: _apps.ControllerRevision) -> _core_pod.PodTemplateSpec:
    """The pod template a revision holds."""
    data = revision.data or {}
    return _codec.from_dict(data.get("spec", {}).get("template", {}), _core_pod.PodTemplateSpec)


async def list_revisions(reader: _common.Reader, owner: Any) -> list[_apps.ControllerRevision]:
    """The revisions ``owner`` controls."""
    return [
        r
        for r in await reader.list(_apps.ControllerRevision, namespace=owner.metadata.namespace)
        if (ref := _common.controller_ref(r)) is not None and ref.uid == owner.metadata.uid
    ]


async def sync_revisions(
    client: Client,
    owner: Any,
    revisions: Sequence[_apps.ControllerRevision],
) -> Revisions:
    """Find or create the revision of ``owner``'s current template.

    Raises:
        korch.errors.Conflict: a revision name is taken by another template (the caller
            should bump ``collisionCount`` and retry).
    """
    template = owner.spec.template
    latest = max((r.revision for r in revisions), default=0)
    everyone = list(revisions)
    for revision in sorted(revisions, key=lambda r: r.revision, reverse=True):
        if rules.templates_equal(template_of(revision), template):
            if revision.revision != latest:
                patch = {
                    "metadata": {"resourceVersion": revision.metadata.resource_version},
                    "revision": latest + 1,
                }
                revision = await client.patch(
                    _apps.ControllerRevision,
                    revision.metadata.name,
                    patch,
                    namespace=revision.metadata.namespace,
                    type="merge",
                )
                everyone = [r for r in everyone if r.metadata.uid != revision.metadata.uid]
                everyone.append(revision)
            return Revisions(revision, everyone)
    template_hash = rules.pod_template_hash(template, owner.status.collision_count)
    selector = owner.spec.selector or _meta.LabelSelector()
    labels = dict(selector.match_labels)
    labels[HASH_LABEL] = template_hash
    new = _apps.ControllerRevision(
        metadata=_meta.ObjectMeta(
            name=f"{owner.metadata.name}-{template_hash}",
            namespace=owner.metadata.namespace,
            labels=labels,
            owner_references=[_common.owner_reference(owner)],
        ),
        data={"spec": {"template": _codec.to_dict(template)}},
        revision=latest + 1,
    )
    try:
        created = await client.create(new)
    except errors.AlreadyExists:
        existing = await client.get(
            _apps.ControllerRevision, new.metadata.name, namespace=owner.metadata.namespace
        )
        ref = _common.controller_ref(existing)
        if (
            ref is not None
            and ref.uid == owner.metadata.uid
            and rules.templates_equal(template_of(existing), template)
        ):
            return Revisions(existing, [*everyone, existing])
        raise errors.Conflict(
            f"ControllerRevision {new.metadata.name!r} exists with another template"
        ) from None
    return Revisions(created, [*everyone, created])


async def truncate_history(
    client: Client,
    owner: Any,
    revisions: Sequence[_apps.ControllerRevision],
    in_use: set[str],
) -> None:
    """Delete unused revisions beyond ``spec.revisionHistoryLimit`` (default 10)."""
    limit = owner.spec.revision_history_limit
    limit = 10 if limit is None else limit
    unused = sorted(
        (r for r in revisions if r.metadata.name not in in_use), key=lambda r: r.revision
    )
    for revision in unused[: max(len(unused) - limit, 0)]:
        with contextlib.suppress(errors.NotFound):
            await client.delete(
                _apps.ControllerRevision,
                revision.metadata.name,
                namespace=revision.metadata.namespace,
            )
