"""x509 client-certificate authentication, as kube-apiserver's ``--client-ca-file`` does it.

The TLS layer verifies the peer's chain against the client CA during the handshake (a
certificate the CA did not sign never reaches the application); this authenticator reads
the verified leaf: the subject's Common Name is the user name, each Organization a group,
and every authenticated user is also in ``system:authenticated``. A certificate outside its
validity window is refused with :class:`korch.errors.Unauthorized` (Python's ssl checks it
too; the check here keeps the rule when a front end hands over certificates itself). A
certificate without a Common Name is refused: it names nobody.
"""

from __future__ import annotations

from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from korch import clock as clock_module
from korch import errors
from korch.apiserver import _authn, _types

__all__ = ("AUTHENTICATED_GROUP", "X509Authenticator", "user_from_certificate")

AUTHENTICATED_GROUP: Final = "system:authenticated"
_CACHE_SIZE: Final = 1024


def user_from_certificate(certificate: x509.Certificate) -> _types.UserInfo:
    """The user a certificate names (CN -> name, O -> groups, + system:authenticated).

    Raises:
        korch.errors.Unauthorized: the certificate has no Common Name.
    """
    subject = certificate.subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or not str(names[0].value):
        raise errors.Unauthorized("the client certificate has no common name")
    groups = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if AUTHENTICATED_GROUP not in groups:
        groups.append(AUTHENTICATED_GROUP)
    return _types.UserInfo(name=str(names[0].value), groups=tuple(groups))


class X509Authenticator:
    """Authenticates requests by their (TLS-verified) client certificate.

    Args:
        clock: the time validity is checked against (default: the system clock).
    """

    def __init__(self, *, clock: clock_module.Clock | None = None) -> None:
        self._clock = clock or clock_module.SystemClock()
        # DER -> (user, not before, not after): a client sends the same certificate on
        # every request, and parsing it costs more than the rest of a get
        self._seen: dict[bytes, tuple[_types.UserInfo, float, float]] = {}

    async def authenticate(self, request: _authn.AuthenticationRequest) -> _types.UserInfo | None:
        if not request.client_certificates:
            return None
        der = bytes(request.client_certificates[0])
        known = self._seen.get(der)
        if known is None:
            try:
                leaf = x509.load_der_x509_certificate(der)
            except ValueError as exc:
                raise errors.Unauthorized("the client certificate cannot be parsed") from exc
            user = user_from_certificate(leaf)
            known = (
                user,
                leaf.not_valid_before_utc.timestamp(),
                leaf.not_valid_after_utc.timestamp(),
            )
            if len(self._seen) >= _CACHE_SIZE:
                self._seen.pop(next(iter(self._seen)))
            self._seen[der] = known
        user, not_before, not_after = known
        if not not_before <= self._clock.time() <= not_after:
            raise errors.Unauthorized("the client certificate has expired or is not yet valid")
        return user

    def __repr__(self) -> str:
        return "<X509Authenticator>"
