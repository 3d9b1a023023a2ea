"""korch.apiserver.http — the Kubernetes-compatible HTTP API: kubectl, client-go-style
clients and operators talk to a korch :class:`~korch.apiserver.APIServer` unmodified.

See ``docs/http-api.md``. In short::

    from korch.apiserver.http import APIServerApp, serve
    app = APIServerApp(api, authenticators=[X509Authenticator(), tokens])
    async with serve(app, port=6443, certfile=..., keyfile=..., client_ca_file=...) as server:
        ...                                   # kubectl --kubeconfig <data-dir>/kubeconfig get pods

:class:`APIServerApp` is a plain ASGI application (any ASGI server can run it; :func:`serve`
runs it under uvicorn with the ASGI ``tls`` extension added, so x509 client certificates
authenticate). HTTP codes are mapped from korch's error reasons here and only here.
"""

from __future__ import annotations

from korch.apiserver.http._app import MAX_REQUEST_BYTES, APIServerApp, VersionInfo, status_response
from korch.apiserver.http._requestinfo import RequestInfo, parse_request
from korch.apiserver.http._serve import HTTPServer, serve, server_ssl_context
from korch.apiserver.http._tables import human_duration

__all__ = (
    "MAX_REQUEST_BYTES",
    "APIServerApp",
    "HTTPServer",
    "RequestInfo",
    "VersionInfo",
    "human_duration",
    "parse_request",
    "serve",
    "server_ssl_context",
    "status_response",
)
