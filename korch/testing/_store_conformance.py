"""The store conformance suite: the etcd semantics every korch store backend must have.

Reuse it for your own backend by subclassing in a pytest module and providing two fixtures::

    import pytest
    from korch.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        async def store(self, clock):        # a fresh (or shared) store using `clock`
            s = MyStore(clock=clock)
            yield s
            await s.close()

``clock`` is a :class:`korch.clock.FakeClock` by default; a backend whose leases run on real
time (etcd) sets ``fake_clock = False`` and the lease-expiry test then waits (bounded) for the
real expiry. Tests only use keys under the per-test ``ns`` prefix and compare revisions
relative to the revision at the start, so a shared server (one etcd for the module) works.
The tests need the anyio pytest plugin (``@pytest.mark.anyio``; an ``anyio_backend`` fixture).
"""

from __future__ import annotations

import uuid

import anyio
import anyio.lowlevel
import pytest

from korch import clock as clock_module
from korch import errors
from korch.store import _types as t

__all__ = ("StoreConformance",)

pytestmark = pytest.mark.anyio


async def _next_response(stream: t.WatchStream, timeout: float = 10.0) -> t.WatchResponse:
    with anyio.fail_after(timeout):
        async for response in stream.responses():
            return response
    raise AssertionError("watch ended")  # pragma: no cover


async def _events(stream: t.WatchStream, n: int, timeout: float = 10.0) -> list[t.Event]:
    found: list[t.Event] = []
    with anyio.fail_after(timeout):
        async for response in stream.responses():
            found.extend(response.events)
            if len(found) >= n:
                return found
    raise AssertionError("watch ended")  # pragma: no cover


@pytest.mark.anyio
class StoreConformance:
    """etcd semantics; see the module docstring for how to run it against a backend."""

    fake_clock = True

    @pytest.fixture
    def clock(self) -> clock_module.Clock:
        return clock_module.FakeClock()

    @pytest.fixture
    def ns(self) -> bytes:
        return b"/conformance/" + uuid.uuid4().hex.encode() + b"/"

    # -- revisions -----------------------------------------------------------------------

    async def test_each_write_takes_one_revision(self, store: t.Store, ns: bytes) -> None:
        base = await store.current_revision()
        r1 = await store.put(ns + b"a", b"1")
        r2 = await store.put(ns + b"b", b"2")
        assert (r1.revision, r2.revision) == (base + 1, base + 2)
        assert await store.current_revision() == base + 2

    async def test_key_versions(self, store: t.Store, ns: bytes) -> None:
        k = ns + b"k"
        r1 = await store.put(k, b"1")
        r2 = await store.put(k, b"2", prev_kv=True)
        kv = await store.get(k)
        assert kv == t.KeyValue(k, b"2", r1.revision, r2.revision, 2, 0)
        assert r2.prev_kv == t.KeyValue(k, b"1", r1.revision, r1.revision, 1, 0)
        d = await store.delete(k)
        assert d.deleted == 1 and d.revision == r2.revision + 1
        assert await store.get(k) is None
        r3 = await store.put(k, b"3")
        again = await store.get(k)
        assert again is not None
        assert (again.create_revision, again.version) == (r3.revision, 1)  # reset by delete

    async def test_put_without_prev_kv(self, store: t.Store, ns: bytes) -> None:
        await store.put(ns + b"k", b"1")
        assert (await store.put(ns + b"k", b"2")).prev_kv is None

    async def test_delete_of_nothing_takes_no_revision(self, store: t.Store, ns: bytes) -> None:
        await store.put(ns + b"x", b"1")
        before = await store.current_revision()
        result = await store.delete(ns + b"missing")
        assert result.deleted == 0
        assert await store.current_revision() == before

    async def test_empty_value_and_binary_keys(self, store: t.Store, ns: bytes) -> None:
        key = ns + bytes(range(1, 256))
        await store.put(key, b"")
        kv = await store.get(key)
        assert kv is not None and kv.value == b"" and kv.version == 1

    # -- reads ---------------------------------------------------------------------------

    async def test_read_at_past_revision(self, store: t.Store, ns: bytes) -> None:
        k = ns + b"k"
        r1 = await store.put(k, b"1")
        await store.put(k, b"2")
        await store.delete(k)
        old = await store.get(k, revision=r1.revision)
        assert old is not None and old.value == b"1"
        at = await store.range(ns, prefix=True, revision=r1.revision)
        assert [kv.value for kv in at.kvs] == [b"1"]
        assert (await store.range(ns, prefix=True)).kvs == ()

    async def test_future_revision(self, store: t.Store, ns: bytes) -> None:
        rev = await store.current_revision()
        with pytest.raises(errors.FutureRevision):
            await store.get(ns + b"k", revision=rev + 1000)

    async def test_range_prefix_end_limit_count(self, store: t.Store, ns: bytes) -> None:
        for name in (b"a", b"b", b"c", b"d"):
            await store.put(ns + name, name)
        await store.put(ns[:-1] + b"0", b"outside")  # the byte after '/' in prefix_end
        all_ = await store.range(ns, prefix=True)
        assert [kv.key for kv in all_.kvs] == [ns + b"a", ns + b"b", ns + b"c", ns + b"d"]
        assert (all_.more, all_.count) == (False, 4)
        part = await store.range(ns + b"b", ns + b"d")
        assert [kv.value for kv in part.kvs] == [b"b", b"c"]
        limited = await store.range(ns, prefix=True, limit=3)
        assert [kv.value for kv in limited.kvs] == [b"a", b"b", b"c"]
        assert (limited.more, limited.count) == (True, 4)
        counted = await store.range(ns, prefix=True, count_only=True)
        assert counted.kvs == () and counted.count == 4
        keys = await store.range(ns, prefix=True, keys_only=True)
        assert [kv.value for kv in keys.kvs] == [b""] * 4
        single = await store.range(ns + b"c")
        assert [kv.value for kv in single.kvs] == [b"c"]
        assert all_.revision == await store.current_revision()

    async def test_range_from_key(self, store: t.Store, ns: bytes) -> None:
        await store.put(ns + b"a", b"1")
        await store.put(ns + b"b", b"2")
        result = await store.range(ns + b"b", b"\x00")
        assert result.kvs[0].key == ns + b"b"
        assert all(kv.key >= ns + b"b" for kv in result.kvs)

    # -- deletes -------------------------------------------------------------------------

    async def test_delete_prefix_with_prev_kvs(self, store: t.Store, ns: bytes) -> None:
        await store.put(ns + b"a", b"1")
        await store.put(ns + b"b", b"2")
        await store.put(ns + b"c", b"3")
        result = await store.delete(ns + b"a", ns + b"c", prev_kv=True)
        assert result.deleted == 2
        assert [kv.value for kv in result.prev_kvs] == [b"1", b"2"]
        rest = await store.delete(ns, prefix=True)
        assert rest.deleted == 1 and rest.prev_kvs == ()
        assert (await store.range(ns, prefix=True)).count == 0

    # -- transactions --------------------------------------------------------------------

    async def test_txn_compare_and_swap(self, store: t.Store, ns: bytes) -> None:
        k = ns + b"k"
        r = await store.put(k, b"v1")
        ok = await store.txn(
            compare=[t.Compare.mod(k) == r.revision],
            success=[t.Put(k, b"v2", prev_kv=True)],
            failure=[t.Get(k)],
        )
        assert ok.succeeded and ok.revision == r.revision + 1
        put_result = ok.responses[0]
        assert isinstance(put_result, t.PutResult) and put_result.prev_kv is not None
        stale = await store.txn(
            compare=[t.Compare.mod(k) == r.revision],
            success=[t.Put(k, b"v3")],
            failure=[t.Get(k)],
        )
        assert not stale.succeeded and stale.revision == ok.revision
        got = stale.responses[0]
        assert isinstance(got, t.RangeResult) and got.kvs[0].value == b"v2"

    @pytest.mark.parametrize(
        ("target", "op", "expected"),
        [
            ("value", "==", True),
            ("value", "!=", False),
            ("value", "<", False),
            ("value", ">", True),
            ("version", "==", True),
            ("version", "<", False),
            ("version", ">", False),
            ("version", "!=", False),
            ("create", "==", True),
            ("create", ">", False),
            ("mod", "<", False),
            ("mod", "!=", False),
        ],
    )
    async def test_txn_compare_targets(
        self, store: t.Store, ns: bytes, target: str, op: str, expected: bool
    ) -> None:
        k = ns + b"k"
        r = await store.put(k, b"m")
        builder = getattr(t.Compare, target)(k)
        value: int | bytes = {"value": b"m" if op in ("==", "!=") else b"a"}.get(target, 0)
        if target == "value" and op == "<":
            value = b"a"
        if target == "version":
            value = 1
        if target in ("create", "mod"):
            value = r.revision
        condition = {
            "==": builder == value,
            "!=": builder != value,
            "<": builder < value,
            ">": builder > value,
        }[op]
        result = await store.txn([condition], [t.Get(k)], [])
        assert result.succeeded is expected

    async def test_txn_missing_key_compares(self, store: t.Store, ns: bytes) -> None:
        k = ns + b"new"
        created = await store.txn([t.Compare.version(k) == 0], [t.Put(k, b"1")], [])
        assert created.succeeded
        again = await store.txn([t.Compare.version(k) == 0], [t.Put(k, b"2")], [t.Get(k)])
        assert not again.succeeded

    async def test_txn_applies_all_ops_at_one_revision(self, store: t.Store, ns: bytes) -> None:
        await store.put(ns + b"old", b"x")
        base = await store.current_revision()
        result = await store.txn(
            [],
            [
                t.Put(ns + b"a", b"1"),
                t.Put(ns + b"b", b"2"),
                t.Delete(ns + b"old", prev_kv=True),
                t.Get(ns, prefix=True),
            ],
        )
        assert result.succeeded and result.revision == base + 1
        a = await store.get(ns + b"a")
        b = await store.get(ns + b"b")
        assert a is not None and b is not None
        assert a.mod_revision == b.mod_revision == base + 1
        deleted = result.responses[2]
        assert isinstance(deleted, t.DeleteResult) and deleted.deleted == 1
        seen = result.responses[3]
        assert isinstance(seen, t.RangeResult)
        assert [kv.key for kv in seen.kvs] == [ns + b"a", ns + b"b"]  # sees its own writes

    async def test_txn_of_reads_takes_no_revision(self, store: t.Store, ns: bytes) -> None:
        await store.put(ns + b"a", b"1")
        base = await store.current_revision()
        result = await store.txn([], [t.Get(ns + b"a")])
        assert result.revision == base
        assert await store.current_revision() == base

    async def test_txn_rejects_duplicate_keys(self, store: t.Store, ns: bytes) -> None:
        with pytest.raises(errors.InvalidRequest):
            await store.txn([], [t.Put(ns + b"a", b"1"), t.Put(ns + b"a", b"2")])
        assert await store.get(ns + b"a") is None

    # -- watches -------------------------------------------------------------------------

    async def test_watch_from_now(self, store: t.Store, ns: bytes) -> None:
        async with store.watch(ns, prefix=True) as stream:
            r = await store.put(ns + b"a", b"1")
            await store.put(ns[:-1] + b"0", b"not watched")
            await store.delete(ns + b"a")
            events = await _events(stream, 2)
        assert [e.type for e in events] == [t.EventType.PUT, t.EventType.DELETE]
        assert events[0].kv.mod_revision == r.revision
        assert events[1].kv.key == ns + b"a" and events[1].kv.mod_revision == r.revision + 2
        assert events[1].prev_kv is None

    async def test_watch_from_past_revision_with_prev_kv(self, store: t.Store, ns: bytes) -> None:
        r1 = await store.put(ns + b"a", b"1")
        await store.put(ns + b"a", b"2")
        await store.delete(ns + b"a")
        async with store.watch(ns, prefix=True, start_revision=r1.revision, prev_kv=True) as stream:
            events = await _events(stream, 3)
        assert [e.kv.mod_revision for e in events] == [r1.revision + i for i in range(3)]
        assert events[0].prev_kv is None
        assert events[1].prev_kv is not None and events[1].prev_kv.value == b"1"
        assert events[2].type is t.EventType.DELETE
        assert events[2].prev_kv is not None and events[2].prev_kv.value == b"2"

    async def test_watch_single_key_and_range(self, store: t.Store, ns: bytes) -> None:
        async with store.watch(ns + b"b") as one, store.watch(ns + b"a", ns + b"c") as rng:
            for name in (b"a", b"b", b"c"):
                await store.put(ns + name, name)
            assert [e.kv.key for e in await _events(one, 1)] == [ns + b"b"]
            assert [e.kv.key for e in await _events(rng, 2)] == [ns + b"a", ns + b"b"]

    async def test_watch_delivers_a_txn_together(self, store: t.Store, ns: bytes) -> None:
        async with store.watch(ns, prefix=True) as stream:
            await store.txn([], [t.Put(ns + b"a", b"1"), t.Put(ns + b"b", b"2")])
            response = await _next_response(stream)
        assert [e.kv.key for e in response.events] == [ns + b"a", ns + b"b"]
        assert response.revision >= response.events[-1].kv.mod_revision

    async def test_watch_is_ordered_and_exactly_once(self, store: t.Store, ns: bytes) -> None:
        n = 200
        async with store.watch(ns, prefix=True) as stream:
            async with anyio.create_task_group() as group:
                for w in range(4):

                    async def writer(w: int = w) -> None:
                        for i in range(n // 4):
                            await store.put(ns + b"%d/%d" % (w, i), b"x")

                    group.start_soon(writer)
            events = await _events(stream, n)
        revisions = [e.kv.mod_revision for e in events]
        assert revisions == sorted(set(revisions)) and len(events) == n

    async def test_watch_below_compaction_raises_compacted(self, store: t.Store, ns: bytes) -> None:
        r1 = await store.put(ns + b"a", b"1")
        r2 = await store.put(ns + b"a", b"2")
        await store.put(ns + b"a", b"3")
        await store.compact(r2.revision)
        with pytest.raises(errors.Compacted) as info:
            async with store.watch(ns, prefix=True, start_revision=r1.revision) as stream:
                await _next_response(stream)
        assert info.value.compact_revision == r2.revision
        async with store.watch(ns, prefix=True, start_revision=r2.revision) as stream:
            assert [e.kv.value for e in await _events(stream, 2)] == [b"2", b"3"]

    async def test_watch_progress_notification(self, store: t.Store, ns: bytes) -> None:
        async with store.watch(ns, prefix=True, progress_notify=True) as stream:
            await store.put(ns[:-1] + b"0", b"elsewhere")
            rev = await store.current_revision()
            await stream.request_progress()
            response = await _next_response(stream)
        assert response.is_progress_notify and response.revision >= rev

    # -- compaction ----------------------------------------------------------------------

    async def test_compaction(self, store: t.Store, ns: bytes) -> None:
        r1 = await store.put(ns + b"a", b"1")
        r2 = await store.put(ns + b"a", b"2")
        await store.put(ns + b"b", b"3")
        await store.compact(r2.revision)
        with pytest.raises(errors.Compacted) as info:
            await store.get(ns + b"a", revision=r1.revision)
        assert info.value.compact_revision == r2.revision
        kv = await store.get(ns + b"a", revision=r2.revision)
        assert kv is not None and kv.value == b"2"
        with pytest.raises(errors.Compacted):
            await store.compact(r1.revision)
        assert await store.compact_revision() == r2.revision

    # -- leases --------------------------------------------------------------------------

    async def test_lease_keepalive_time_to_live_and_revoke(self, store: t.Store, ns: bytes) -> None:
        lease = await store.grant_lease(60)
        assert lease.ttl == 60 and lease.id in await store.leases()
        await store.put(ns + b"a", b"1", lease=lease.id)
        await store.put(ns + b"b", b"2", lease=lease.id)
        kv = await store.get(ns + b"a")
        assert kv is not None and kv.lease == lease.id
        assert await store.keepalive(lease.id) == 60
        status = await store.time_to_live(lease.id, keys=True)
        assert status.granted_ttl == 60 and 0 < status.ttl <= 60
        assert set(status.keys) == {ns + b"a", ns + b"b"}
        async with store.watch(ns, prefix=True) as stream:
            await store.revoke(lease.id)
            events = await _events(stream, 2)
        assert {e.type for e in events} == {t.EventType.DELETE}
        assert events[0].kv.mod_revision == events[1].kv.mod_revision  # one revision
        assert await store.get(ns + b"a") is None
        with pytest.raises(errors.LeaseNotFound):
            await store.keepalive(lease.id)
        assert (await store.time_to_live(lease.id)).ttl == -1

    async def test_put_with_unknown_lease(self, store: t.Store, ns: bytes) -> None:
        with pytest.raises(errors.LeaseNotFound):
            await store.put(ns + b"a", b"1", lease=0x7E57_0000_0001)
        assert await store.get(ns + b"a") is None

    async def test_lease_expiry_deletes_keys(
        self, store: t.Store, ns: bytes, clock: clock_module.Clock
    ) -> None:
        lease = await store.grant_lease(2 if not self.fake_clock else 10)
        await store.put(ns + b"a", b"1", lease=lease.id)
        async with store.watch(ns, prefix=True) as stream:
            if isinstance(clock, clock_module.FakeClock):
                clock.advance(5)
                await anyio.lowlevel.checkpoint()
                assert await store.get(ns + b"a") is not None  # not yet: ttl 10
                clock.advance(6)
            events = await _events(stream, 1, timeout=15)
        assert events[0].type is t.EventType.DELETE and events[0].kv.key == ns + b"a"
        assert await store.get(ns + b"a") is None
        with pytest.raises(errors.LeaseNotFound):
            await store.keepalive(lease.id)

    async def test_keepalive_postpones_expiry(
        self, store: t.Store, ns: bytes, clock: clock_module.Clock
    ) -> None:
        if not isinstance(clock, clock_module.FakeClock):
            pytest.skip("needs the fake clock")
        lease = await store.grant_lease(10)
        await store.put(ns + b"a", b"1", lease=lease.id)
        clock.advance(8)
        await store.keepalive(lease.id)
        clock.advance(8)
        await anyio.lowlevel.checkpoint()
        assert await store.get(ns + b"a") is not None
        clock.advance(3)
        await anyio.lowlevel.checkpoint()
        assert await store.get(ns + b"a") is None
