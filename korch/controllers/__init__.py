"""korch.controllers — the reconcile framework: informers, work queue, controllers, manager.

Level-triggered controllers in kopf's ergonomics on client-go's semantics
(``docs/controllers.md``)::

    from korch.controllers import Context, Manager, Result, controller, generation_changed

    @controller(("example.com/v1", "MySQLDatabase")).owns(StatefulSet).filter(generation_changed)
    async def databases(ctx: Context) -> Result | None:
        if ctx.object is None:
            return None                            # gone: owned objects are garbage collected
        async with ctx.finalizer("example.com/cleanup") as deleting:
            if deleting:
                return None                        # clean up; the finalizer is then removed
            await ctx.apply(stateful_set_for(ctx.object))
            ctx.conditions.set("Ready", True, "StatefulSetApplied")
        return Result(requeue_after=300)

    manager = Manager(client, leader_election=True, name="mysql-operator")
    manager.add(databases)
    await manager.run()                            # until cancelled

The parts, usable on their own:

* :class:`Informer` — list + watch of one kind into a local :class:`Cache` (indexes,
  transforms, resync, relist on Expired, reconnect with backoff, bookmarks);
  :class:`InformerFactory` shares one informer per kind;
* :class:`WorkQueue` — client-go's de-duplicating queue with per-key backoff, a global
  token bucket and priority lanes;
* :func:`controller` / :class:`Controller` — keys into reconciles, :class:`Result`,
  :class:`Retry`, :class:`Terminal`, :class:`Predicate` s;
* :class:`Context` — read-your-own-writes, status written once per reconcile, finalizers,
  server-side apply of children, conditions, events;
* :class:`Manager` and :class:`LeaderElector` — shared informers, Lease-based leader
  election, sharding, graceful drain.
"""

from __future__ import annotations

from korch.controllers._builder import Builder, controller
from korch.controllers._cache import (
    LAST_APPLIED_ANNOTATION,
    NAMESPACE_INDEX,
    Cache,
    IndexFunc,
    Transform,
    default_transform,
    metadata_only,
    object_key,
    split_key,
)
from korch.controllers._context import Conditions, Context
from korch.controllers._controller import Controller, ControllerMetrics, Reconciler, Watch
from korch.controllers._factory import InformerFactory
from korch.controllers._informer import Handler, HandlerRegistration, Informer, InformerMetrics
from korch.controllers._leader import LeaderElector
from korch.controllers._manager import CacheReader, Manager, shard_of
from korch.controllers._predicates import (
    Predicate,
    all_of,
    annotations_changed,
    any_of,
    deleting,
    generation_changed,
    label_selector,
    labels_changed,
    resource_version_changed,
)
from korch.controllers._queue import (
    PRIORITY_HIGH,
    PRIORITY_LOW,
    PRIORITY_NORMAL,
    QueueMetrics,
    WorkQueue,
)
from korch.controllers._ratelimit import (
    ItemExponentialBackoff,
    MaxOf,
    RateLimiter,
    TokenBucket,
    default_rate_limiter,
)
from korch.controllers._result import ReconcileSignal, Result, Retry, Terminal
from korch.controllers._sync import SyncContext

__all__ = (
    "LAST_APPLIED_ANNOTATION",
    "NAMESPACE_INDEX",
    "PRIORITY_HIGH",
    "PRIORITY_LOW",
    "PRIORITY_NORMAL",
    "Builder",
    "Cache",
    "CacheReader",
    "Conditions",
    "Context",
    "Controller",
    "ControllerMetrics",
    "Handler",
    "HandlerRegistration",
    "IndexFunc",
    "Informer",
    "InformerFactory",
    "InformerMetrics",
    "ItemExponentialBackoff",
    "LeaderElector",
    "Manager",
    "MaxOf",
    "Predicate",
    "QueueMetrics",
    "RateLimiter",
    "ReconcileSignal",
    "Reconciler",
    "Result",
    "Retry",
    "SyncContext",
    "Terminal",
    "TokenBucket",
    "Transform",
    "Watch",
    "WorkQueue",
    "all_of",
    "annotations_changed",
    "any_of",
    "controller",
    "default_rate_limiter",
    "default_transform",
    "deleting",
    "generation_changed",
    "label_selector",
    "labels_changed",
    "metadata_only",
    "object_key",
    "resource_version_changed",
    "shard_of",
    "split_key",
)
