"""Command definitions. Heavy imports happen inside the commands, so ``korch --help`` is fast."""

from __future__ import annotations

import json
import platform
import sys

import click
from rich.console import Console
from rich.table import Table

__all__ = ("main",)


@click.group()
@click.version_option(package_name="korch")
def main() -> None:
    """korch: the parts Kubernetes is made of, as composable Python."""


@main.command()
@click.option(
    "--data-dir",
    default=".korch",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the cluster keeps its state (SQLite store, node state, logs).",
)
@click.option(
    "-f",
    "--filename",
    "manifests",
    multiple=True,
    help="Manifests to apply once the cluster is up: files, directories, or - for stdin.",
)
@click.option("--nodes", default=1, show_default=True, type=click.IntRange(0), help="Node agents.")
@click.option(
    "--runtime",
    default="process",
    show_default=True,
    help="Container runtime of the nodes: process (local processes), fake (simulated), or a "
    "runtime registered under the korch.runtimes entry point group.",
)
@click.option(
    "--store",
    default="",
    help="sqlite (default: <data-dir>/state.db), sqlite:///path, memory, or "
    "etcd://host:port[,host:port...].",
)
@click.option(
    "--dashboard/--no-dashboard",
    default=True,
    show_default=True,
    help="Show a live table of workloads and pods (on a terminal).",
)
def up(
    data_dir: str,
    manifests: tuple[str, ...],
    nodes: int,
    runtime: str,
    store: str,
    dashboard: bool,
) -> None:
    """Run a whole cluster in the foreground (Ctrl-C stops it; state survives restarts)."""
    import anyio

    from korch.cluster import UpOptions, run_up

    options = UpOptions(
        data_dir=data_dir,
        manifests=manifests,
        nodes=nodes,
        runtime=runtime,
        store=store,
        dashboard=dashboard,
    )
    stdin = click.get_text_stream("stdin").read() if "-" in manifests else ""
    try:
        anyio.run(lambda: run_up(options, stdin=stdin))
    except KeyboardInterrupt:
        Console().print("korch: stopped")
    except (ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error


@main.group()
def snapshot() -> None:
    """Back up a cluster's store and restore it (SQLite or etcd)."""


_STORE_OPTION = click.option(
    "--store",
    default="",
    help="sqlite (default: <data-dir>/state.db), sqlite:///path, or etcd://host:port[,...].",
)
_DATA_DIR_OPTION = click.option(
    "--data-dir",
    default=".korch",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The cluster's data directory (for etcd restores: the new etcd data directory).",
)


@snapshot.command("save")
@click.argument("path", type=click.Path(dir_okay=False))
@_STORE_OPTION
@_DATA_DIR_OPTION
def snapshot_save(path: str, store: str, data_dir: str) -> None:
    """Write a consistent snapshot of the store to PATH (works while korch up runs)."""
    import anyio

    from korch.cluster import save_snapshot
    from korch.errors import StoreError

    try:
        message = anyio.run(lambda: save_snapshot(path, store=store, data_dir=data_dir))
    except (StoreError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    Console().print(message, highlight=False)


@snapshot.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@_STORE_OPTION
@_DATA_DIR_OPTION
@click.option("--name", default="default", show_default=True, help="etcd member name.")
def snapshot_restore(path: str, store: str, data_dir: str, name: str) -> None:
    """Install the snapshot PATH as the store of a new data directory."""
    import anyio

    from korch.cluster import restore_snapshot
    from korch.errors import StoreError

    try:
        message = anyio.run(
            lambda: restore_snapshot(path, store=store, data_dir=data_dir, etcd_name=name)
        )
    except (StoreError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    Console().print(message, highlight=False)


@main.group()
def bench() -> None:
    """Benchmarks: print a table and, with --json PATH, write the results."""


@bench.command("store")
@click.option(
    "--backend",
    "backends",
    multiple=True,
    type=click.Choice(["memory", "sqlite", "etcd"]),
    help="Backends to run (repeat the option); default: all three.",
)
@click.option(
    "--ops", "operations", default=20_000, show_default=True, help="Operations per workload."
)
@click.option(
    "--etcd-ops", default=5_000, show_default=True, help="Operations per workload against etcd."
)
@click.option(
    "--watchers", default=1000, show_default=True, help="Watchers in the fan-out test (0: skip)."
)
@click.option(
    "--rate", default=10_000.0, show_default=True, help="Events per second in the fan-out test."
)
@click.option(
    "--duration", default=2.0, show_default=True, help="Seconds of events in the fan-out test."
)
@click.option(
    "--etcd-duration",
    default=1.0,
    show_default=True,
    help="Seconds of events in the fan-out test against etcd.",
)
@click.option(
    "--etcd-watchers",
    default=100,
    show_default=True,
    help="Watchers in the fan-out test against etcd (each is an HTTP stream).",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Write results as JSON here."
)
def bench_store(
    backends: tuple[str, ...],
    operations: int,
    etcd_ops: int,
    watchers: int,
    rate: float,
    duration: float,
    etcd_duration: float,
    etcd_watchers: int,
    json_path: str | None,
) -> None:
    """Puts, gets, ranges and txns per second (1 and 64 tasks) and watch fan-out latency,
    on MemoryStore, SQLiteStore (fsync'd) and a real etcd started on loopback."""
    import anyio

    from korch.cli import _bench_store
    from korch.testing import find_etcd

    console = Console()
    chosen = list(backends) or list(_bench_store.BACKENDS)
    if "etcd" in chosen and find_etcd() is None:
        if backends:
            raise click.ClickException("etcd is not installed: apt-get install -y etcd-server")
        console.print("[yellow]etcd is not installed (apt-get install -y etcd-server): skipped")
        chosen.remove("etcd")
    results = anyio.run(
        lambda: _bench_store.run_store_bench(
            backends=chosen,
            operations=operations,
            watchers=watchers,
            rate=rate,
            duration=duration,
            etcd_operations=etcd_ops,
            etcd_duration=etcd_duration,
            etcd_watchers=etcd_watchers,
            progress=lambda message: console.log(message),
        )
    )
    table = Table(
        title=f"korch bench store — {platform.node()}, {platform.processor() or platform.machine()}"
    )
    for column in ("backend", "workload", "tasks", "ops", "ops/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("backend", "workload") else "right")
    for r in results:
        table.add_row(
            r.backend,
            r.workload,
            str(r.concurrency),
            str(r.operations),
            f"{r.ops_per_s:,.0f}",
            "" if r.p50_ms is None else f"{r.p50_ms:.2f}",
            "" if r.p99_ms is None else f"{r.p99_ms:.2f}",
        )
    console.print(table)
    console.print(f"peak RSS {_bench_store.peak_rss_mb():.0f} MB")
    if json_path:
        with open(json_path, "w") as out:
            json.dump([r.to_json() for r in results], out, indent=2)
            out.write("\n")


def _register_benchmarks() -> None:
    # each module imports only click and rich at top level; the work is imported on use
    from korch.cli._bench_controllers import bench_controllers
    from korch.cli._bench_scheduler import bench_scheduler

    bench.add_command(bench_controllers)
    bench.add_command(bench_scheduler)


_register_benchmarks()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
