"""ProcessRuntime: real processes — commands, environment, logs, signals, adoption."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from korch.clock import FakeClock
from korch.runtime import (
    ContainerConfig,
    CreateContainerError,
    PodSandboxConfig,
    ProcessRuntime,
    ResourceLimits,
    RuntimeAdapter,
    is_python_image,
)

pytestmark = pytest.mark.anyio

POD = PodSandboxConfig(name="web", namespace="default", uid="u1")


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    process_runtime = ProcessRuntime(tmp_path / "state", clock=FakeClock(), node_name="n1")
    async with anyio.create_task_group() as group:
        group.start_soon(process_runtime.run)
        yield process_runtime
        for sandbox in await process_runtime.list_pod_sandboxes():
            await process_runtime.remove_pod_sandbox(sandbox.id)
        group.cancel_scope.cancel()


async def start(runtime: ProcessRuntime, script: str, **config: object) -> str:
    sandbox = await runtime.run_pod_sandbox(POD)
    container = await runtime.create_container(
        sandbox,
        ContainerConfig(name="app", image="busybox", command=("sh", "-c", script), **config),  # type: ignore[arg-type]
    )
    await runtime.start_container(container)
    return container


async def wait_exit(runtime: ProcessRuntime, container: str) -> None:
    with anyio.fail_after(10):
        async for event in runtime.container_events():
            if event.container_id == container and event.type == "exited":
                return


async def wait_output(runtime: ProcessRuntime, container: str, text: bytes) -> None:
    seen = b""
    with anyio.fail_after(10):
        async for chunk in runtime.read_log(container, follow=True):
            seen += chunk
            if text in seen:
                return


def log_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("0.log*"))


async def log(runtime: ProcessRuntime, container: str, **options: object) -> bytes:
    return b"".join([c async for c in runtime.read_log(container, **options)])  # type: ignore[arg-type]


async def test_is_a_runtime_adapter(tmp_path: Path) -> None:
    assert isinstance(ProcessRuntime(tmp_path), RuntimeAdapter)


async def test_output_environment_and_exit_code(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.run_pod_sandbox(POD)
    config = ContainerConfig(
        name="app",
        image="busybox",
        command=("sh", "-c", 'echo "$KORCH_POD_NAME $KORCH_POD_NAMESPACE $GREETING"; exit 3'),
        env={"GREETING": "hi"},
    )
    container = await runtime.create_container(sandbox, config)
    async with anyio.create_task_group() as group:
        group.start_soon(wait_exit, runtime, container)
        await anyio.wait_all_tasks_blocked()
        await runtime.start_container(container)
    status = await runtime.container_status(container)
    assert (status.state, status.exit_code, status.reason) == ("exited", 3, "Error")
    assert await log(runtime, container) == b"web default hi\n"
    stamped = await log(runtime, container, timestamps=True)
    assert stamped.endswith(b"Z web default hi\n")


async def test_images_that_cannot_run_are_errors(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.run_pod_sandbox(POD)
    with pytest.raises(CreateContainerError, match='cannot run image "nginx" as a process'):
        await runtime.create_container(sandbox, ContainerConfig(name="a", image="nginx"))
    with pytest.raises(CreateContainerError, match='exec: "nginx": executable file not found'):
        await runtime.create_container(
            sandbox, ContainerConfig(name="a", image="nginx", command=("nginx",))
        )
    with pytest.raises(CreateContainerError, match="working directory"):
        await runtime.create_container(
            sandbox,
            ContainerConfig(name="a", image="x", command=("true",), working_dir="/no/such/dir"),
        )


async def test_python_images_run_on_this_interpreter(runtime: ProcessRuntime) -> None:
    assert is_python_image("docker.io/library/python:3.12-slim")
    assert not is_python_image("pythonista:1")
    sandbox = await runtime.run_pod_sandbox(POD)
    config = ContainerConfig(
        name="py", image="python:3.12", args=("-c", "import sys; print(sys.executable)")
    )
    container = await runtime.create_container(sandbox, config)
    async with anyio.create_task_group() as group:
        group.start_soon(wait_exit, runtime, container)
        await anyio.wait_all_tasks_blocked()
        await runtime.start_container(container)
    assert (await log(runtime, container)).decode().strip() == sys.executable


async def test_sigterm_first(runtime: ProcessRuntime) -> None:
    container = await start(
        runtime, "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done"
    )
    await wait_output(runtime, container, b"up")
    with anyio.fail_after(10):
        await runtime.stop_container(container, 30)
    status = await runtime.container_status(container)
    assert (status.state, status.exit_code) == ("exited", 0)
    assert b"bye" in await log(runtime, container)


async def test_sigkill_after_the_grace_period(runtime: ProcessRuntime) -> None:
    container = await start(runtime, "trap '' TERM; echo up; while :; do sleep 0.05; done")
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    async with anyio.create_task_group() as group:
        await wait_output(runtime, container, b"up")
        group.start_soon(runtime.stop_container, container, 30)
        await anyio.sleep(0.1)  # real time passes, fake time does not: SIGTERM is ignored
        assert (await runtime.container_status(container)).state == "running"
        clock.advance(30)
    status = await runtime.container_status(container)
    assert (status.state, status.exit_code) == ("exited", 137)


async def test_exec_runs_in_the_container_context(runtime: ProcessRuntime) -> None:
    container = await start(runtime, "exec sleep 30")
    result = await runtime.exec_sync(container, ["sh", "-c", "echo $KORCH_POD_UID; exit 4"], 5)
    assert (result.exit_code, result.stdout) == (4, b"u1\n")
    slow = await runtime.exec_sync(container, ["sleep", "5"], 0.2)
    assert slow.exit_code == -1
    await runtime.stop_container(container, 0)


async def test_logs_rotate_by_size(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path, max_log_bytes=2000, max_log_files=3)
    async with anyio.create_task_group() as group:
        group.start_soon(runtime.run)
        container = await start(
            runtime, "i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done"
        )
        await wait_exit(runtime, container)
        group.cancel_scope.cancel()
    assert log_files(tmp_path) == ["0.log", "0.log.1", "0.log.2"]
    tail = await log(runtime, container, tail_lines=2)
    assert tail == b"line198\nline199\n"


async def test_memory_limit_applies(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.run_pod_sandbox(POD)
    script = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])"
    config = ContainerConfig(
        name="py",
        image="python",
        command=("python", "-c", f"import time; time.sleep(0.3); {script}"),
        limits=ResourceLimits(memory_bytes=512 * 1024 * 1024),
    )
    container = await runtime.create_container(sandbox, config)
    await runtime.start_container(container)
    await wait_exit(runtime, container)
    out = (await log(runtime, container)).strip()
    assert out in (b"536870912", b"-1")  # -1: a cgroup v2 limit was used instead


async def test_a_new_runtime_adopts_running_processes(tmp_path: Path) -> None:
    first = ProcessRuntime(tmp_path)
    container = await start(first, "echo one; exec sleep 30")
    pid = first._containers[container].data["pid"]
    first.close()  # the old object lets go; the process keeps running
    again = ProcessRuntime(tmp_path)
    async with anyio.create_task_group() as group:
        group.start_soon(again.run)
        (status,) = await again.list_containers()
        assert (status.id, status.state) == (container, "running")
        await again.stop_container(container, 5)
        group.cancel_scope.cancel()
    status = await again.container_status(container)
    assert status.state == "exited" and status.exit_code == 143
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert b"one" in await log(again, container)
