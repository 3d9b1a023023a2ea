"""A one-to-many wake-up signal, cheap for many waiters.

:class:`Broadcast` wakes every task waiting in :meth:`Broadcast.wait` when
:meth:`Broadcast.fire` is called. On asyncio all waiters await one shared future, so firing
is one ``set_result`` and each wake-up one task step (the hot path of watch fan-out and of
group commit); a waiter cancelled while waiting cancels that future, which the other waiters
treat as a spurious wake-up (told apart with ``Task.cancelling()``), so callers must re-check
their condition after waking. On other event loops (trio) an :class:`anyio.Event` is used.
"""

from __future__ import annotations

import asyncio

import anyio
import sniffio

__all__ = ("Broadcast",)


class Broadcast:
    """Wake all current waiters at once; usable before an event loop runs."""

    __slots__ = ("_asyncio", "_event", "_future")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._event: anyio.Event | None = None
        self._asyncio: bool | None = None

    def fire(self) -> None:
        """Wake every task waiting now (later waiters wait for the next fire)."""
        future = self._future
        if future is not None:
            self._future = None
            if not future.done():
                future.set_result(None)
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self) -> None:
        """Sleep until the next :meth:`fire` (or a spurious wake-up: re-check after)."""
        if self._asyncio is None:
            self._asyncio = sniffio.current_async_library() == "asyncio"
        if not self._asyncio:
            event = self._event
            if event is None:
                event = self._event = anyio.Event()
            await event.wait()
            return
        future = self._future
        if future is None:
            future = self._future = asyncio.get_running_loop().create_future()
        try:
            await future
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            # another waiter was cancelled, which cancelled the shared future
            if self._future is future:
                self._future = None
