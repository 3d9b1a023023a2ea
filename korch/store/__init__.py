"""korch.store — a watchable key-value store with etcd's semantics.

Backends behind one contract (:class:`Store`): :class:`MemoryStore` (tests, simulations),
:class:`SQLiteStore` (the embedded default, durable) and :class:`EtcdStore` (a real etcd
cluster). ``korch.testing.StoreConformance`` is the suite they all pass. See ``docs/store.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from korch.store._local import Retention
from korch.store._memory import MemoryStore
from korch.store._sqlite import SQLiteStore
from korch.store._types import (
    Compare,
    CompareResult,
    CompareTarget,
    Delete,
    DeleteResult,
    Event,
    EventType,
    Get,
    KeyValue,
    Lease,
    LeaseStatus,
    Op,
    Put,
    PutResult,
    RangeResult,
    Store,
    TxnResult,
    WatchResponse,
    WatchStream,
    prefix_end,
)

if TYPE_CHECKING:
    from korch.store._etcd import EtcdStore

__all__ = (
    "Compare",
    "CompareResult",
    "CompareTarget",
    "Delete",
    "DeleteResult",
    "EtcdStore",
    "Event",
    "EventType",
    "Get",
    "KeyValue",
    "Lease",
    "LeaseStatus",
    "MemoryStore",
    "Op",
    "Put",
    "PutResult",
    "RangeResult",
    "Retention",
    "SQLiteStore",
    "Store",
    "TxnResult",
    "WatchResponse",
    "WatchStream",
    "prefix_end",
)


def __getattr__(name: str) -> Any:
    # EtcdStore is loaded lazily: only users of etcd pay for importing h11 (its HTTP/1.1 layer)
    if name == "EtcdStore":
        from korch.store._etcd import EtcdStore

        return EtcdStore
    raise AttributeError(f"module 'korch.store' has no attribute {name!r}")
