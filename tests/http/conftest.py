"""A real HTTPS API server for the HTTP tests: APIServer (MemoryStore) + the ASGI app under
uvicorn on a free loopback port, with a PKI, a kubeconfig and a token."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import attrs
import pytest

from korch.apiserver import APIServer, GarbageCollector, UserInfo
from korch.apiserver.http import APIServerApp, HTTPServer, serve
from korch.client._http import HTTPClient
from korch.security._pki import ClusterPKI, ensure_cluster_pki
from korch.security._tokens import StaticTokenAuthenticator
from korch.security._x509 import X509Authenticator
from korch.store import MemoryStore

TOKEN = "s3cr3t-token"


@attrs.frozen
class Served:
    """A running server and what a client needs to reach it."""

    api: APIServer
    server: HTTPServer
    pki: ClusterPKI
    kubeconfig: Path

    @property
    def url(self) -> str:
        return self.server.url


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    sock = free_socket()
    port = sock.getsockname()[1]
    pki = ensure_cluster_pki(tmp_path / "data", server=f"https://127.0.0.1:{port}")
    tokens = StaticTokenAuthenticator({TOKEN: UserInfo(name="bob", groups=("dev",))})
    async with APIServer(MemoryStore()) as api, anyio.create_task_group() as tasks:
        tasks.start_soon(GarbageCollector(api.client()).run)
        app = APIServerApp(
            api, authenticators=[X509Authenticator(), tokens], server_address=f"127.0.0.1:{port}"
        )
        async with serve(
            app,
            sock=sock,
            certfile=pki.serving_cert_file,
            keyfile=pki.serving_key_file,
            client_ca_file=pki.ca_file,
        ) as server:
            yield Served(api=api, server=server, pki=pki, kubeconfig=pki.kubeconfig_path)
        tasks.cancel_scope.cancel()


@pytest.fixture
async def http_client(served: Served) -> AsyncIterator[HTTPClient]:
    async with HTTPClient.from_kubeconfig(served.kubeconfig) as client:
        yield client
