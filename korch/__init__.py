"""korch: the parts Kubernetes is made of, as importable, composable Python.

See ARCHITECTURE.md and ``docs/`` for the layers; the most used names are re-exported here.
"""

from __future__ import annotations

from korch import clock, errors
from korch.clock import Clock, FakeClock, SystemClock
from korch.errors import KorchError

__all__ = ("Clock", "FakeClock", "KorchError", "SystemClock", "clock", "errors")

__version__ = "0.1.0"
