"""How the process runtime turns a container into a command line, an environment and limits.

**Images.** A process cannot unpack an image, so the image name is not run. The rules:

* ``command`` (and ``args``) is what runs, looked up on the agent's ``PATH`` (or the
  container's own ``PATH`` variable) unless it contains a ``/``;
* images named ``python`` (any registry, tag or digest: ``python:3.12-slim``,
  ``docker.io/library/python``) run on the agent's own interpreter: a command of
  ``python``, ``python3`` or ``python3.X`` becomes :data:`sys.executable`, and no command
  at all runs the interpreter with ``args`` (the image's ``CMD`` is ``python3``);
* any other image without a command cannot be run and gives
  :class:`~korch.runtime.CreateContainerError`, as does an executable that is not found
  (``exec: "nginx": executable file not found in $PATH``, the runtime's own words) or a
  ``workingDir`` that does not exist.

**Limits.** With a writable cgroup v2 hierarchy a container gets its own cgroup with
``memory.max`` and ``cpu.max`` (CPU millicores over a 100 ms period). Otherwise the memory
limit becomes ``RLIMIT_AS`` (address space, which overcounts: it includes mapped but unused
memory) and the CPU limit is not enforced (no rlimit expresses a rate).

**Processes.** :data:`CHILDREN` keeps every process this program started until it is
reaped; :func:`process_alive` tells a live process from a reused pid by its start time;
:func:`wait_foreign` learns how a process another runtime object started has ended.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys

from korch.runtime import _types

__all__ = (
    "CHILDREN",
    "UNKNOWN_EXIT",
    "CgroupV2",
    "apply_rlimits",
    "is_python_image",
    "process_alive",
    "process_start_time",
    "remove_tree",
    "resolve_command",
    "wait_foreign",
)

_PYTHON_COMMAND = re.compile(r"python(3(\.\d+)?)?")


def is_python_image(image: str) -> bool:
    """Whether ``image`` names the ``python`` image (any registry, tag or digest)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0] == "python"


def resolve_command(config: _types.ContainerConfig, path: str) -> list[str]:
    """The argv to run for ``config`` (see the module docstring).

    Raises:
        CreateContainerError: no command for a non-python image, or the executable is
            not found or not executable.
    """
    python = is_python_image(config.image)
    if not config.command:
        if not python:
            raise _types.CreateContainerError(
                f'cannot run image "{config.image}" as a process: container '
                f'"{config.name}" has no command (the process runtime runs `command`; only '
                "python images have a default, the local interpreter)"
            )
        return [sys.executable, *config.args]
    argv = [*config.command, *config.args]
    executable = argv[0]
    if python and _PYTHON_COMMAND.fullmatch(executable):
        argv[0] = sys.executable
    elif "/" in executable:
        if not os.access(executable, os.X_OK) or os.path.isdir(executable):
            raise _types.CreateContainerError(
                f'exec: "{executable}": stat {executable}: no such executable file'
            )
    else:
        found = shutil.which(executable, path=path)
        if found is None:
            raise _types.CreateContainerError(
                f'exec: "{executable}": executable file not found in $PATH'
            )
        argv[0] = found
    return argv


class CgroupV2:
    """A cgroup v2 parent the runtime may create container cgroups under (if writable)."""

    def __init__(self, root: str = "/sys/fs/cgroup") -> None:
        self.parent: str | None = None
        try:
            with open("/proc/self/cgroup") as file:
                entries = [line.strip() for line in file]
        except OSError:
            return
        unified = [e[3:] for e in entries if e.startswith("0::")]
        if len(entries) != 1 or not unified:
            return  # cgroup v1 or hybrid: not ours to manage
        parent = os.path.join(root, unified[0].lstrip("/"))
        if os.access(os.path.join(parent, "cgroup.subtree_control"), os.W_OK):
            self.parent = parent

    def apply(self, container_id: str, pid: int, limits: _types.ResourceLimits) -> bool:
        """Put ``pid`` in a new cgroup with ``limits``; False if that is not possible."""
        if self.parent is None:
            return False
        path = os.path.join(self.parent, f"korch-{container_id}")
        try:
            os.makedirs(path, exist_ok=True)
            if limits.memory_bytes:
                _write(os.path.join(path, "memory.max"), str(limits.memory_bytes))
            if limits.cpu_millis:
                _write(os.path.join(path, "cpu.max"), f"{limits.cpu_millis * 100} 100000")
            _write(os.path.join(path, "cgroup.procs"), str(pid))
        except OSError:
            return False
        return True

    def remove(self, container_id: str) -> None:
        """Remove the container's cgroup (once its processes are gone)."""
        if self.parent is not None:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(self.parent, f"korch-{container_id}"))


def _write(path: str, value: str) -> None:
    with open(path, "w") as file:
        file.write(value)


def apply_rlimits(pid: int, limits: _types.ResourceLimits) -> None:
    """The setrlimit fallback: the memory limit as RLIMIT_AS (best effort)."""
    if limits.memory_bytes and hasattr(resource, "prlimit"):
        # the process may have exited already, or the limit may not be allowed here
        with contextlib.suppress(OSError, ValueError):
            resource.prlimit(pid, resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))


def process_start_time(pid: int) -> str:
    """The process' start time in clock ticks since boot (Linux), to tell a pid that was
    reused from the process recorded; ``""`` where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return ""
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else ""


def process_alive(pid: int, start_time: str) -> bool:
    """Whether ``pid`` is the process that started at ``start_time`` and still runs."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not start_time
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields and fields[0] == b"Z":
        return False
    return not start_time or (len(fields) > 19 and fields[19].decode() == start_time)


UNKNOWN_EXIT = -(1 << 30)

CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Every process this program started and has not reaped, by pid — shared by all runtime
objects, so one that adopts a container of an earlier object in this program still learns
its exit code (and Popen never reaps it behind our back)."""


def wait_foreign(pid: int, proc_start: str) -> int | None:
    """Exit status of a process this object did not start: ``None`` while it runs; its
    code if it is still our child (an earlier runtime object of this program started it);
    else :data:`UNKNOWN_EXIT`."""
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None if process_alive(pid, proc_start) else UNKNOWN_EXIT
    if waited == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def remove_tree(path: str) -> None:
    if not os.path.isdir(path):
        return
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(root, name))
        for name in dirs:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(root, name))
    with contextlib.suppress(OSError):
        os.rmdir(path)
