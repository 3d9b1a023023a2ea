"""Kubeconfig files: the one context a client connects with, loaded and written.

A kubeconfig (``~/.kube/config``, ``<data-dir>/kubeconfig``) names clusters, users and
contexts; a client uses one context: a cluster (server URL, CA), a user (client certificate
and key, or a bearer token) and a default namespace. :class:`KubeConfig` is that resolved
context, flattened::

    config = KubeConfig.load("/var/lib/korch/kubeconfig")            # current-context
    config = KubeConfig.load(path, context="admin@korch")
    config.write(path)                                              # mode 0600, *-data embedded

Loading follows kubectl: ``*-data`` fields hold base64 PEM, the file fields
(``certificate-authority``, ``client-certificate``, ``client-key``, ``tokenFile``) are paths
relative to the kubeconfig's directory. What korch does not support (exec and auth-provider
plugins, proxies) is refused with a :class:`korch.errors.BadRequest` naming the field, never
silently ignored.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from korch import errors

__all__ = ("KubeConfig",)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _named(entries: Any, name: str, what: str, path: str) -> Mapping[str, Any]:
    for entry in entries or ():
        if isinstance(entry, Mapping) and entry.get("name") == name:
            body = entry.get(what)
            return body if isinstance(body, Mapping) else {}
    raise errors.BadRequest(f"kubeconfig {path}: no {what} named {name!r}")


def _material(section: Mapping[str, Any], field: str, base: Path, path: str) -> bytes | None:
    data = section.get(f"{field}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError as exc:
            raise errors.BadRequest(f"kubeconfig {path}: {field}-data is not base64") from exc
    file = section.get(field)
    if file:
        try:
            return (base / str(file)).read_bytes()
        except OSError as exc:
            raise errors.BadRequest(f"kubeconfig {path}: cannot read {field} {file}") from exc
    return None


@attrs.frozen(kw_only=True)
class KubeConfig:
    """One resolved kubeconfig context (see the module docstring).

    Attributes:
        server: the API server URL (``https://127.0.0.1:6443``).
        certificate_authority: PEM of the CA that signed the server's certificate (``None``:
            the system's trust store).
        client_certificate, client_key: PEM of the user's client certificate and key.
        token: a bearer token (instead of, or besides, a client certificate).
        namespace: the context's default namespace.
        insecure_skip_tls_verify: do not verify the server's certificate.
        cluster_name, user_name, context_name: the names written to the file.
    """

    server: str
    certificate_authority: bytes | None = None
    client_certificate: bytes | None = None
    client_key: bytes | None = None
    token: str | None = None
    namespace: str = "default"
    insecure_skip_tls_verify: bool = False
    cluster_name: str = "korch"
    user_name: str = "admin"
    context_name: str = "admin@korch"

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, context: str | None = None, base: Path | None = None
    ) -> KubeConfig:
        """The context ``context`` (default: ``current-context``) of a parsed kubeconfig.

        Raises:
            korch.errors.BadRequest: no such context, cluster or user; an unsupported
                authentication method; unreadable certificate files.
        """
        where = str(base or ".")
        if not isinstance(data, Mapping):
            raise errors.BadRequest(f"kubeconfig {where}: not a mapping")
        name = context or data.get("current-context")
        if not name:
            raise errors.BadRequest(f"kubeconfig {where}: no current-context and none given")
        ctx = _named(data.get("contexts"), str(name), "context", where)
        cluster = _named(data.get("clusters"), str(ctx.get("cluster", "")), "cluster", where)
        user_name = str(ctx.get("user", ""))
        user = _named(data.get("users"), user_name, "user", where) if user_name else {}
        for unsupported in ("exec", "auth-provider", "username"):
            if user.get(unsupported):
                raise errors.BadRequest(
                    f"kubeconfig {where}: user {user_name!r} uses {unsupported!r}, "
                    "which korch does not support"
                )
        server = cluster.get("server")
        if not server:
            raise errors.BadRequest(
                f"kubeconfig {where}: cluster {ctx.get('cluster')!r} has no server"
            )
        root = base or Path(".")
        token = user.get("token")
        if not token and user.get("tokenFile"):
            try:
                token = (root / str(user["tokenFile"])).read_text().strip()
            except OSError as exc:
                raise errors.BadRequest(f"kubeconfig {where}: cannot read tokenFile") from exc
        return cls(
            server=str(server).rstrip("/"),
            certificate_authority=_material(cluster, "certificate-authority", root, where),
            client_certificate=_material(user, "client-certificate", root, where),
            client_key=_material(user, "client-key", root, where),
            token=str(token) if token else None,
            namespace=str(ctx.get("namespace") or "default"),
            insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
            cluster_name=str(ctx.get("cluster", "")),
            user_name=user_name,
            context_name=str(name),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, context: str | None = None) -> KubeConfig:
        """Read a kubeconfig file (see :meth:`from_dict`).

        Raises:
            korch.errors.BadRequest: the file cannot be read or parsed, or as ``from_dict``.
        """
        file = Path(path)
        try:
            text = file.read_text()
        except OSError as exc:
            raise errors.BadRequest(f"cannot read kubeconfig {file}: {exc}") from exc
        try:
            data = YAML(typ="safe").load(text)
        except YAMLError as exc:
            raise errors.BadRequest(f"kubeconfig {file} is not valid YAML: {exc}") from exc
        return cls.from_dict(data or {}, context=context, base=file.parent)

    def to_dict(self) -> dict[str, Any]:
        """The kubeconfig document (``apiVersion: v1, kind: Config``), material embedded."""
        cluster: dict[str, Any] = {"server": self.server}
        if self.certificate_authority is not None:
            cluster["certificate-authority-data"] = _b64(self.certificate_authority)
        if self.insecure_skip_tls_verify:
            cluster["insecure-skip-tls-verify"] = True
        user: dict[str, Any] = {}
        if self.client_certificate is not None:
            user["client-certificate-data"] = _b64(self.client_certificate)
        if self.client_key is not None:
            user["client-key-data"] = _b64(self.client_key)
        if self.token:
            user["token"] = self.token
        context = {"cluster": self.cluster_name, "user": self.user_name}
        if self.namespace != "default":
            context["namespace"] = self.namespace
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.cluster_name, "cluster": cluster}],
            "users": [{"name": self.user_name, "user": user}],
            "contexts": [{"name": self.context_name, "context": context}],
            "current-context": self.context_name,
            "preferences": {},
        }

    def dumps(self) -> str:
        """:meth:`to_dict` as YAML text."""
        out = io.StringIO()
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        yaml.dump(self.to_dict(), out)
        return out.getvalue()

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the kubeconfig to ``path`` atomically, readable by its owner only (0600)."""
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(file.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.dumps())
        os.replace(tmp, file)

    def __repr__(self) -> str:
        auth = "token" if self.token else "certificate" if self.client_certificate else "none"
        return f"<KubeConfig {self.context_name} server={self.server} auth={auth}>"
