"""Static bearer tokens, as kube-apiserver's ``--token-auth-file`` does them.

A request carrying ``Authorization: Bearer <token>`` is authenticated by looking the token
up; an unknown token is :class:`korch.errors.Unauthorized` (a credential of this kind, but a
bad one: the chain stops, 401). Requests without a bearer token are not this
authenticator's business (``None``). Tokens are compared in constant time.

The token file is kube-apiserver's CSV: ``token,user,uid,"group1,group2"`` per line (uid and
groups optional; ``#`` comments and blank lines skipped).
"""

from __future__ import annotations

import csv
import hmac
import io
import os
from collections.abc import Mapping
from pathlib import Path

from korch import errors
from korch.apiserver import _authn, _types
from korch.security import _x509

__all__ = ("StaticTokenAuthenticator", "bearer_token")


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    value = headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class StaticTokenAuthenticator:
    """Authenticates bearer tokens from a fixed table.

    Args:
        tokens: token -> the user it stands for (``system:authenticated`` is added to the
            user's groups).
    """

    def __init__(self, tokens: Mapping[str, _types.UserInfo]) -> None:
        self._tokens: dict[str, _types.UserInfo] = {}
        for token, user in tokens.items():
            if not token:
                raise errors.BadRequest("a token may not be empty")
            groups = user.groups
            if _x509.AUTHENTICATED_GROUP not in groups:
                groups = (*groups, _x509.AUTHENTICATED_GROUP)
            self._tokens[token] = _types.UserInfo(
                name=user.name, uid=user.uid, groups=groups, extra=user.extra
            )

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> StaticTokenAuthenticator:
        """Read a kube-apiserver token file (see the module docstring).

        Raises:
            korch.errors.BadRequest: unreadable file, or a line with fewer than 2 fields.
        """
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise errors.BadRequest(f"cannot read token file {path}: {exc}") from exc
        tokens: dict[str, _types.UserInfo] = {}
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 2:
                raise errors.BadRequest(f"token file {path} line {number}: need token,user")
            groups = (
                tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            )
            uid = row[2].strip() if len(row) > 2 else ""
            tokens[row[0].strip()] = _types.UserInfo(name=row[1].strip(), uid=uid, groups=groups)
        return cls(tokens)

    async def authenticate(self, request: _authn.AuthenticationRequest) -> _types.UserInfo | None:
        token = bearer_token(request.headers)
        if token is None:
            return None
        found = None
        for known, user in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = user
        if found is None:
            raise errors.Unauthorized("invalid bearer token")
        return found

    def __repr__(self) -> str:
        return f"<StaticTokenAuthenticator {len(self._tokens)} tokens>"
