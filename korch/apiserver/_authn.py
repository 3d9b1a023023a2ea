"""Authentication: who is asking. The HTTP front end (``korch.apiserver.http``) asks a chain
of :class:`Authenticator` objects for each request; the implementations (x509 client
certificates, bearer tokens, bootstrap tokens, service-account JWTs, webhooks, OIDC) live in
``korch.security``. The in-process :class:`~korch.client.LocalClient` is trusted and skips
this step.

The rules of kube-apiserver's union authenticator hold: authenticators are asked in order;
``None`` means "no credentials of my kind here" and the next one is asked; raising
:class:`korch.errors.Unauthorized` means "credentials of my kind, but invalid" and stops the
chain (401). A request nobody authenticates is anonymous, which the HTTP front end refuses
with 401.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from korch.apiserver import _types

__all__ = ("AuthenticationRequest", "Authenticator", "authenticate")


@attrs.frozen(kw_only=True)
class AuthenticationRequest:
    """The parts of a request authenticators look at.

    ``headers`` have lower-case names (``authorization``…). ``client_certificates`` is the
    peer's certificate chain as DER bytes, leaf first, already verified by the TLS layer
    against the client CA; empty when the client sent none.
    """

    headers: Mapping[str, str] = attrs.Factory(dict)
    client_certificates: Sequence[bytes] = ()
    remote_address: str = ""


@runtime_checkable
class Authenticator(Protocol):
    """One way of proving an identity (see the module docstring for the chain's rules)."""

    async def authenticate(self, request: AuthenticationRequest) -> _types.UserInfo | None:
        """The user, ``None`` if this authenticator does not apply, or raise Unauthorized."""
        ...


async def authenticate(
    authenticators: Sequence[Authenticator], request: AuthenticationRequest
) -> _types.UserInfo | None:
    """Ask each authenticator in turn; the first user wins, ``None`` if nobody knew."""
    for authenticator in authenticators:
        user = await authenticator.authenticate(request)
        if user is not None:
            return user
    return None
