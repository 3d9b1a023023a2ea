"""The official ``kubernetes`` Python client, unmodified, against korch's HTTPS server: it
lists, creates, watches and deletes with the kubeconfig korch wrote. The client is
synchronous, so it runs in a worker thread while the server serves on the event loop."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from korch.api import ConfigMap, ObjectMeta
from tests.http.conftest import Served

kubernetes = pytest.importorskip("kubernetes")

pytestmark = pytest.mark.anyio


def _session(kubeconfig: str) -> dict[str, Any]:
    api_client = kubernetes.config.new_client_from_config(config_file=kubeconfig)
    core = kubernetes.client.CoreV1Api(api_client)
    apps = kubernetes.client.AppsV1Api(api_client)
    out: dict[str, Any] = {}
    body = kubernetes.client.V1ConfigMap(
        metadata=kubernetes.client.V1ObjectMeta(name="from-python", labels={"by": "py"}),
        data={"k": "v"},
    )
    created = core.create_namespaced_config_map("default", body)
    out["created_rv"] = created.metadata.resource_version
    listed = core.list_namespaced_config_map("default", label_selector="by=py")
    out["listed"] = [c.metadata.name for c in listed.items]
    out["list_rv"] = listed.metadata.resource_version
    deployment = kubernetes.client.V1Deployment(
        metadata=kubernetes.client.V1ObjectMeta(name="web"),
        spec=kubernetes.client.V1DeploymentSpec(
            replicas=2,
            selector=kubernetes.client.V1LabelSelector(match_labels={"app": "web"}),
            template=kubernetes.client.V1PodTemplateSpec(
                metadata=kubernetes.client.V1ObjectMeta(labels={"app": "web"}),
                spec=kubernetes.client.V1PodSpec(
                    containers=[kubernetes.client.V1Container(name="web", image="nginx")]
                ),
            ),
        ),
    )
    apps.create_namespaced_deployment("default", deployment)
    scaled = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    out["scaled"] = scaled.spec.replicas
    core.patch_namespaced_config_map("from-python", "default", {"data": {"k": "w"}})
    watcher = kubernetes.watch.Watch()
    events = []
    for event in watcher.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=out["list_rv"],
        timeout_seconds=5,
    ):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 1:
            core.delete_namespaced_config_map("from-python", "default")
        if len(events) == 2:
            watcher.stop()
    out["events"] = events
    try:
        core.read_namespaced_config_map("from-python", "default")
    except kubernetes.client.exceptions.ApiException as exc:
        out["missing_status"] = exc.status
    api_client.close()
    return out


async def test_kubernetes_python_client(served: Served) -> None:
    client = served.api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="already-there")))
    with anyio.fail_after(60):
        out = await anyio.to_thread.run_sync(_session, str(served.kubeconfig))
    assert out["listed"] == ["from-python"]
    assert out["scaled"] == 4
    assert out["events"] == [("MODIFIED", "from-python"), ("DELETED", "from-python")]
    assert out["missing_status"] == 404
