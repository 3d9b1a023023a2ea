"""MemoryStore and SQLiteStore against the shared etcd-semantics suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from korch import clock as clock_module
from korch.store import MemoryStore, SQLiteStore, Store
from korch.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    async def store(self, clock: clock_module.Clock) -> AsyncIterator[Store]:
        async with MemoryStore(clock=clock) as store:
            yield store


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    async def store(self, clock: clock_module.Clock, tmp_path: Path) -> AsyncIterator[Store]:
        async with SQLiteStore(tmp_path / "state.db", clock=clock) as store:
            yield store


class TestSQLiteStoreSmallWatchWindow(StoreConformance):
    """Watchers that fall behind the in-memory window read history back from SQLite."""

    @pytest.fixture
    async def store(self, clock: clock_module.Clock, tmp_path: Path) -> AsyncIterator[Store]:
        async with SQLiteStore(tmp_path / "state.db", clock=clock, watch_window=2) as store:
            yield store
