"""CronJob schedules: the cron syntax Kubernetes accepts, with its parser's messages.

kube-apiserver checks ``spec.schedule`` with robfig/cron's standard parser: five
space-separated fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or
``jan``-``dec``, day of week 0-6 or ``sun``-``sat``), each a comma-separated list of ``*``
or ``?``, a value, or a range ``a-b``, optionally with a ``/step``; or one of the
descriptors ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``,
``@midnight``, ``@hourly``. ``@every <duration>`` is not a valid CronJob schedule.

:func:`schedule_error` returns the parser's message for a bad schedule (``expected exactly
5 fields, found 1: [hourly]``, ``end of range (60) above maximum (59): 0-60``…) or ``""``.
Results are cached: clusters repeat the same few schedules.
"""

from __future__ import annotations

import functools
from typing import Final

__all__ = ("DESCRIPTORS", "schedule_error")

DESCRIPTORS: Final = frozenset(
    ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
)
_MONTHS: Final = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DAYS: Final = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS: Final = (
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)


class _CronError(ValueError):
    pass


def _int(text: str) -> int:
    # Go's strconv.Atoi: optional sign, decimal digits only.
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise _CronError(
            f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    number = int(text)
    if number < 0:
        raise _CronError(f"negative number ({number}) not allowed: {text}")
    return number


def _int_or_name(text: str, names: dict[str, int] | None) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    return _int(text)


def _range(expr: str, low: int, high: int, names: dict[str, int] | None) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise _CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if len(low_and_high) == 1:
            end = high
    else:
        raise _CronError(f"too many slashes: {expr}")
    if start < low:
        raise _CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise _CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise _CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise _CronError(f"step of range should be a positive number: {expr}")


@functools.lru_cache(maxsize=1024)
def schedule_error(schedule: str) -> str:
    """The problem with ``schedule`` as a CronJob schedule, or ``""`` when it is valid."""
    fields = schedule.split()
    if fields and fields[0].startswith(("TZ=", "CRON_TZ=")):
        # The time zone prefix is reported separately (CronJobs use spec.timeZone).
        fields = fields[1:]
    if not fields:
        return "empty spec string"
    if fields[0].startswith("@"):
        descriptor = " ".join(fields)
        if descriptor in DESCRIPTORS:
            return ""
        if fields[0] == "@every":
            return "@every schedules are not supported; use a cron expression or a descriptor"
        return f"unrecognized descriptor: {descriptor}"
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    try:
        for text, (low, high, names) in zip(fields, _FIELDS, strict=True):
            for expr in text.split(","):
                _range(expr, low, high, names)
    except _CronError as exc:
        return str(exc)
    return ""
