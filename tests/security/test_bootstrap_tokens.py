"""Bootstrap tokens: Secrets of type bootstrap.kubernetes.io/token in kube-system
authenticate system:bootstrap:<id> in system:bootstrappers until they expire."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import attrs
import pytest

from korch import errors
from korch.api import ObjectMeta, Secret
from korch.apiserver import AuthenticationRequest, Authenticator
from korch.security._bootstrap import (
    BootstrapTokenAuthenticator,
    bootstrap_token_secret,
    generate_bootstrap_token,
    parse_bootstrap_token,
)
from korch.testing import Environment

pytestmark = pytest.mark.anyio

TOKEN = "abcdef.0123456789abcdef"


def bearer(token: str) -> AuthenticationRequest:
    return AuthenticationRequest(headers={"authorization": f"Bearer {token}"})


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async with Environment() as environment:
        yield environment


def in_an_hour(env: Environment) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(env.clock.time() + 3600, datetime.UTC)


async def test_valid_token_until_it_expires(env: Environment) -> None:
    await env.client.create(
        bootstrap_token_secret(
            TOKEN,
            expiration=in_an_hour(env),
            extra_groups=["system:bootstrappers:kubeadm:default-node-token"],
        )
    )
    authenticator = BootstrapTokenAuthenticator(env.client, clock=env.clock)
    assert isinstance(authenticator, Authenticator)
    user = await authenticator.authenticate(bearer(TOKEN))
    assert user is not None
    assert user.name == "system:bootstrap:abcdef"
    assert user.groups == (
        "system:bootstrappers",
        "system:bootstrappers:kubeadm:default-node-token",
        "system:authenticated",
    )
    await env.advance(3600)
    with pytest.raises(errors.Unauthorized, match="expired"):
        await authenticator.authenticate(bearer(TOKEN))


async def test_wrong_secret_is_unauthorized(env: Environment) -> None:
    await env.client.create(bootstrap_token_secret(TOKEN))
    authenticator = BootstrapTokenAuthenticator(env.client, clock=env.clock)
    with pytest.raises(errors.Unauthorized, match="does not match"):
        await authenticator.authenticate(bearer("abcdef.ffffffffffffffff"))


async def test_not_ours(env: Environment) -> None:
    authenticator = BootstrapTokenAuthenticator(env.client, clock=env.clock)
    assert await authenticator.authenticate(AuthenticationRequest()) is None
    assert await authenticator.authenticate(bearer("not-a-bootstrap-token")) is None
    assert await authenticator.authenticate(bearer(TOKEN)) is None  # no Secret for abcdef
    await env.client.create(
        Secret(
            metadata=ObjectMeta(name="bootstrap-token-abcdef", namespace="kube-system"),
            type="Opaque",
            data={"token-id": b"abcdef", "token-secret": b"0123456789abcdef"},
        )
    )
    assert await authenticator.authenticate(bearer(TOKEN)) is None  # wrong type


async def test_usage_must_allow_authentication(env: Environment) -> None:
    await env.client.create(bootstrap_token_secret(TOKEN, usages=["signing"]))
    authenticator = BootstrapTokenAuthenticator(env.client, clock=env.clock)
    with pytest.raises(errors.Unauthorized, match="not marked for authentication"):
        await authenticator.authenticate(bearer(TOKEN))


async def test_string_data_secret_and_bad_extra_groups(env: Environment) -> None:
    secret = Secret(
        metadata=ObjectMeta(name="bootstrap-token-abcdef", namespace="kube-system"),
        type="bootstrap.kubernetes.io/token",
        string_data={
            "token-id": "abcdef",
            "token-secret": "0123456789abcdef",
            "usage-bootstrap-authentication": "true",
            "auth-extra-groups": "system:masters",
        },
    )
    await env.client.create(secret)
    authenticator = BootstrapTokenAuthenticator(env.client, clock=env.clock)
    with pytest.raises(errors.Unauthorized, match="invalid auth-extra-groups"):
        await authenticator.authenticate(bearer(TOKEN))
    fixed = attrs.evolve(secret, string_data={**secret.string_data, "auth-extra-groups": ""})
    current = await env.client.get(Secret, secret.metadata.name, namespace="kube-system")
    await env.client.update(attrs.evolve(fixed, metadata=current.metadata))
    user = await authenticator.authenticate(bearer(TOKEN))
    assert user is not None and "system:masters" not in user.groups


def test_token_helpers() -> None:
    token = generate_bootstrap_token()
    parsed = parse_bootstrap_token(token)
    assert parsed is not None and len(parsed[0]) == 6 and len(parsed[1]) == 16
    assert parse_bootstrap_token("ABCDEF.0123456789abcdef") is None
    with pytest.raises(errors.Invalid, match="6 chars"):
        bootstrap_token_secret("short.token")
    with pytest.raises(errors.Invalid, match="system:bootstrappers:"):
        bootstrap_token_secret(TOKEN, extra_groups=["system:masters"])
    secret = bootstrap_token_secret(
        TOKEN, expiration=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    )
    assert secret.metadata.name == "bootstrap-token-abcdef"
    assert secret.data["expiration"] == b"2030-01-01T00:00:00Z"
    assert secret.data["usage-bootstrap-authentication"] == b"true"
