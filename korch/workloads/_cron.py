"""Cron schedules: the standard 5-field syntax and next-fire times in a time zone.

Syntax (what Kubernetes' CronJob accepts, via the robfig/cron "standard" parser):

* five fields — minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
  ``JAN``-``DEC``), day of week (0-6 or ``SUN``-``SAT``; 0 is Sunday); names are
  case-insensitive;
* each field is a comma-separated list of ``*`` (or ``?``), ``N``, ``A-B``, each
  optionally with a step ``/S``; ``N/S`` means ``N-max/S``;
* descriptors ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
  (``@midnight``) and ``@hourly``.

**Day rule** (Vixie cron, as robfig): when day of month and day of week are both
restricted, a day matches if *either* matches; when one of them is ``*`` (or ``?``, or a
``*/1`` step), both must match — so ``0 0 13 * FRI`` fires on every 13th and every Friday.

**Time zones** — schedules run on the wall clock of a ``zoneinfo`` zone (UTC by default).
Across DST transitions, as Kubernetes' cron library: a wall time that does not exist that
day (inside a spring-forward gap) is **skipped**; a wall time that occurs twice (inside a
fall-back overlap) fires at **both** instants. :meth:`Schedule.next` searches at most five
years ahead and returns ``None`` for a schedule that never fires (``0 0 30 2 *``).
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from collections.abc import Iterator
from typing import Final

import attrs

from korch import errors

__all__ = ("Schedule", "parse_schedule")

_MONTHS: Final = {
    name: i + 1
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_DAYS: Final = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_DESCRIPTORS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NO_NAMES: Final[dict[str, int]] = {}
_FIELDS: Final[tuple[tuple[str, int, int, dict[str, int]], ...]] = (
    ("minute", 0, 59, _NO_NAMES),
    ("hour", 0, 23, _NO_NAMES),
    ("day of month", 1, 31, _NO_NAMES),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_SEARCH_YEARS: Final = 5
_UTC: Final = datetime.UTC


def _bad(schedule: str, why: str) -> errors.BadRequest:
    return errors.BadRequest(f"invalid cron schedule {schedule!r}: {why}")


def _value(text: str, names: dict[str, int], schedule: str, field: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise _bad(schedule, f"{field}: {text!r} is not a number")
    return int(text)


def _parse_field(
    text: str, low: int, high: int, names: dict[str, int], schedule: str, field: str
) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it is a ``*`` (for the day rule)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        if not part:
            raise _bad(schedule, f"{field}: empty list item")
        range_text, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise _bad(schedule, f"{field}: bad step {step_text!r}")
            step = int(step_text)
        if range_text in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        elif "-" in range_text:
            first, _, last = range_text.partition("-")
            start = _value(first, names, schedule, field)
            end = _value(last, names, schedule, field)
        else:
            start = _value(range_text, names, schedule, field)
            end = high if slash else start
        if not low <= start <= high or not low <= end <= high:
            raise _bad(schedule, f"{field}: {part!r} is outside {low}-{high}")
        if start > end:
            raise _bad(schedule, f"{field}: range {part!r} goes backwards")
        values.update(range(start, end + 1, step))
    return frozenset(values), star


@attrs.frozen
class Schedule:
    """A parsed cron schedule; :meth:`next` gives fire times (see the module docstring)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    day_of_month_star: bool
    day_of_week_star: bool

    def day_matches(self, day: datetime.date) -> bool:
        """Whether ``day`` is a day this schedule fires on (the Vixie OR rule)."""
        dom = day.day in self.days_of_month
        dow = (day.weekday() + 1) % 7 in self.days_of_week
        if self.day_of_month_star or self.day_of_week_star:
            return dom and dow
        return dom or dow

    def _wall_times(self, start: datetime.datetime) -> Iterator[datetime.datetime]:
        """Matching naive wall-clock minutes from ``start`` (inclusive), within 5 years."""
        t = start.replace(second=0, microsecond=0)
        limit = start.year + _SEARCH_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + datetime.timedelta(days=32)).replace(
                    day=1
                )
            elif not self.day_matches(t.date()):
                t = t.replace(hour=0, minute=0) + datetime.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + datetime.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += datetime.timedelta(minutes=1)
            else:
                yield t
                t += datetime.timedelta(minutes=1)

    def next(
        self, after: datetime.datetime, zone: datetime.tzinfo | None = None
    ) -> datetime.datetime | None:
        """The first fire time strictly after ``after`` (an aware datetime), in UTC.

        Args:
            after: the instant to search from.
            zone: the wall clock the schedule runs on (default UTC).

        Returns:
            An aware UTC datetime, or ``None`` if the schedule never fires within 5 years.
        """
        if after.tzinfo is None:
            raise errors.BadRequest("cron: 'after' must be timezone-aware")
        zone = zone or _UTC
        local = after.astimezone(zone).replace(tzinfo=None)
        window = datetime.timedelta(hours=3)
        if (after - window).astimezone(zone).utcoffset() == (after + window).astimezone(
            zone
        ).utcoffset():
            folds: tuple[int, ...] = (0,)  # no transition near: one reading of the clock
            start = local
        else:  # walk from a little earlier so both readings of an overlap count
            folds = (0, 1)
            start = local - window
        best: datetime.datetime | None = None
        for fold in folds:  # within one reading of the wall clock, instants only grow
            for wall in self._wall_times(start):
                instant = _instant(wall, zone, fold)
                if instant is not None and instant > after:
                    if best is None or instant < best:
                        best = instant
                    break
        return best


def _instant(wall: datetime.datetime, zone: datetime.tzinfo, fold: int) -> datetime.datetime | None:
    """The UTC instant of a wall time read with ``fold``; ``None`` inside a DST gap."""
    local = wall.replace(tzinfo=zone, fold=fold)
    instant = local.astimezone(_UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


@functools.lru_cache(maxsize=1024)
def parse_schedule(text: str) -> Schedule:
    """Parse a cron schedule (see the module docstring).

    Raises:
        korch.errors.BadRequest: the schedule is malformed (the message names the field).
    """
    stripped = text.strip()
    expanded = _DESCRIPTORS.get(stripped.lower(), stripped)
    if expanded.startswith("@"):
        raise _bad(text, f"unknown descriptor {stripped!r}")
    if expanded.upper().startswith(("TZ=", "CRON_TZ=")):
        raise _bad(text, "a time zone in the schedule is not supported; use spec.timeZone")
    parts = expanded.split()
    if len(parts) != 5:
        raise _bad(text, f"expected 5 fields, found {len(parts)}")
    parsed = [
        _parse_field(part, low, high, names, text, field)
        for part, (field, low, high, names) in zip(parts, _FIELDS, strict=True)
    ]
    return Schedule(
        text=text,
        minutes=parsed[0][0],
        hours=parsed[1][0],
        days_of_month=parsed[2][0],
        months=parsed[3][0],
        days_of_week=parsed[4][0],
        day_of_month_star=parsed[2][1],
        day_of_week_star=parsed[4][1],
    )


def zone_for(name: str | None) -> datetime.tzinfo:
    """The ``zoneinfo`` zone named ``name`` (UTC for ``None``/empty).

    Raises:
        korch.errors.BadRequest: an unknown time zone.
    """
    if not name:
        return _UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise errors.BadRequest(f"unknown time zone {name!r}") from exc
