"""korch.security — PKI (CA, certificates, kubeconfig), authentication (x509 client
certificates, tokens), RBAC authorization and encryption at rest.

The API server asks the implementations here through the protocols of ``korch.apiserver``
(:class:`~korch.apiserver.Authenticator`, :class:`~korch.apiserver.Authorizer`).
"""

from __future__ import annotations

__all__: tuple[str, ...] = ()
