"""The scheduler's cache: nodes as numpy columns plus per-node objects, and assumed pods.

Two views of the same state, kept in step by every change:

* **objects** — one :class:`NodeInfo` per node (labels, taints, requested resources, its pods,
  used host ports, images), what the per-node reference plugins read;
* **columns** — node slot ``i`` of int64/bool arrays (``allocatable[r]``, ``requested[r]``,
  non-zero requests, pod counts, ``unschedulable``, ``valid``), plus lazily built, version-
  checked indexes: a label column per key (node → code of its value), taint groups (nodes
  with the same taints share one toleration check), images, and registered *pod count
  indexes* (per node, how many pods satisfy a predicate — the matching pods of a spread
  constraint or affinity term), updated incrementally as pods come and go.

Slots are stable: a deleted node frees its slot (``valid[i] = False``) for the next node.
``node_version`` changes whenever a node's labels, taints, allocatable or schedulability
change, so anything derived from node objects only (label columns, taint checks, affinity
masks) is cached per version.

**Assumed pods.** After a scheduling cycle picks a node, the pod is *assumed* onto it at once
(its requests count against the node) while the binding runs asynchronously; the watch event
of the bound pod confirms it, a failed binding forgets it. The scheduling cycle itself never
awaits, so it reads the cache directly: the cache is its snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from korch import errors
from korch.api import _core_node
from korch.scheduler import _podinfo

__all__ = ("Cache", "NodeInfo")

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_FIXED = (_podinfo.CPU, _podinfo.MEMORY, _podinfo.EPHEMERAL)


class NodeInfo:
    """One node with the pods on it (kube-scheduler's ``NodeInfo``)."""

    __slots__ = (
        "allocatable",
        "generation",
        "images",
        "labels",
        "name",
        "node",
        "non_zero_cpu",
        "non_zero_memory",
        "pods",
        "requested",
        "slot",
        "taints",
        "unschedulable",
        "used_ports",
    )

    def __init__(self, slot: int, node: _core_node.Node) -> None:
        self.slot = slot
        self.name = node.metadata.name
        self.pods: dict[str, _podinfo.PodInfo] = {}
        self.requested: dict[str, int] = {}
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.used_ports: dict[tuple[str, str, int], int] = {}
        self.generation = 0
        self.set_node(node)

    def set_node(self, node: _core_node.Node) -> None:
        self.node = node
        self.labels: dict[str, str] = dict(node.metadata.labels)
        self.taints = tuple(node.spec.taints)
        self.unschedulable = node.spec.unschedulable
        self.allocatable = _podinfo.resource_amounts(node.status.allocatable)
        self.images: dict[str, int] = {
            _podinfo.normalized_image(name): image.size_bytes
            for image in node.status.images
            for name in image.names
        }

    def scheduling_fields(self) -> tuple[Any, ...]:
        """What placement depends on (a change bumps the cache's ``node_version``)."""
        return (self.labels, self.taints, self.unschedulable, self.allocatable, self.images)

    def add_pod(self, info: _podinfo.PodInfo) -> None:
        self.pods[info.key] = info
        for name, amount in info.requests.items():
            self.requested[name] = self.requested.get(name, 0) + amount
        self.non_zero_cpu += info.non_zero_cpu
        self.non_zero_memory += info.non_zero_memory
        for port in info.host_ports:
            self.used_ports[port] = self.used_ports.get(port, 0) + 1
        self.generation += 1

    def remove_pod(self, info: _podinfo.PodInfo) -> None:
        del self.pods[info.key]
        for name, amount in info.requests.items():
            self.requested[name] -= amount
        self.non_zero_cpu -= info.non_zero_cpu
        self.non_zero_memory -= info.non_zero_memory
        for port in info.host_ports:
            left = self.used_ports[port] - 1
            if left:
                self.used_ports[port] = left
            else:
                del self.used_ports[port]
        self.generation += 1

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, pods={len(self.pods)})"


class _CountIndex:
    """Per node slot, the summed weight of the pods a predicate selects."""

    __slots__ = ("counts", "predicate")

    def __init__(self, predicate: Callable[[_podinfo.PodInfo], int], size: int) -> None:
        self.predicate = predicate
        self.counts = np.zeros(size, dtype=np.int64)


class Cache:
    """Nodes and pods as the scheduler sees them (see the module docstring)."""

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = max(8, capacity)
        self.nodes: list[NodeInfo | None] = []
        self.by_name: dict[str, NodeInfo] = {}
        self._free: list[int] = []
        self.valid = np.zeros(self._capacity, dtype=np.bool_)
        self.unschedulable = np.zeros(self._capacity, dtype=np.bool_)
        self.allocatable: dict[str, IntArray] = {}
        self.requested: dict[str, IntArray] = {}
        self.non_zero_cpu = np.zeros(self._capacity, dtype=np.int64)
        self.non_zero_memory = np.zeros(self._capacity, dtype=np.int64)
        self.pod_count = np.zeros(self._capacity, dtype=np.int64)
        self.allowed_pods = np.zeros(self._capacity, dtype=np.int64)
        for name in _FIXED:
            self._column(name)
        self.pods: dict[str, tuple[_podinfo.PodInfo, NodeInfo]] = {}
        self.assumed: set[str] = set()
        self.nominated: dict[str, str] = {}  # pod key -> node held for it (see nominate_pod)
        # pods bound to nodes the cache does not know (yet), by node name
        self._orphans: dict[str, set[str]] = {}
        self._orphan_pods: dict[str, tuple[_podinfo.PodInfo, str]] = {}
        self.node_version = 0
        # slots whose pods changed, in order; change_seq counts every entry ever logged
        self._changes: list[int] = []
        self._changes_base = 0
        # label key -> (codes per slot, values by code, code by value); kept up to date
        # node by node once built, so node churn never rebuilds a column
        self._labels: dict[str, tuple[IntArray, list[str], dict[str, int]]] = {}
        self._memo: dict[Any, tuple[int, Any]] = {}
        self._indexes: dict[Any, _CountIndex] = {}
        self.affinity_pods = 0  # accounted pods that carry any (anti-)affinity term
        # (kind, term) -> per node slot the summed weight of the pods carrying that term;
        # kinds: "anti" and "affinity" (required, weight 1), "preferred", "preferred-anti"
        self.terms: dict[tuple[str, Any], IntArray] = {}
        self._term_pods: dict[tuple[str, Any], int] = {}

    # -- sizes and columns ------------------------------------------------------------

    @property
    def size(self) -> int:
        """The number of slots (valid or not); arrays are indexed ``[:size]``."""
        return len(self.nodes)

    @property
    def node_count(self) -> int:
        return len(self.by_name)

    def _grow(self, array: Any) -> Any:
        grown = np.zeros(self._capacity, dtype=array.dtype)
        grown[: array.shape[0]] = array
        return grown

    def _ensure_capacity(self) -> None:
        if len(self.nodes) < self._capacity:
            return
        self._capacity *= 2
        for name in ("valid", "unschedulable", "non_zero_cpu", "non_zero_memory"):
            setattr(self, name, self._grow(getattr(self, name)))
        self.pod_count = self._grow(self.pod_count)
        self.allowed_pods = self._grow(self.allowed_pods)
        for columns in (self.allocatable, self.requested):
            for name in columns:
                columns[name] = self._grow(columns[name])
        for index in self._indexes.values():
            index.counts = self._grow(index.counts)
        for key, weights in self.terms.items():
            self.terms[key] = self._grow(weights)
        for label, (codes, values, seen) in self._labels.items():
            grown = np.full(self._capacity, -1, dtype=np.int64)
            grown[: codes.shape[0]] = codes
            self._labels[label] = (grown, values, seen)

    def _column(self, name: str) -> None:
        if name not in self.allocatable:
            self.allocatable[name] = np.zeros(self._capacity, dtype=np.int64)
            self.requested[name] = np.zeros(self._capacity, dtype=np.int64)

    def column(self, columns: dict[str, IntArray], name: str) -> IntArray:
        """``columns[name][:size]``, zeros for a resource no node or pod mentioned yet."""
        found = columns.get(name)
        if found is None:
            return np.zeros(self.size, dtype=np.int64)
        return found[: self.size]

    def node_infos(self) -> Iterator[NodeInfo]:
        """Every node, in slot order."""
        return (n for n in self.nodes if n is not None)

    def slot_of(self, name: str) -> int:
        return self.by_name[name].slot

    # -- nodes ---------------------------------------------------------------------------

    def add_node(self, node: _core_node.Node) -> NodeInfo:
        """Add or replace a node (keeping its pods when replacing)."""
        name = node.metadata.name
        existing = self.by_name.get(name)
        if existing is not None:
            before = existing.scheduling_fields()
            existing.set_node(node)
            # heartbeats and condition changes do not matter to placement: keep every
            # node-derived index and memo (node_version) as it is
            if existing.scheduling_fields() != before:
                self._write_node(existing)
            return existing
        if self._free:
            slot = self._free.pop()
        else:
            self._ensure_capacity()
            slot = len(self.nodes)
            self.nodes.append(None)
        info = NodeInfo(slot, node)
        self.nodes[slot] = info
        self.by_name[name] = info
        self.valid[slot] = True
        self._write_node(info)
        for key in list(self._orphans.get(name, ())):
            pod, _ = self._orphan_pods.pop(key)
            self.add_pod(pod, name)
        self._orphans.pop(name, None)
        return info

    def _write_node(self, info: NodeInfo) -> None:
        slot = info.slot
        self.unschedulable[slot] = info.unschedulable
        for name in info.allocatable:
            self._column(name)
        for name, column in self.allocatable.items():
            column[slot] = info.allocatable.get(name, 0)
        self.allowed_pods[slot] = info.allocatable.get(_podinfo.PODS, 0)
        for label, label_column in self._labels.items():
            self._label_slot(label_column, slot, info.labels.get(label))
        self.node_version += 1

    def remove_node(self, name: str) -> None:
        """Remove a node; its pods stay known and come back if the node does."""
        info = self.by_name.pop(name, None)
        if info is None:
            return
        for pod in list(info.pods.values()):
            self.remove_pod(pod.key)
            self._orphan_pods[pod.key] = (pod, name)
            self._orphans.setdefault(name, set()).add(pod.key)
        slot = info.slot
        self.nodes[slot] = None
        self.valid[slot] = False
        self.unschedulable[slot] = False
        for column in (*self.allocatable.values(), *self.requested.values()):
            column[slot] = 0
        self.allowed_pods[slot] = 0
        for label_column in self._labels.values():
            label_column[0][slot] = -1
        self._free.append(slot)
        self.node_version += 1

    # -- pods ----------------------------------------------------------------------------

    def add_pod(self, info: _podinfo.PodInfo, node_name: str) -> None:
        """Account a pod on a node (replacing an earlier copy of it)."""
        if info.key in self.pods or info.key in self._orphan_pods:
            self.remove_pod(info.key)
        node = self.by_name.get(node_name)
        if node is None:  # the pod's node is not known (yet): keep it aside
            self._orphan_pods[info.key] = (info, node_name)
            self._orphans.setdefault(node_name, set()).add(info.key)
            return
        node.add_pod(info)
        self.pods[info.key] = (info, node)
        self._account(info, node.slot, +1)

    def remove_pod(self, key: str) -> _podinfo.PodInfo | None:
        """Forget a pod; returns it, or None if it was not accounted."""
        self.assumed.discard(key)
        self.nominated.pop(key, None)
        orphan = self._orphan_pods.pop(key, None)
        if orphan is not None:
            self._orphans.get(orphan[1], set()).discard(key)
            return orphan[0]
        found = self.pods.pop(key, None)
        if found is None:
            return None
        info, node = found
        node.remove_pod(info)
        self._account(info, node.slot, -1)
        return info

    @property
    def change_seq(self) -> int:
        """A counter of pod changes on nodes (see :meth:`dirty_since`)."""
        return self._changes_base + len(self._changes)

    def dirty_since(self, seq: int, limit: int = 64) -> list[int] | None:
        """The slots whose pods changed since ``change_seq`` was ``seq`` (None if more
        than ``limit`` changes happened, or the log no longer reaches back that far)."""
        start = seq - self._changes_base
        if start < 0 or self.change_seq - seq > limit:
            return None
        return self._changes[start:]

    def _account(self, info: _podinfo.PodInfo, slot: int, sign: int) -> None:
        if len(self._changes) >= 65536:
            self._changes_base += len(self._changes)
            self._changes = []
        self._changes.append(slot)
        for name, amount in info.requests.items():
            if name not in self.requested:
                self._column(name)
            self.requested[name][slot] += sign * amount
        self.non_zero_cpu[slot] += sign * info.non_zero_cpu
        self.non_zero_memory[slot] += sign * info.non_zero_memory
        self.pod_count[slot] += sign
        if info.has_affinity:
            self.affinity_pods += sign
            self._account_terms(info, slot, sign)
        for index in self._indexes.values():
            weight = index.predicate(info)
            if weight:
                index.counts[slot] += sign * weight

    def _account_terms(self, info: _podinfo.PodInfo, slot: int, sign: int) -> None:
        entries = [
            *(("anti", t, 1) for t in info.required_anti_affinity),
            *(("affinity", t, 1) for t in info.required_affinity),
            *(("preferred", t, w) for w, t in info.preferred_affinity),
            *(("preferred-anti", t, w) for w, t in info.preferred_anti_affinity),
        ]
        for kind, term, weight in entries:
            key = (kind, term)
            weights = self.terms.get(key)
            if weights is None:
                weights = self.terms[key] = np.zeros(self._capacity, dtype=np.int64)
            weights[slot] += sign * weight
            left = self._term_pods.get(key, 0) + sign
            if left:
                self._term_pods[key] = left
            else:
                del self._term_pods[key]
                del self.terms[key]

    def assume_pod(self, info: _podinfo.PodInfo, node_name: str) -> None:
        """Count a pod on ``node_name`` before its binding is confirmed."""
        if node_name not in self.by_name:
            raise errors.NotFound(f'node "{node_name}" not found in the scheduler cache')
        self.add_pod(info, node_name)
        self.assumed.add(info.key)

    def nominate_pod(self, info: _podinfo.PodInfo, node_name: str) -> None:
        """Hold room on ``node_name`` for a pod that preempted others there (its
        ``nominatedNodeName``), so that other pods do not take the room it freed."""
        if node_name in self.by_name:
            self.add_pod(info, node_name)
            self.nominated[info.key] = node_name

    def release_nomination(self, key: str) -> None:
        """Drop a nominated pod's hold (before it is scheduled again, or when it goes)."""
        if self.nominated.pop(key, None) is not None:
            self.remove_pod(key)

    def confirm_pod(self, info: _podinfo.PodInfo, node_name: str) -> None:
        """The binding was observed (a watch event of the bound pod)."""
        self.assumed.discard(info.key)
        self.add_pod(info, node_name)

    def forget_pod(self, key: str) -> None:
        """An assumed pod's binding failed: release what it held."""
        if key in self.assumed:
            self.remove_pod(key)

    def node_of(self, key: str) -> str | None:
        found = self.pods.get(key)
        return found[1].name if found is not None else None

    # -- indexes -------------------------------------------------------------------------

    def count_index(self, key: Any, predicate: Callable[[_podinfo.PodInfo], int]) -> IntArray:
        """Per node slot, ``sum(predicate(pod))`` over the pods on it, kept up to date from
        now on. ``key`` identifies the predicate (an equal key reuses the index)."""
        index = self._indexes.get(key)
        if index is None:
            if len(self._indexes) >= 256:  # bound the upkeep every pod change pays
                self._indexes.pop(next(iter(self._indexes)))
            index = _CountIndex(predicate, self._capacity)
            for info, node in self.pods.values():
                weight = predicate(info)
                if weight:
                    index.counts[node.slot] += weight
            self._indexes[key] = index
        return index.counts[: self.size]

    def label_column(self, key: str) -> tuple[IntArray, list[str]]:
        """For node label ``key``: per slot the code of the node's value (-1: no such label
        or no node), and the values by code."""
        found = self._labels.get(key)
        if found is None:
            found = (np.full(self._capacity, -1, dtype=np.int64), [], {})
            self._labels[key] = found
            for node in self.node_infos():
                self._label_slot(found, node.slot, node.labels.get(key))
        return found[0][: self.size], found[1]

    @staticmethod
    def _label_slot(
        column: tuple[IntArray, list[str], dict[str, int]], slot: int, value: str | None
    ) -> None:
        codes, values, seen = column
        if value is None:
            codes[slot] = -1
            return
        code = seen.get(value)
        if code is None:
            code = seen[value] = len(values)
            values.append(value)
        codes[slot] = code

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, cached until the next node change (for results that depend on
        node objects only, e.g. a signature's node-affinity mask)."""
        found = self._memo.get(key)
        if found is not None and found[0] == self.node_version:
            return found[1]
        if len(self._memo) > 4096:
            self._memo.clear()
        value = compute()
        self._memo[key] = (self.node_version, value)
        return value

    def valid_slots(self) -> IntArray:
        return np.flatnonzero(self.valid[: self.size])
