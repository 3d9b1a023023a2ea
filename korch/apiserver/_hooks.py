"""Defaulting and validation, as hooks into ``korch.api``.

The per-kind rules live in the resource model: ``korch.api._defaults.default(obj)``
(kube-apiserver's ``SetDefaults_*``) and ``korch.api._validate_kinds.validate(obj)`` /
``validate_update(old, new)`` (``ValidateX`` / ``ValidateXUpdate``). They are looked up
lazily, once, so the server works with whichever of them the installed ``korch.api``
provides; without the validation module only object metadata is validated (names,
namespace, labels, annotations, owner references, finalizers).

What the server itself owns is checked here whatever the model provides, because it is
about the request rather than the kind (``ValidateObjectMetaUpdate``): ``metadata.uid`` is
immutable and no finalizer may be added to an object that is being deleted.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from korch import errors
from korch.api import _codec, _go_compat, _registry, _validation
from korch.apiserver import _status

__all__ = ("default", "has_kind_validation", "validate_create", "validate_update")


@functools.cache
def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def _hook(module: str, name: str) -> Callable[..., Any] | None:
    found = _module(module)
    hook = getattr(found, name, None) if found is not None else None
    return hook if callable(hook) else None


def has_kind_validation() -> bool:
    """Whether the per-kind validation module of ``korch.api`` is installed."""
    return _hook("korch.api._validate_kinds", "validate") is not None


def default(obj: Any) -> Any:
    """``obj`` with kube-apiserver's defaults filled (unchanged if no defaulter exists)."""
    hook = _hook("korch.api._defaults", "default")
    return hook(obj) if hook is not None else obj


def _metadata_causes(rt: _registry.ResourceType, obj: Any) -> list[errors.Cause]:
    metadata = _codec.to_dict(obj).get("metadata", {})
    return _validation.validate_object_meta(metadata, namespaced=rt.namespaced)


def validate_create(rt: _registry.ResourceType, obj: Any) -> None:
    """Validate a new object of ``rt``.

    Raises:
        korch.errors.Invalid: with kube-apiserver's message (``Pod "web" is invalid: …``).
    """
    hook = _hook("korch.api._validate_kinds", "validate")
    if hook is not None:
        hook(obj)
        return
    causes = _metadata_causes(rt, obj)
    if causes:
        raise _status.invalid(rt, obj.metadata.name, causes)


def validate_update(rt: _registry.ResourceType, new: Any, old: Any) -> None:
    """Validate an update of ``old`` to ``new`` (server-owned metadata rules first).

    Raises:
        korch.errors.Invalid: ``metadata.uid`` changed, a finalizer was added to an object
            being deleted, or the kind's update validation failed.
    """
    causes: list[errors.Cause] = []
    new_meta, old_meta = new.metadata, old.metadata
    if new_meta.uid != old_meta.uid:
        causes.append(_validation.invalid("metadata.uid", new_meta.uid, "field is immutable"))
    if old_meta.deletion_timestamp is not None:
        added = sorted(set(new_meta.finalizers) - set(old_meta.finalizers))
        if added:
            shown = "[]string{" + ", ".join(_go_compat.go_quote(f) for f in added) + "}"
            causes.append(
                _validation.forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {shown}",
                )
            )
    if causes:
        raise _status.invalid(rt, new_meta.name, causes)
    hook = _hook("korch.api._validate_kinds", "validate_update")
    if hook is not None:
        hook(old, new)
        return
    causes = _metadata_causes(rt, new)
    if causes:
        raise _status.invalid(rt, new_meta.name, causes)
