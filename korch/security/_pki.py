"""The cluster's PKI: a CA, the API server's serving certificate, client certificates and
the admin kubeconfig — what ``korch up`` creates on first run and loads on every restart.

Kubernetes' conventions (kubeadm's layout, flattened into ``<data-dir>/pki``):

* ``ca.crt``/``ca.key``: a self-signed CA (CN ``korch-ca``), ten years; it signs the
  serving certificate and every client certificate, and the server trusts client
  certificates it signed (x509 client authentication);
* ``apiserver.crt``/``apiserver.key``: serving certificate, SANs ``localhost``,
  ``127.0.0.1``, ``::1``, the host name, ``kubernetes``, ``kubernetes.default``,
  ``kubernetes.default.svc`` (+ ``.cluster.local``) and any extra names asked for;
* ``admin.crt``/``admin.key``: the admin's client certificate, CN ``admin``,
  O ``system:masters`` (the group RBAC lets do everything);
* ``<data-dir>/kubeconfig``: server URL, CA and the admin credentials embedded
  (``*-data``), so it is one self-contained file (mode 0600).

Keys are ECDSA P-256 (small, fast handshakes; kubectl, client-go and Python's ssl take
them). Private keys are written 0600. :func:`ensure_cluster_pki` is idempotent: existing
files are loaded, missing ones created; a serving certificate that lacks a requested name
is reissued (so adding ``--hostname`` works on restart) — the CA never is.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Final

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from korch import errors
from korch.client import _kubeconfig

__all__ = (
    "CertificateKeyPair",
    "ClusterPKI",
    "create_ca",
    "create_client_certificate",
    "create_serving_certificate",
    "default_serving_names",
    "ensure_cluster_pki",
)

CA_DAYS: Final = 3650
LEAF_DAYS: Final = 365
ADMIN_GROUP: Final = "system:masters"


@attrs.frozen(kw_only=True)
class CertificateKeyPair:
    """A certificate and its private key, both PEM."""

    certificate: bytes
    key: bytes

    @property
    def x509(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_pem_x509_certificate(self.certificate)

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Write both files (the key 0600)."""
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(self.certificate)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.key)

    @classmethod
    def read(cls, cert_path: Path, key_path: Path) -> CertificateKeyPair:
        """Read both files.

        Raises:
            korch.errors.BadRequest: a file is missing or not PEM.
        """
        try:
            pair = cls(certificate=cert_path.read_bytes(), key=key_path.read_bytes())
            pair.x509  # noqa: B018  (parse now: a damaged file is an error here, not later)
            serialization.load_pem_private_key(pair.key, password=None)
        except (OSError, ValueError) as exc:
            raise errors.BadRequest(f"cannot load {cert_path} / {key_path}: {exc}") from exc
        return pair


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _key_usage(*, certificate_authority: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not certificate_authority,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_authority,
        crl_sign=certificate_authority,
        encipher_only=False,
        decipher_only=False,
    )


def create_ca(common_name: str = "korch-ca", *, days: int = CA_DAYS) -> CertificateKeyPair:
    """A new self-signed certificate authority."""
    key = _new_key()
    name = _name(common_name)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(certificate_authority=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateKeyPair(
        certificate=cert.public_bytes(serialization.Encoding.PEM), key=_key_pem(key)
    )


def _issue(
    ca: CertificateKeyPair,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
    days: int,
) -> CertificateKeyPair:
    ca_cert = ca.x509
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise errors.BadRequest("the CA key must be an ECDSA key")
    key = _new_key()
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(certificate_authority=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return CertificateKeyPair(
        certificate=cert.public_bytes(serialization.Encoding.PEM), key=_key_pem(key)
    )


def default_serving_names() -> list[str]:
    """The names the serving certificate covers unless told otherwise."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    names += ["kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    names.append("kubernetes.default.svc.cluster.local")
    return list(dict.fromkeys(n for n in names if n))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def create_serving_certificate(
    ca: CertificateKeyPair,
    *,
    names: Iterable[str] | None = None,
    common_name: str = "kube-apiserver",
    days: int = LEAF_DAYS,
) -> CertificateKeyPair:
    """The API server's certificate, signed by ``ca``.

    Args:
        ca: the signing CA.
        names: host names and IP addresses it is valid for (default:
            :func:`default_serving_names`).
        common_name: its subject CN.
        days: validity.
    """
    chosen = list(dict.fromkeys(names if names is not None else default_serving_names()))
    sans = [_general_name(n) for n in chosen]
    return _issue(ca, _name(common_name), ExtendedKeyUsageOID.SERVER_AUTH, sans, days)


def create_client_certificate(
    ca: CertificateKeyPair,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    days: int = LEAF_DAYS,
) -> CertificateKeyPair:
    """A client certificate: the user is ``common_name``, its groups ``organizations``
    (how kube-apiserver's x509 authenticator reads a certificate)."""
    if not common_name:
        raise errors.BadRequest("a client certificate needs a common name (the user name)")
    subject = _name(common_name, organizations)
    return _issue(ca, subject, ExtendedKeyUsageOID.CLIENT_AUTH, [], days)


def _covered(pair: CertificateKeyPair, names: Sequence[str]) -> bool:
    try:
        ext = pair.x509.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in ext.value.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in ext.value.get_values_for_type(x509.IPAddress)}
    wanted = {str(_general_name(n).value) for n in names}
    expires = pair.x509.not_valid_after_utc
    return wanted <= have and expires > _now() + datetime.timedelta(days=1)


@attrs.frozen(kw_only=True)
class ClusterPKI:
    """The files of a cluster's PKI (see the module docstring)."""

    directory: Path
    ca: CertificateKeyPair
    serving: CertificateKeyPair
    admin: CertificateKeyPair
    kubeconfig_path: Path

    @property
    def ca_file(self) -> Path:
        """``pki/ca.crt``: trust it to verify the server; the server trusts its clients."""
        return self.directory / "ca.crt"

    @property
    def serving_cert_file(self) -> Path:
        """``pki/apiserver.crt``."""
        return self.directory / "apiserver.crt"

    @property
    def serving_key_file(self) -> Path:
        """``pki/apiserver.key``."""
        return self.directory / "apiserver.key"

    def client(self, common_name: str, organizations: Sequence[str] = ()) -> CertificateKeyPair:
        """A new client certificate signed by this PKI's CA (not written anywhere)."""
        return create_client_certificate(self.ca, common_name, organizations=organizations)

    def kubeconfig(self) -> _kubeconfig.KubeConfig:
        """The admin kubeconfig, as written."""
        return _kubeconfig.KubeConfig.load(self.kubeconfig_path)


def ensure_cluster_pki(
    data_dir: str | os.PathLike[str],
    *,
    server: str = "https://127.0.0.1:6443",
    names: Iterable[str] = (),
) -> ClusterPKI:
    """Create (first run) or load (restart) the PKI under ``<data_dir>/pki`` and write
    ``<data_dir>/kubeconfig`` for the admin pointing at ``server``.

    Args:
        data_dir: the cluster's data directory.
        server: the URL the kubeconfig names.
        names: extra serving-certificate names (besides :func:`default_serving_names`).

    Raises:
        korch.errors.BadRequest: an existing file is damaged (it is not overwritten).
    """
    root = Path(data_dir)
    pki = root / "pki"
    pki.mkdir(parents=True, exist_ok=True)

    def load_or(stem: str, make: Callable[[], CertificateKeyPair]) -> CertificateKeyPair:
        cert, key = pki / f"{stem}.crt", pki / f"{stem}.key"
        if cert.exists() or key.exists():
            return CertificateKeyPair.read(cert, key)
        pair = make()
        pair.write(cert, key)
        return pair

    ca = load_or("ca", create_ca)
    wanted = list(dict.fromkeys([*default_serving_names(), *names]))
    serving = load_or("apiserver", lambda: create_serving_certificate(ca, names=wanted))
    if not _covered(serving, wanted):
        serving = create_serving_certificate(ca, names=wanted)
        serving.write(pki / "apiserver.crt", pki / "apiserver.key")
    admin = load_or(
        "admin", lambda: create_client_certificate(ca, "admin", organizations=[ADMIN_GROUP])
    )
    config = _kubeconfig.KubeConfig(
        server=server,
        certificate_authority=ca.certificate,
        client_certificate=admin.certificate,
        client_key=admin.key,
    )
    kubeconfig_path = root / "kubeconfig"
    config.write(kubeconfig_path)
    return ClusterPKI(
        directory=pki, ca=ca, serving=serving, admin=admin, kubeconfig_path=kubeconfig_path
    )
