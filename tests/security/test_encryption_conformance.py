"""The store conformance suite through EncryptingStore, with every conformance key encrypted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from korch import clock as clock_module
from korch.security._encryption import EncryptingStore, EncryptionConfiguration
from korch.store import MemoryStore
from korch.testing import StoreConformance


class TestEncryptingStore(StoreConformance):
    @pytest.fixture
    async def store(self, clock: clock_module.Clock) -> AsyncIterator[EncryptingStore]:
        config = EncryptionConfiguration.aesgcm(
            {"key1": bytes(32)}, resources=["/conformance/"], identity_fallback=False
        )
        async with EncryptingStore(MemoryStore(clock=clock), config) as wrapped:
            yield wrapped

    async def test_values_are_encrypted_underneath(self, store: EncryptingStore, ns: bytes) -> None:
        await store.put(ns + b"k", b"plain")
        raw = await store.store.get(ns + b"k")
        assert raw is not None and raw.value.startswith(b"k8s:enc:aesgcm:v1:key1:")
