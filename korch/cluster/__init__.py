"""korch.cluster — the parts composed into a working cluster.

:class:`Cluster` runs an API server, the controller manager, the scheduler and node agents
in one process (``async with korch.Cluster(...) as cluster``); ``korch up`` is that cluster
in the foreground on an embedded SQLite store (:func:`run_up`). :func:`apply_manifests`
applies manifest files the way ``kubectl apply --server-side`` does.
"""

from __future__ import annotations

from korch.cluster._apply import (
    AppliedObject,
    apply_manifests,
    apply_objects,
    read_manifest_sources,
)
from korch.cluster._cluster import Cluster, Component
from korch.cluster._snapshot import restore_snapshot, save_snapshot
from korch.cluster._up import UpOptions, open_store, run_up

__all__ = (
    "AppliedObject",
    "Cluster",
    "Component",
    "UpOptions",
    "apply_manifests",
    "apply_objects",
    "open_store",
    "read_manifest_sources",
    "restore_snapshot",
    "run_up",
    "save_snapshot",
)
