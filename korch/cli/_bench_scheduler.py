"""``korch bench scheduler``: scheduler_perf's workloads against korch's scheduler.

The command object is :data:`bench_scheduler` (wired in as ``korch bench scheduler``); the
workloads and their runner live in :mod:`korch.scheduler._perf`. Heavy imports happen inside
the command so ``korch --help`` stays fast.
"""

from __future__ import annotations

import json
import platform
import sys

import click
from rich.console import Console
from rich.table import Table

__all__ = ("bench_scheduler",)


def _figure(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


@click.command("scheduler")
@click.option(
    "--workload",
    "workloads",
    multiple=True,
    default=("SchedulingBasic",),
    show_default=True,
    help="Workload name (repeat the option), or 'all'.",
)
@click.option("--nodes", type=click.IntRange(min=1), help="Override the number of nodes.")
@click.option("--pods", type=click.IntRange(min=1), help="Override the number of measured pods.")
@click.option("--init-pods", type=click.IntRange(min=0), help="Override the number of init pods.")
@click.option(
    "--file",
    "workload_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file of workloads to run (see docs/scheduler.md).",
)
@click.option(
    "--reference-pods",
    default=200,
    show_default=True,
    help="Measured pods for the per-node reference run on SchedulingBasic (0: skip).",
)
@click.option("--seed", default=1, show_default=True, help="Seed of the tie-breaking RNG.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Write results as JSON here."
)
def bench_scheduler(
    workloads: tuple[str, ...],
    nodes: int | None,
    pods: int | None,
    init_pods: int | None,
    workload_file: str | None,
    reference_pods: int,
    seed: int,
    json_path: str | None,
) -> None:
    """Pods bound per second, scheduling-attempt latency and peak memory on scheduler_perf's
    workloads (node: 4 CPU, 32Gi, 110 pods; pod: 100m, 500Mi), bindings through korch's API
    layer on a MemoryStore; kube-scheduler's published threshold beside each figure."""
    import anyio
    import attrs

    from korch.scheduler import _perf

    console = Console() if sys.stdout.isatty() else Console(width=180)
    chosen: list[_perf.Workload] = []
    if workload_file:
        with open(workload_file) as handle:
            try:
                chosen.extend(_perf.load_workloads(handle.read()))
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
    names = list(_perf.WORKLOADS) if "all" in workloads else list(workloads)
    if workload_file and workloads == ("SchedulingBasic",):
        names = []
    for name in names:
        if name not in _perf.WORKLOADS:
            raise click.ClickException(
                f"unknown workload {name!r}; choose from {', '.join(_perf.WORKLOADS)} or all"
            )
        chosen.append(_perf.WORKLOADS[name])
    if nodes is not None or pods is not None:
        chosen = [w.resized(nodes=nodes, pods=pods) for w in chosen]
    if init_pods is not None:
        chosen = [attrs.evolve(w, init_pods=init_pods) for w in chosen]

    def progress(message: str) -> None:
        console.log(message)

    async def run(workload: _perf.Workload, reference: bool) -> _perf.PerfResult:
        return await _perf.run_workload(workload, reference=reference, seed=seed, progress=progress)

    from korch import errors

    results: list[_perf.PerfResult] = []
    for workload in chosen:
        try:
            results.append(anyio.run(run, workload, False))
            if workload.name == "SchedulingBasic" and reference_pods > 0:
                slow = attrs.evolve(
                    workload, measured_pods=min(reference_pods, workload.measured_pods)
                )
                results.append(anyio.run(run, slow, True))
        except errors.KorchError as exc:
            console.print(f"[red]{workload.name} did not finish: {exc}")
    table = Table(
        title=f"korch bench scheduler — {platform.node()}, "
        f"{platform.processor() or platform.machine()}"
    )
    columns = (
        "workload", "impl", "nodes", "init", "measured", "pods/s", "kube threshold", "ratio",
        "target", "p50 ms", "p99 ms", "cycle µs", "RSS MB",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("workload", "impl") else "right")
    for r in results:
        ratio = f"{r.throughput_avg / r.threshold:.1f}x" if r.threshold else ""
        table.add_row(
            r.workload,
            r.implementation,
            str(r.nodes),
            str(r.init_pods),
            str(r.measured_pods),
            _figure(r.throughput_avg),
            _figure(r.threshold),
            ratio,
            _figure(r.target),
            f"{r.latency_p50_ms:.2f}",
            f"{r.latency_p99_ms:.2f}",
            _figure(r.cycle_us),
            _figure(r.peak_rss_mb),
        )
    console.print(table)
    fast = {r.workload: r for r in results if r.implementation == "fast"}
    for r in results:
        if r.implementation == "reference" and r.workload in fast:
            f = fast[r.workload]
            console.print(
                f"{r.workload}: fast path {f.throughput_avg / r.throughput_avg:.1f}x the per-node "
                f"reference in pods bound/s ({f.throughput_avg:,.0f} vs {r.throughput_avg:,.0f}), "
                f"{r.cycle_us / max(f.cycle_us, 1e-9):.1f}x in scheduling-cycle time "
                f"({f.cycle_us:,.0f} µs vs {r.cycle_us:,.0f} µs per pod)"
            )
    if json_path:
        with open(json_path, "w") as out:
            json.dump([r.to_json() for r in results], out, indent=2)
            out.write("\n")
