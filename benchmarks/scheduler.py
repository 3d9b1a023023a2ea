"""The scheduler benchmark (same as ``korch bench scheduler``).

python benchmarks/scheduler.py --help
"""

from __future__ import annotations

from korch.cli._bench_scheduler import bench_scheduler

if __name__ == "__main__":
    bench_scheduler()
