"""Naming kinds the same way everywhere: ``(apiVersion, kind)`` pairs and group/kind.

Controllers name kinds as classes (``Pod``) or ``(apiVersion, kind)`` pairs; objects carry
their own ``apiVersion`` and ``kind``. These helpers turn each into a pair, and owner
references are matched on group and kind (any version), as Kubernetes' garbage collector
and controller-runtime's owner handler do.
"""

from __future__ import annotations

from typing import Any

import attrs

from korch.api import _meta
from korch.client import _protocol

__all__ = ("group_kind", "kind_arg", "kind_name", "kind_pair")


def kind_pair(kind: type[Any] | _protocol.GenericKind) -> tuple[str, str]:
    """``Pod`` → ``("v1", "Pod")``; a pair is returned as is.

    Raises:
        TypeError: ``kind`` is neither a model class nor a pair.
    """
    if isinstance(kind, tuple):
        return kind
    if not (isinstance(kind, type) and attrs.has(kind)):
        raise TypeError(f"a kind is a model class or an (apiVersion, kind) pair, not {kind!r}")
    fields = attrs.fields_dict(kind)
    api_version = fields.get("api_version")
    kind_field = fields.get("kind")
    if api_version is None or kind_field is None:
        raise TypeError(f"{kind.__name__} is not a kind (it has no apiVersion and kind)")
    return str(api_version.default), str(kind_field.default)


def group_kind(api_version: str, kind: str) -> tuple[str, str]:
    """``("apps/v1", "Deployment")`` → ``("apps", "Deployment")``."""
    return _meta.split_api_version(api_version)[0], kind


def kind_name(kind: type[Any] | _protocol.GenericKind) -> str:
    return kind[1] if isinstance(kind, tuple) else kind.__name__


def kind_arg(obj: Any) -> Any:
    """What to pass a client as the kind of ``obj``: its class if typed, else its pair."""
    cls = type(obj)
    fields = attrs.fields_dict(cls) if attrs.has(cls) else {}
    default = fields.get("kind")
    if default is not None and default.default == obj.kind and "body" not in fields:
        return cls
    return (obj.api_version, obj.kind)
