"""GenericResource: any kind without a typed class, kept verbatim.

Unknown kinds (custom resources without a registered class, kinds from newer Kubernetes
versions) decode to :class:`GenericResource`: ``api_version`` and ``kind``, a typed
``metadata`` (so every object can be named, labelled, owned and finalized the same way) and
everything else — ``spec``, ``status``, ``data``, any other top-level field — as the plain
JSON dict ``body``, exactly as it came. The codec writes ``body`` back unchanged after
``apiVersion``, ``kind`` and ``metadata``, so a GenericResource round-trips losslessly.

Invariant: ``body`` never contains the keys ``apiVersion``, ``kind`` or ``metadata``.
"""

from __future__ import annotations

from typing import Any

import attrs

from korch.api import _meta

__all__ = ("GenericResource",)

_TYPE_KEYS = frozenset(("apiVersion", "kind", "metadata"))


def _check_body(instance: GenericResource, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, dict):
        raise TypeError(f"GenericResource.body must be a dict, got {type(value).__name__}")
    clash = _TYPE_KEYS.intersection(value)
    if clash:
        raise ValueError(f"GenericResource.body must not contain {sorted(clash)}")


@attrs.frozen(kw_only=True)
class GenericResource:
    """Any kind as apiVersion, kind, typed metadata and the rest as a JSON dict."""

    api_version: str
    kind: str
    metadata: _meta.ObjectMeta = attrs.Factory(_meta.ObjectMeta)
    body: dict[str, Any] = attrs.field(factory=dict, validator=_check_body)

    @property
    def spec(self) -> dict[str, Any]:
        """``body["spec"]`` (an empty dict when absent or not an object)."""
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def status(self) -> dict[str, Any]:
        """``body["status"]`` (an empty dict when absent or not an object)."""
        status = self.body.get("status")
        return status if isinstance(status, dict) else {}

    @property
    def group(self) -> str:
        """The API group ("" for the core group)."""
        return _meta.split_api_version(self.api_version)[0]

    @property
    def version(self) -> str:
        """The API version within the group (``v1``)."""
        return _meta.split_api_version(self.api_version)[1]
