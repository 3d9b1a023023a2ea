"""ResourceQuota admission: namespace quotas, checked against usage at admission time.

:class:`ResourceQuotaAdmission` is a validating plugin (it runs last, on the final,
defaulted object, as kube-apiserver's ``ResourceQuota`` plugin does). For a CREATE in a
namespace with ResourceQuotas it computes, per quota, the object's **requested** usage of
every resource the quota's ``spec.hard`` names, and the namespace's **used** amount
recomputed from the objects in the store, and rejects with 403 Forbidden:

* ``exceeded quota: <name>, requested: <res>=<q>, used: <res>=<q>, limited: <res>=<q>``
  (only the exceeded resources, sorted) when ``used + requested > hard``;
* ``failed quota: <name>: must specify <res>,<res>`` when a pod lacks a request or limit
  for a compute resource the quota constrains (every container must set it).

Tracked resources: ``pods``; ``cpu``/``memory`` (= ``requests.*``), ``requests.cpu``,
``requests.memory``, ``limits.cpu``, ``limits.memory`` (a pod's effective amount: the larger
of its containers' sum and any init container, plus ``overhead``); ``count/<plural>[.group]``
for any resource; and the legacy object counts ``configmaps``, ``secrets``, ``services``,
``persistentvolumeclaims``, ``replicationcontrollers``, ``resourcequotas``. Pods in a
terminal phase (Succeeded, Failed) use nothing. Quota ``scopes`` ``Terminating``,
``NotTerminating``, ``BestEffort`` and ``NotBestEffort`` are honoured (a scoped quota
tracks pods only); ``scopeSelector`` is not.

After admitting, the plugin stores the new total in each quota's ``status.used`` (and
``status.hard``) with a compare-and-swap on the quota's revision; a lost race skips the
write, because ``status.used`` is informative here: correctness comes from recomputing.

**Concurrency caveat.** Usage is recomputed from a read before the object is written, so two
concurrent creates may both fit in the same remaining room (kube-apiserver serialises
quota updates per namespace instead). A rejected-later object (e.g. AlreadyExists) may
briefly over-count ``status.used``, corrected by the next admission.
"""

from __future__ import annotations

from typing import Any, Final

from korch.api import _quantity, _registry
from korch.apiserver import _admission, _keys, _objects, _status
from korch.store import _types as store_types

__all__ = ("ResourceQuotaAdmission", "list_stored", "pod_amounts")

COMPUTE: Final = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_ALIASES: Final = {"cpu": "requests.cpu", "memory": "requests.memory"}
_LEGACY_COUNTS: Final = {
    "count/configmaps": "configmaps",
    "count/secrets": "secrets",
    "count/services": "services",
    "count/persistentvolumeclaims": "persistentvolumeclaims",
    "count/replicationcontrollers": "replicationcontrollers",
    "count/resourcequotas": "resourcequotas",
}
_ZERO: Final = _quantity.Quantity("0")
_TERMINAL: Final = ("Succeeded", "Failed")


async def list_stored(
    store: store_types.Store, rt: _registry.ResourceType, namespace: str
) -> list[_objects.Stored]:
    """Every object of ``rt`` in ``namespace``, read straight from the store."""
    result = await store.range(_keys.namespace_prefix(rt, namespace), prefix=True)
    registry = _registry.default_registry()
    return [_objects.decode_stored(rt, kv, registry) for kv in result.kvs]


def _effective(containers: list[Any], init: list[Any], field: str, resource: str) -> Any:
    """Sum over containers, at least the largest init container (``None`` if unset)."""
    total = _ZERO
    for container in containers:
        text = getattr(container.resources, field).get(resource)
        if text is None:
            return None
        total = total + _quantity.Quantity(text)
    for container in init:
        text = getattr(container.resources, field).get(resource)
        if text is not None and _quantity.Quantity(text) > total:
            total = _quantity.Quantity(text)
    return total


def pod_amounts(pod: Any) -> dict[str, Any]:
    """A pod's usage per quota resource name (``requests.cpu`` → Quantity, ``pods`` → 1);
    a compute resource that some container leaves unset is missing from the result."""
    if pod.status.phase in _TERMINAL:
        return {}
    amounts: dict[str, Any] = {"pods": _quantity.Quantity("1")}
    spec = pod.spec
    for name in COMPUTE:
        field, resource = name.split(".", 1)
        value = _effective(spec.containers, spec.init_containers, field, resource)
        if value is None:
            continue
        overhead = spec.overhead.get(resource)
        amounts[name] = value + _quantity.Quantity(overhead) if overhead else value
    for alias, name in _ALIASES.items():
        if name in amounts:
            amounts[alias] = amounts[name]
    return amounts


def _best_effort(pod: Any) -> bool:
    containers = [*pod.spec.containers, *pod.spec.init_containers]
    return not any(c.resources.requests or c.resources.limits for c in containers)


def _scopes_match(quota: Any, obj: Any, is_pod: bool) -> bool:
    scopes = quota.spec.scopes
    if not scopes:
        return True
    if not is_pod:
        return False
    checks = {
        "Terminating": obj.spec.active_deadline_seconds is not None,
        "NotTerminating": obj.spec.active_deadline_seconds is None,
        "BestEffort": _best_effort(obj),
        "NotBestEffort": not _best_effort(obj),
    }
    return all(checks.get(scope, True) for scope in scopes)


def _count_names(rt: _registry.ResourceType) -> tuple[str, ...]:
    """The quota names counting objects of ``rt`` (``count/pods``, ``configmaps``…)."""
    count = f"count/{rt.plural}" + (f".{rt.group}" if rt.group else "")
    legacy = _LEGACY_COUNTS.get(count)
    return (count, legacy) if legacy else (count,)


def _is_compute(name: str) -> bool:
    return name in COMPUTE or name in _ALIASES


class ResourceQuotaAdmission:
    """Enforces the ResourceQuotas of a namespace (see the module docstring).

    Args:
        store: the store the API server uses (quotas and usage are read from it).
    """

    def __init__(self, store: store_types.Store) -> None:
        self.store = store
        self._quota_rt = _registry.default_registry().lookup("v1", "ResourceQuota")
        self._pod_rt = _registry.default_registry().lookup("v1", "Pod")

    async def validate(self, attributes: _admission.AdmissionAttributes) -> None:
        """Reject a create that would exceed a quota.

        Raises:
            korch.errors.Forbidden: a quota is exceeded, or a pod lacks a required amount.
        """
        rt = attributes.resource
        if attributes.operation != "CREATE" or attributes.subresource or not rt.namespaced:
            return
        quotas = await list_stored(self.store, self._quota_rt, attributes.namespace)
        if not quotas:
            return
        obj = attributes.object
        is_pod = rt.group == "" and rt.kind == "Pod"
        requested = pod_amounts(obj) if is_pod else {}
        for count in _count_names(rt):
            requested[count] = _quantity.Quantity("1")
        pods: list[Any] | None = None
        updates = []
        for stored in quotas:
            quota = stored.obj
            if not _scopes_match(quota, obj, is_pod):
                continue
            hard = {k: _quantity.Quantity(v) for k, v in quota.spec.hard.items()}
            if is_pod:
                missing = sorted(k for k in hard if _is_compute(k) and k not in requested)
                if missing:
                    raise _status.forbidden(
                        rt,
                        attributes.name,
                        f"failed quota: {quota.metadata.name}: must specify {','.join(missing)}",
                    )
            wanted = {k: requested[k] for k in hard if k in requested}
            if not wanted:
                continue
            if is_pod and pods is None:
                pods = [
                    p.obj for p in await list_stored(self.store, self._pod_rt, attributes.namespace)
                ]
            used = await self._used(quota, wanted, rt, attributes.namespace, pods or [])
            exceeded = sorted(k for k in wanted if used[k] + wanted[k] > hard[k])
            if exceeded:
                raise _status.forbidden(
                    rt,
                    attributes.name,
                    f"exceeded quota: {quota.metadata.name}, "
                    f"requested: {self._show(exceeded, wanted)}, "
                    f"used: {self._show(exceeded, used)}, "
                    f"limited: {self._show(exceeded, hard)}",
                )
            updates.append((stored, {k: used[k] + wanted[k] for k in wanted}))
        if not attributes.dry_run:
            for stored, totals in updates:
                await self._record_usage(stored, totals)

    @staticmethod
    def _show(names: list[str], amounts: dict[str, Any]) -> str:
        return ",".join(f"{name}={amounts[name]}" for name in names)

    async def _used(
        self,
        quota: Any,
        wanted: dict[str, Any],
        rt: _registry.ResourceType,
        namespace: str,
        pods: list[Any],
    ) -> dict[str, Any]:
        used = dict.fromkeys(wanted, _ZERO)
        for pod in pods:
            if not _scopes_match(quota, pod, True):
                continue
            for name, amount in pod_amounts(pod).items():
                if name in used:
                    used[name] = used[name] + amount
        counts = [name for name in _count_names(rt) if name in wanted]
        if counts and rt.group == "" and rt.kind == "Pod":
            total = sum(1 for p in pods if _scopes_match(quota, p, True) and pod_amounts(p))
            for name in counts:
                used[name] = _quantity.Quantity(str(total))
        elif counts:
            result = await self.store.range(
                _keys.namespace_prefix(rt, namespace), prefix=True, limit=1
            )
            for name in counts:
                used[name] = _quantity.Quantity(str(result.count))
        return used

    async def _record_usage(self, stored: _objects.Stored, totals: dict[str, Any]) -> None:
        """Write ``status.used`` (compare-and-swap on the quota's revision; a lost race
        leaves the value to the next admission)."""
        kv = await self.store.get(stored.key)
        if kv is None or kv.mod_revision != stored.revision:
            return
        wire = _keys.decode(kv.value, kv.mod_revision)
        status = wire.setdefault("status", {})
        status["hard"] = dict(wire.get("spec", {}).get("hard") or {})
        used = dict(status.get("used") or {})
        used.update({name: str(amount) for name, amount in totals.items()})
        status["used"] = used
        await self.store.txn(
            compare=[store_types.Compare.mod(stored.key) == kv.mod_revision],
            success=[store_types.Put(stored.key, _keys.encode(wire))],
            failure=[],
        )
