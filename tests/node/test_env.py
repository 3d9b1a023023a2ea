"""Container environments resolved the kubelet's way."""

from __future__ import annotations

import pytest

from korch.api import (
    ConfigMap,
    ConfigMapEnvSource,
    Container,
    EnvFromSource,
    EnvVar,
    EnvVarSource,
    ObjectFieldSelector,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
    ResourceFieldSelector,
    ResourceRequirements,
    Secret,
    SecretKeySelector,
    Service,
    ServicePort,
    ServiceSpec,
)
from korch.node import ConfigError
from korch.node._env import expand, resolve_env
from korch.testing import Environment

pytestmark = pytest.mark.anyio


def test_expand_follows_kubernetes_rules() -> None:
    env = {"A": "x"}
    assert expand("$(A)-$(B)-$$(A)", env) == "x-$(B)-$(A)"


async def test_sources_in_order(env: Environment) -> None:
    client = env.client
    await client.create(
        Service(
            metadata=ObjectMeta(name="web-db", namespace="default"),
            spec=ServiceSpec(cluster_ip="10.96.0.20", ports=[ServicePort(name="sql", port=5432)]),
        )
    )
    await client.create(
        ConfigMap(metadata=ObjectMeta(name="cfg", namespace="default"), data={"MODE": "fast"})
    )
    await client.create(
        Secret(metadata=ObjectMeta(name="s", namespace="default"), data={"token": b"t0k"})
    )
    field = EnvVarSource(field_ref=ObjectFieldSelector(field_path="metadata.labels['app']"))
    memory = EnvVarSource(
        resource_field_ref=ResourceFieldSelector(resource="limits.memory", divisor="1Mi")
    )
    secret = EnvVarSource(secret_key_ref=SecretKeySelector(name="s", key="token"))
    container = Container(
        name="app",
        image="x",
        env_from=[EnvFromSource(prefix="CFG_", config_map_ref=ConfigMapEnvSource(name="cfg"))],
        env=[
            EnvVar(name="APP", value_from=field),
            EnvVar(name="URL", value="http://$(WEB_DB_SERVICE_HOST):$(WEB_DB_SERVICE_PORT)"),
            EnvVar(name="MEM", value_from=memory),
            EnvVar(name="TOKEN", value_from=secret),
            EnvVar(
                name="IP",
                value_from=EnvVarSource(field_ref=ObjectFieldSelector(field_path="status.podIP")),
            ),
        ],
        resources=ResourceRequirements(limits={"memory": "64Mi"}),
    )
    pod = Pod(
        metadata=ObjectMeta(name="p", namespace="default", labels={"app": "shop"}),
        spec=PodSpec(containers=[container]),
        status=PodStatus(pod_ip="10.1.2.3"),
    )
    resolved = await resolve_env(client, pod, container)
    assert resolved["APP"] == "shop"
    assert resolved["CFG_MODE"] == "fast"
    assert resolved["MEM"] == "64"
    assert resolved["TOKEN"] == "t0k"
    assert resolved["IP"] == "10.1.2.3"
    assert resolved["URL"] == "http://10.96.0.20:5432"
    assert resolved["WEB_DB_SERVICE_PORT_SQL"] == "5432"
    assert resolved["WEB_DB_PORT_5432_TCP_ADDR"] == "10.96.0.20"
    without = await resolve_env(client, pod, container, service_links=False)
    assert not any(key.startswith("WEB_DB_") for key in without)


async def test_missing_secret_key_is_a_config_error(env: Environment) -> None:
    ref = EnvVarSource(secret_key_ref=SecretKeySelector(name="nope", key="k"))
    container = Container(name="app", image="x", env=[EnvVar(name="K", value_from=ref)])
    pod = Pod(metadata=ObjectMeta(name="p", namespace="default"), spec=PodSpec())
    with pytest.raises(ConfigError, match='secret "nope" not found'):
        await resolve_env(env.client, pod, container)
    optional = EnvVarSource(secret_key_ref=SecretKeySelector(name="nope", key="k", optional=True))
    container = Container(name="app", image="x", env=[EnvVar(name="K", value_from=optional)])
    assert "K" not in await resolve_env(env.client, pod, container)
