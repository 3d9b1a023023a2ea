from __future__ import annotations

import anyio
import pytest

from korch.clock import Clock, FakeClock, SystemClock

pytestmark = pytest.mark.anyio


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = FakeClock(start=100.0)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper, "late", 10)
        group.start_soon(sleeper, "early", 5)
        await anyio.wait_all_tasks_blocked()
        assert clock.sleepers == 2 and clock.next_deadline == 105.0
        clock.advance(7)
        await anyio.wait_all_tasks_blocked()
        assert woke == ["early"]
        clock.advance(3)
    assert woke == ["early", "late"]
    assert clock.monotonic() == clock.time() == 110.0


async def test_fake_clock_never_goes_backwards_and_zero_sleeps_return() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    await clock.sleep(0)  # returns at once
    await clock.sleep_until(clock.monotonic() - 5)


async def test_cancelled_sleep_is_forgotten() -> None:
    clock = FakeClock()
    with anyio.move_on_after(0.01):
        await clock.sleep(60)
    assert clock.sleepers == 0 and clock.next_deadline is None


async def test_system_clock() -> None:
    clock = SystemClock()
    assert isinstance(clock, Clock) and isinstance(FakeClock(), Clock)
    before = clock.monotonic()
    await clock.sleep(0)
    assert clock.monotonic() >= before and clock.time() > 1_600_000_000
