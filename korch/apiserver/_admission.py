"""Admission and authorization: the server's two extension points for policy.

**Admission** (kube-apiserver's admission chain). A plugin is any object with one or both
of these methods, checked structurally:

* :class:`MutatingAdmission` — ``async admit(attributes) -> object``: return the object
  to continue with (objects are frozen; return ``attributes.object`` itself, or an
  ``attrs.evolve``'d copy, e.g. with defaulted tolerations or a LimitRange's requests);
* :class:`ValidatingAdmission` — ``async validate(attributes) -> None``: raise
  :class:`korch.errors.Forbidden` or :class:`korch.errors.Invalid` to reject.

For a create or update, the server runs every mutating plugin in the order given
(``APIServer(admission=[...])``), each seeing the previous one's result, then defaulting
and validation, then every validating plugin — so validating plugins see the final object.
Deletes run the validating plugins on the object being deleted. Dry-run requests are
admitted too (``attributes.dry_run`` tells a plugin with side effects to skip them).

**Authorization.** ``APIServer(authorizer=...)`` takes one :class:`Authorizer` asked before
every request with the user, verb and resource (:class:`RequestAttributes`); a denial is a
:class:`korch.errors.Forbidden` with kube-apiserver's message (``pods "web" is forbidden:
User "alice" cannot get resource "pods" in API group "" in the namespace "default"``).
Without an authorizer every request is allowed (the in-process client is trusted).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import attrs

from korch.api import _registry
from korch.apiserver import _types

__all__ = (
    "AdmissionAttributes",
    "AdmissionChain",
    "Authorizer",
    "Decision",
    "MutatingAdmission",
    "Operation",
    "RequestAttributes",
    "ValidatingAdmission",
)

Operation: TypeAlias = Literal["CREATE", "UPDATE", "DELETE"]


@attrs.frozen(kw_only=True)
class AdmissionAttributes:
    """What an admission plugin is asked about.

    ``object`` is the object to be stored (``None`` for DELETE), ``old_object`` the stored
    one (``None`` for CREATE). ``subresource`` is ``""``, ``"status"``, ``"scale"``…
    """

    operation: Operation
    resource: _registry.ResourceType
    namespace: str
    name: str
    object: Any
    old_object: Any = None
    subresource: str = ""
    dry_run: bool = False
    user: _types.UserInfo | None = None


@runtime_checkable
class MutatingAdmission(Protocol):
    """An admission plugin that may change the object (see the module docstring)."""

    async def admit(self, attributes: AdmissionAttributes) -> Any:
        """Return the object to continue with; raise an APIError to reject the request."""
        ...


@runtime_checkable
class ValidatingAdmission(Protocol):
    """An admission plugin that accepts or rejects the final object."""

    async def validate(self, attributes: AdmissionAttributes) -> None:
        """Return to accept; raise :class:`korch.errors.Forbidden`/``Invalid`` to reject."""
        ...


class AdmissionChain:
    """The plugins of one server, split into their mutating and validating phases."""

    def __init__(self, plugins: Iterable[object] = ()) -> None:
        plugins = list(plugins)
        for plugin in plugins:
            if not isinstance(plugin, MutatingAdmission | ValidatingAdmission):
                raise TypeError(
                    f"admission plugin {plugin!r} has neither an admit() nor a validate() method"
                )
        self.mutating = [p for p in plugins if isinstance(p, MutatingAdmission)]
        self.validating = [p for p in plugins if isinstance(p, ValidatingAdmission)]

    def __bool__(self) -> bool:
        return bool(self.mutating or self.validating)

    async def admit(self, attributes: AdmissionAttributes) -> Any:
        """Run the mutating plugins in order; returns the final object."""
        obj = attributes.object
        for plugin in self.mutating:
            obj = await plugin.admit(attrs.evolve(attributes, object=obj))
        return obj

    async def validate(self, attributes: AdmissionAttributes) -> None:
        """Run every validating plugin; the first rejection propagates."""
        for plugin in self.validating:
            await plugin.validate(attributes)


@attrs.frozen(kw_only=True)
class RequestAttributes:
    """What an authorizer is asked: may ``user`` do ``verb`` on this resource?

    ``verb`` is Kubernetes' (``get``, ``list``, ``watch``, ``create``, ``update``,
    ``patch``, ``delete``, ``deletecollection``); ``name`` is empty for list, watch,
    deletecollection and (before the name is generated) create.
    """

    user: _types.UserInfo | None
    verb: str
    resource: _registry.ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""


@attrs.frozen
class Decision:
    """An authorizer's answer; ``reason`` is shown to the user on denial."""

    allowed: bool
    reason: str = ""


@runtime_checkable
class Authorizer(Protocol):
    """Decides whether a request may proceed (RBAC lives in ``korch.security``)."""

    async def authorize(self, attributes: RequestAttributes) -> Decision:
        """Allow or deny one request."""
        ...
