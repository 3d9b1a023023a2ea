"""The ``korch`` command line (click): ``korch bench store`` today; ``korch up``, ``korch agent``
and ``korch snapshot`` join it as the layers below them land."""

from __future__ import annotations

from korch.cli._main import main

__all__ = ("main",)
