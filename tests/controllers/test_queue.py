"""The work queue: client-go's semantics, priority lanes, delays and backoff on a FakeClock."""

from __future__ import annotations

import random

import anyio
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from korch.clock import FakeClock
from korch.controllers import (
    PRIORITY_LOW,
    ItemExponentialBackoff,
    MaxOf,
    TokenBucket,
    WorkQueue,
    default_rate_limiter,
)

pytestmark = pytest.mark.anyio


def make_queue(clock: FakeClock | None = None) -> WorkQueue[str]:
    clock = clock or FakeClock()
    limiter = ItemExponentialBackoff(0.5, 300.0, jitter=0.0)
    return WorkQueue(clock=clock, rate_limiter=limiter)


async def test_duplicates_collapse_while_queued() -> None:
    queue = make_queue()
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert queue.depth == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    assert queue.depth == 0
    assert queue.metrics.adds == 4


async def test_an_item_readded_while_processing_runs_again_after_done() -> None:
    queue = make_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")  # a change seen while a worker has it
    assert queue.depth == 0  # not handed to a second worker
    queue.done("a")
    assert queue.depth == 1
    assert await queue.get() == "a"


async def test_two_workers_never_get_the_same_key() -> None:
    queue = make_queue()
    queue.add("a")
    first = await queue.get()
    queue.add("a")
    got: list[str | None] = []

    async def second_worker() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as group:
        group.start_soon(second_worker)
        await anyio.wait_all_tasks_blocked()
        assert got == []  # "a" is processing: the second worker waits
        queue.done(first or "")
        await anyio.wait_all_tasks_blocked()
    assert got == ["a"]


async def test_higher_priority_lane_is_served_first() -> None:
    queue = make_queue()
    for i in range(5):
        queue.add(f"relist-{i}", priority=PRIORITY_LOW)
    queue.add("live")
    assert await queue.get() == "live"
    queue.add("relist-3")  # a live event for a key queued by the relist moves it up
    assert await queue.get() == "relist-3"
    assert [await queue.get() for _ in range(4)] == [f"relist-{i}" for i in (0, 1, 2, 4)]


async def test_add_after_waits_on_the_clock() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add_after("late", 10)
    queue.add_after("early", 5)
    queue.add_after("late", 20)  # keeps the earlier time
    got: list[str | None] = []

    async def worker() -> None:
        for _ in range(2):
            item = await queue.get()
            got.append(item)
            queue.done(item or "")

    async with anyio.create_task_group() as group:
        group.start_soon(worker)
        await anyio.wait_all_tasks_blocked()
        assert got == [] and queue.waiting == 2
        clock.advance(5)
        await anyio.wait_all_tasks_blocked()
        assert got == ["early"]
        clock.advance(5)
        await anyio.wait_all_tasks_blocked()
    assert got == ["early", "late"]


async def test_rate_limited_retries_back_off_exponentially_until_forgotten() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    delays = [queue.add_rate_limited("a") for _ in range(4)]
    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert queue.num_requeues("a") == 4
    assert queue.metrics.retries == 4
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    assert queue.add_rate_limited("a") == 0.5


def test_backoff_is_capped_and_jittered() -> None:
    backoff = ItemExponentialBackoff(0.5, 300.0, jitter=0.1, rng=random.Random(1))
    delays = [backoff.when("k") for _ in range(20)]
    assert all(0.5 <= d <= 300.0 for d in delays)
    assert delays[-1] == 300.0
    assert 0.5 <= delays[0] <= 0.55 and delays[0] != 0.5


def test_token_bucket_spreads_a_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 3, clock=clock)
    assert [bucket.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.when(3) == pytest.approx(0.1)
    assert bucket.when(4) == pytest.approx(0.2)
    clock.advance(10)
    assert bucket.when(5) == 0.0


def test_default_rate_limiter_is_the_max_of_backoff_and_bucket() -> None:
    limiter = default_rate_limiter(clock=FakeClock(), rng=random.Random(0))
    assert isinstance(limiter, MaxOf)
    assert 0.5 <= limiter.when("a") <= 0.55


def test_rate_limiter_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="base"):
        ItemExponentialBackoff(0, 1)
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="None"):
        make_queue().add(None)  # type: ignore[arg-type]


async def test_shut_down_hands_out_what_is_queued_then_none() -> None:
    queue = make_queue()
    queue.add("a")
    queue.shut_down()
    queue.add("b")  # ignored
    assert await queue.get() == "a"
    assert await queue.get() is None


async def test_shut_down_wakes_waiting_workers() -> None:
    queue = make_queue()
    got: list[str | None] = []

    async def worker() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as group:
        group.start_soon(worker)
        await anyio.wait_all_tasks_blocked()
        queue.shut_down()
    assert got == [None]


async def test_metrics_measure_latency_and_work_on_the_clock() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add("a")
    clock.advance(2)
    item = await queue.get()
    clock.advance(3)
    queue.done(item or "")
    assert queue.metrics.queue_latency_seconds_total == 2
    assert queue.metrics.work_duration_seconds_max == 3
    assert queue.metrics.processed == 1
    assert queue.is_idle()


class QueueModel(RuleBasedStateMachine):
    """Random add/get/done sequences against a model of the dirty and processing sets."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = make_queue()
        self.queued: set[str] = set()
        self.processing: set[str] = set()
        self.dirty_while_processing: set[str] = set()

    @rule(key=st.sampled_from("abcde"), low=st.booleans())
    def add(self, key: str, low: bool) -> None:
        self.queue.add(key, priority=PRIORITY_LOW if low else 0)
        if key in self.processing:
            self.dirty_while_processing.add(key)
        else:
            self.queued.add(key)

    @precondition(lambda self: self.queued)
    @rule()
    def get(self) -> None:
        item = anyio.run(self.queue.get)
        assert item is not None
        assert item in self.queued, "only queued items are handed out"
        assert item not in self.processing, "never two workers on one key"
        self.queued.discard(item)
        self.processing.add(item)

    @precondition(lambda self: self.processing)
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        item = data.draw(st.sampled_from(sorted(self.processing)))
        self.queue.done(item)
        self.processing.discard(item)
        if item in self.dirty_while_processing:
            self.dirty_while_processing.discard(item)
            self.queued.add(item)  # re-added during processing: runs again

    @invariant()
    def sizes_match(self) -> None:
        assert self.queue.depth == len(self.queued)
        assert self.queue.processing == len(self.processing)


TestQueueModel = QueueModel.TestCase
TestQueueModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
