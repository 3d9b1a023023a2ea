"""What every workload controller shares: keys, results, the reader, pods and owners.

Reconcilers here are level-triggered: ``await reconciler.reconcile(key)`` looks at the
current state of one object (``key`` is ``"namespace/name"``, or ``"name"`` for
cluster-scoped kinds) and acts; it never sees an event type. They read through a
:class:`Reader` — the framework's informer cache, or :class:`ClientReader` (live lists
through a client) — and write through a :class:`korch.client.Client`. Time comes from a
:class:`korch.clock.Clock` only.

A reconcile returns a :class:`Result`: ``requeue_after`` asks to be called again for the
same key after that many seconds (a back-off, a minReadySeconds wait, a progress
deadline, the next cron time). Failures are exceptions (``korch.errors.APIError``): the
framework retries them with its own back-off.

Pod helpers follow Kubernetes' ``podutil``: a pod is *active* while it is not finished
and not being deleted, *ready* when its ``Ready`` condition is ``True``, and *available*
once it has been ready for ``minReadySeconds``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

import attrs

from korch import errors
from korch.api import _core_pod, _meta, _selector
from korch.client import Client

__all__ = (
    "ClientReader",
    "Reader",
    "Result",
    "join_key",
    "split_key",
)

T = TypeVar("T")


@attrs.frozen
class Result:
    """What a reconcile asks of the framework: call again after ``requeue_after`` seconds."""

    requeue_after: float | None = None

    @staticmethod
    def sooner(*results: Result | None) -> Result:
        """The result that requeues first (``None`` entries and no-requeue results ignored)."""
        delays = [r.requeue_after for r in results if r is not None and r.requeue_after is not None]
        return Result(min(delays)) if delays else Result()


def split_key(key: str) -> tuple[str, str]:
    """``"ns/name"`` -> ``("ns", "name")``; ``"name"`` -> ``("", "name")``.

    Raises:
        korch.errors.BadRequest: an empty name or more than one ``/``.
    """
    namespace, _, name = key.rpartition("/")
    if not name or "/" in namespace:
        raise errors.BadRequest(f"invalid reconcile key {key!r}: want 'namespace/name' or 'name'")
    return namespace, name


def join_key(namespace: str, name: str) -> str:
    """The reconcile key of an object (``"ns/name"``, or ``"name"`` when cluster-scoped)."""
    return f"{namespace}/{name}" if namespace else name


class Reader(Protocol):
    """Read access to cluster state: what a reconciler looks at (an informer cache or a client)."""

    async def get(self, kind: type[T], name: str, *, namespace: str = "") -> T | None:
        """One object, or ``None`` when it does not exist."""
        ...

    async def list(
        self,
        kind: type[T],
        *,
        namespace: str | None = None,
        selector: _selector.Selector | None = None,
    ) -> list[T]:
        """Objects of a kind in ``namespace`` (all when ``None``) matching ``selector``."""
        ...


class ClientReader:
    """A :class:`Reader` answering with live reads through a client (no cache)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def get(self, kind: type[T], name: str, *, namespace: str = "") -> T | None:
        try:
            return await self.client.get(kind, name, namespace=namespace or None)
        except errors.NotFound:
            return None

    async def list(
        self,
        kind: type[T],
        *,
        namespace: str | None = None,
        selector: _selector.Selector | None = None,
    ) -> list[T]:
        text = "" if selector is None else str(selector)
        if selector is not None and selector == _selector.Selector.nothing():
            return []
        listed = await self.client.list(kind, namespace=namespace, label_selector=text)
        return list(listed.items)


# -- time --------------------------------------------------------------------------------


def to_datetime(seconds: float) -> datetime.datetime:
    """A clock reading as an aware UTC datetime, truncated to seconds (``metav1.Time``)."""
    return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)


def to_seconds(when: datetime.datetime) -> float:
    """An aware datetime as seconds since the epoch."""
    return when.timestamp()


# -- owners ------------------------------------------------------------------------------


def controller_ref(obj: Any) -> _meta.OwnerReference | None:
    """The ownerReference with ``controller: true``, if any (``metav1.GetControllerOf``)."""
    refs: list[_meta.OwnerReference] = obj.metadata.owner_references
    for ref in refs:
        if ref.controller:
            return ref
    return None


def owner_reference(owner: Any) -> _meta.OwnerReference:
    """A controller reference to ``owner`` (``controller`` and ``blockOwnerDeletion`` true)."""
    return _meta.OwnerReference(
        api_version=owner.api_version,
        kind=owner.kind,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


@attrs.frozen
class Claim:
    """How a controller's selector splits candidate objects (``ControllerRefManager``).

    ``owned``: controlled by the owner and matching; ``adopt``: orphans that match (to get a
    controller reference); ``release``: controlled by the owner but no longer matching
    (their reference is removed).
    """

    owned: list[Any]
    adopt: list[Any]
    release: list[Any]


def claim(owner: Any, selector: _selector.Selector, candidates: Iterable[Any]) -> Claim:
    """Split ``candidates`` into owned, to adopt and to release by ``owner``'s selector.

    An owner being deleted adopts nothing; objects being deleted are never adopted; objects
    controlled by someone else are left alone.
    """
    owned: list[Any] = []
    adopt: list[Any] = []
    release: list[Any] = []
    uid = owner.metadata.uid
    for obj in candidates:
        ref = controller_ref(obj)
        matches = selector.matches(obj.metadata.labels)
        if ref is not None:
            if ref.uid != uid:
                continue
            (owned if matches else release).append(obj)
        elif (
            matches
            and owner.metadata.deletion_timestamp is None
            and obj.metadata.deletion_timestamp is None
        ):
            adopt.append(obj)
    return Claim(owned, adopt, release)


async def adopt(client: Client, owner: Any, obj: Any) -> Any:
    """Add a controller reference to ``owner`` on ``obj`` (guarded by the object's uid)."""
    refs = [r for r in obj.metadata.owner_references if r.uid != owner.metadata.uid]
    refs.append(owner_reference(owner))
    patch = {
        "metadata": {
            "uid": obj.metadata.uid,
            "ownerReferences": [_ref_dict(r) for r in refs],
        }
    }
    return await client.patch(
        type(obj), obj.metadata.name, patch, namespace=obj.metadata.namespace, type="merge"
    )


async def release(client: Client, owner: Any, obj: Any) -> Any:
    """Remove ``owner``'s reference from ``obj`` (NotFound means it is gone: done)."""
    refs = [r for r in obj.metadata.owner_references if r.uid != owner.metadata.uid]
    patch = {"metadata": {"uid": obj.metadata.uid, "ownerReferences": [_ref_dict(r) for r in refs]}}
    try:
        return await client.patch(
            type(obj), obj.metadata.name, patch, namespace=obj.metadata.namespace, type="merge"
        )
    except errors.NotFound:
        return None


def _ref_dict(ref: _meta.OwnerReference) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "name": ref.name,
        "uid": ref.uid,
    }
    if ref.controller is not None:
        out["controller"] = ref.controller
    if ref.block_owner_deletion is not None:
        out["blockOwnerDeletion"] = ref.block_owner_deletion
    return out


def selector_of(obj: Any) -> _selector.Selector:
    """``obj.spec.selector`` as a Selector (``None`` selects nothing).

    Raises:
        korch.errors.BadRequest: the selector is malformed.
    """
    return _selector.label_selector_as_selector(obj.spec.selector)


# -- pods --------------------------------------------------------------------------------


def pod_condition(pod: _core_pod.Pod, type_: str) -> _core_pod.PodCondition | None:
    """The pod's condition of ``type_``, if any."""
    for condition in pod.status.conditions:
        if condition.type == type_:
            return condition
    return None


def is_pod_active(pod: _core_pod.Pod) -> bool:
    """Not Succeeded, not Failed and not being deleted (``controller.IsPodActive``)."""
    return pod.status.phase not in ("Succeeded", "Failed") and (
        pod.metadata.deletion_timestamp is None
    )


def is_pod_ready(pod: _core_pod.Pod) -> bool:
    """The pod's ``Ready`` condition is ``True``."""
    condition = pod_condition(pod, "Ready")
    return condition is not None and condition.status == "True"


def ready_since(pod: _core_pod.Pod) -> datetime.datetime | None:
    """When the pod became ready (its Ready condition's lastTransitionTime), if it is ready."""
    condition = pod_condition(pod, "Ready")
    if condition is None or condition.status != "True":
        return None
    return condition.last_transition_time


def is_pod_available(pod: _core_pod.Pod, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` at ``now`` (``podutil.IsPodAvailable``)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and to_seconds(since) + min_ready_seconds <= now


def available_in(pods: Iterable[_core_pod.Pod], min_ready_seconds: int, now: float) -> float | None:
    """Seconds until the next ready-but-not-yet-available pod becomes available, if any."""
    if min_ready_seconds <= 0:
        return None
    waits = []
    for pod in pods:
        since = ready_since(pod)
        if since is not None and pod.metadata.deletion_timestamp is None:
            remaining = to_seconds(since) + min_ready_seconds - now
            if remaining > 0:
                waits.append(remaining)
    return min(waits) if waits else None


def pod_from_template(
    template: _core_pod.PodTemplateSpec,
    owner: Any,
    *,
    generate_name: str = "",
    name: str = "",
    extra_labels: dict[str, str] | None = None,
) -> _core_pod.Pod:
    """A pod for ``owner`` from ``template``: its labels, annotations and a controller reference."""
    labels = dict(template.metadata.labels)
    labels.update(extra_labels or {})
    meta = _meta.ObjectMeta(
        name=name,
        generate_name="" if name else generate_name,
        namespace=owner.metadata.namespace,
        labels=labels,
        annotations=dict(template.metadata.annotations),
        finalizers=list(template.metadata.finalizers),
        owner_references=[owner_reference(owner)],
    )
    return _core_pod.Pod(metadata=meta, spec=template.spec)


def generate_name_prefix(name: str) -> str:
    """``<name>-``, shortened as ``names.SimpleNameGenerator`` does (63 - 5 characters)."""
    prefix = f"{name}-"
    return prefix if len(prefix) <= 58 else prefix[:58]


def newest_first(objs: Sequence[T]) -> list[T]:
    """Objects sorted by creationTimestamp, newest first (ties by name)."""
    return sorted(objs, key=_creation_key, reverse=True)


def oldest_first(objs: Sequence[T]) -> list[T]:
    """Objects sorted by creationTimestamp, oldest first (ties by name)."""
    return sorted(objs, key=_creation_key)


def _creation_key(obj: Any) -> tuple[float, str]:
    created = obj.metadata.creation_timestamp
    return (to_seconds(created) if created else 0.0, obj.metadata.name)
