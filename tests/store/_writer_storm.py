"""Subprocess for the kill -9 test: many tasks write to a SQLiteStore, printing each ack."""

from __future__ import annotations

import sys

import anyio

from korch.store import SQLiteStore


async def main(path: str, writers: int) -> None:
    store = SQLiteStore(path)
    out = sys.stdout

    async def writer(w: int) -> None:
        i = 0
        while True:
            key = b"/storm/%d/%d" % (w, i)
            result = await store.put(key, b"v%d" % i)
            out.write(f"{key.decode()} {result.revision}\n")
            out.flush()
            i += 1

    async with anyio.create_task_group() as group:
        for w in range(writers):
            group.start_soon(writer, w)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
