"""The store benchmark (same as ``korch bench store``): python benchmarks/store.py --help"""

from __future__ import annotations

from korch.cli._main import bench_store

if __name__ == "__main__":
    bench_store()
