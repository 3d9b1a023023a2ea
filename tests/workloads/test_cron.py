"""Cron schedules: syntax, the day-of-month/day-of-week rule, time zones and DST."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.workloads import parse_schedule

UTC = datetime.UTC
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def fires(
    text: str, start: datetime.datetime, count: int, zone: datetime.tzinfo = UTC
) -> list[str]:
    schedule = parse_schedule(text)
    out = []
    t = start
    for _ in range(count):
        nxt = schedule.next(t, zone)
        assert nxt is not None
        out.append(nxt.astimezone(zone).strftime("%Y-%m-%d %H:%M %a %Z"))
        t = nxt
    return out


def test_every_fifteen_minutes() -> None:
    assert fires("*/15 * * * *", at(2024, 1, 1, 10, 7), 3) == [
        "2024-01-01 10:15 Mon UTC",
        "2024-01-01 10:30 Mon UTC",
        "2024-01-01 10:45 Mon UTC",
    ]


def test_ranges_lists_steps_and_names() -> None:
    schedule = parse_schedule("0,30 9-17/4 * jan-mar MON-fri")
    assert schedule.minutes == {0, 30}
    assert schedule.hours == {9, 13, 17}
    assert schedule.months == {1, 2, 3}
    assert schedule.days_of_week == {1, 2, 3, 4, 5}
    assert parse_schedule("5/20 * * * *").minutes == {5, 25, 45}  # N/step is N-max/step


@pytest.mark.parametrize(
    ("descriptor", "fields"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_descriptors(descriptor: str, fields: str) -> None:
    a, b = parse_schedule(descriptor), parse_schedule(fields)
    assert (a.minutes, a.hours, a.days_of_month, a.months, a.days_of_week) == (
        b.minutes,
        b.hours,
        b.days_of_month,
        b.months,
        b.days_of_week,
    )


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    got = fires("0 0 13 * FRI", at(2024, 9, 30), 4)
    # Fridays of October 2024 and Sunday the 13th
    assert got == [
        "2024-10-04 00:00 Fri UTC",
        "2024-10-11 00:00 Fri UTC",
        "2024-10-13 00:00 Sun UTC",
        "2024-10-18 00:00 Fri UTC",
    ]


def test_day_of_month_and_day_of_week_when_one_is_a_star() -> None:
    assert fires("0 0 * * SUN", at(2024, 10, 1), 1) == ["2024-10-06 00:00 Sun UTC"]
    assert fires("0 0 1 * *", at(2024, 10, 1), 1) == ["2024-11-01 00:00 Fri UTC"]
    # a stepped star counts as restricted: the OR rule applies
    assert fires("0 0 */10 * MON", at(2024, 10, 1), 3) == [
        "2024-10-07 00:00 Mon UTC",
        "2024-10-11 00:00 Fri UTC",
        "2024-10-14 00:00 Mon UTC",
    ]


def test_leap_day_and_never() -> None:
    assert fires("0 12 29 2 *", at(2025, 1, 1), 1) == ["2028-02-29 12:00 Tue UTC"]
    assert parse_schedule("0 0 30 2 *").next(at(2024, 1, 1)) is None


def test_time_zone_wall_clock() -> None:
    assert fires("0 9 * * *", at(2024, 1, 1), 1, NEW_YORK) == ["2024-01-01 09:00 Mon EST"]
    nxt = parse_schedule("0 9 * * *").next(at(2024, 1, 1), NEW_YORK)
    assert nxt == at(2024, 1, 1, 14)


def test_spring_forward_skips_the_missing_wall_time() -> None:
    # 2024-03-10 02:30 does not exist in New York
    assert fires("30 2 * * *", at(2024, 3, 9, 12), 2, NEW_YORK) == [
        "2024-03-11 02:30 Mon EDT",
        "2024-03-12 02:30 Tue EDT",
    ]
    # hourly keeps firing every real hour across the gap
    assert fires("0 * * * *", at(2024, 3, 10, 6, 30), 3, NEW_YORK) == [
        "2024-03-10 03:00 Sun EDT",
        "2024-03-10 04:00 Sun EDT",
        "2024-03-10 05:00 Sun EDT",
    ]


def test_fall_back_fires_at_both_instants_of_a_repeated_wall_time() -> None:
    got = fires("30 1 * * *", at(2024, 11, 2, 12), 3, NEW_YORK)
    assert got == [
        "2024-11-03 01:30 Sun EDT",
        "2024-11-03 01:30 Sun EST",
        "2024-11-04 01:30 Mon EST",
    ]
    # every 20 minutes through the repeated hour: strictly increasing instants, no gaps
    schedule = parse_schedule("*/20 * * * *")
    t = at(2024, 11, 3, 4, 50)
    seen = []
    for _ in range(8):
        nxt = schedule.next(t, NEW_YORK)
        assert nxt is not None and nxt > t
        seen.append((nxt - t).total_seconds())
        t = nxt
    assert seen == [600.0] + [1200.0] * 7


def test_europe_transition() -> None:
    # 2024-03-31 02:00 -> 03:00 in Berlin: a 02:15 job skips that day
    assert fires("15 2 * * *", at(2024, 3, 30, 12), 1, BERLIN) == ["2024-04-01 02:15 Mon CEST"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month"),
        ("* * * * 7", "day of week"),
        ("*/0 * * * *", "step"),
        ("5-1 * * * *", "backwards"),
        ("@often", "unknown descriptor"),
        ("x * * * *", "not a number"),
        ("1,,2 * * * *", "empty"),
    ],
)
def test_bad_schedules_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message):
        parse_schedule(text)


def test_naive_after_is_rejected() -> None:
    with pytest.raises(errors.BadRequest, match="timezone-aware"):
        parse_schedule("* * * * *").next(datetime.datetime(2024, 1, 1))


@given(
    st.sampled_from(["*/7 * * * *", "0 */3 * * *", "15 4 * * 1-5", "0 0 1,15 * *", "30 1 * * *"]),
    st.datetimes(min_value=datetime.datetime(2020, 1, 1), max_value=datetime.datetime(2030, 1, 1)),
    st.sampled_from([UTC, NEW_YORK, BERLIN]),
)
def test_next_is_a_later_matching_wall_time(
    text: str, start: datetime.datetime, zone: datetime.tzinfo
) -> None:
    schedule = parse_schedule(text)
    after = start.replace(tzinfo=UTC)
    nxt = schedule.next(after, zone)
    assert nxt is not None and nxt > after
    wall = nxt.astimezone(zone)
    assert wall.minute in schedule.minutes and wall.hour in schedule.hours
    assert wall.month in schedule.months and schedule.day_matches(wall.date())
    assert schedule.next(nxt - datetime.timedelta(seconds=1), zone) == nxt
