"""NodeAgent driving real processes (ProcessRuntime) on the real clock: readiness over
HTTP, graceful deletion, and a restarted agent adopting what runs."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from korch import errors
from korch.api import Container, ContainerPort, HTTPGetAction, Pod, Probe
from korch.apiserver import APIServer
from korch.client import Client
from korch.node import NodeAgent
from korch.runtime import ProcessRuntime
from korch.store import MemoryStore
from tests.node.conftest import pod

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    store = MemoryStore()
    async with APIServer(store) as api:
        yield api.client()
    await store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(client: Client, name: str, done: Callable[[Pod | None], bool]) -> Pod | None:
    """Watch the pod until ``done`` holds (None: deleted)."""
    with anyio.fail_after(15):
        current = None
        with contextlib.suppress(errors.NotFound):
            current = await client.get(Pod, name, namespace="default")
        if done(current):
            return current
        rv = current.metadata.resource_version if current else ""
        async with client.watch(Pod, namespace="default", resource_version=rv) as events:
            async for event in events:
                if event.object.metadata.name != name:
                    continue
                current = None if event.type == "DELETED" else event.object
                if done(current):
                    return current
    raise AssertionError("unreachable")


def ready(p: Pod | None) -> bool:
    return p is not None and any(
        c.type == "Ready" and c.status == "True" for c in p.status.conditions
    )


async def test_http_server_becomes_ready_and_stops_gracefully(
    client: Client, tmp_path: Path
) -> None:
    port = free_port()
    probe = Probe(http_get=HTTPGetAction(path="/", port="http"), period_seconds=1)
    server = Container(
        name="web",
        image="python:3.12",
        command=["python", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        ports=[ContainerPort(name="http", container_port=port)],
        readiness_probe=probe,
    )
    runtime = ProcessRuntime(tmp_path)
    agent = NodeAgent(client, runtime, "n1", record_events=False)
    async with anyio.create_task_group() as group:
        group.start_soon(agent.run)
        await client.create(pod("web", server, termination_grace_period_seconds=5))
        running = await wait_for(client, "web", ready)
        assert running is not None and running.status.phase == "Running"
        (container,) = await runtime.list_containers()
        pid = runtime._containers[container.id].data["pid"]
        await client.delete(Pod, "web", namespace="default")
        await wait_for(client, "web", lambda p: p is None)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert await runtime.list_pod_sandboxes() == []
        group.cancel_scope.cancel()


async def test_a_restarted_agent_adopts_the_running_process(client: Client, tmp_path: Path) -> None:
    sleeper = Container(name="app", image="busybox", command=["sh", "-c", "exec sleep 60"])
    first = ProcessRuntime(tmp_path)
    async with anyio.create_task_group() as group:
        group.start_soon(NodeAgent(client, first, "n1", record_events=False).run)
        await client.create(pod("keep", sleeper))
        await wait_for(client, "keep", ready)
        group.cancel_scope.cancel()
    (before,) = await first.list_containers()
    pid = first._containers[before.id].data["pid"]
    second = ProcessRuntime(tmp_path)
    agent = NodeAgent(client, second, "n1", record_events=False)
    async with anyio.create_task_group() as group:
        group.start_soon(agent.run)
        with anyio.fail_after(10):
            await agent.synced.wait()
        await anyio.wait_all_tasks_blocked()  # the pod's worker adopted and synced
        (worker,) = agent.workers.values()
        assert worker.records["app"].container_id == before.id
        (after,) = await second.list_containers()
        assert (after.id, after.state) == (before.id, "running")
        os.kill(pid, 0)  # the same process, still there
        p = await client.get(Pod, "keep", namespace="default")
        assert p.status.container_statuses[0].restart_count == 0
        await client.delete(Pod, "keep", namespace="default", grace_period_seconds=1)
        await wait_for(client, "keep", lambda p: p is None)
        group.cancel_scope.cancel()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped: no orphan, no zombie


async def test_stop_pods_on_exit_leaves_no_process(client: Client, tmp_path: Path) -> None:
    sleeper = Container(name="app", image="busybox", command=["sh", "-c", "exec sleep 60"])
    runtime = ProcessRuntime(tmp_path)
    agent = NodeAgent(client, runtime, "n1", record_events=False, stop_pods_on_exit=True)
    async with anyio.create_task_group() as group:
        group.start_soon(agent.run)
        await client.create(pod("temp", sleeper))
        await wait_for(client, "temp", ready)
        (container,) = await runtime.list_containers()
        pid = runtime._containers[container.id].data["pid"]
        group.cancel_scope.cancel()
    assert await runtime.list_pod_sandboxes() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
