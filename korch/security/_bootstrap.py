"""Bootstrap tokens: how a new node proves it may join (kubeadm's ``--token``, k3s' token).

A bootstrap token is ``<id>.<secret>``: six and sixteen characters of ``[a-z0-9]``
(``abcdef.0123456789abcdef``). The id is public; the secret is not. It is backed by a Secret
``bootstrap-token-<id>`` of type ``bootstrap.kubernetes.io/token`` in ``kube-system``, whose
data holds ``token-id``, ``token-secret``, optional ``expiration`` (RFC 3339),
``usage-bootstrap-authentication: "true"`` and optional ``auth-extra-groups`` (a comma list
of groups that must start with ``system:bootstrappers:``). :func:`bootstrap_token_secret`
builds that Secret; :func:`generate_bootstrap_token` a random token.

:class:`BootstrapTokenAuthenticator` (a :class:`korch.apiserver.Authenticator`) reads the
Secret through a client on each request. A bearer token of another shape, or whose id has no
Secret, is not its business (``None``); one whose Secret exists but disagrees — wrong secret
(compared in constant time), expired on the injected clock, being deleted, not marked for
authentication, bad extra groups — is :class:`korch.errors.Unauthorized`. The user is
``system:bootstrap:<id>`` in the groups ``system:bootstrappers``, the extra groups and
``system:authenticated``; the default roles let ``system:bootstrappers`` create
CertificateSigningRequests (``system:node-bootstrapper``) and nothing else.

korch's API server keeps a Secret's ``stringData`` as written (kube-apiserver folds it into
``data``), so the authenticator reads ``data`` first and falls back to ``stringData``.
"""

from __future__ import annotations

import datetime
import hmac
import re
import secrets
from collections.abc import Sequence
from typing import Final

from korch import clock as clock_module
from korch import errors
from korch.api import _core_other, _meta
from korch.apiserver import _authn, _types
from korch.client import _protocol
from korch.security import _rbac

__all__ = (
    "BOOTSTRAPPERS_GROUP",
    "BOOTSTRAP_TOKEN_SECRET_TYPE",
    "BootstrapTokenAuthenticator",
    "bootstrap_token_secret",
    "generate_bootstrap_token",
    "parse_bootstrap_token",
)

BOOTSTRAP_TOKEN_SECRET_TYPE: Final = "bootstrap.kubernetes.io/token"
BOOTSTRAPPERS_GROUP: Final = "system:bootstrappers"
BOOTSTRAP_USER_PREFIX: Final = "system:bootstrap:"
SECRET_PREFIX: Final = "bootstrap-token-"
NAMESPACE: Final = "kube-system"
_TOKEN: Final = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_EXTRA_GROUP: Final = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789"


def generate_bootstrap_token() -> str:
    """A random ``<6>.<16>`` token (``secrets`` module randomness)."""
    token_id = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    token_secret = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"{token_id}.{token_secret}"


def parse_bootstrap_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed bootstrap token, else ``None``."""
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def bootstrap_token_secret(
    token: str,
    *,
    expiration: datetime.datetime | None = None,
    extra_groups: Sequence[str] = (),
    usages: Sequence[str] = ("authentication", "signing"),
    description: str = "",
) -> _core_other.Secret:
    """The kube-system Secret that backs ``token``.

    Args:
        token: ``<id>.<secret>``.
        expiration: when it stops working (``None``: never).
        extra_groups: more groups for its user, each ``system:bootstrappers:…``.
        usages: ``authentication`` (log in with it) and/or ``signing`` (sign cluster-info).
        description: a human note.

    Raises:
        korch.errors.Invalid: a malformed token or extra group.
    """
    parsed = parse_bootstrap_token(token)
    if parsed is None:
        raise errors.Invalid(
            "invalid bootstrap token",
            [errors.Cause("token", "must be <6 chars>.<16 chars> of [a-z0-9]")],
        )
    bad = [g for g in extra_groups if not _EXTRA_GROUP.match(g)]
    if bad:
        raise errors.Invalid(
            "invalid bootstrap token",
            [
                errors.Cause("auth-extra-groups", f"{g!r} must start with system:bootstrappers:")
                for g in bad
            ],
        )
    token_id, token_secret = parsed
    data = {"token-id": token_id.encode(), "token-secret": token_secret.encode()}
    for usage in usages:
        data[f"usage-bootstrap-{usage}"] = b"true"
    if expiration is not None:
        stamp = expiration.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data["expiration"] = stamp.encode()
    if extra_groups:
        data["auth-extra-groups"] = ",".join(extra_groups).encode()
    if description:
        data["description"] = description.encode()
    return _core_other.Secret(
        metadata=_meta.ObjectMeta(name=SECRET_PREFIX + token_id, namespace=NAMESPACE),
        type=BOOTSTRAP_TOKEN_SECRET_TYPE,
        data=data,
    )


def _field(secret: _core_other.Secret, name: str) -> str:
    value = secret.data.get(name)
    if value is not None:
        return value.decode("utf-8", errors="replace")
    return secret.string_data.get(name, "")


def _parse_time(text: str) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class BootstrapTokenAuthenticator:
    """Authenticates bootstrap tokens against their kube-system Secrets (module docstring).

    Args:
        client: reads the Secrets (it needs ``get`` on secrets in kube-system: with RBAC
            on, use a privileged client such as the API server's loopback one).
        clock: the time expirations are checked at.
    """

    def __init__(
        self, client: _protocol.Client, *, clock: clock_module.Clock | None = None
    ) -> None:
        self._client = client
        self._clock: clock_module.Clock = clock or clock_module.SystemClock()

    async def authenticate(self, request: _authn.AuthenticationRequest) -> _types.UserInfo | None:
        """The token's user, ``None`` if it is no bootstrap token, or raise Unauthorized."""
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        parsed = parse_bootstrap_token(token.strip())
        if parsed is None:
            return None
        token_id, token_secret = parsed
        try:
            secret = await self._client.get(
                _core_other.Secret, SECRET_PREFIX + token_id, namespace=NAMESPACE
            )
        except errors.NotFound:
            return None
        if secret.type != BOOTSTRAP_TOKEN_SECRET_TYPE:
            return None
        who = f"bootstrap token {token_id}"
        if _field(secret, "token-id") != token_id or not hmac.compare_digest(
            _field(secret, "token-secret").encode(), token_secret.encode()
        ):
            raise errors.Unauthorized(f"{who}: the token does not match its Secret")
        if secret.metadata.deletion_timestamp is not None:
            raise errors.Unauthorized(f"{who} is being deleted")
        expiration = _field(secret, "expiration")
        if expiration:
            expires = _parse_time(expiration)
            if expires is None:
                raise errors.Unauthorized(f"{who}: cannot parse its expiration {expiration!r}")
            if self._clock.time() >= expires.timestamp():
                raise errors.Unauthorized(f"{who} expired at {expiration}")
        if _field(secret, "usage-bootstrap-authentication") != "true":
            raise errors.Unauthorized(f"{who} is not marked for authentication")
        extra = [g.strip() for g in _field(secret, "auth-extra-groups").split(",") if g.strip()]
        bad = [g for g in extra if not _EXTRA_GROUP.match(g)]
        if bad:
            raise errors.Unauthorized(f"{who} has invalid auth-extra-groups {bad!r}")
        return _types.UserInfo(
            name=BOOTSTRAP_USER_PREFIX + token_id,
            groups=(BOOTSTRAPPERS_GROUP, *extra, _rbac.AUTHENTICATED_GROUP),
        )
