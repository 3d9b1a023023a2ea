"""API discovery documents, legacy and aggregated, built from the server's registry.

* legacy: ``/api`` (``APIVersions``), ``/apis`` (``APIGroupList``), ``/apis/<group>``
  (``APIGroup``), ``/api/v1`` and ``/apis/<group>/<version>`` (``APIResourceList``: one
  entry per resource and one per subresource, ``pods/status``…);
* aggregated (``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``,
  what kubectl 1.30+ asks for first): ``/api`` holds the core group, ``/apis`` every other
  group, each with its versions (preferred first) and resources with verbs, short names,
  categories and subresources in one document.

Only subresources the HTTP layer serves are advertised (``exec``, ``attach``,
``portforward``, ``proxy`` and friends are not, so kubectl says "not supported" up front
instead of failing mid-way). Custom resources appear as soon as their CRD is established,
because documents are built from the live registry on each request (cheap: a few hundred
dicts).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from korch.api import _registry

__all__ = (
    "AGGREGATED_CONTENT_TYPE",
    "aggregated_discovery",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "group_versions",
)

AGGREGATED_CONTENT_TYPE: Final = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
)

_READ_WRITE: Final = ("get", "patch", "update")
#: subresource -> (group, version, kind or "" for the parent's kind, verbs)
_SUBRESOURCES: Final[dict[str, tuple[str, str, str, tuple[str, ...]]]] = {
    "status": ("", "", "", _READ_WRITE),
    "scale": ("autoscaling", "v1", "Scale", _READ_WRITE),
    "binding": ("", "v1", "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "log": ("", "v1", "Pod", ("get",)),
    "finalize": ("", "", "", ("update",)),
    "approval": ("", "", "", _READ_WRITE),
}


def group_versions(registry: _registry.Registry) -> dict[str, list[str]]:
    """group -> its served versions, preferred first (core group ``""`` included)."""
    out: dict[str, list[str]] = {}
    for rt in registry:
        versions = out.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
    return {g: sorted(v, key=_registry.version_priority) for g, v in out.items()}


def _types(registry: _registry.Registry, group: str, version: str) -> list[_registry.ResourceType]:
    return [rt for rt in registry if rt.group == group and rt.version == version]


def api_versions(server_address: str) -> dict[str, Any]:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}" if name else v, "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: _registry.Registry) -> dict[str, Any]:
    """``GET /apis``: every named group."""
    groups = [_group(g, v) for g, v in group_versions(registry).items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: _registry.Registry, group: str) -> dict[str, Any] | None:
    """``GET /apis/<group>``, ``None`` if the group is not served."""
    versions = group_versions(registry).get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _subresource_entries(
    rt: _registry.ResourceType,
) -> Iterable[tuple[str, str, str, str, tuple[str, ...]]]:
    for sub in rt.subresources:
        known = _SUBRESOURCES.get(sub)
        if known is None:
            continue
        group, version, kind, verbs = known
        if not kind:
            group, version, kind = rt.group, rt.version, rt.kind
        yield sub, group, version, kind, verbs


def api_resource_list(
    registry: _registry.Registry, group: str, version: str
) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``/apis/<group>/<version>``, ``None`` if not served."""
    types = _types(registry, group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub, sub_group, sub_version, kind, verbs in _subresource_entries(rt):
            sub_entry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": list(verbs),
            }
            if (sub_group, sub_version) != (rt.group, rt.version):
                sub_entry["group"], sub_entry["version"] = sub_group, sub_version
            resources.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _aggregated_resource(rt: _registry.ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subresources = [
        {
            "subresource": sub,
            "responseKind": {"group": group, "version": version, "kind": kind},
            "verbs": list(verbs),
        }
        for sub, group, version, kind, verbs in _subresource_entries(rt)
    ]
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated_discovery(registry: _registry.Registry, *, core: bool) -> dict[str, Any]:
    """``GET /api`` (``core=True``) or ``/apis`` as an ``APIGroupDiscoveryList``."""
    items = []
    for group, versions in group_versions(registry).items():
        if (group == "") != core:
            continue
        item: dict[str, Any] = {"metadata": {"name": group} if group else {}, "versions": []}
        for version in versions:
            resources = [_aggregated_resource(rt) for rt in _types(registry, group, version)]
            item["versions"].append(
                {"version": version, "resources": resources, "freshness": "Current"}
            )
        items.append(item)
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }
