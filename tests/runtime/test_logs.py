"""CRI log files: whatever a container prints, in whatever chunks, reads back line by line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from korch.runtime import _logs

lines = st.lists(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
    max_size=30,
)


async def read_all(path: str, **options: object) -> bytes:
    chunks = [
        chunk
        async for chunk in _logs.read_file_log(
            path,
            tail_lines=options.get("tail_lines"),  # type: ignore[arg-type]
            since=None,
            follow=False,
            timestamps=False,
            running=lambda: False,
        )
    ]
    return b"".join(chunks)


@settings(max_examples=60, deadline=None)
@given(lines=lines, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
       max_bytes=st.integers(min_value=50, max_value=5000), tail=st.integers(0, 40))  # fmt: skip
def test_output_round_trips_through_rotation(
    lines: list[bytes], cuts: list[int], max_bytes: int, tail: int
) -> None:
    data = b"".join(line + b"\n" for line in lines)
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "0.log")
        writer = _logs.LogFileWriter(path, max_bytes=max_bytes, max_files=1000)
        start = 0
        for cut in sorted(c % (len(data) + 1) for c in cuts):
            writer.write(1_700_000_000.0, "stdout", data[start:cut])
            start = max(start, cut)
        writer.write(1_700_000_000.0, "stdout", data[start:])
        writer.close()
        assert anyio.run(read_all, path) == data
        expected = b"".join(line + b"\n" for line in lines[-tail:]) if tail else b""
        assert anyio.run(lambda: read_all(path, tail_lines=tail)) == expected


def test_timestamps_round_trip() -> None:
    for when in (0.5, 1_700_000_000.123456789, 1_799_999_999.999999):
        stamp = _logs.format_time(when)
        assert abs(_logs._parse_time(stamp) - when) < 1e-6
