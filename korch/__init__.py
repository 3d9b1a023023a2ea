"""korch: the parts Kubernetes is made of, as importable, composable Python.

See ARCHITECTURE.md and ``docs/`` for the layers; the most used names are re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from korch import clock, errors
from korch.clock import Clock, FakeClock, SystemClock
from korch.errors import KorchError

if TYPE_CHECKING:
    from korch.apiserver import APIServer

__all__ = ("APIServer", "Clock", "FakeClock", "KorchError", "SystemClock", "clock", "errors")


def __getattr__(name: str) -> Any:
    # the API server pulls in the whole resource model: load it only when asked for
    if name == "APIServer":
        from korch.apiserver import APIServer

        return APIServer
    raise AttributeError(f"module 'korch' has no attribute {name!r}")


__version__ = "0.1.0"
