"""Applying manifests to a cluster, the way ``kubectl apply --server-side`` does.

``korch up -f`` and :meth:`korch.cluster.Cluster.apply` use :func:`apply_objects`:

* every object is sent as a server-side apply patch (create if missing, else merge the
  fields this manager sets; ``force`` takes fields other managers own, as a re-run of
  ``korch up -f`` should win over its own earlier state);
* order matters for the kinds other objects depend on: Namespaces first, then
  CustomResourceDefinitions, then everything else in file order — so a file holding a CRD and
  an instance of it applies in one go;
* an object without a namespace lands in ``namespace`` (``default``), as kubectl does;
* every failure is collected with the object it belongs to; nothing stops at the first one
  unless ``stop_on_error``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from korch import errors
from korch.api import GenericResource, load_manifests
from korch.client import Client

__all__ = ("AppliedObject", "apply_manifests", "apply_objects", "read_manifest_sources")

FIELD_MANAGER = "korch-up"
_FIRST = {("v1", "Namespace"): 0, ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): 1}


@attrs.frozen
class AppliedObject:
    """The outcome for one object: ``result`` as stored, or the ``error`` it met."""

    kind: str
    name: str
    namespace: str
    result: Any = None
    error: errors.KorchError | None = None

    def __str__(self) -> str:
        what = f"{self.kind.lower()}/{self.name}"
        if self.error is not None:
            return f"{what}: {self.error}"
        return f"{what} applied"


def _kind_of(obj: Any) -> Any:
    if isinstance(obj, GenericResource):
        return (obj.api_version, obj.kind)
    return type(obj)


def _order(objects: Sequence[Any]) -> list[Any]:
    ranked = sorted(
        enumerate(objects),
        key=lambda item: (_FIRST.get((item[1].api_version, item[1].kind), 2), item[0]),
    )
    return [obj for _, obj in ranked]


async def apply_objects(
    client: Client,
    objects: Iterable[Any],
    *,
    namespace: str = "default",
    field_manager: str = FIELD_MANAGER,
    stop_on_error: bool = False,
) -> list[AppliedObject]:
    """Server-side apply each object (see the module docstring); returns one outcome each.

    Raises:
        korch.errors.KorchError: the first failure, only with ``stop_on_error``.
    """
    outcomes = []
    for obj in _order(list(objects)):
        meta = obj.metadata
        ns = meta.namespace or namespace
        try:
            result = await client.patch(
                _kind_of(obj),
                meta.name,
                obj,
                namespace=ns,
                type="apply",
                field_manager=field_manager,
                force=True,
            )
        except errors.KorchError as error:
            if stop_on_error:
                raise
            outcomes.append(AppliedObject(obj.kind, meta.name, ns, error=error))
            continue
        outcomes.append(AppliedObject(obj.kind, meta.name, result.metadata.namespace, result))
    return outcomes


def read_manifest_sources(sources: Iterable[str | os.PathLike[str]], stdin: str = "") -> list[Any]:
    """Objects from files, directories (their ``.yaml``/``.yml``/``.json`` files, sorted) and
    ``-`` (``stdin``'s text), in order.

    Raises:
        FileNotFoundError: a path that does not exist.
        korch.errors.BadRequest / Invalid: a malformed document (the message names it).
    """
    objects: list[Any] = []
    for source in sources:
        if os.fspath(source) == "-":
            objects.extend(load_manifests(stdin))
        else:
            objects.extend(load_manifests(pathlib.Path(os.fspath(source))))
    return objects


async def apply_manifests(
    client: Client,
    sources: Iterable[str | os.PathLike[str]],
    *,
    namespace: str = "default",
    field_manager: str = FIELD_MANAGER,
    stdin: str = "",
) -> list[AppliedObject]:
    """Read every source (see :func:`read_manifest_sources`) and apply the objects."""
    objects = read_manifest_sources(sources, stdin)
    return await apply_objects(client, objects, namespace=namespace, field_manager=field_manager)
