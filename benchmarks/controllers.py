"""The controllers benchmark (same as ``korch bench controllers``):
python benchmarks/controllers.py [--objects 10000] [--pods 10000] [--json out.json]

See ``korch/cli/_bench_controllers.py`` for what is measured.
"""

from __future__ import annotations

from korch.cli._bench_controllers import bench_controllers

if __name__ == "__main__":
    bench_controllers()
