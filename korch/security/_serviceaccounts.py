"""ServiceAccount tokens: signed JWTs as kube-apiserver issues (TokenRequest) and checks them.

**Issuing** (:class:`ServiceAccountTokenIssuer`). A token is a JWS compact serialization,
signed RS256 (an RSA key) or ES256 (an EC P-256 key) with ``cryptography``; the header's
``kid`` is the unpadded URL-safe base64 of the SHA-256 of the public key's DER
(SubjectPublicKeyInfo), as Kubernetes computes it. Claims, as Kubernetes' bound tokens::

    {"iss": "https://kubernetes.default.svc.cluster.local", "sub":
     "system:serviceaccount:<ns>:<name>", "aud": ["<audience>", …], "exp": …, "iat": …,
     "nbf": …, "jti": "<uuid>", "kubernetes.io": {"namespace": "<ns>", "serviceaccount":
     {"name": …, "uid": …}, "pod": {"name": …, "uid": …}}}

``pod`` (or ``secret``, ``node``) appears when the token is bound to an object: it is then
valid only while that object exists with that uid. :meth:`ServiceAccountTokenIssuer.issue_token`
signs one for objects in hand; :func:`request_token` is the ``serviceaccounts/token``
subresource (``kubectl create token``): it reads the ServiceAccount and the bound object
through a client first (NotFound when missing, Conflict on a uid mismatch). As
kube-apiserver's TokenRequest, ``expiration_seconds`` must be at least 600; audiences
default to the issuer's API audiences.

**Checking** (:class:`ServiceAccountTokenAuthenticator`, a :class:`korch.apiserver.Authenticator`).
A bearer token that is not a JWT, or whose ``iss`` is not one of ours, is not this
authenticator's business (``None``: OIDC or a static token may know it). Otherwise it is
:class:`korch.errors.Unauthorized` unless the signature verifies with one of the configured
public keys (several: key rotation), the token is within ``nbf``…``exp`` on the injected
clock (60 s of leeway either way, go-jose's default that Kubernetes uses), one of its
audiences is one of ours, and — read through the client — the ServiceAccount still exists
with the token's uid, as does the bound object (a pod that is being deleted no longer
counts). The user is ``system:serviceaccount:<ns>:<name>`` with the SA's uid, groups
``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and ``system:authenticated``,
and, for a pod-bound token, extra ``authentication.kubernetes.io/pod-name``/``pod-uid`` (and
``credential-id`` ``JTI=<jti>``).

Place this authenticator before a static-token authenticator in a chain: the static one
rejects every token it does not know (which ends the chain).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any, Final, TypeAlias

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from korch import clock as clock_module
from korch import errors
from korch.api import _core_node, _core_other, _core_pod
from korch.apiserver import _authn, _types
from korch.client import _protocol
from korch.security import _rbac

__all__ = (
    "DEFAULT_SERVICE_ACCOUNT_ISSUER",
    "ServiceAccountTokenAuthenticator",
    "ServiceAccountTokenIssuer",
    "TokenRequestStatus",
    "generate_signing_key",
    "public_jwk",
    "request_token",
)

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
BoundObject: TypeAlias = _core_pod.Pod | _core_other.Secret | _core_node.Node

DEFAULT_SERVICE_ACCOUNT_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"
MIN_EXPIRATION_SECONDS: Final = 600
MAX_EXPIRATION_SECONDS: Final = 2**32
LEEWAY_SECONDS: Final = 60
_EXTRA_PREFIX: Final = "authentication.kubernetes.io/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_signing_key(algorithm: str = "ES256") -> PrivateKey:
    """A new private key for ``ES256`` (EC P-256) or ``RS256`` (RSA 2048).

    Raises:
        ValueError: another algorithm.
    """
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported algorithm {algorithm!r} (supported: ES256, RS256)")


def _algorithm(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError(f"EC keys must use P-256 for ES256, not {key.curve.name}")


def key_id(public_key: PublicKey) -> str:
    """Kubernetes' ``kid``: URL-safe base64 (no padding) of SHA-256 of the DER public key."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b64(hashlib.sha256(der).digest())


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _verify(key: PublicKey, algorithm: str, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if algorithm != "RS256":
                return False
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        if algorithm != "ES256" or len(signature) != 64:
            return False
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


@attrs.frozen(kw_only=True)
class TokenRequestStatus:
    """A TokenRequest's answer: the ``token`` and when it expires."""

    token: str
    expiration_timestamp: datetime.datetime


class ServiceAccountTokenIssuer:
    """Signs ServiceAccount tokens (see the module docstring).

    Args:
        signing_key: an RSA (RS256) or EC P-256 (ES256) private key.
        issuer: the ``iss`` claim (kube-apiserver's ``--service-account-issuer``).
        api_audiences: the default audiences (``--api-audiences``; default: the issuer).
        clock: the time tokens are issued at.

    Raises:
        ValueError: an EC key on another curve.
    """

    def __init__(
        self,
        signing_key: PrivateKey,
        *,
        issuer: str = DEFAULT_SERVICE_ACCOUNT_ISSUER,
        api_audiences: Sequence[str] = (),
        clock: clock_module.Clock | None = None,
    ) -> None:
        self.signing_key = signing_key
        self.algorithm = _algorithm(signing_key)
        self.issuer = issuer
        self.api_audiences = tuple(api_audiences) or (issuer,)
        self.clock: clock_module.Clock = clock or clock_module.SystemClock()
        self.key_id = key_id(signing_key.public_key())

    @property
    def public_key(self) -> PublicKey:
        """The key that verifies this issuer's tokens."""
        return self.signing_key.public_key()

    def issue_token(
        self,
        service_account: _core_other.ServiceAccount,
        audiences: Sequence[str] = (),
        expiration_seconds: int = 3600,
        bound_object: BoundObject | None = None,
    ) -> TokenRequestStatus:
        """Sign a token for ``service_account`` (a TokenRequest, for objects in hand).

        Args:
            service_account: the account (its namespace, name and uid go into the token).
            audiences: who the token is for (default: the API audiences).
            expiration_seconds: lifetime, 600 s to 2**32 s.
            bound_object: a Pod or Secret of the same namespace, or a Node, that the token
                lives and dies with.

        Raises:
            korch.errors.Invalid: a lifetime out of range, an account without a name or
                namespace, or a bound object in another namespace.
        """
        meta = service_account.metadata
        causes = []
        if not meta.name or not meta.namespace:
            causes.append(errors.Cause("metadata", "the ServiceAccount needs a name and namespace"))
        if not MIN_EXPIRATION_SECONDS <= expiration_seconds <= MAX_EXPIRATION_SECONDS:
            causes.append(
                errors.Cause(
                    "spec.expirationSeconds",
                    f"may not specify a duration less than {MIN_EXPIRATION_SECONDS} seconds "
                    f"or more than 2^32 seconds (got {expiration_seconds})",
                )
            )
        claims_kubernetes: dict[str, Any] = {
            "namespace": meta.namespace,
            "serviceaccount": {"name": meta.name, "uid": meta.uid},
        }
        if bound_object is not None:
            bound_meta = bound_object.metadata
            kind = bound_object.kind.lower()
            if kind != "node" and bound_meta.namespace != meta.namespace:
                causes.append(
                    errors.Cause(
                        "spec.boundObjectRef",
                        f"{bound_object.kind} {bound_meta.namespace}/{bound_meta.name} is not in "
                        f"the ServiceAccount's namespace {meta.namespace}",
                    )
                )
            claims_kubernetes[kind] = {"name": bound_meta.name, "uid": bound_meta.uid}
        if causes:
            raise errors.Invalid("TokenRequest is invalid", causes)
        now = int(self.clock.time())
        claims = {
            "aud": list(audiences) or list(self.api_audiences),
            "exp": now + expiration_seconds,
            "iat": now,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": claims_kubernetes,
            "nbf": now,
            "sub": _rbac.service_account_username(meta.namespace, meta.name),
        }
        header = {"alg": self.algorithm, "kid": self.key_id}
        signing_input = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = _sign(self.signing_key, signing_input.encode())
        return TokenRequestStatus(
            token=f"{signing_input}.{_b64(signature)}",
            expiration_timestamp=datetime.datetime.fromtimestamp(
                now + expiration_seconds, datetime.UTC
            ),
        )

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set (``/openid/v1/jwks``)."""
        return {"keys": [public_jwk(self.public_key)]}


def public_jwk(public_key: PublicKey) -> dict[str, Any]:
    """One public key as a JWK (``use: sig``, with Kubernetes' ``kid``)."""
    common = {"use": "sig", "kid": key_id(public_key), "alg": _algorithm(public_key)}
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {
            **common,
            "kty": "RSA",
            "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
    ec_numbers = public_key.public_numbers()
    return {
        **common,
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(ec_numbers.x.to_bytes(32, "big")),
        "y": _b64(ec_numbers.y.to_bytes(32, "big")),
    }


async def request_token(
    client: _protocol.Client,
    issuer: ServiceAccountTokenIssuer,
    name: str,
    *,
    namespace: str,
    audiences: Sequence[str] = (),
    expiration_seconds: int = 3600,
    bound_object_ref: tuple[str, str, str] | None = None,
) -> TokenRequestStatus:
    """The ``serviceaccounts/token`` subresource: a token for an existing ServiceAccount.

    Args:
        client: reads the ServiceAccount and the bound object.
        issuer: signs the token.
        name: the ServiceAccount's name.
        namespace: its namespace.
        audiences: who the token is for (default: the issuer's API audiences).
        expiration_seconds: lifetime (600 s or more).
        bound_object_ref: ``(kind, name, uid)`` of a Pod, Secret (same namespace) or Node;
            ``uid`` may be ``""`` to accept the current object.

    Raises:
        korch.errors.NotFound: the ServiceAccount or the bound object does not exist.
        korch.errors.Conflict: the bound object's uid is not ``uid``.
        korch.errors.Invalid: see :meth:`ServiceAccountTokenIssuer.issue_token`; a bound
            kind other than Pod, Secret or Node.
    """
    service_account = await client.get(_core_other.ServiceAccount, name, namespace=namespace)
    bound: BoundObject | None = None
    if bound_object_ref is not None:
        kind, bound_name, uid = bound_object_ref
        classes: dict[str, type[BoundObject]] = {
            "Pod": _core_pod.Pod,
            "Secret": _core_other.Secret,
            "Node": _core_node.Node,
        }
        cls = classes.get(kind)
        if cls is None:
            raise errors.Invalid(
                "TokenRequest is invalid",
                [
                    errors.Cause(
                        "spec.boundObjectRef.kind",
                        f"must be Pod, Secret or Node, not {kind!r}",
                        "FieldValueNotSupported",
                    )
                ],
            )
        bound = await client.get(cls, bound_name, namespace=None if kind == "Node" else namespace)
        if uid and bound.metadata.uid != uid:
            raise errors.Conflict(
                f"the UID in the bound object reference ({uid}) does not match the UID in "
                f"record ({bound.metadata.uid}). The object might have been deleted and then "
                "recreated"
            )
    return issuer.issue_token(service_account, audiences, expiration_seconds, bound)


def _bearer(request: _authn.AuthenticationRequest) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _decode_segment(segment: str) -> Any:
    try:
        return json.loads(_unb64(segment))
    except (ValueError, UnicodeDecodeError):
        return None


class ServiceAccountTokenAuthenticator:
    """Authenticates ServiceAccount JWTs (see the module docstring).

    Args:
        client: reads ServiceAccounts and bound objects — with RBAC on, a privileged one
            such as :data:`korch.security.APISERVER_LOOPBACK_USER`'s (``None``: skip those
            checks, as kube-apiserver's ``--service-account-lookup=false``).
        public_keys: the keys that verify tokens (old and new, while rotating).
        issuers: accepted ``iss`` values (default: :data:`DEFAULT_SERVICE_ACCOUNT_ISSUER`).
        audiences: accepted audiences; a token needs one of them (default: the first issuer).
        clock: the time tokens are checked at.
    """

    def __init__(
        self,
        client: _protocol.Client | None,
        public_keys: Sequence[PublicKey],
        *,
        issuers: Sequence[str] = (DEFAULT_SERVICE_ACCOUNT_ISSUER,),
        audiences: Sequence[str] = (),
        clock: clock_module.Clock | None = None,
    ) -> None:
        if not public_keys:
            raise ValueError("at least one public key is needed to verify tokens")
        self._client = client
        self._keys = {key_id(k): k for k in public_keys}
        self._issuers = frozenset(issuers)
        self._audiences = tuple(audiences) or (next(iter(issuers)),)
        self._clock: clock_module.Clock = clock or clock_module.SystemClock()

    async def authenticate(self, request: _authn.AuthenticationRequest) -> _types.UserInfo | None:
        """The ServiceAccount's user, ``None`` for tokens not ours; Unauthorized if invalid."""
        token = _bearer(request)
        if token is None or token.count(".") != 2:
            return None
        header_part, claims_part, signature_part = token.split(".")
        header, claims = _decode_segment(header_part), _decode_segment(claims_part)
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None
        if claims.get("iss") not in self._issuers:
            return None
        self._check_signature(header, f"{header_part}.{claims_part}", signature_part)
        self._check_times(claims)
        self._check_audience(claims)
        namespace, name, sa_uid, bound = self._kubernetes_claims(claims)
        if self._client is not None:
            await self._check_objects(self._client, namespace, name, sa_uid, bound)
        extra: dict[str, tuple[str, ...]] = {}
        pod = bound.get("pod")
        if pod is not None:
            extra[_EXTRA_PREFIX + "pod-name"] = (pod[0],)
            extra[_EXTRA_PREFIX + "pod-uid"] = (pod[1],)
        node = bound.get("node")
        if node is not None:
            extra[_EXTRA_PREFIX + "node-name"] = (node[0],)
            extra[_EXTRA_PREFIX + "node-uid"] = (node[1],)
        if isinstance(claims.get("jti"), str):
            extra[_EXTRA_PREFIX + "credential-id"] = (f"JTI={claims['jti']}",)
        return _types.UserInfo(
            name=_rbac.service_account_username(namespace, name),
            uid=sa_uid,
            groups=(*_rbac.service_account_groups(namespace), _rbac.AUTHENTICATED_GROUP),
            extra=extra,
        )

    def _check_signature(self, header: dict[str, Any], signed: str, signature: str) -> None:
        algorithm = header.get("alg")
        kid = header.get("kid")
        keys = [self._keys[kid]] if kid in self._keys else list(self._keys.values())
        try:
            raw = _unb64(signature)
        except ValueError:
            raw = b""
        if not isinstance(algorithm, str) or not any(
            _verify(key, algorithm, raw, signed.encode()) for key in keys
        ):
            raise errors.Unauthorized("invalid bearer token: the signature does not verify")

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock.time()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float):
            raise errors.Unauthorized("invalid bearer token: no expiry (exp)")
        if now > exp + LEEWAY_SECONDS:
            raise errors.Unauthorized("service account token has expired")
        if isinstance(nbf, int | float) and now < nbf - LEEWAY_SECONDS:
            raise errors.Unauthorized("service account token is not valid yet (nbf)")

    def _check_audience(self, claims: dict[str, Any]) -> None:
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not set(audiences) & set(self._audiences):
            raise errors.Unauthorized(
                f"token audiences {audiences!r} are invalid for the target audiences "
                f"{list(self._audiences)!r}"
            )

    @staticmethod
    def _kubernetes_claims(
        claims: dict[str, Any],
    ) -> tuple[str, str, str, dict[str, tuple[str, str]]]:
        private = claims.get("kubernetes.io")
        account = private.get("serviceaccount") if isinstance(private, dict) else None
        if not isinstance(private, dict) or not isinstance(account, dict):
            raise errors.Unauthorized("invalid bearer token: no kubernetes.io claims")
        namespace, name = private.get("namespace"), account.get("name")
        uid = account.get("uid", "")
        if not all(isinstance(v, str) for v in (namespace, name, uid)) or not namespace or not name:
            raise errors.Unauthorized("invalid bearer token: malformed kubernetes.io claims")
        if claims.get("sub") != _rbac.service_account_username(namespace, name):
            raise errors.Unauthorized("invalid bearer token: sub does not match the account")
        bound: dict[str, tuple[str, str]] = {}
        for kind in ("pod", "secret", "node"):
            ref = private.get(kind)
            if isinstance(ref, dict):
                bound[kind] = (str(ref.get("name", "")), str(ref.get("uid", "")))
        return namespace, name, uid, bound

    async def _check_objects(
        self,
        client: _protocol.Client,
        namespace: str,
        name: str,
        uid: str,
        bound: dict[str, tuple[str, str]],
    ) -> None:
        try:
            account = await client.get(_core_other.ServiceAccount, name, namespace=namespace)
        except errors.NotFound as exc:
            raise errors.Unauthorized(
                f"service account {namespace}/{name} has been deleted"
            ) from exc
        if uid and account.metadata.uid != uid:
            raise errors.Unauthorized(
                f"service account UID ({uid}) does not match the current one "
                f"({account.metadata.uid}): it was deleted and recreated"
            )
        classes: dict[str, type[BoundObject]] = {
            "pod": _core_pod.Pod,
            "secret": _core_other.Secret,
            "node": _core_node.Node,
        }
        for kind, (bound_name, bound_uid) in bound.items():
            where = None if kind == "node" else namespace
            try:
                obj = await client.get(classes[kind], bound_name, namespace=where)
            except errors.NotFound as exc:
                raise errors.Unauthorized(f"{kind} {bound_name} has been deleted") from exc
            if obj.metadata.uid != bound_uid:
                raise errors.Unauthorized(
                    f"{kind} {bound_name} UID ({bound_uid}) does not match the current one "
                    f"({obj.metadata.uid})"
                )
            if obj.metadata.deletion_timestamp is not None:
                raise errors.Unauthorized(f"{kind} {bound_name} is being deleted")
