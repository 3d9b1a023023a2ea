"""A container's environment, resolved the way the kubelet resolves it.

Order (later wins): Service variables of the pod's namespace (unless
``enableServiceLinks: false``), then ``envFrom`` sources in order, then ``env`` entries in
order. ``value`` strings expand ``$(NAME)`` from the variables defined before them
(``$$(NAME)`` is a literal ``$(NAME)``; an unknown name stays as written), and ``$(VAR)``
also expands in ``command`` and ``args``. ``valueFrom`` supports ``fieldRef``
(``metadata.name``, ``metadata.namespace``, ``metadata.uid``, ``metadata.labels['k']``,
``metadata.annotations['k']``, ``spec.nodeName``, ``spec.serviceAccountName``,
``status.podIP``, ``status.podIPs``, ``status.hostIP``, ``status.hostIPs``),
``resourceFieldRef`` (``limits``/``requests`` of ``cpu``/``memory``/``ephemeral-storage``,
scaled by ``divisor`` and rounded up), ``configMapKeyRef`` and ``secretKeyRef``. A missing
ConfigMap, Secret or key that is not ``optional`` is a :class:`ConfigError`, reported as
the kubelet's ``CreateContainerConfigError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from korch import errors
from korch.api import ConfigMap, Container, Pod, Quantity, Secret, Service
from korch.client import Client

__all__ = ("ConfigError", "expand", "resolve_env", "service_env")

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_SUBSCRIPT = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]")


class ConfigError(errors.KorchError):
    """The container's configuration cannot be resolved (CreateContainerConfigError)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$(NAME)`` → its value in ``env``; ``$$`` → ``$``; unknown names stay as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


def service_env(services: list[Service]) -> dict[str, str]:
    """The Docker-links-style variables for ``services`` (``WEB_SERVICE_HOST``…)."""
    env: dict[str, str] = {}
    for service in sorted(services, key=lambda s: s.metadata.name):
        ip = service.spec.cluster_ip
        if not ip or ip == "None" or not service.spec.ports:
            continue
        name = service.metadata.name.upper().replace("-", "_")
        first = service.spec.ports[0]
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(first.port)
        for port in service.spec.ports:
            if port.name:
                env[f"{name}_SERVICE_PORT_{port.name.upper().replace('-', '_')}"] = str(port.port)
        protocol = (first.protocol or "TCP").lower()
        env[f"{name}_PORT"] = f"{protocol}://{ip}:{first.port}"
        for port in service.spec.ports:
            proto = port.protocol or "TCP"
            prefix = f"{name}_PORT_{port.port}_{proto.upper()}"
            env[prefix] = f"{proto.lower()}://{ip}:{port.port}"
            env[f"{prefix}_PROTO"] = proto.lower()
            env[f"{prefix}_PORT"] = str(port.port)
            env[f"{prefix}_ADDR"] = ip
    return env


def _field(pod: Pod, path: str) -> str:
    meta = pod.metadata
    simple = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": pod.status.pod_ip,
        "status.podIPs": ",".join(ip.ip for ip in pod.status.pod_ips),
        "status.hostIP": pod.status.host_ip,
        "status.hostIPs": ",".join(ip.ip for ip in pod.status.host_ips),
    }
    if path in simple:
        return simple[path]
    match = _SUBSCRIPT.fullmatch(path)
    if match:
        source = meta.labels if match.group(1) == "labels" else meta.annotations
        return source.get(match.group(2), "")
    raise ConfigError(f'unsupported fieldRef "{path}"')


def _resource(pod: Pod, container: Container, resource: str, divisor: str) -> str:
    section, _, name = resource.partition(".")
    if section not in ("limits", "requests") or not name:
        raise ConfigError(f'unsupported resourceFieldRef "{resource}"')
    amounts = getattr(container.resources, section) or {}
    amount = amounts.get(name)
    if amount is None and section == "requests":
        amount = (container.resources.limits or {}).get(name)
    if amount is None:
        return "0" if section == "requests" else "9223372036854775807"
    value = Quantity(str(amount)).as_fraction()
    scale = Quantity(divisor or "1").as_fraction()
    return str(math.ceil(value / scale))


async def _config_map(client: Client, namespace: str, name: str) -> ConfigMap | None:
    try:
        return await client.get(ConfigMap, name, namespace=namespace)
    except errors.NotFound:
        return None


async def _secret(client: Client, namespace: str, name: str) -> Secret | None:
    try:
        return await client.get(Secret, name, namespace=namespace)
    except errors.NotFound:
        return None


async def resolve_env(
    client: Client, pod: Pod, container: Container, *, service_links: bool = True
) -> dict[str, str]:
    """The environment of ``container`` of ``pod`` (see the module docstring).

    Raises:
        ConfigError: a referenced ConfigMap, Secret or key is missing and not optional,
            or a reference is not supported.
    """
    namespace = pod.metadata.namespace
    env: dict[str, str] = {}
    if service_links and pod.spec.enable_service_links is not False:
        services = await client.list(Service, namespace=namespace)
        env.update(service_env(list(services.items)))
    for source in container.env_from:
        if source.config_map_ref is not None:
            ref = source.config_map_ref
            config_map = await _config_map(client, namespace, ref.name)
            if config_map is None:
                if not ref.optional:
                    raise ConfigError(f'configmap "{ref.name}" not found')
                continue
            for key, value in config_map.data.items():
                env[source.prefix + key] = value
        if source.secret_ref is not None:
            secret_ref = source.secret_ref
            secret = await _secret(client, namespace, secret_ref.name)
            if secret is None:
                if not secret_ref.optional:
                    raise ConfigError(f'secret "{secret_ref.name}" not found')
                continue
            for key, data in secret.data.items():
                env[source.prefix + key] = data.decode(errors="replace")
    for var in container.env:
        source_of = var.value_from
        if source_of is None:
            env[var.name] = expand(var.value, env)
        elif source_of.field_ref is not None:
            env[var.name] = _field(pod, source_of.field_ref.field_path)
        elif source_of.resource_field_ref is not None:
            selector = source_of.resource_field_ref
            env[var.name] = _resource(pod, container, selector.resource, selector.divisor)
        elif source_of.config_map_key_ref is not None:
            key_ref = source_of.config_map_key_ref
            config_map = await _config_map(client, namespace, key_ref.name)
            if config_map is None or key_ref.key not in config_map.data:
                if key_ref.optional:
                    continue
                what = "configmap" if config_map is None else "key"
                name = key_ref.name if config_map is None else key_ref.key
                raise ConfigError(f'{what} "{name}" not found')
            env[var.name] = config_map.data[key_ref.key]
        elif source_of.secret_key_ref is not None:
            secret_key = source_of.secret_key_ref
            secret = await _secret(client, namespace, secret_key.name)
            if secret is None or secret_key.key not in secret.data:
                if secret_key.optional:
                    continue
                what = "secret" if secret is None else "key"
                name = secret_key.name if secret is None else secret_key.key
                raise ConfigError(f'{what} "{name}" not found')
            env[var.name] = secret.data[secret_key.key].decode(errors="replace")
    return env
