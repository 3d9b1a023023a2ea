"""What a request path asks for: kube-apiserver's ``RequestInfo``, from method and path.

Resource paths have kube-apiserver's shapes::

    /api/v1/<resource>[/<name>[/<subresource>]]                         cluster or all namespaces
    /api/v1/namespaces/<ns>/<resource>[/<name>[/<subresource>]]         namespaced
    /apis/<group>/<version>/...                                          the same under a group
    /api/v1/watch/...                                                    legacy watch paths

``/api/v1/namespaces/<name>`` is the Namespace itself, and so are ``.../status`` and
``.../finalize`` under it (the ``namespaces`` resource's subresources). The verb follows
the method: GET is ``get`` with a name, else ``list`` (``watch`` with ``watch=true`` or a
legacy watch path); POST ``create``; PUT ``update``; PATCH ``patch``; DELETE ``delete``
with a name, else ``deletecollection``. Anything else is a non-resource path (discovery,
OpenAPI, health) and the app routes it by itself.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote

import attrs

__all__ = ("RequestInfo", "parse_request")

_NAMESPACE_SUBRESOURCES: Final = frozenset({"status", "finalize"})
_TRUE: Final = frozenset({"1", "true", "True"})


@attrs.frozen(kw_only=True)
class RequestInfo:
    """A resource request: group/version, resource, namespace, name, subresource, verb."""

    verb: str
    group: str
    version: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""


def parse_request(method: str, path: str, watch_param: str = "") -> RequestInfo | None:
    """The resource request ``method path`` makes, or ``None`` for non-resource paths and
    paths too short to name a resource (``/api``, ``/apis/apps/v1``…).

    Args:
        method: the HTTP method.
        path: the URL path (percent-encoded segments are decoded).
        watch_param: the ``watch`` query parameter.
    """
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        if len(parts) < 3:
            return None
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
    watch = watch_param in _TRUE
    if rest and rest[0] == "watch":
        watch, rest = True, rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if not rest or not rest[0] or len(rest) > 3:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces" and not subresource and name == namespace:
        namespace = ""  # /api/v1/namespaces/<name>: the Namespace object
    if resource == "namespaces":
        namespace = ""
    method = method.upper()
    if method in ("GET", "HEAD"):
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return RequestInfo(
        verb=verb,
        group=group,
        version=version,
        resource=resource,
        namespace=namespace,
        name=name,
        subresource=subresource,
    )
