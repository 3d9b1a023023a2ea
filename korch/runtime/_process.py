"""ProcessRuntime: every container is a real local process.

What a container gets (see :mod:`korch.runtime._spawn` for how images map to commands):

* its own session and process group, so stopping it signals the whole group: SIGTERM,
  then SIGKILL once the grace period has passed on the runtime's clock;
* an environment of the agent's ``PATH`` (and ``HOME``, ``LANG``), ``HOSTNAME`` (the pod
  name), the Downward-API-like ``KORCH_POD_NAME``, ``KORCH_POD_NAMESPACE``,
  ``KORCH_POD_UID``, ``KORCH_POD_IP`` and ``KORCH_NODE_NAME``, then the container's own
  variables (the node agent resolves ``valueFrom`` and adds Service variables);
* ``workingDir``, or else the sandbox's own directory;
* stdout and stderr through named pipes into the CRI log file
  ``<state>/logs/<namespace>_<pod>_<uid>/<container>/<attempt>.log``, rotated by size.
  The process holds its pipe open for reading too, so output never breaks (SIGPIPE) while
  no agent reads it — it waits in the pipe until an agent does;
* the pod IP ``127.0.0.1`` (processes share the host's network: two pods cannot listen on
  one port).

**State and adoption.** Every sandbox and container is a JSON record under
``<state>/sandboxes`` and ``<state>/containers`` (pid, process start time, exit code once
known). A new ``ProcessRuntime`` over the same directory (the agent restarted, or the
whole program did) reads them back: a process that still runs (same pid *and* start time)
is adopted — its pipes are read again — and one that ended is reported exited. The exit
code of a process that was not this program's child cannot be known: it is reported as
exit code 137 with reason ``ContainerStatusUnknown``, as the kubelet does for a container
it lost track of.

Exits are noticed by a poll of the live processes every 50 ms of real time in
:meth:`ProcessRuntime.run` (and on every status request).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import anyio.abc
import attrs

from korch import clock as clock_module
from korch.runtime import _logs, _protocol, _spawn, _types

__all__ = ("ProcessRuntime",)

_POLL_SECONDS = 0.05
_KILL_WAIT_SECONDS = 10.0


class _Container:
    """A container's record; ``data`` is what is persisted."""

    __slots__ = ("data", "pumping", "pumps", "writer")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.writer: _logs.LogFileWriter | None = None
        self.pumps: list[int] = []
        self.pumping = False


class ProcessRuntime:
    """Containers as local processes (see the module docstring).

    Args:
        state_dir: where records, pipes and logs live (default: a new temporary directory).
        clock: the clock grace periods and timestamps use (default: the system clock).
        node_name: reported to containers as ``KORCH_NODE_NAME``.
        pod_ip: the address every pod gets (processes share the host network).
        max_log_bytes: a log file is rotated when it grows past this (default 10 MiB).
        max_log_files: how many log files (current + rotated) a container keeps.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        clock: clock_module.Clock | None = None,
        node_name: str = "",
        pod_ip: str = "127.0.0.1",
        max_log_bytes: int = 10 * 1024 * 1024,
        max_log_files: int = 5,
    ) -> None:
        if state_dir is None:
            state_dir = tempfile.mkdtemp(prefix="korch-process-runtime-")
        self.state_dir = os.path.abspath(os.fspath(state_dir))
        self.clock = clock or clock_module.SystemClock()
        self.node_name = node_name
        self.pod_ip = pod_ip
        self.max_log_bytes = max_log_bytes
        self.max_log_files = max_log_files
        for sub in ("sandboxes", "containers", "logs", "pipes"):
            os.makedirs(os.path.join(self.state_dir, sub), exist_ok=True)
        self._cgroups = _spawn.CgroupV2()
        self._ids = itertools.count(1)
        self._prefix = os.urandom(3).hex()
        self._events = _protocol.EventFanout()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._sandboxes: dict[str, dict[str, Any]] = {}
        self._containers: dict[str, _Container] = {}
        self._load()

    # -- persistence ---------------------------------------------------------------------

    def _record_path(self, kind: str, record_id: str) -> str:
        return os.path.join(self.state_dir, kind, f"{record_id}.json")

    def _save(self, kind: str, data: dict[str, Any]) -> None:
        path = self._record_path(kind, data["id"])
        with open(path + ".tmp", "w") as file:
            json.dump(data, file)
        os.replace(path + ".tmp", path)

    def _load(self) -> None:
        for kind in ("sandboxes", "containers"):
            folder = os.path.join(self.state_dir, kind)
            for name in sorted(os.listdir(folder)):
                if not name.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(folder, name)) as file:
                        data = json.load(file)
                except (OSError, ValueError):
                    continue  # a torn record from a crash mid-write: nothing ran from it
                if kind == "sandboxes":
                    self._sandboxes[data["id"]] = data
                else:
                    self._containers[data["id"]] = _Container(data)
        for container in self._containers.values():
            if self._check_exit(container):
                self._start_pumps(container)

    def close(self) -> None:
        """Stop reading the containers' output (they keep running; output waits in their
        pipes for the next runtime object over this state directory)."""
        for container in self._containers.values():
            self._close_pipes(container)

    # -- RuntimeAdapter ------------------------------------------------------------------

    async def version(self) -> _types.RuntimeVersion:
        return _types.RuntimeVersion(runtime_name="process", runtime_version="0.1.0")

    async def run(self) -> None:
        """Pump logs and notice exits (until cancelled)."""
        async with anyio.create_task_group() as group:
            self._task_group = group
            try:
                for container in self._containers.values():
                    if container.data["state"] == "running":
                        self._start_pumps(container)
                while True:
                    for container in list(self._containers.values()):
                        if container.data["state"] == "running":
                            self._check_exit(container)
                    await anyio.sleep(_POLL_SECONDS)
            finally:
                self._task_group = None
                group.cancel_scope.cancel()
                self.close()

    async def run_pod_sandbox(self, config: _types.PodSandboxConfig) -> str:
        sandbox_id = self._new_id()
        directory = os.path.join(self.state_dir, "sandboxes", sandbox_id)
        os.makedirs(directory, exist_ok=True)
        data = {
            "id": sandbox_id,
            "config": attrs.asdict(config),
            "created_at": self.clock.time(),
            "ready": True,
            "ip": self.pod_ip,
            "dir": directory,
            "log_dir": os.path.join(
                self.state_dir, "logs", f"{config.namespace}_{config.name}_{config.uid}"
            ),
        }
        self._save("sandboxes", data)
        self._sandboxes[sandbox_id] = data
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._sandbox(sandbox_id)
        async with anyio.create_task_group() as group:
            for container in self._of_sandbox(sandbox_id):
                if container.data["state"] == "running":
                    group.start_soon(self.stop_container, container.data["id"], 0.0)
        sandbox["ready"] = False
        self._save("sandboxes", sandbox)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        await self.stop_pod_sandbox(sandbox_id)
        for container in self._of_sandbox(sandbox_id):
            await self.remove_container(container.data["id"])
        _spawn.remove_tree(sandbox["log_dir"])
        _spawn.remove_tree(sandbox["dir"])
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._record_path("sandboxes", sandbox_id))
        del self._sandboxes[sandbox_id]

    async def pod_sandbox_status(self, sandbox_id: str) -> _types.PodSandboxStatus:
        return self._sandbox_status(self._sandbox(sandbox_id))

    async def list_pod_sandboxes(self) -> Sequence[_types.PodSandboxStatus]:
        return [self._sandbox_status(s) for s in self._sandboxes.values()]

    async def create_container(self, sandbox_id: str, config: _types.ContainerConfig) -> str:
        sandbox = self._sandbox(sandbox_id)
        sandbox_config = _types.PodSandboxConfig(**sandbox["config"])
        env = self._environment(sandbox, sandbox_config, config)
        argv = _spawn.resolve_command(config, env.get("PATH", os.defpath))
        cwd = config.working_dir or sandbox["dir"]
        if not os.path.isdir(cwd):  # noqa: ASYNC240 - a local stat, no slower than a thread hop
            raise _types.CreateContainerError(
                f'working directory "{cwd}" of container "{config.name}" does not exist'
            )
        container_id = self._new_id()
        log_dir = os.path.join(sandbox["log_dir"], config.name)
        os.makedirs(log_dir, exist_ok=True)
        data = {
            "id": container_id,
            "sandbox_id": sandbox_id,
            "config": attrs.asdict(config),
            "argv": argv,
            "env": env,
            "cwd": cwd,
            "state": "created",
            "pid": 0,
            "proc_start": "",
            "created_at": self.clock.time(),
            "started_at": 0.0,
            "finished_at": 0.0,
            "exit_code": 0,
            "reason": "",
            "message": "",
            "log_path": os.path.join(log_dir, f"{config.attempt}.log"),
        }
        self._save("containers", data)
        self._containers[container_id] = _Container(data)
        return container_id

    async def start_container(self, container_id: str) -> None:
        container = self._get(container_id)
        data = container.data
        if data["state"] != "created":
            raise _types.RunContainerError(f"container {container_id} was already started")
        pipes = [os.path.join(self.state_dir, "pipes", f"{container_id}.{s}") for s in "oe"]
        readers: list[int] = []
        child_fds: list[int] = []
        try:
            for pipe in pipes:
                with contextlib.suppress(FileExistsError):
                    os.mkfifo(pipe, 0o600)
                # the read end first: a FIFO drops its data once nobody has it open, and a
                # quick container may be gone before anyone else opens it
                readers.append(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
                child_fds.append(os.open(pipe, os.O_RDWR))
            popen = subprocess.Popen(  # noqa: ASYNC220 - vfork+exec returns at once; the child is polled
                data["argv"],
                cwd=data["cwd"],
                env=data["env"],
                stdin=subprocess.DEVNULL,
                stdout=child_fds[0],
                stderr=child_fds[1],
                start_new_session=True,
            )
        except OSError as exc:
            for fd in readers:
                os.close(fd)
            data.update(state="exited", exit_code=128, reason="StartError", message=str(exc))
            data["finished_at"] = self.clock.time()
            self._save("containers", data)
            raise _types.RunContainerError(f"cannot start container {container_id}: {exc}") from exc
        finally:
            for fd in child_fds:
                os.close(fd)
        _spawn.CHILDREN[popen.pid] = popen
        container.pumps = readers
        limits = _types.ResourceLimits(**data["config"]["limits"])
        if not self._cgroups.apply(container_id, popen.pid, limits):
            _spawn.apply_rlimits(popen.pid, limits)
        data.update(
            state="running",
            pid=popen.pid,
            proc_start=_spawn.process_start_time(popen.pid),
            started_at=self.clock.time(),
            pipes=pipes,
        )
        self._save("containers", data)
        self._start_pumps(container)
        self._events.publish(
            _types.ContainerEvent(
                container_id=container_id, sandbox_id=data["sandbox_id"], type="started"
            )
        )

    async def stop_container(self, container_id: str, timeout: float) -> None:
        container = self._get(container_id)
        data = container.data
        if data["state"] == "created":
            data.update(state="exited", reason="Completed", finished_at=self.clock.time())
            self._save("containers", data)
            return
        if not self._check_exit(container):
            return
        self._signal(data, signal.SIGTERM)
        deadline = self.clock.monotonic() + max(timeout, 0.0)
        # a process exit is no event of the loop: poll it (and the clock, which may be fake)
        while self._check_exit(container) and self.clock.monotonic() < deadline:  # noqa: ASYNC110
            await anyio.sleep(0.02)
        if not self._check_exit(container):
            return
        self._signal(data, signal.SIGKILL)
        with anyio.move_on_after(_KILL_WAIT_SECONDS):
            while self._check_exit(container):  # noqa: ASYNC110 - see above
                await anyio.sleep(0.01)

    async def remove_container(self, container_id: str) -> None:
        container = self._containers.get(container_id)
        if container is None:
            return
        if container.data["state"] == "running":
            await self.stop_container(container_id, 0.0)
        self._close_pipes(container)
        for pipe in container.data.get("pipes", ()):
            with contextlib.suppress(FileNotFoundError):
                os.remove(pipe)
        path = container.data["log_path"]
        for name in [path, *(f"{path}.{i}" for i in range(1, self.max_log_files + 1))]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._record_path("containers", container_id))
        self._cgroups.remove(container_id)
        del self._containers[container_id]

    async def container_status(self, container_id: str) -> _types.ContainerStatus:
        container = self._get(container_id)
        if container.data["state"] == "running":
            self._check_exit(container)
        return self._status(container)

    async def list_containers(
        self, sandbox_id: str | None = None
    ) -> Sequence[_types.ContainerStatus]:
        if sandbox_id is not None:
            self._sandbox(sandbox_id)
            chosen = self._of_sandbox(sandbox_id)
        else:
            chosen = list(self._containers.values())
        for container in chosen:
            if container.data["state"] == "running":
                self._check_exit(container)
        return [self._status(c) for c in chosen]

    async def exec_sync(
        self, container_id: str, command: Sequence[str], timeout: float
    ) -> _types.ExecResult:
        data = self._get(container_id).data
        if data["state"] != "running":
            return _types.ExecResult(exit_code=126, stderr=b"container is not running\n")
        config = _types.ContainerConfig(
            name=data["config"]["name"], image=data["config"]["image"], command=tuple(command)
        )
        try:
            argv = _spawn.resolve_command(config, data["env"].get("PATH", os.defpath))
        except _types.CreateContainerError as exc:
            return _types.ExecResult(exit_code=126, stderr=exc.message.encode() + b"\n")
        with anyio.move_on_after(max(timeout, 0.001)):
            result = await anyio.run_process(
                argv, cwd=data["cwd"], env=data["env"], check=False, stdin=subprocess.DEVNULL
            )
            return _types.ExecResult(
                exit_code=result.returncode, stdout=result.stdout, stderr=result.stderr
            )
        return _types.ExecResult(exit_code=-1, stderr=b"command timed out\n")

    async def read_log(
        self,
        container_id: str,
        *,
        tail_lines: int | None = None,
        since: float | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> AsyncIterator[bytes]:
        container = self._get(container_id)

        def running() -> bool:
            return container.data["state"] == "running" and self._check_exit(container)

        async for chunk in _logs.read_file_log(
            container.data["log_path"],
            tail_lines=tail_lines,
            since=since,
            follow=follow,
            timestamps=timestamps,
            running=running,
        ):
            yield chunk

    def container_events(self) -> AsyncIterator[_types.ContainerEvent]:
        return self._events.subscribe()

    # -- processes -----------------------------------------------------------------------

    def _environment(
        self,
        sandbox: dict[str, Any],
        pod: _types.PodSandboxConfig,
        config: _types.ContainerConfig,
    ) -> dict[str, str]:
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        env.update(
            HOSTNAME=pod.hostname or pod.name,
            KORCH_POD_NAME=pod.name,
            KORCH_POD_NAMESPACE=pod.namespace,
            KORCH_POD_UID=pod.uid,
            KORCH_POD_IP=sandbox["ip"],
            KORCH_NODE_NAME=self.node_name,
        )
        env.update(config.env)
        return env

    def _signal(self, data: dict[str, Any], signum: int) -> None:
        pid = data["pid"]
        if not _spawn.process_alive(pid, data["proc_start"]):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)

    def _check_exit(self, container: _Container) -> bool:
        """Record the exit of a running container if it ended; True while it runs."""
        data = container.data
        if data["state"] != "running":
            return False
        code: int | None
        popen = _spawn.CHILDREN.get(data["pid"])
        if popen is not None:
            code = popen.poll()
            if code is not None:
                del _spawn.CHILDREN[data["pid"]]
        else:
            code = _spawn.wait_foreign(data["pid"], data["proc_start"])
        if code is None:
            return True
        if code == _spawn.UNKNOWN_EXIT:
            self._reap_unknown(container)
        else:
            signalled = code < 0
            exit_code = 128 - code if signalled else code
            data.update(
                state="exited",
                exit_code=exit_code,
                reason="Completed" if exit_code == 0 else "Error",
                finished_at=self.clock.time(),
            )
            self._finish(container)
        return False

    def _reap_unknown(self, container: _Container) -> None:
        container.data.update(
            state="exited",
            exit_code=137,
            reason="ContainerStatusUnknown",
            message="the process ended while no agent watched it; its exit code is unknown",
            finished_at=self.clock.time(),
        )
        self._finish(container)

    def _finish(self, container: _Container) -> None:
        self._drain(container)
        self._close_pipes(container)
        self._save("containers", container.data)
        self._events.publish(
            _types.ContainerEvent(
                container_id=container.data["id"],
                sandbox_id=container.data["sandbox_id"],
                type="exited",
            )
        )

    # -- log pumps -----------------------------------------------------------------------

    def _start_pumps(self, container: _Container) -> None:
        if "pipes" not in container.data:
            return
        if not container.pumps:
            try:
                container.pumps = [
                    os.open(p, os.O_RDONLY | os.O_NONBLOCK) for p in container.data["pipes"]
                ]
            except OSError:
                return
        if container.writer is None:
            container.writer = _logs.LogFileWriter(
                container.data["log_path"],
                max_bytes=self.max_log_bytes,
                max_files=self.max_log_files,
            )
        if self._task_group is not None and not container.pumping:
            container.pumping = True
            for fd, stream in zip(container.pumps, ("stdout", "stderr"), strict=True):
                self._task_group.start_soon(self._pump, container, fd, stream)

    async def _pump(self, container: _Container, fd: int, stream: str) -> None:
        while fd in container.pumps:
            try:
                await anyio.wait_readable(fd)
            except (OSError, anyio.ClosedResourceError):
                return
            if fd not in container.pumps:
                return
            if not self._read_pipe(container, fd, stream):
                return

    def _read_pipe(self, container: _Container, fd: int, stream: str) -> bool:
        """Move what the pipe holds into the log; False at end of file."""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            if container.writer is not None:
                container.writer.write(self.clock.time(), stream, chunk)

    def _drain(self, container: _Container) -> None:
        for fd, stream in zip(container.pumps, ("stdout", "stderr"), strict=False):
            self._read_pipe(container, fd, stream)
        if container.writer is not None:
            container.writer.flush_partial(self.clock.time())

    def _close_pipes(self, container: _Container) -> None:
        fds, container.pumps = container.pumps, []
        container.pumping = False
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if container.writer is not None:
            container.writer.close()
            container.writer = None

    # -- records -------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"{self._prefix}{os.getpid() & 0xFFFF:04x}{next(self._ids):06x}"

    def _sandbox(self, sandbox_id: str) -> dict[str, Any]:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            raise _types.PodSandboxNotFound(f"pod sandbox {sandbox_id!r} not found")
        return sandbox

    def _get(self, container_id: str) -> _Container:
        container = self._containers.get(container_id)
        if container is None:
            raise _types.ContainerNotFound(f"container {container_id!r} not found")
        return container

    def _of_sandbox(self, sandbox_id: str) -> list[_Container]:
        return [c for c in self._containers.values() if c.data["sandbox_id"] == sandbox_id]

    def _status(self, container: _Container) -> _types.ContainerStatus:
        data = container.data
        config = data["config"]
        return _types.ContainerStatus(
            id=data["id"],
            sandbox_id=data["sandbox_id"],
            name=config["name"],
            attempt=config["attempt"],
            image=config["image"],
            state=data["state"],
            created_at=data["created_at"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            exit_code=data["exit_code"],
            reason=data["reason"],
            message=data["message"],
            labels=config["labels"],
        )

    @staticmethod
    def _sandbox_status(sandbox: dict[str, Any]) -> _types.PodSandboxStatus:
        return _types.PodSandboxStatus(
            id=sandbox["id"],
            config=_types.PodSandboxConfig(**sandbox["config"]),
            state="ready" if sandbox["ready"] else "notready",
            ip=sandbox["ip"],
            created_at=sandbox["created_at"],
        )

    def __repr__(self) -> str:
        return f"<ProcessRuntime {self.state_dir!r} containers={len(self._containers)}>"
