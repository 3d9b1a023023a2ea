"""PKI files, kubeconfigs, and authentication over HTTPS: x509 client certificates, bearer
tokens, anonymous requests refused."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from korch import errors
from korch.api import ConfigMap, ObjectMeta
from korch.apiserver import AuthenticationRequest, UserInfo
from korch.client._http import HTTPClient, ssl_context
from korch.client._kubeconfig import KubeConfig
from korch.security._pki import create_ca, create_client_certificate, ensure_cluster_pki
from korch.security._tokens import StaticTokenAuthenticator
from korch.security._x509 import X509Authenticator
from tests.http.conftest import TOKEN, Served

pytestmark = pytest.mark.anyio


def test_pki_is_created_once_and_loaded_after(tmp_path: Path) -> None:
    first = ensure_cluster_pki(tmp_path, server="https://127.0.0.1:6443", names=["example.test"])
    second = ensure_cluster_pki(tmp_path, server="https://127.0.0.1:7443")
    assert second.ca == first.ca and second.admin == first.admin
    assert second.serving == first.serving  # already covers every default name
    sans = first.serving.x509.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    names = set(sans.value.get_values_for_type(x509.DNSName))
    assert {"localhost", "kubernetes.default.svc", "example.test"} <= names
    assert "127.0.0.1" in {str(ip) for ip in sans.value.get_values_for_type(x509.IPAddress)}
    admin = first.admin.x509.subject
    assert admin.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    assert admin.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    for key in ("ca.key", "apiserver.key", "admin.key"):
        assert stat.S_IMODE((tmp_path / "pki" / key).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "kubeconfig").stat().st_mode) == 0o600
    config = second.kubeconfig()
    assert config.server == "https://127.0.0.1:7443"
    assert config.certificate_authority == first.ca.certificate
    assert config.client_certificate == first.admin.certificate
    reissued = ensure_cluster_pki(tmp_path, names=["new.example.test"])
    assert reissued.serving != first.serving and reissued.ca == first.ca


def test_damaged_pki_files_are_errors_not_overwritten(tmp_path: Path) -> None:
    ensure_cluster_pki(tmp_path)
    (tmp_path / "pki" / "ca.crt").write_text("garbage")
    with pytest.raises(errors.BadRequest, match=r"ca\.crt"):
        ensure_cluster_pki(tmp_path)
    assert (tmp_path / "pki" / "ca.crt").read_text() == "garbage"


def test_kubeconfig_round_trip_and_errors(tmp_path: Path) -> None:
    config = KubeConfig(server="https://h:1", certificate_authority=b"CA", token="t", namespace="x")
    path = tmp_path / "config"
    config.write(path)
    assert KubeConfig.load(path) == config
    with pytest.raises(errors.BadRequest, match="no context named 'other'"):
        KubeConfig.load(path, context="other")
    path.write_text("users: [{name: u, user: {exec: {command: x}}}]\ncontexts: [{name: c, "
                    "context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: "
                    "{server: https://h}}]\ncurrent-context: c\n")  # fmt: skip
    with pytest.raises(errors.BadRequest, match="exec"):
        KubeConfig.load(path)


async def test_x509_and_token_authenticators() -> None:
    ca = create_ca()
    cert = create_client_certificate(ca, "alice", organizations=["dev", "ops"]).x509
    request = AuthenticationRequest(
        client_certificates=[cert.public_bytes(serialization.Encoding.DER)]
    )
    user = await X509Authenticator().authenticate(request)
    assert user == UserInfo(name="alice", groups=("dev", "ops", "system:authenticated"))
    assert await X509Authenticator().authenticate(AuthenticationRequest()) is None
    tokens = StaticTokenAuthenticator({"abc": UserInfo(name="bob")})
    bob = await tokens.authenticate(AuthenticationRequest(headers={"authorization": "Bearer abc"}))
    assert bob is not None and bob.name == "bob" and "system:authenticated" in bob.groups
    with pytest.raises(errors.Unauthorized):
        await tokens.authenticate(AuthenticationRequest(headers={"authorization": "Bearer no"}))
    assert await tokens.authenticate(AuthenticationRequest()) is None


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text('# comment\nabc,bob,1001,"dev,ops"\nxyz,eve\n')
    tokens = StaticTokenAuthenticator.from_csv(path)
    assert "2 tokens" in repr(tokens)
    path.write_text("lonely\n")
    with pytest.raises(errors.BadRequest, match="line 1"):
        StaticTokenAuthenticator.from_csv(path)


async def test_requests_authenticate_with_tokens_or_certificates(served: Served) -> None:
    admin = KubeConfig.load(served.kubeconfig)
    with_token = KubeConfig(
        server=served.url, certificate_authority=admin.certificate_authority, token=TOKEN
    )
    async with HTTPClient(with_token) as client:
        created = await client.create(
            ConfigMap(metadata=ObjectMeta(name="by-token"), data={"k": "v"})
        )
    entries = created.metadata.managed_fields
    assert entries and entries[0].manager == "korch"
    bad = KubeConfig(
        server=served.url, certificate_authority=admin.certificate_authority, token="x"
    )
    async with HTTPClient(bad) as client:
        with pytest.raises(errors.Unauthorized):
            await client.list(ConfigMap)
    anonymous = KubeConfig(server=served.url, certificate_authority=admin.certificate_authority)
    async with HTTPClient(anonymous) as client:
        with pytest.raises(errors.Unauthorized):
            await client.list(ConfigMap)
    # a certificate from another CA does not get through the TLS handshake
    stranger = create_client_certificate(create_ca(), "mallory", organizations=["system:masters"])
    foreign = KubeConfig(
        server=served.url, certificate_authority=admin.certificate_authority,
        client_certificate=stranger.certificate, client_key=stranger.key,
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=served.url, verify=ssl_context(foreign)) as http:
        with pytest.raises(httpx.HTTPError):
            await http.get("/api/v1/configmaps")
