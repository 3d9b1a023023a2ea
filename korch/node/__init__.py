"""korch.node — the node agent (the kubelet).

:class:`NodeAgent` registers a Node, heartbeats with a Lease, and runs the pods bound to
its node through a :class:`korch.runtime.RuntimeAdapter`: init containers, restart
policies with CrashLoopBackOff, probes, pod status, graceful deletion, reconciliation
after a restart, and pod logs. See ``docs/runtime.md``.
"""

from __future__ import annotations

from korch.node._agent import NodeAgent
from korch.node._env import ConfigError

__all__ = ("ConfigError", "NodeAgent")
