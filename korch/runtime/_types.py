"""The values a runtime adapter takes and returns, and its errors (CRI's messages, in Python).

CRI (the kubelet's Container Runtime Interface) describes a pod as a *sandbox* (the shared
context: network address, log directory, labels) holding *containers*. A container is
created from a :class:`ContainerConfig`, started, and eventually exits; its
:class:`ContainerStatus` says which of CRI's four states it is in (``created``,
``running``, ``exited``, ``unknown``) with the exit code and reason.

Times are seconds since the Unix epoch on the runtime's :class:`korch.clock.Clock`
(``clock.time()``); ``0.0`` means "not yet".

Labels tie runtime objects back to the API: the node agent puts the pod's uid, name and
namespace on every sandbox and the container's name and attempt (its restart count) on
every container, so after a restart it recognises what is already running
(:data:`POD_UID_LABEL` and friends).

Errors::

    KorchError
    └── ContainerRuntimeError             anything a runtime adapter refuses; ``.reason``
        ├── ContainerNotFound (LookupError)    no container with that id
        ├── PodSandboxNotFound (LookupError)   no sandbox with that id
        ├── CreateContainerError               the container cannot be made (kubelet's
        │                                      CreateContainerError: no command, executable
        │                                      not found, bad working directory…)
        └── RunContainerError                  it was made but could not start
"""

from __future__ import annotations

from typing import Literal

import attrs

from korch import errors

__all__ = (
    "CONTAINER_ATTEMPT_LABEL",
    "CONTAINER_NAME_LABEL",
    "POD_NAMESPACE_LABEL",
    "POD_NAME_LABEL",
    "POD_UID_LABEL",
    "ContainerConfig",
    "ContainerEvent",
    "ContainerNotFound",
    "ContainerRuntimeError",
    "ContainerState",
    "ContainerStatus",
    "CreateContainerError",
    "ExecResult",
    "PodSandboxConfig",
    "PodSandboxNotFound",
    "PodSandboxStatus",
    "ResourceLimits",
    "RunContainerError",
    "RuntimeVersion",
)

POD_UID_LABEL = "io.kubernetes.pod.uid"
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
CONTAINER_ATTEMPT_LABEL = "io.kubernetes.container.restartCount"

ContainerState = Literal["created", "running", "exited", "unknown"]


# -- errors ----------------------------------------------------------------------------


class ContainerRuntimeError(errors.KorchError):
    """A runtime adapter refused a request; ``reason`` is the kubelet's word for it."""

    reason: str = "RuntimeError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContainerNotFound(ContainerRuntimeError, LookupError):
    """No container with that id (never created, or removed)."""

    reason = "NotFound"


class PodSandboxNotFound(ContainerRuntimeError, LookupError):
    """No pod sandbox with that id (never made, or removed)."""

    reason = "NotFound"


class CreateContainerError(ContainerRuntimeError):
    """The container cannot be created (e.g. no command, or the executable is missing)."""

    reason = "CreateContainerError"


class RunContainerError(ContainerRuntimeError):
    """The container was created but failed to start."""

    reason = "RunContainerError"


# -- requests --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PodSandboxConfig:
    """What a pod sandbox is made from: the pod's identity, hostname and labels."""

    name: str
    namespace: str
    uid: str
    hostname: str = ""
    labels: dict[str, str] = attrs.Factory(dict)
    annotations: dict[str, str] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class ResourceLimits:
    """A container's limits: CPU in millicores, memory in bytes (0: unlimited)."""

    cpu_millis: int = 0
    memory_bytes: int = 0


@attrs.frozen(kw_only=True)
class ContainerConfig:
    """What a container is made from (the API's Container, with env already resolved)."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = attrs.Factory(dict)
    working_dir: str = ""
    limits: ResourceLimits = ResourceLimits()
    labels: dict[str, str] = attrs.Factory(dict)
    annotations: dict[str, str] = attrs.Factory(dict)
    attempt: int = 0


# -- results ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RuntimeVersion:
    """The adapter's name and version (reported as the Node's containerRuntimeVersion)."""

    runtime_name: str
    runtime_version: str

    def __str__(self) -> str:
        return f"{self.runtime_name}://{self.runtime_version}"


@attrs.frozen(kw_only=True)
class PodSandboxStatus:
    """A sandbox: its id, config, state (``ready``/``notready``) and the pod's IP."""

    id: str
    config: PodSandboxConfig
    state: Literal["ready", "notready"]
    ip: str
    created_at: float


@attrs.frozen(kw_only=True)
class ContainerStatus:
    """One container as the runtime sees it now.

    ``exit_code``, ``reason`` and ``finished_at`` are meaningful once ``state`` is
    ``exited``; ``reason`` is ``Completed`` (exit 0), ``Error``, ``OOMKilled`` or
    ``ContainerStatusUnknown`` (the process ended unobserved, exit code unknown).
    """

    id: str
    sandbox_id: str
    name: str
    attempt: int
    image: str
    state: ContainerState
    created_at: float
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    labels: dict[str, str] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class ExecResult:
    """What a command run in a container's context returned."""

    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


@attrs.frozen(kw_only=True)
class ContainerEvent:
    """A container changed state (CRI's ContainerEventResponse): ``started`` or ``exited``."""

    container_id: str
    sandbox_id: str
    type: Literal["started", "exited"]
