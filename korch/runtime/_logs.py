"""Container logs: CRI's log file format, size-based rotation, and reading them back.

Each line a container prints is stored as the kubelet's CRI log format does it::

    2026-11-22T05:30:00.123456789Z stdout F the line

(time, stream, ``F`` for a full line or ``P`` for a partial one, content). The timestamp is
what makes ``since`` and ``timestamps`` possible. :class:`LogFileWriter` appends lines to
``<n>.log`` and, when the file passes ``max_bytes``, renames it to ``<n>.log.1`` (shifting
older files up, keeping ``max_files`` files in all). :func:`read_lines` and :func:`follow`
read every file of a container oldest first. :class:`MemoryLog` is the same for the fake
runtime, in memory.
"""

from __future__ import annotations

import datetime
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable

import anyio

__all__ = ("LogFileWriter", "MemoryLog", "format_time", "read_file_log")

Line = tuple[float, bytes]
"""(epoch seconds, content without the newline)."""

_FOLLOW_POLL_SECONDS = 0.05


def format_time(when: float) -> bytes:
    """RFC 3339 with nanoseconds, UTC (``2026-11-22T05:30:00.123456789Z``)."""
    seconds = int(when)
    nanos = round((when - seconds) * 1e9)
    if nanos >= 1_000_000_000:
        seconds, nanos = seconds + 1, nanos - 1_000_000_000
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z".encode()


def _parse_time(stamp: bytes) -> float:
    text = stamp.decode()
    whole, _, fraction = text.rstrip("Z").partition(".")
    base = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    return base.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _render(lines: Iterable[Line], timestamps: bool) -> bytes:
    if timestamps:
        return b"".join(format_time(t) + b" " + content + b"\n" for t, content in lines)
    return b"".join(content + b"\n" for _, content in lines)


def _select(lines: Iterable[Line], tail_lines: int | None, since: float | None) -> list[Line]:
    chosen = [line for line in lines if since is None or line[0] >= since]
    if tail_lines is not None:
        chosen = chosen[-tail_lines:] if tail_lines > 0 else []
    return chosen


class MemoryLog:
    """A container's log kept in memory (the fake runtime's)."""

    __slots__ = ("_changed", "lines")

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self._changed: anyio.Event | None = None

    def write(self, when: float, data: bytes) -> None:
        for content in data.splitlines():
            self.lines.append((when, content))
        self.wake()

    def wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def read(
        self,
        *,
        tail_lines: int | None,
        since: float | None,
        follow: bool,
        timestamps: bool,
        running: Callable[[], bool],
    ) -> AsyncIterator[bytes]:
        chosen = _select(self.lines, tail_lines, since)
        if chosen:
            yield _render(chosen, timestamps)
        sent = len(self.lines)
        while follow and running():
            self._changed = self._changed or anyio.Event()
            await self._changed.wait()
            if len(self.lines) > sent:
                yield _render(self.lines[sent:], timestamps)
                sent = len(self.lines)


class LogFileWriter:
    """Appends a container's output to ``path`` in CRI format, rotating by size."""

    def __init__(self, path: str, *, max_bytes: int, max_files: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_files = max(1, max_files)
        self._partial: dict[str, bytes] = {}
        self._file = open(path, "ab")  # noqa: SIM115 - lives as long as the container
        self._size = self._file.tell()

    def write(self, when: float, stream: str, data: bytes) -> None:
        """Record ``data`` read from ``stream`` (``stdout``/``stderr``) at ``when``."""
        data = self._partial.pop(stream, b"") + data
        *complete, rest = data.split(b"\n")
        stamp = format_time(when)
        prefix = stamp + b" " + stream.encode() + b" "
        records = [prefix + b"F " + line + b"\n" for line in complete]
        if len(rest) >= 16384:
            records.append(prefix + b"P " + rest + b"\n")
        elif rest:
            self._partial[stream] = rest
        batch: list[bytes] = []
        size = self._size
        for record in records:  # rotate between lines, never inside one
            batch.append(record)
            size += len(record)
            if size >= self.max_bytes:
                self._append(b"".join(batch))
                batch, size = [], 0
        if batch:
            self._append(b"".join(batch))

    def flush_partial(self, when: float) -> None:
        """Write out an unterminated last line (the container exited)."""
        for stream, rest in list(self._partial.items()):
            del self._partial[stream]
            self._append(format_time(when) + f" {stream} F ".encode() + rest + b"\n")

    def _append(self, out: bytes) -> None:
        self._file.write(out)
        self._file.flush()
        self._size += len(out)
        if self._size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self._file.close()
        for index in range(self.max_files - 1, 0, -1):
            older = f"{self.path}.{index}"
            if index == self.max_files - 1 and os.path.exists(older):
                os.remove(older)
            newer = self.path if index == 1 else f"{self.path}.{index - 1}"
            if os.path.exists(newer):
                os.replace(newer, older)
        if self.max_files == 1:
            os.remove(self.path)
        self._file = open(self.path, "ab")  # noqa: SIM115 - see __init__
        self._size = 0

    def close(self) -> None:
        self._file.close()


def _parse(raw: bytes) -> list[Line]:
    lines: list[Line] = []
    for record in raw.splitlines():
        parts = record.split(b" ", 3)
        if len(parts) < 4:
            continue
        try:
            when = _parse_time(parts[0])
        except ValueError:
            continue
        if parts[2] == b"P" and lines:
            lines[-1] = (lines[-1][0], lines[-1][1] + parts[3])
        else:
            lines.append((when, parts[3]))
    return lines


def _files(path: str) -> list[str]:
    rotated = []
    index = 1
    while os.path.exists(f"{path}.{index}"):
        rotated.append(f"{path}.{index}")
        index += 1
    return [*reversed(rotated), path]


def _read(path: str, offset: int = 0, size: int = -1) -> bytes:
    # log files are local and read in small steps: blocking reads are as quick as a thread hop
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read(size)
    except FileNotFoundError:
        return b""


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


async def read_file_log(
    path: str,
    *,
    tail_lines: int | None,
    since: float | None,
    follow: bool,
    timestamps: bool,
    running: Callable[[], bool],
) -> AsyncIterator[bytes]:
    """The log at ``path`` (and its rotated files), then, with ``follow``, what is appended
    until ``running()`` turns false (polled every 50 ms of real time)."""
    keep = tail_lines if tail_lines is not None and since is None and tail_lines >= 0 else None
    lines: deque[Line] = deque(maxlen=keep)
    for name in _files(path):
        lines.extend(_parse(_read(name)))
    chosen = _select(lines, tail_lines, since)
    if chosen:
        yield _render(chosen, timestamps)
    if not follow:
        return
    offset = _size(path)
    while True:
        alive = running()
        size = _size(path)
        if size < offset:  # rotated under us: the new file starts from its beginning
            offset = 0
        if size > offset:
            raw = _read(path, offset, size - offset)
            end = raw.rfind(b"\n") + 1
            offset += end
            new = _parse(raw[:end])
            if new:
                yield _render(new, timestamps)
        elif not alive:
            return
        await anyio.sleep(_FOLLOW_POLL_SECONDS)
