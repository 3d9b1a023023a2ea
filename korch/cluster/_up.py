"""``korch up``: a whole cluster in the foreground, on an embedded SQLite store.

:func:`run_up` is the command's body, usable from Python and tests:

1. opens the store — ``<data-dir>/state.db`` (SQLite, fsync'd) by default, ``memory``, or
   ``etcd://host:port[,host:port…]`` for an etcd cluster;
2. runs a :class:`~korch.cluster.Cluster` over it (API server, controller manager,
   scheduler, ``nodes`` node agents with the chosen runtime, whose state lives under
   ``<data-dir>/nodes/``);
3. applies the ``-f`` manifests (files, directories, ``-`` for stdin) and reports each object;
4. calls ``on_ready`` and keeps running — with a live table of workloads and pods on a
   terminal — until cancelled (Ctrl-C).

Restarting with the same ``--data-dir`` resumes: every object is in the store, node agents
adopt the processes that still run.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import anyio
import attrs
from rich.console import Console
from rich.live import Live

from korch.cluster import _apply, _cluster, _dashboard
from korch.store import EtcdStore, MemoryStore, SQLiteStore, Store

__all__ = ("UpOptions", "open_store", "run_up")


@attrs.frozen(kw_only=True)
class UpOptions:
    """What ``korch up`` was asked for (its command-line options)."""

    data_dir: str = ".korch"
    manifests: tuple[str, ...] = ()
    nodes: int = 1
    runtime: str = "process"
    store: str = ""
    dashboard: bool = True
    refresh_seconds: float = 1.0


def open_store(spec: str, data_dir: str) -> Store:
    """The store ``--store`` names: ``""``/``sqlite`` (``<data_dir>/state.db``),
    ``sqlite:///path``, ``memory``, or ``etcd://host:port[,host:port…]``.

    Raises:
        ValueError: an unknown scheme.
    """
    if spec in ("", "sqlite"):
        return SQLiteStore(os.path.join(data_dir, "state.db"))
    if spec.startswith("sqlite://"):
        return SQLiteStore(spec.removeprefix("sqlite://"))
    if spec == "memory":
        return MemoryStore()
    if spec.startswith("etcd://"):
        hosts = [h for h in spec.removeprefix("etcd://").split(",") if h]
        if not hosts:
            raise ValueError("--store etcd:// needs at least one host:port")
        return EtcdStore([f"http://{h}" for h in hosts])
    raise ValueError(
        f"unknown store {spec!r}: use sqlite (default), sqlite:///path, memory or "
        "etcd://host:port[,host:port…]"
    )


async def run_up(
    options: UpOptions,
    *,
    console: Console | None = None,
    stdin: str = "",
    on_ready: Callable[[_cluster.Cluster], Awaitable[None]] | None = None,
) -> None:
    """Run the cluster until cancelled (see the module docstring)."""
    console = console or Console()
    data_dir = os.path.abspath(options.data_dir)  # noqa: ASYNC240 - once, before anything runs
    os.makedirs(data_dir, exist_ok=True)
    store = open_store(options.store, data_dir)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        cluster = await stack.enter_async_context(
            _cluster.Cluster(
                store=store,
                nodes=options.nodes,
                runtime=options.runtime,
                data_dir=data_dir,
            )
        )
        console.print(
            f"korch: cluster up — store {store!r}, nodes {', '.join(cluster.node_names)}, "
            f"runtime {options.runtime}, data in {data_dir}"
        )
        if options.manifests:
            outcomes = await _apply.apply_manifests(cluster.client, options.manifests, stdin=stdin)
            for outcome in outcomes:
                style = "red" if outcome.error is not None else "green"
                console.print(f"[{style}]{outcome}[/{style}]", highlight=False)
        if on_ready is not None:
            await on_ready(cluster)
        if options.dashboard and console.is_terminal:
            await _live(cluster, console, options.refresh_seconds)
        else:
            await anyio.sleep_forever()


async def _live(cluster: _cluster.Cluster, console: Console, refresh: float) -> None:
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            live.update(await _dashboard.render(cluster.client, cluster.clock), refresh=True)
            await cluster.clock.sleep(refresh)
