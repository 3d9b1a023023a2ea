"""SchedulingQueue: priority order, backoff on the clock, events waking unschedulable pods,
gated pods."""

from __future__ import annotations

import anyio
import pytest

from korch.clock import FakeClock
from korch.scheduler import (
    ActionType,
    ClusterEvent,
    EventResource,
    PodInfo,
    PrioritySort,
    SchedulingGates,
    SchedulingQueue,
)

from ._builders import pod

pytestmark = pytest.mark.anyio

NODE_ADD = ClusterEvent(EventResource.NODE, ActionType.ADD)
POD_DELETE = ClusterEvent(EventResource.ASSIGNED_POD, ActionType.DELETE)


def make_queue(clock: FakeClock) -> SchedulingQueue:
    return SchedulingQueue(
        clock=clock,
        less=PrioritySort().less,
        pre_enqueue=SchedulingGates().pre_enqueue,
        events={"NodeResourcesFit": [ClusterEvent(EventResource.POD, ActionType.DELETE)]},
    )


async def test_higher_priority_first_then_arrival_order() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add(PodInfo.of(pod("low", priority=1)))
    clock.advance(1)
    queue.add(PodInfo.of(pod("high", priority=10)))
    queue.add(PodInfo.of(pod("low2", priority=1)))
    order = [(await queue.pop()).info.key for _ in range(3)]
    assert order == ["default/high", "default/low", "default/low2"]


async def test_unschedulable_pods_wait_for_an_event_their_plugins_registered() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add(PodInfo.of(pod("p")))
    item = await queue.pop()
    queue.requeue(item, {"NodeResourcesFit"})
    assert queue.pending()["unschedulable"] == ["default/p"]
    assert queue.move_on_event(NODE_ADD) == 0  # NodeResourcesFit did not register Node/Add
    assert queue.move_on_event(POD_DELETE) == 1
    assert queue.pending()["backoff"] == ["default/p"]  # 1 s backoff after one attempt
    clock.advance(1)
    queue.flush()
    assert queue.pending()["active"] == ["default/p"]


async def test_backoff_doubles_up_to_ten_seconds() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add(PodInfo.of(pod("p")))
    durations = []
    for _ in range(6):
        item = await queue.pop()
        durations.append(queue.backoff_duration(item))
        queue.requeue(item, (), backoff=True)
        clock.advance(durations[-1])
        queue.flush()
    assert durations == [1, 2, 4, 8, 10, 10]


async def test_an_event_during_the_cycle_sends_the_pod_to_backoff() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add(PodInfo.of(pod("p")))
    item = await queue.pop()
    queue.move_on_event(NODE_ADD)  # arrives while the pod is being scheduled
    queue.requeue(item, {"NodeResourcesFit"})
    assert queue.pending()["backoff"] == ["default/p"]


async def test_gated_pods_wait_until_their_gates_are_removed() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add(PodInfo.of(pod("p", schedulingGates=[{"name": "example.com/wait"}])))
    assert queue.pending()["gated"] == ["default/p"]
    queue.update(PodInfo.of(pod("p")))
    assert (await queue.pop()).info.key == "default/p"


async def test_long_unschedulable_pods_are_flushed_and_run_moves_backoff() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add(PodInfo.of(pod("p")))
    queue.requeue(await queue.pop(), {"NodeResourcesFit"})
    async with anyio.create_task_group() as group:
        group.start_soon(queue.run)
        await anyio.wait_all_tasks_blocked()
        for _ in range(11):  # 5 min in 30 s steps, then the 1 s backoff
            clock.advance(30)
            await anyio.wait_all_tasks_blocked()
        assert queue.pending()["active"] == ["default/p"]
        queue.close()


async def test_delete_removes_a_pod_wherever_it_waits() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add(PodInfo.of(pod("p")))
    queue.add(PodInfo.of(pod("q", schedulingGates=[{"name": "g"}])))
    queue.delete("default/p")
    queue.delete("default/q")
    assert len(queue) == 0
