"""FakeRuntime: simulated container states on a FakeClock, events, logs, errors."""

from __future__ import annotations

import anyio
import pytest

from korch.clock import FakeClock
from korch.runtime import (
    ContainerConfig,
    ContainerEvent,
    ContainerNotFound,
    CreateContainerError,
    FakeBehavior,
    FakeRuntime,
    PodSandboxConfig,
    PodSandboxNotFound,
    RuntimeAdapter,
    load_runtime,
)

pytestmark = pytest.mark.anyio

SANDBOX = PodSandboxConfig(name="web", namespace="default", uid="u1")


async def started(runtime: FakeRuntime, **notes: str) -> str:
    config = PodSandboxConfig(
        name="web",
        namespace="default",
        uid="u1",
        annotations={f"fake.korch.io/{k.replace('_', '-')}": v for k, v in notes.items()},
    )
    sandbox = await runtime.run_pod_sandbox(config)
    container = await runtime.create_container(sandbox, ContainerConfig(name="app", image="x"))
    await runtime.start_container(container)
    return container


async def test_is_a_runtime_adapter() -> None:
    assert isinstance(FakeRuntime(), RuntimeAdapter)
    assert isinstance(load_runtime("fake", clock=FakeClock()), FakeRuntime)
    with pytest.raises(LookupError, match="no runtime adapter named 'nope'; known: fake"):
        load_runtime("nope")


async def test_latency_then_running_then_exit() -> None:
    clock = FakeClock()
    runtime = FakeRuntime(clock=clock)
    container = await started(runtime, start_latency="2", run_seconds="5", exit_code="3")
    assert (await runtime.container_status(container)).state == "created"
    clock.advance(2)
    status = await runtime.container_status(container)
    assert (status.state, status.started_at) == ("running", clock.time())
    clock.advance(5)
    status = await runtime.container_status(container)
    assert (status.state, status.exit_code, status.reason) == ("exited", 3, "Error")
    assert status.finished_at - status.started_at == 5


async def test_run_publishes_starts_and_exits_when_due() -> None:
    clock = FakeClock()
    runtime = FakeRuntime(clock=clock, behavior=lambda s, c: FakeBehavior(run_seconds=3))
    seen: list[ContainerEvent] = []

    async def collect() -> None:
        async for event in runtime.container_events():
            seen.append(event)

    async with anyio.create_task_group() as group:
        group.start_soon(runtime.run)
        group.start_soon(collect)
        await anyio.wait_all_tasks_blocked()
        container = await started(runtime)
        await anyio.wait_all_tasks_blocked()
        assert [e.type for e in seen] == ["started"]
        clock.advance(3)
        await anyio.wait_all_tasks_blocked()
        assert [(e.type, e.container_id) for e in seen][1:] == [("exited", container)]
        group.cancel_scope.cancel()


async def test_stop_honours_the_grace_period() -> None:
    clock = FakeClock()
    runtime = FakeRuntime(clock=clock)
    quick = await started(runtime)
    await runtime.stop_container(quick, 30)
    assert (await runtime.container_status(quick)).exit_code == 143
    stubborn = await started(runtime, termination_seconds="100")
    async with anyio.create_task_group() as group:
        group.start_soon(runtime.stop_container, stubborn, 30)
        await anyio.wait_all_tasks_blocked()
        assert (await runtime.container_status(stubborn)).state == "running"
        clock.advance(30)
    status = await runtime.container_status(stubborn)
    assert (status.state, status.exit_code) == ("exited", 137)


async def test_fail_and_exec_results() -> None:
    runtime = FakeRuntime(clock=FakeClock())
    container = await started(runtime)
    assert (await runtime.exec_sync(container, ["true"], 1)).exit_code == 0
    runtime.set_exec_exit_code(container, 1)
    assert (await runtime.exec_sync(container, ["true"], 1)).exit_code == 1
    runtime.fail(container, exit_code=2)
    status = await runtime.container_status(container)
    assert (status.state, status.exit_code) == ("exited", 2)
    assert (await runtime.exec_sync(container, ["true"], 1)).exit_code == 126


async def test_errors_name_what_is_wrong() -> None:
    runtime = FakeRuntime(clock=FakeClock())
    with pytest.raises(PodSandboxNotFound):
        await runtime.create_container("nope", ContainerConfig(name="a", image="x"))
    with pytest.raises(ContainerNotFound):
        await runtime.container_status("nope")
    with pytest.raises(CreateContainerError, match="no image here"):
        await started(runtime, create_error="no image here")
    with pytest.raises(CreateContainerError, match="must be a number"):
        await started(runtime, run_seconds="soon")


async def test_sandboxes_list_and_remove() -> None:
    runtime = FakeRuntime(clock=FakeClock(), pod_cidr="10.9.0.0/24")
    container = await started(runtime)
    (sandbox,) = await runtime.list_pod_sandboxes()
    assert sandbox.ip == "10.9.0.1" and sandbox.state == "ready"
    assert [c.id for c in await runtime.list_containers(sandbox.id)] == [container]
    await runtime.stop_pod_sandbox(sandbox.id)
    assert (await runtime.container_status(container)).state == "exited"
    await runtime.remove_pod_sandbox(sandbox.id)
    assert await runtime.list_containers() == []
    assert await runtime.list_pod_sandboxes() == []


async def test_logs_tail_since_and_timestamps() -> None:
    clock = FakeClock(start=1_700_000_000)
    runtime = FakeRuntime(clock=clock)
    container = await started(runtime)
    runtime.write_log(container, b"a\nb\n")
    clock.advance(10)
    runtime.write_log(container, b"c\n")

    async def read(**options: object) -> bytes:
        return b"".join([c async for c in runtime.read_log(container, **options)])  # type: ignore[arg-type]

    assert await read() == b"a\nb\nc\n"
    assert await read(tail_lines=2) == b"b\nc\n"
    assert await read(since=clock.time()) == b"c\n"
    assert await read(tail_lines=1, timestamps=True) == b"2023-11-14T22:13:30.000000000Z c\n"
