"""Controllers: keys into reconciles, outcomes, read-your-own-writes, status, finalizers."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest

from korch import errors
from korch.api import ConfigMap, ObjectMeta, Secret
from korch.controllers import (
    Context,
    Result,
    Retry,
    SyncContext,
    Terminal,
    controller,
    deleting,
    generation_changed,
)
from korch.testing import ControllerEnvironment

from .conftest import WIDGET, widget, widget_crd

pytestmark = pytest.mark.anyio


class Calls:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.objects: list[Any] = []


async def test_owned_children_and_mapped_watches_queue_the_owner_key() -> None:
    calls = Calls()

    async def reconcile(ctx: Context) -> None:
        calls.keys.append(ctx.key)
        calls.objects.append(ctx.object)
        if ctx.object is not None and not ctx.object.metadata.deletion_timestamp:
            await ctx.apply(ConfigMap(metadata=ObjectMeta(name=ctx.name), data={"a": "1"}))

    built = (
        controller(WIDGET)
        .owns(ConfigMap)
        .watches(Secret, map=lambda s: [f"{s.metadata.namespace}/{s.metadata.labels['widget']}"])
        .build(reconcile)
    )
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        child = await env.client.get(ConfigMap, "w1")
        assert child.metadata.owner_references[0].name == "w1"
        assert child.metadata.owner_references[0].controller is True
        calls.keys.clear()
        await env.client.patch(ConfigMap, "w1", {"data": {"a": "tampered"}})
        await env.settle()
        assert set(calls.keys) == {"default/w1"}  # the child's change queued its owner
        assert (await env.client.get(ConfigMap, "w1")).data == {"a": "1"}  # repaired
        calls.keys.clear()
        await env.client.create(
            Secret(metadata=ObjectMeta(name="s", labels={"widget": "w1"}), string_data={"k": "v"})
        )
        await env.settle()
        assert set(calls.keys) == {"default/w1"}
        calls.keys.clear()
        await env.client.delete(WIDGET, "w1")
        await env.settle()
        assert calls.keys[-1] == "default/w1" and calls.objects[-1] is None  # level: gone


async def test_predicates_filter_events_of_the_primary_kind() -> None:
    calls = Calls()

    async def reconcile(ctx: Context) -> None:
        calls.keys.append(ctx.key)

    built = controller(WIDGET).filter(generation_changed | deleting).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1", size=1))
        await env.settle()
        assert calls.keys == ["default/w1"]
        await env.client.patch(WIDGET, "w1", {"metadata": {"labels": {"x": "y"}}}, type="merge")
        await env.client.patch_status(WIDGET, "w1", {"status": {"phase": "x"}})
        await env.settle()
        assert calls.keys == ["default/w1"]  # metadata and status changes filtered
        await env.client.patch(WIDGET, "w1", {"spec": {"size": 2}}, type="merge")
        await env.settle()
        assert calls.keys == ["default/w1", "default/w1"]


async def test_requeue_after_and_period_use_the_clock() -> None:
    calls = Calls()

    async def reconcile(ctx: Context) -> Result:
        calls.keys.append(ctx.key)
        return Result(requeue_after=30)

    built = controller(WIDGET).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        assert len(calls.keys) == 1
        await env.advance(29)
        assert len(calls.keys) == 1
        await env.advance(1)
        assert len(calls.keys) == 2

    periodic = Calls()

    async def quiet(ctx: Context) -> None:
        periodic.keys.append(ctx.key)

    built = controller(WIDGET).options(period=60).build(quiet)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        await env.advance(120)
        assert len(periodic.keys) == 3


async def test_failures_back_off_exponentially_and_success_resets() -> None:
    times: list[float] = []
    outcomes: list[str] = []

    async def reconcile(ctx: Context) -> None:
        times.append(ctx.clock.monotonic())
        if len(times) <= 3:
            raise RuntimeError("database not reachable")
        outcomes.append("ok")

    built = controller(WIDGET).options(rate_limiter=_no_jitter).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        await env.advance(10)
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
        assert gaps == [0.5, 1.0, 2.0]
        assert outcomes == ["ok"]
        assert built.metrics.errors == 3 and built.queue.num_requeues("default/w1") == 0


def _no_jitter(clock: Any) -> Any:
    from korch.controllers import ItemExponentialBackoff

    return ItemExponentialBackoff(0.5, 300.0, jitter=0.0)


async def test_retry_and_terminal() -> None:
    calls = Calls()

    async def reconcile(ctx: Context) -> None:
        calls.keys.append(ctx.key)
        if ctx.name == "later":
            if len([k for k in calls.keys if k.endswith("later")]) == 1:
                raise Retry(after=7)
        elif ctx.name == "broken":
            raise Terminal("spec.size is not a number")

    built = controller(WIDGET).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("later"))
        await env.client.create(widget("broken"))
        await env.settle()
        await env.advance(6.9)
        assert calls.keys.count("default/later") == 1
        await env.advance(0.2)
        assert calls.keys.count("default/later") == 2
        await env.advance(600)
        assert calls.keys.count("default/broken") == 1  # never retried
        assert built.metrics.terminal == 1 and built.metrics.retries == 1


async def test_reads_its_own_writes() -> None:
    seen: list[int] = []

    async def reconcile(ctx: Context) -> Result | None:
        if ctx.object is None:
            return None
        count = int(ctx.object.metadata.annotations.get("count", "0"))
        seen.append(count)
        if count >= 5:
            return None
        # an update with the cached resourceVersion: a stale cache would be a Conflict
        patch = {
            "metadata": {
                "annotations": {"count": str(count + 1)},
                "resourceVersion": ctx.object.metadata.resource_version,
            }
        }
        await ctx.client.patch(WIDGET, ctx.name, patch, namespace=ctx.namespace, type="merge")
        return Result(requeue_after=0)  # at once: before the watch event has been handled

    built = controller(WIDGET).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        assert seen[:6] == [0, 1, 2, 3, 4, 5]
        assert built.metrics.errors == 0
        assert built.metrics.ryow_waits >= 1


async def test_status_is_written_once_and_not_when_unchanged() -> None:
    async def reconcile(ctx: Context) -> None:
        if ctx.object is None:
            return
        ctx.status["phase"] = "Ready"
        ctx.status["replicas"] = int(ctx.object.spec.get("size", 0))
        ctx.conditions.set("Ready", True, "Provisioned", "all good")
        ctx.conditions.set("Degraded", False, "AllReplicasUp")

    built = controller(WIDGET).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1", size=3))
        await env.settle()
        obj = await env.client.get(WIDGET, "w1")
        assert obj.status["phase"] == "Ready" and obj.status["replicas"] == 3
        ready = obj.status["conditions"][0]
        assert ready["type"] == "Ready" and ready["status"] == "True"
        assert ready["observedGeneration"] == 1 and ready["reason"] == "Provisioned"
        assert built.metrics.status_writes == 1  # one write for four edits
        reconciles = built.metrics.reconciles
        await env.advance(100)
        await env.client.patch(WIDGET, "w1", {"metadata": {"labels": {"a": "b"}}}, type="merge")
        await env.settle()
        assert built.metrics.reconciles > reconciles
        assert built.metrics.status_writes == 1  # nothing changed: nothing written
        await env.client.patch(WIDGET, "w1", {"spec": {"size": 4}}, type="merge")
        await env.settle()
        after = (await env.client.get(WIDGET, "w1")).status["conditions"][0]
        assert after["observedGeneration"] == 2
        assert after["lastTransitionTime"] == ready["lastTransitionTime"]  # status unchanged


async def test_condition_transition_time_moves_only_when_status_changes() -> None:
    healthy = {"value": True}

    async def reconcile(ctx: Context) -> None:
        ctx.conditions.set("Ready", healthy["value"], "Checked")

    built = controller(WIDGET).options(period=10).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        first = (await env.client.get(WIDGET, "w1")).status["conditions"][0]
        healthy["value"] = False
        await env.advance(10)
        second = (await env.client.get(WIDGET, "w1")).status["conditions"][0]
        assert second["status"] == "False"
        assert second["lastTransitionTime"] != first["lastTransitionTime"]


async def test_a_status_conflict_retries_against_a_fresh_read() -> None:
    async def reconcile(ctx: Context) -> None:
        if ctx.object is None or ctx.status.get("phase") == "Ready":
            return
        ctx.status["phase"] = "Ready"
        # someone else writes while this reconcile runs: the cached version is now stale
        await ctx.controller.client.patch_status(
            WIDGET, ctx.name, {"status": {"owner": "other"}}, namespace=ctx.namespace
        )

    built = controller(WIDGET).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        status = (await env.client.get(WIDGET, "w1")).status
        assert status == {"phase": "Ready", "owner": "other"}  # both writes kept
        assert built.metrics.errors == 0 and built.metrics.status_writes == 1


async def test_finalizer_flow() -> None:
    cleaned: list[str] = []
    fail_cleanup = {"times": 1}

    async def reconcile(ctx: Context) -> None:
        if ctx.object is None:
            return
        async with ctx.finalizer("example.com/cleanup") as being_deleted:
            if being_deleted:
                if fail_cleanup["times"]:
                    fail_cleanup["times"] -= 1
                    raise RuntimeError("backend busy")
                cleaned.append(ctx.key)
                return
            await ctx.event("Provisioned", "widget is ready")

    built = controller(WIDGET).options(rate_limiter=_no_jitter).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        obj = await env.client.get(WIDGET, "w1")
        assert obj.metadata.finalizers == ["example.com/cleanup"]
        await env.client.delete(WIDGET, "w1")
        await env.settle()
        pending = await env.client.get(WIDGET, "w1")  # cleanup failed: finalizer kept
        assert pending.metadata.deletion_timestamp is not None
        assert pending.metadata.finalizers == ["example.com/cleanup"]
        await env.advance(0.5)  # the retry after backoff
        assert cleaned == ["default/w1"]
        with pytest.raises(errors.NotFound):
            await env.client.get(WIDGET, "w1")


async def test_apply_skips_writes_when_the_child_is_current() -> None:
    async def reconcile(ctx: Context) -> None:
        if ctx.object is not None:
            await ctx.apply(ConfigMap(metadata=ObjectMeta(name=ctx.name), data={"a": "1"}))

    built = controller(WIDGET).owns(ConfigMap).options(period=30).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        before = (await env.client.get(ConfigMap, "w1")).metadata.resource_version
        await env.advance(90)
        assert built.metrics.reconciles >= 4
        assert (await env.client.get(ConfigMap, "w1")).metadata.resource_version == before


async def test_sync_reconcilers_run_in_threads() -> None:
    import threading

    threads: list[str] = []

    def reconcile(ctx: SyncContext) -> None:
        threads.append(threading.current_thread().name)
        if ctx.object is None:
            return
        with ctx.finalizer("example.com/sync") as being_deleted:
            if being_deleted:
                return
            ctx.apply(ConfigMap(metadata=ObjectMeta(name=ctx.name), data={"from": "thread"}))
            ctx.conditions.set("Ready", True, "Synced")

    built = controller(WIDGET).owns(ConfigMap).options(max_threads=2).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        assert (await env.client.get(ConfigMap, "w1")).data == {"from": "thread"}
        obj = await env.client.get(WIDGET, "w1")
        assert obj.status["conditions"][0]["reason"] == "Synced"
        assert threading.main_thread().name not in threads
        await env.client.delete(WIDGET, "w1")
        await env.settle()
        with pytest.raises(errors.NotFound):
            await env.client.get(WIDGET, "w1")


async def test_a_reconcile_over_its_timeout_is_cancelled_and_retried() -> None:
    started: list[float] = []

    async def reconcile(ctx: Context) -> None:
        started.append(ctx.clock.monotonic())
        if len(started) == 1:
            await ctx.clock.sleep(3600)  # stuck

    built = controller(WIDGET).options(timeout=30, rate_limiter=_no_jitter).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
        await env.advance(31)
        assert built.metrics.timeouts == 1
        assert len(started) == 2 and started[1] - started[0] == pytest.approx(30.5)


async def test_builder_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="kind"):
        controller("Widget")
    with pytest.raises(TypeError, match="callable"):
        controller(WIDGET).build("nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="worker"):
        controller(WIDGET).options(workers=0).build(lambda ctx: None)
    with pytest.raises(TypeError, match="map"):
        controller(WIDGET).watches(Secret, map=None)  # type: ignore[arg-type]

    from korch.controllers import Conditions

    conditions = Conditions.__new__(Conditions)
    with pytest.raises(ValueError, match="True, False or Unknown"):
        conditions.set("Ready", "maybe", "Why")
    with pytest.raises(ValueError, match="reason"):
        conditions.set("Ready", True, "")


async def test_reading_an_unwatched_kind_is_a_clear_error() -> None:
    failures: list[BaseException] = []

    async def reconcile(ctx: Context) -> None:
        try:
            ctx.get(Secret, "x")
        except LookupError as exc:
            failures.append(exc)

    built = controller(WIDGET).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        await env.client.create(widget("w1"))
        await env.settle()
    assert "does not watch Secret" in str(failures[0])


async def test_workers_process_distinct_keys_concurrently() -> None:
    running: set[str] = set()
    overlap: list[int] = []
    release = anyio.Event()

    async def reconcile(ctx: Context) -> None:
        running.add(ctx.key)
        overlap.append(len(running))
        if len(running) == 3:
            release.set()
        await release.wait()
        running.discard(ctx.key)

    built = controller(WIDGET).options(workers=3).build(reconcile)
    async with ControllerEnvironment(built, objects=[widget_crd()]) as env:
        for name in ("a", "b", "c"):
            await env.client.create(widget(name))
        await env.settle()
    assert max(overlap) == 3
