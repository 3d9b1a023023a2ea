"""The whole cluster: `korch up -f examples/manifests/` brings a Deployment of real processes
to Ready and a Job to Complete."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from rich.console import Console

from korch.api import Deployment, Job, Pod
from korch.client import Client
from korch.cluster import Cluster, UpOptions, run_up

pytestmark = pytest.mark.anyio

MANIFESTS = Path(__file__).parents[2] / "examples" / "manifests"


async def wait_until(client: Client, kind: Any, name: str, done: Callable[[Any], bool]) -> Any:
    """Watch ``name`` until ``done(object)`` holds (no polling)."""
    while True:
        listed = await client.list(kind)
        for obj in listed.items:
            if obj.metadata.name == name and done(obj):
                return obj
        async with client.watch(kind, resource_version=listed.metadata.resource_version) as events:
            async for event in events:
                if event.object.metadata.name == name and done(event.object):
                    return event.object


def complete(job: Job) -> bool:
    return any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)


def available(deployment: Deployment) -> bool:
    return deployment.status.available_replicas >= 1


async def test_korch_up_runs_the_example_manifests(tmp_path: Path) -> None:
    options = UpOptions(data_dir=str(tmp_path / "data"), manifests=(str(MANIFESTS),))
    seen: dict[str, Any] = {}

    async def on_ready(cluster: Cluster) -> None:
        seen["deployment"] = await wait_until(cluster.client, Deployment, "web", available)
        seen["job"] = await wait_until(cluster.client, Job, "hello", complete)
        pods = (await cluster.client.list(Pod)).items
        (job_pod,) = [p for p in pods if p.metadata.name.startswith("hello-")]
        seen["log"] = await cluster.client.read_pod_log(job_pod.metadata.name)
        group.cancel_scope.cancel()

    console = Console(record=True, width=200)
    with anyio.fail_after(90):
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: run_up(options, console=console, on_ready=on_ready))
    assert seen["deployment"].status.ready_replicas == 1
    assert seen["log"].strip().endswith("hello from korch")
    assert "deployment/web applied" in console.export_text()
