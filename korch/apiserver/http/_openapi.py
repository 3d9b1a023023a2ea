"""OpenAPI documents served over HTTP, built by :mod:`korch.api` and cached per state.

``/openapi/v2`` (Swagger 2.0, JSON), ``/openapi/v3`` (the index, whose URLs carry each
document's hash) and ``/openapi/v3/api/v1``, ``/openapi/v3/apis/<group>/<version>``. A
document depends on the served kinds and on the CustomResourceDefinitions' schemas, so
the cache key is the registry's resource types plus the CRDs' resourceVersions: a new or
changed CRD makes the next request rebuild. Building the v2 document walks every model
class (~0.3 s, in a worker thread), hence the cache.

kubectl asks for v2 as protobuf (gnostic's ``openapi_v2.Document``) only as a fallback, when
its cached v3 index lacks a group-version — typically a custom resource applied in the same
``kubectl apply`` as its CRD. korch answers that request with a minimal protobuf document
(``swagger: "2.0"`` and ``info``, no definitions): kubectl then finds no schema for the kind
and leaves validation to the server, which validates custom resources against the CRD
schema. JSON requests for ``/openapi/v2`` get the full document.
"""

from __future__ import annotations

from typing import Any, Final

import anyio

from korch.api import _apiextensions, _openapi
from korch.apiserver import _server

__all__ = ("V2_PROTOBUF", "V2_PROTOBUF_RESPONSE", "OpenAPIDocuments", "minimal_v2_protobuf")

V2_PROTOBUF: Final = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
#: what kube-openapi answers with (Go's mime parser refuses the "@" of the request form)
V2_PROTOBUF_RESPONSE: Final = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2); payloads here are < 128 bytes."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def minimal_v2_protobuf() -> bytes:
    """``openapi_v2.Document{swagger: "2.0", info: {title, version}}`` in protobuf."""
    info = _field(1, b"Kubernetes") + _field(2, b"unversioned")
    return _field(1, b"2.0") + _field(2, info)


class OpenAPIDocuments:
    """The OpenAPI documents of one API server, rebuilt when its kinds change."""

    def __init__(self, api: _server.APIServer) -> None:
        self._api = api
        self._key: object = None
        self._docs: dict[str, Any] = {}
        self._lock = anyio.Lock()

    async def _crds(self) -> tuple[object, list[_apiextensions.CustomResourceDefinition]]:
        listed = await self._api.list(_apiextensions.CustomResourceDefinition)
        crds = list(listed.items)
        types = tuple((rt.group, rt.version, rt.plural) for rt in self._api.registry)
        versions = tuple(c.metadata.resource_version for c in crds)
        return (types, versions), crds

    async def document(self, name: str) -> Any:
        """``"v2"``, ``"v3"`` (the index) or ``"v3/<group>/<version>"`` (``""`` group for
        core); ``None`` for a group-version not served."""
        async with self._lock:
            key, crds = await self._crds()
            if key != self._key:
                self._docs.clear()
                self._key = key
            if name in self._docs:
                return self._docs[name]
            registry = self._api.registry
            if name == "v2":
                doc: Any = await anyio.to_thread.run_sync(
                    lambda: _openapi.openapi_v2_document(registry=registry, crds=crds)
                )
            elif name == "v3":
                doc = await anyio.to_thread.run_sync(
                    lambda: _openapi.openapi_v3_index(registry=registry, crds=crds)
                )
            else:
                _, group, version = name.split("/", 2)
                if not any(rt.group == group and rt.version == version for rt in registry):
                    return None
                doc = _openapi.openapi_v3_document(group, version, registry=registry, crds=crds)
            self._docs[name] = doc
            return doc
