"""Serving the ASGI app over HTTPS with uvicorn, client certificates included.

uvicorn parses HTTP (httptools or h11) and terminates TLS with Python's :mod:`ssl`; it does
not implement the ASGI ``tls`` extension, which is how an app learns the peer's
certificate. :class:`_TLSProtocol` adds it: a subclass of uvicorn's HTTP protocol (passed
as ``Config(http=…)``, uvicorn's documented way to choose the protocol class) that, when a
connection is made, reads the verified peer certificate from the SSL transport and puts
``{"tls": {"client_cert_chain": [PEM], "tls_version": …}}`` into every request's scope
before calling the app. Nothing about HTTP parsing changes.

The TLS context requests a client certificate but does not require one
(``CERT_OPTIONAL``): requests with a bearer token, or the public health paths, come
without. A certificate that is presented must chain to ``client_ca_file`` or the handshake
fails — the x509 authenticator then only reads the verified leaf.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from korch.apiserver.http import _app

__all__ = ("HTTPServer", "serve", "server_ssl_context")

try:  # httptools is the faster parser; h11 is always there
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - depends on the environment
    _BaseProtocol = H11Protocol  # type: ignore[assignment,misc]


def _tls_scope(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


class _TLSProtocol(_BaseProtocol):
    """uvicorn's HTTP protocol, adding the ASGI ``tls`` extension to each request scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = _tls_scope(transport)
        if tls is None:
            return
        app = self.app

        async def with_tls(scope: Any, receive: Any, send: Any) -> None:
            if scope.get("type") == "http":
                scope.setdefault("extensions", {})["tls"] = tls
            await app(scope, receive, send)

        self.app = with_tls


def server_ssl_context(
    certfile: str | Path, keyfile: str | Path, client_ca_file: str | Path | None
) -> ssl.SSLContext:
    """The server's TLS context: TLS 1.2+, the serving certificate, and client certificates
    requested (optional) and verified against ``client_ca_file``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certfile), str(keyfile))
    if client_ca_file is not None:
        context.load_verify_locations(str(client_ca_file))
        context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["http/1.1"])
    return context


class HTTPServer:
    """A running HTTPS server (from :func:`serve`): its address and a way to stop it."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._server = server
        self.socket = sock
        host, port = sock.getsockname()[:2]
        self.host: str = host
        self.port: int = port

    @property
    def url(self) -> str:
        """``https://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def stop(self) -> None:
        """Ask the server to stop (it finishes in-flight requests, closes watches)."""
        self._server.should_exit = True


@contextlib.asynccontextmanager
async def serve(
    app: _app.APIServerApp,
    *,
    host: str = "127.0.0.1",
    port: int = 6443,
    certfile: str | Path,
    keyfile: str | Path,
    client_ca_file: str | Path | None = None,
    sock: socket.socket | None = None,
) -> AsyncIterator[HTTPServer]:
    """Serve ``app`` over HTTPS (asyncio only: uvicorn runs on asyncio).

    ``async with serve(app, certfile=…, keyfile=…, client_ca_file=…, port=0) as server:``
    — port 0 picks a free port (``server.port``). Leaving the block stops the server.
    While it runs, uvicorn catches SIGINT/SIGTERM (in the main thread) to stop gracefully,
    and raises the signal again once stopped; uvicorn's logging configuration is not
    installed (``log_config=None``).

    Raises:
        OSError: the address cannot be bound.
    """
    if sock is None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    # accepted connections inherit it: without it, a response written in two parts (headers,
    # body) waits for the client's delayed ACK, ~40 ms per request
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    config = uvicorn.Config(
        app,
        http=_TLSProtocol,
        lifespan="off",
        log_config=None,  # leave the application's logging configuration alone
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    config.load()
    # set after load(): load() would build its own context from file options
    config.ssl = server_ssl_context(certfile, keyfile, client_ca_file)
    server = uvicorn.Server(config)
    handle = HTTPServer(server, sock)
    # listening before uvicorn starts: clients may connect at once (the backlog holds them)
    sock.listen(config.backlog)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        yield handle
    finally:
        server.should_exit = True
        await task
        sock.close()
