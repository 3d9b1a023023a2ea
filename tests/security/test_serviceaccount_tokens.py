"""ServiceAccount JWTs: issuing (TokenRequest), checking (signature, expiry, audience,
existence of the account and bound pod), on the fake clock."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import attrs
import pytest

from korch import errors
from korch.api import (
    ClusterRole,
    Container,
    ObjectMeta,
    Pod,
    PodSpec,
    PolicyRule,
    RoleBinding,
    RoleRef,
    ServiceAccount,
    Subject,
)
from korch.apiserver import AuthenticationRequest, Authenticator
from korch.security._rbac import ResourceAttributes
from korch.security._rbac_authorizer import RBACAuthorizer
from korch.security._serviceaccounts import (
    DEFAULT_SERVICE_ACCOUNT_ISSUER,
    ServiceAccountTokenAuthenticator,
    ServiceAccountTokenIssuer,
    generate_signing_key,
    request_token,
)
from korch.testing import Environment

pytestmark = pytest.mark.anyio


def bearer(token: str) -> AuthenticationRequest:
    return AuthenticationRequest(headers={"authorization": f"Bearer {token}"})


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    result: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return result


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async with Environment() as environment:
        yield environment


@pytest.fixture(params=["ES256", "RS256"], scope="module")
def key(request: pytest.FixtureRequest) -> object:
    return generate_signing_key(request.param)


async def make_account(env: Environment) -> ServiceAccount:
    return await env.client.create(ServiceAccount(metadata=ObjectMeta(name="robot")))


async def test_issue_and_authenticate(env: Environment, key: object) -> None:
    account = await make_account(env)
    issuer = ServiceAccountTokenIssuer(key, clock=env.clock)  # type: ignore[arg-type]
    status = issuer.issue_token(account, audiences=["api"], expiration_seconds=3600)
    assert status.expiration_timestamp.timestamp() == env.clock.time() // 1 + 3600
    body = claims(status.token)
    assert body["iss"] == DEFAULT_SERVICE_ACCOUNT_ISSUER
    assert body["sub"] == "system:serviceaccount:default:robot"
    assert body["aud"] == ["api"]
    assert body["kubernetes.io"] == {
        "namespace": "default",
        "serviceaccount": {"name": "robot", "uid": account.metadata.uid},
    }
    assert body["exp"] == body["iat"] + 3600 == body["nbf"] + 3600  # type: ignore[operator]
    authenticator = ServiceAccountTokenAuthenticator(
        env.client, [issuer.public_key], audiences=["api"], clock=env.clock
    )
    assert isinstance(authenticator, Authenticator)
    user = await authenticator.authenticate(bearer(status.token))
    assert user is not None
    assert user.name == "system:serviceaccount:default:robot"
    assert user.uid == account.metadata.uid
    assert user.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    )


async def test_expiry_on_the_fake_clock(env: Environment) -> None:
    account = await make_account(env)
    issuer = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    token = issuer.issue_token(account, expiration_seconds=600).token
    authenticator = ServiceAccountTokenAuthenticator(
        env.client, [issuer.public_key], clock=env.clock
    )
    await env.advance(600 + 59)  # within go-jose's minute of leeway
    assert await authenticator.authenticate(bearer(token)) is not None
    await env.advance(2)
    with pytest.raises(errors.Unauthorized, match="expired"):
        await authenticator.authenticate(bearer(token))


async def test_audience_must_match(env: Environment) -> None:
    account = await make_account(env)
    issuer = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    token = issuer.issue_token(account, audiences=["vault"]).token
    strict = ServiceAccountTokenAuthenticator(env.client, [issuer.public_key], clock=env.clock)
    with pytest.raises(errors.Unauthorized, match="audiences"):
        await strict.authenticate(bearer(token))
    vault = ServiceAccountTokenAuthenticator(
        env.client, [issuer.public_key], audiences=["vault"], clock=env.clock
    )
    assert await vault.authenticate(bearer(token)) is not None


async def test_signature_and_rotation(env: Environment) -> None:
    account = await make_account(env)
    old = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    new = ServiceAccountTokenIssuer(generate_signing_key("RS256"), clock=env.clock)
    forged = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    both = ServiceAccountTokenAuthenticator(
        env.client, [new.public_key, old.public_key], clock=env.clock
    )
    assert await both.authenticate(bearer(old.issue_token(account).token)) is not None
    assert await both.authenticate(bearer(new.issue_token(account).token)) is not None
    with pytest.raises(errors.Unauthorized, match="signature"):
        await both.authenticate(bearer(forged.issue_token(account).token))
    header, payload, signature = old.issue_token(account).token.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    tampered["sub"] = "system:serviceaccount:kube-system:admin"
    payload = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    with pytest.raises(errors.Unauthorized, match="signature"):
        await both.authenticate(bearer(f"{header}.{payload}.{signature}"))


async def test_deleted_or_recreated_account_is_rejected(env: Environment) -> None:
    account = await make_account(env)
    issuer = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    token = issuer.issue_token(account).token
    authenticator = ServiceAccountTokenAuthenticator(
        env.client, [issuer.public_key], clock=env.clock
    )
    await env.client.delete(ServiceAccount, "robot")
    with pytest.raises(errors.Unauthorized, match="has been deleted"):
        await authenticator.authenticate(bearer(token))
    await make_account(env)
    with pytest.raises(errors.Unauthorized, match="deleted and recreated"):
        await authenticator.authenticate(bearer(token))
    offline = ServiceAccountTokenAuthenticator(None, [issuer.public_key], clock=env.clock)
    assert await offline.authenticate(bearer(token)) is not None


async def test_pod_bound_token(env: Environment) -> None:
    await make_account(env)
    pod = await env.client.create(
        Pod(
            metadata=ObjectMeta(name="web"),
            spec=PodSpec(service_account_name="robot", containers=[Container(name="c", image="i")]),
        )
    )
    issuer = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    status = await request_token(
        env.client,
        issuer,
        "robot",
        namespace="default",
        bound_object_ref=("Pod", "web", pod.metadata.uid),
    )
    assert claims(status.token)["kubernetes.io"]["pod"] == {  # type: ignore[index]
        "name": "web",
        "uid": pod.metadata.uid,
    }
    authenticator = ServiceAccountTokenAuthenticator(
        env.client, [issuer.public_key], clock=env.clock
    )
    user = await authenticator.authenticate(bearer(status.token))
    assert user is not None
    assert user.extra["authentication.kubernetes.io/pod-name"] == ("web",)
    assert user.extra["authentication.kubernetes.io/pod-uid"] == (pod.metadata.uid,)
    await env.client.delete(Pod, "web", grace_period_seconds=0)
    await env.settle()
    with pytest.raises(errors.Unauthorized, match="pod web"):
        await authenticator.authenticate(bearer(status.token))


async def test_token_request_errors(env: Environment) -> None:
    issuer = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    with pytest.raises(errors.NotFound):
        await request_token(env.client, issuer, "nobody", namespace="default")
    account = await make_account(env)
    with pytest.raises(errors.Invalid, match="less than 600 seconds"):
        issuer.issue_token(account, expiration_seconds=60)
    with pytest.raises(errors.NotFound):
        await request_token(
            env.client, issuer, "robot", namespace="default", bound_object_ref=("Pod", "x", "")
        )
    with pytest.raises(errors.Invalid, match="must be Pod, Secret or Node"):
        await request_token(
            env.client, issuer, "robot", namespace="default", bound_object_ref=("Job", "x", "")
        )


async def test_tokens_not_ours_are_passed_on(env: Environment) -> None:
    issuer = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    authenticator = ServiceAccountTokenAuthenticator(
        env.client, [issuer.public_key], clock=env.clock
    )
    assert await authenticator.authenticate(AuthenticationRequest()) is None
    assert await authenticator.authenticate(bearer("static-token")) is None
    assert await authenticator.authenticate(bearer("abcdef.0123456789abcdef")) is None
    other = ServiceAccountTokenIssuer(
        generate_signing_key(), issuer="https://oidc.example.com", clock=env.clock
    )
    account = await make_account(env)
    assert await authenticator.authenticate(bearer(other.issue_token(account).token)) is None


def test_jwks_lists_the_public_key() -> None:
    ec_issuer = ServiceAccountTokenIssuer(generate_signing_key())
    (jwk,) = ec_issuer.jwks()["keys"]
    assert jwk["kty"] == "EC" and jwk["kid"] == ec_issuer.key_id and jwk["alg"] == "ES256"
    (rsa_jwk,) = ServiceAccountTokenIssuer(generate_signing_key("RS256")).jwks()["keys"]
    assert rsa_jwk["kty"] == "RSA" and rsa_jwk["e"] == "AQAB"


async def test_token_user_is_authorized_by_service_account_bindings(env: Environment) -> None:
    account = await make_account(env)
    issuer = ServiceAccountTokenIssuer(generate_signing_key(), clock=env.clock)
    authenticator = ServiceAccountTokenAuthenticator(
        env.client, [issuer.public_key], clock=env.clock
    )
    user = await authenticator.authenticate(bearer(issuer.issue_token(account).token))
    rbac = "rbac.authorization.k8s.io"
    authorizer = RBACAuthorizer(
        objects=[
            ClusterRole(
                metadata=ObjectMeta(name="pod-reader"),
                rules=[PolicyRule(verbs=["list"], api_groups=[""], resources=["pods"])],
            ),
            RoleBinding(
                metadata=ObjectMeta(name="robot-reads", namespace="default"),
                role_ref=RoleRef(api_group=rbac, kind="ClusterRole", name="pod-reader"),
                subjects=[Subject(kind="ServiceAccount", name="robot")],
            ),
        ]
    )
    allowed = ResourceAttributes(verb="list", resource="pods", namespace="default")
    assert authorizer.decide(user, allowed).allowed
    assert not authorizer.decide(user, attrs.evolve(allowed, namespace="kube-system")).allowed
