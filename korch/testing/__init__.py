"""korch.testing — tools for testing code built on korch, and korch's own conformance suites.

* :class:`StoreConformance` — the etcd-semantics suite every store backend passes; subclass it
  to test your own backend (see its docstring);
* :class:`EtcdServer` / :class:`EtcdCluster` — start a real etcd on free loopback ports;
* :class:`Environment` — a MemoryStore, a running APIServer and a FakeClock with
  ``settle()``/``advance()`` (``docs/testing.md``); :func:`environment` for pytest fixtures;
* :class:`ControllerEnvironment` — an Environment that also runs controllers in a
  :class:`korch.controllers.Manager` and settles their queues (``docs/controllers.md``);
* :class:`korch.clock.FakeClock` — re-exported for convenience.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from korch.clock import FakeClock

if TYPE_CHECKING:
    from korch.testing._controllers import ControllerEnvironment
    from korch.testing._env import Environment, environment
    from korch.testing._etcd_server import EtcdCluster, EtcdServer, find_etcd
    from korch.testing._store_conformance import StoreConformance

__all__ = (
    "ControllerEnvironment",
    "Environment",
    "EtcdCluster",
    "EtcdServer",
    "FakeClock",
    "StoreConformance",
    "environment",
    "find_etcd",
)


def __getattr__(name: str) -> Any:
    # loaded lazily: the conformance suite imports pytest, which applications need not have
    if name == "StoreConformance":
        from korch.testing._store_conformance import StoreConformance

        return StoreConformance
    if name == "ControllerEnvironment":
        from korch.testing._controllers import ControllerEnvironment

        return ControllerEnvironment
    if name in ("Environment", "environment"):
        from korch.testing import _env

        return getattr(_env, name)
    if name in ("EtcdServer", "EtcdCluster", "find_etcd"):
        from korch.testing import _etcd_server

        return getattr(_etcd_server, name)
    raise AttributeError(f"module 'korch.testing' has no attribute {name!r}")
