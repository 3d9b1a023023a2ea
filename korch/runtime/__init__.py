"""korch.runtime — the runtime adapter interface (CRI, in Python) and two adapters.

* :class:`RuntimeAdapter` — the async protocol a node agent drives: pod sandboxes,
  containers, status, logs, exec, events. Third-party adapters register in the entry point
  group ``korch.runtimes``; :func:`load_runtime` finds them by name.
* :class:`FakeRuntime` — simulated containers on an injected clock (tests, scale runs).
* :class:`ProcessRuntime` — every container a real local process.

See ``docs/runtime.md``.
"""

from __future__ import annotations

from korch.runtime._fake import FakeBehavior, FakeRuntime
from korch.runtime._process import ProcessRuntime
from korch.runtime._protocol import ENTRY_POINT_GROUP, RuntimeAdapter, load_runtime
from korch.runtime._spawn import is_python_image, resolve_command
from korch.runtime._types import (
    CONTAINER_ATTEMPT_LABEL,
    CONTAINER_NAME_LABEL,
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    POD_UID_LABEL,
    ContainerConfig,
    ContainerEvent,
    ContainerNotFound,
    ContainerRuntimeError,
    ContainerState,
    ContainerStatus,
    CreateContainerError,
    ExecResult,
    PodSandboxConfig,
    PodSandboxNotFound,
    PodSandboxStatus,
    ResourceLimits,
    RunContainerError,
    RuntimeVersion,
)

__all__ = (
    "CONTAINER_ATTEMPT_LABEL",
    "CONTAINER_NAME_LABEL",
    "ENTRY_POINT_GROUP",
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
    "FakeBehavior",
    "FakeRuntime",
    "PodSandboxConfig",
    "PodSandboxNotFound",
    "PodSandboxStatus",
    "ProcessRuntime",
    "ResourceLimits",
    "RunContainerError",
    "RuntimeAdapter",
    "RuntimeVersion",
    "is_python_image",
    "load_runtime",
    "resolve_command",
)
