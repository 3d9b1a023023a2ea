"""Built-in admission plugins: kube-apiserver's ServiceAccount, LimitRanger and ResourceQuota.

Each plugin is a plain class implementing :class:`~korch.apiserver.MutatingAdmission`
and/or :class:`~korch.apiserver.ValidatingAdmission`; plugins that read policy objects
(LimitRanges, ResourceQuotas) read them straight from the server's store, so they are
built before the server::

    api = APIServer(store, admission=default_admission_chain(store))

* :class:`ServiceAccountAdmission` (mutating) — a created pod without
  ``spec.serviceAccountName`` gets ``default``. (Creating each namespace's ``default``
  ServiceAccount is a controller's job, not admission's; the plugin does not require
  the ServiceAccount to exist.)
* :class:`LimitRanger` (mutating and validating) — for created pods, the namespace's
  LimitRange items of type ``Container`` fill in missing requests (``defaultRequest``) and
  limits (``default``), with kube's defaulting of the item itself (``default`` from
  ``max``, ``defaultRequest`` from ``default`` then ``min``); a container with a limit but no
  request gets request = limit, as the Pod defaulting kube runs first would give. The
  changes are listed in the ``kubernetes.io/limit-ranger`` annotation. Validation enforces
  ``min``, ``max`` and ``maxLimitRequestRatio`` per Container and per Pod (sums over
  containers) and rejects with 403 Forbidden and kube's messages, e.g.
  ``maximum cpu usage per Container is 2, but limit is 3`` (several: ``[a, b]``).
* :class:`~korch.apiserver._plugins_quota.ResourceQuotaAdmission` (validating).

**NamespaceLifecycle** is not a plugin here: the server itself refuses content in a
missing namespace (NotFound) or a terminating one (Forbidden, ``unable to create new
content in namespace … because it is being terminated``), and namespaces ``default``,
``kube-system`` and ``kube-public`` cannot be deleted.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from korch.api import _quantity, _registry
from korch.apiserver import _admission, _plugins_quota, _status
from korch.store import _types as store_types

__all__ = ("LimitRanger", "ServiceAccountAdmission", "default_admission_chain")

ANNOTATION: Final = "kubernetes.io/limit-ranger"


def _is_pod(attributes: _admission.AdmissionAttributes) -> bool:
    rt = attributes.resource
    return rt.group == "" and rt.kind == "Pod" and not attributes.subresource


class ServiceAccountAdmission:
    """Defaults a created pod's ``spec.serviceAccountName`` to ``default``."""

    async def admit(self, attributes: _admission.AdmissionAttributes) -> Any:
        """Return the pod with its service account defaulted (other objects unchanged)."""
        obj = attributes.object
        if attributes.operation != "CREATE" or not _is_pod(attributes):
            return obj
        if obj.spec.service_account_name:
            return obj
        name = obj.spec.service_account or "default"
        spec = attrs.evolve(obj.spec, service_account_name=name)
        return attrs.evolve(obj, spec=spec)


@attrs.frozen
class _Item:
    """One LimitRange item with kube's item defaulting applied."""

    type: str
    min: dict[str, str]
    max: dict[str, str]
    default: dict[str, str]
    default_request: dict[str, str]
    ratio: dict[str, str]


def _items(limit_range: Any) -> list[_Item]:
    items = []
    for item in limit_range.spec.limits:
        default = dict(item.default)
        request = dict(item.default_request)
        if item.type == "Container":
            for key, value in item.max.items():
                default.setdefault(key, value)
            for key, value in default.items():
                request.setdefault(key, value)
            for key, value in item.min.items():
                request.setdefault(key, value)
        items.append(
            _Item(
                item.type,
                dict(item.min),
                dict(item.max),
                default,
                request,
                dict(item.max_limit_request_ratio),
            )
        )
    return items


def _constraint_errors(
    kind: str, item: _Item, requests: dict[str, Any], limits: dict[str, Any]
) -> list[str]:
    """kube's minConstraint, maxConstraint and limitRequestRatioConstraint messages."""
    found = []
    for name, text in sorted(item.min.items()):
        enforced = _quantity.Quantity(text)
        request, limit = requests.get(name), limits.get(name)
        if request is None:
            found.append(f"minimum {name} usage per {kind} is {enforced}.  No request is specified")
        elif request < enforced:
            found.append(f"minimum {name} usage per {kind} is {enforced}, but request is {request}")
        elif limit is not None and limit < enforced:
            found.append(f"minimum {name} usage per {kind} is {enforced}, but limit is {limit}")
    for name, text in sorted(item.max.items()):
        enforced = _quantity.Quantity(text)
        request, limit = requests.get(name), limits.get(name)
        if limit is None:
            found.append(f"maximum {name} usage per {kind} is {enforced}.  No limit is specified")
        elif limit > enforced:
            found.append(f"maximum {name} usage per {kind} is {enforced}, but limit is {limit}")
        elif request is not None and request > enforced:
            found.append(f"maximum {name} usage per {kind} is {enforced}, but request is {request}")
    for name, text in sorted(item.ratio.items()):
        enforced = _quantity.Quantity(text)
        request, limit = requests.get(name), limits.get(name)
        prefix = f"{name} max limit to request ratio per {kind} is {enforced}"
        if request is None or request.is_zero():
            found.append(f"{prefix}, but no request is specified or request is 0")
        elif limit is None or limit.is_zero():
            found.append(f"{prefix}, but no limit is specified or limit is 0")
        else:
            ratio = limit.as_fraction() / request.as_fraction()
            if ratio > enforced.as_fraction():
                found.append(f"{prefix}, but provided ratio is {float(ratio):f}")
    return found


def _quantities(values: dict[str, str]) -> dict[str, Any]:
    return {name: _quantity.Quantity(text) for name, text in values.items()}


def _pod_totals(containers: list[Any], field: str) -> dict[str, Any]:
    """Sums over containers of resources every container sets (others are unspecified)."""
    if not containers:
        return {}
    names = set.intersection(*(set(getattr(c.resources, field)) for c in containers))
    return {
        name: sum(
            (_quantity.Quantity(getattr(c.resources, field)[name]) for c in containers),
            _quantity.Quantity("0"),
        )
        for name in names
    }


class LimitRanger:
    """Applies and enforces the namespace's LimitRanges to pods (module docstring).

    Args:
        store: the store the API server uses (LimitRanges are read from it).
    """

    def __init__(self, store: store_types.Store) -> None:
        self.store = store
        self._rt = _registry.default_registry().lookup("v1", "LimitRange")

    async def _limit_items(self, namespace: str) -> list[_Item]:
        stored = await _plugins_quota.list_stored(self.store, self._rt, namespace)
        return [item for s in stored for item in _items(s.obj)]

    async def admit(self, attributes: _admission.AdmissionAttributes) -> Any:
        """Fill in default requests and limits of a created pod's containers."""
        obj = attributes.object
        if attributes.operation != "CREATE" or not _is_pod(attributes):
            return obj
        items = [i for i in await self._limit_items(attributes.namespace) if i.type == "Container"]
        if not items:
            return obj
        default: dict[str, str] = {}
        default_request: dict[str, str] = {}
        for item in items:
            for key, value in item.default.items():
                default.setdefault(key, value)
            for key, value in item.default_request.items():
                default_request.setdefault(key, value)
        notes: list[str] = []
        containers = []
        for container in obj.spec.containers:
            limits = dict(container.resources.limits)
            requests = dict(container.resources.requests)
            set_requests, set_limits = [], []
            for key, value in sorted(default.items()):
                if key not in limits:
                    limits[key] = value
                    set_limits.append(key)
            for key, value in sorted(default_request.items()):
                if key not in requests:
                    # kube's Pod defaulting (before admission there) copies the limit
                    requests[key] = container.resources.limits.get(key, value)
                    set_requests.append(key)
            if set_requests:
                notes.append(f"{', '.join(set_requests)} request for container {container.name}")
            if set_limits:
                notes.append(f"{', '.join(set_limits)} limit for container {container.name}")
            resources = attrs.evolve(container.resources, limits=limits, requests=requests)
            containers.append(attrs.evolve(container, resources=resources))
        if not notes:
            return obj
        annotations = {
            **obj.metadata.annotations,
            ANNOTATION: "LimitRanger plugin set: " + "; ".join(notes),
        }
        metadata = attrs.evolve(obj.metadata, annotations=annotations)
        return attrs.evolve(
            obj, metadata=metadata, spec=attrs.evolve(obj.spec, containers=containers)
        )

    async def validate(self, attributes: _admission.AdmissionAttributes) -> None:
        """Enforce min, max and maxLimitRequestRatio on a created pod.

        Raises:
            korch.errors.Forbidden: a constraint is violated (every violation is listed).
        """
        if attributes.operation != "CREATE" or not _is_pod(attributes):
            return
        items = await self._limit_items(attributes.namespace)
        if not items:
            return
        pod = attributes.object
        found: list[str] = []
        for item in items:
            if item.type == "Container":
                for container in [*pod.spec.init_containers, *pod.spec.containers]:
                    found += _constraint_errors(
                        "Container",
                        item,
                        _quantities(container.resources.requests),
                        _quantities(container.resources.limits),
                    )
            elif item.type == "Pod":
                containers = list(pod.spec.containers)
                found += _constraint_errors(
                    "Pod",
                    item,
                    _pod_totals(containers, "requests"),
                    _pod_totals(containers, "limits"),
                )
        if found:
            message = found[0] if len(found) == 1 else "[" + ", ".join(found) + "]"
            raise _status.forbidden(attributes.resource, attributes.name, message)


def default_admission_chain(store: store_types.Store) -> list[object]:
    """kube-apiserver's recommended order of the built-in plugins korch has.

    ``[LimitRanger, ServiceAccountAdmission, ResourceQuotaAdmission]`` (mutating order:
    LimitRanger, ServiceAccount; validating order: LimitRanger, ResourceQuota, last).
    NamespaceLifecycle is enforced by the server itself.

    Args:
        store: the store the API server will use.

    Returns:
        The plugins, for ``APIServer(store, admission=...)``.
    """
    return [
        LimitRanger(store),
        ServiceAccountAdmission(),
        _plugins_quota.ResourceQuotaAdmission(store),
    ]
