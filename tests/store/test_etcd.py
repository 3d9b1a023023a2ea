"""EtcdStore against a real etcd (Debian etcd-server), started on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.abc
import h11
import pytest

from korch import clock as clock_module
from korch import errors
from korch.store import _types as t
from korch.store._etcd import EtcdStore
from korch.testing import _etcd_server
from korch.testing._etcd_server import EtcdCluster, EtcdServer
from korch.testing._store_conformance import StoreConformance

pytestmark = [pytest.mark.etcd, pytest.mark.anyio]

Compare, Put, Get, Delete = t.Compare, t.Put, t.Get, t.Delete


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _require_etcd() -> None:
    if _etcd_server.find_etcd() is None:
        if os.environ.get("CI"):
            pytest.fail(_etcd_server.INSTALL_HINT)
        pytest.skip(_etcd_server.INSTALL_HINT)


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdServer]:
    _require_etcd()
    # frequent periodic progress notifications keep the progress_notify test short
    with EtcdServer(extra_args=["--experimental-watch-progress-notify-interval=200ms"]) as server:
        yield server


@pytest.fixture
async def store(etcd: EtcdServer) -> AsyncIterator[EtcdStore]:
    async with EtcdStore([etcd.endpoint]) as s:
        yield s


@pytest.fixture
def p() -> bytes:
    """A key prefix of this test alone (the etcd is shared by the module)."""
    return b"/t/" + uuid.uuid4().hex.encode() + b"/"


def _free_url() -> str:
    return f"http://127.0.0.1:{_etcd_server._free_port()}"


async def _take(stream: t.WatchStream, n: int, seconds: float = 5.0) -> list[t.Event]:
    found: list[t.Event] = []
    with anyio.fail_after(seconds):
        async for event in stream:
            found.append(event)
            if len(found) == n:
                break
    return found


# -- keys, ranges, revisions ----------------------------------------------------------------


async def test_put_get_versions_and_past_revisions(store: EtcdStore, p: bytes) -> None:
    first = await store.put(p + b"k", b"v1")
    second = await store.put(p + b"k", b"v2", prev_kv=True)
    assert second.revision == first.revision + 1
    assert second.prev_kv is not None and second.prev_kv.value == b"v1"
    kv = await store.get(p + b"k")
    assert kv == t.KeyValue(p + b"k", b"v2", first.revision, second.revision, 2, 0)
    old = await store.get(p + b"k", revision=first.revision)
    assert old is not None and (old.value, old.version) == (b"v1", 1)
    assert await store.get(p + b"missing") is None
    assert await store.current_revision() == second.revision
    assert isinstance(store, t.Store)


async def test_range_prefix_range_end_limit_and_count(store: EtcdStore, p: bytes) -> None:
    for name in (b"a", b"b", b"c", b"d"):
        last = await store.put(p + name, name.upper())
    await store.put(p[:-1] + b"0", b"outside the prefix")
    everything = await store.range(p, prefix=True)
    assert [kv.key for kv in everything.kvs] == [p + b"a", p + b"b", p + b"c", p + b"d"]
    assert (everything.count, everything.more) == (4, False)
    assert everything.revision == await store.current_revision()
    middle = await store.range(p + b"b", p + b"d")
    assert [kv.value for kv in middle.kvs] == [b"B", b"C"]
    page = await store.range(p, prefix=True, limit=3)
    assert (len(page.kvs), page.more, page.count) == (3, True, 4)
    counted = await store.range(p, prefix=True, count_only=True)
    assert (counted.kvs, counted.count) == ((), 4)
    keys = await store.range(p, prefix=True, keys_only=True)
    assert all(kv.value == b"" for kv in keys.kvs)
    await store.delete(p + b"a")
    past = await store.range(p, prefix=True, revision=last.revision)
    assert past.count == 4 and past.kvs[0].key == p + b"a"


async def test_delete_prefix_with_prev_kvs(store: EtcdStore, p: bytes) -> None:
    for name in (b"x", b"y", b"z"):
        await store.put(p + name, name)
    single = await store.delete(p + b"x", prev_kv=True)
    assert single.deleted == 1 and single.prev_kvs[0].value == b"x"
    rest = await store.delete(p, prefix=True, prev_kv=True)
    assert rest.deleted == 2 and rest.revision == single.revision + 1
    assert sorted(kv.key for kv in rest.prev_kvs) == [p + b"y", p + b"z"]
    nothing = await store.delete(p, prefix=True)
    assert (nothing.deleted, nothing.revision) == (0, rest.revision)
    kv = await store.get(p + b"y", revision=single.revision)
    assert kv is not None and kv.value == b"y"


# -- transactions ---------------------------------------------------------------------------


async def test_txn_compares_on_value_version_create_and_mod(store: EtcdStore, p: bytes) -> None:
    created = await store.put(p + b"k", b"v")
    modified = await store.put(p + b"k", b"w")
    k = p + b"k"
    holds = [
        Compare.value(k) == b"w",
        Compare.value(k) != b"v",
        Compare.value(k) > b"a",
        Compare.value(k) < b"z",
        Compare.version(k) == 2,
        Compare.version(k) > 1,
        Compare.create(k) == created.revision,
        Compare.create(k) < modified.revision,
        Compare.mod(k) == modified.revision,
        Compare.mod(k) != created.revision,
        Compare.version(p + b"missing") == 0,
        Compare.lease(k) == 0,
    ]
    for condition in holds:
        result = await store.txn([condition], [Get(k)], [])
        assert result.succeeded, condition
    fails = [Compare.value(k) == b"v", Compare.version(k) < 2, Compare.mod(k) > modified.revision]
    for condition in fails:
        assert not (await store.txn([condition])).succeeded, condition
    assert not (await store.txn([Compare.value(p + b"missing") == b""])).succeeded


async def test_txn_ops_apply_at_one_revision(store: EtcdStore, p: bytes) -> None:
    await store.put(p + b"old", b"1")
    before = await store.current_revision()
    result = await store.txn(
        [Compare.version(p + b"new") == 0],
        [
            Put(p + b"new", b"n", prev_kv=True),
            Put(p + b"other", b"o"),
            Delete(p + b"old", prev_kv=True),
            Get(p, prefix=True),
        ],
        [Get(p + b"old")],
    )
    assert result.succeeded and result.revision == before + 1
    put, _, deleted, listed = result.responses
    assert isinstance(put, t.PutResult) and put.revision == result.revision and put.prev_kv is None
    assert isinstance(deleted, t.DeleteResult) and deleted.prev_kvs[0].value == b"1"
    assert isinstance(listed, t.RangeResult)
    assert [kv.key for kv in listed.kvs] == [p + b"new", p + b"other"]
    assert {kv.mod_revision for kv in listed.kvs} == {result.revision}
    again = await store.txn(
        [Compare.version(p + b"new") == 0], [Put(p + b"new", b"x")], [Get(p + b"new")]
    )
    assert not again.succeeded and again.revision == result.revision
    (got,) = again.responses
    assert isinstance(got, t.RangeResult) and got.kvs[0].value == b"n"


async def test_txn_refusals(store: EtcdStore, p: bytes) -> None:
    with pytest.raises(errors.InvalidRequest, match="duplicate key"):
        await store.txn([], [Put(p + b"k", b"1"), Put(p + b"k", b"2")])
    with pytest.raises(errors.LeaseNotFound):
        await store.txn([], [Put(p + b"k", b"1", lease=424242)])
    with pytest.raises(errors.InvalidRequest, match="not a transaction operation"):
        await store.txn([], ["put k"])  # type: ignore[list-item]
    with pytest.raises(errors.InvalidRequest, match="prefix=True or a range_end"):
        await store.range(p, p + b"z", prefix=True)
    with pytest.raises(errors.InvalidRequest, match="key must be bytes"):
        await store.get("k")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidRequest, match="http"):
        EtcdStore(["ftp://127.0.0.1:2379"])


# -- watches --------------------------------------------------------------------------------


async def test_watch_is_ordered_exactly_once_with_txn_events_together(
    store: EtcdStore, p: bytes
) -> None:
    async with store.watch(p, prefix=True) as stream:
        revisions = [(await store.put(p + b"%d" % (i % 3), b"%d" % i)).revision for i in range(20)]
        txn = await store.txn([], [Put(p + b"t1", b"a"), Put(p + b"t2", b"b")])
        deleted = await store.delete(p, prefix=True)
        responses: list[t.WatchResponse] = []
        with anyio.fail_after(5):
            async for response in stream.responses():
                responses.append(response)
                if response.revision == deleted.revision:
                    break
    events = [event for response in responses for event in response.events]
    assert [e.revision for e in events[:20]] == revisions
    together = [r for r in responses if r.revision == txn.revision]
    assert [e.kv.key for e in together[0].events] == [p + b"t1", p + b"t2"]
    deletes = [e for e in events if e.type is t.EventType.DELETE]
    assert len(deletes) == 5 and {e.revision for e in deletes} == {deleted.revision}
    assert len(events) == 20 + 2 + 5
    assert stream.revision == deleted.revision


async def test_watch_from_a_past_revision_with_prev_kv(store: EtcdStore, p: bytes) -> None:
    first = await store.put(p + b"k", b"1")
    await store.put(p + b"k", b"2")
    await store.delete(p + b"k")
    async with store.watch(p + b"k", start_revision=first.revision, prev_kv=True) as stream:
        put1, put2, gone = await _take(stream, 3)
    assert (put1.kv.value, put1.prev_kv) == (b"1", None)
    assert put2.prev_kv is not None and put2.prev_kv.value == b"1"
    assert gone.type is t.EventType.DELETE and gone.kv.version == 0
    assert gone.prev_kv is not None and gone.prev_kv.value == b"2"


async def test_watch_progress_notifications(store: EtcdStore, p: bytes) -> None:
    async with store.watch(p, prefix=True, progress_notify=True) as stream:
        current = await store.current_revision()
        with anyio.fail_after(5):
            async for response in stream.responses():
                assert response.is_progress_notify and response.revision >= current
                break
    async with store.watch(p, prefix=True) as stream:
        await store.put(b"/elsewhere/" + p, b"moves the revision, not this watch")
        current = await store.current_revision()
        await stream.request_progress()
        with anyio.fail_after(5):
            async for response in stream.responses():
                assert response.is_progress_notify and response.revision >= current
                break
        assert stream.revision >= current


async def test_compaction_makes_reads_and_watches_fail(store: EtcdStore, p: bytes) -> None:
    old = await store.put(p + b"k", b"old")
    new = await store.put(p + b"k", b"new")
    await store.compact(new.revision)
    assert await store.compact_revision() == new.revision
    with pytest.raises(errors.Compacted) as caught:
        await store.get(p + b"k", revision=old.revision)
    assert (caught.value.requested, caught.value.compact_revision) == (old.revision, new.revision)
    with pytest.raises(errors.Compacted) as caught:
        async with store.watch(p + b"k", start_revision=old.revision):
            pass
    assert caught.value.compact_revision == new.revision
    kv = await store.get(p + b"k", revision=new.revision)
    assert kv is not None and kv.value == b"new"
    with pytest.raises(errors.Compacted):
        await store.compact(old.revision)
    with pytest.raises(errors.FutureRevision) as future:
        await store.get(p + b"k", revision=new.revision + 1000)
    assert future.value.current == await store.current_revision()
    # another client's view: found by probing, not from its own compact() call
    async with EtcdStore(store.endpoints.members[0].url) as other:
        assert await other.compact_revision() == new.revision


# -- leases ---------------------------------------------------------------------------------


async def test_leases_keepalive_time_to_live_and_revoke(store: EtcdStore, p: bytes) -> None:
    lease = await store.grant_lease(30)
    assert lease.ttl == 30 and lease.id in await store.leases()
    await store.put(p + b"a", b"1", lease=lease.id)
    await store.put(p + b"b", b"2", lease=lease.id)
    assert await store.keepalive(lease.id) == 30
    status = await store.time_to_live(lease.id, keys=True)
    assert status.granted_ttl == 30 and 0 < status.ttl <= 30
    assert status.keys == (p + b"a", p + b"b")
    async with store.watch(p, prefix=True) as stream:
        await store.revoke(lease.id)
        gone = await _take(stream, 2)
    assert {(e.type, e.kv.key) for e in gone} == {
        (t.EventType.DELETE, p + b"a"),
        (t.EventType.DELETE, p + b"b"),
    }
    assert len({e.revision for e in gone}) == 1
    assert (await store.range(p, prefix=True)).count == 0
    assert (await store.time_to_live(lease.id)).ttl == -1
    with pytest.raises(errors.LeaseNotFound) as missing:
        await store.keepalive(lease.id)
    assert missing.value.lease_id == lease.id
    with pytest.raises(errors.LeaseNotFound):
        await store.revoke(lease.id)
    with pytest.raises(errors.LeaseNotFound):
        await store.put(p + b"c", b"3", lease=lease.id)
    with pytest.raises(errors.InvalidRequest):
        await store.grant_lease(0)
    chosen = await store.grant_lease(30, id=lease.id + 1)
    with pytest.raises(errors.InvalidRequest, match="exists"):
        await store.grant_lease(30, id=chosen.id)
    await store.revoke(chosen.id)


async def test_lease_expiry_deletes_keys_with_delete_events(store: EtcdStore, p: bytes) -> None:
    lease = await store.grant_lease(1)  # etcd raises it to its minimum TTL (2 s)
    await store.put(p + b"k", b"v", lease=lease.id)
    async with store.watch(p, prefix=True, prev_kv=True) as stream:
        (event,) = await _take(stream, 1, seconds=10)
    assert event.type is t.EventType.DELETE and event.prev_kv is not None
    assert await store.get(p + b"k") is None


# -- snapshot, failover, errors -------------------------------------------------------------


async def test_snapshot_restore_into_a_new_data_dir(
    store: EtcdStore, p: bytes, tmp_path: os.PathLike[str]
) -> None:
    written = await store.put(p + b"k", b"saved")
    snapshot = os.path.join(tmp_path, "etcd.snapshot")
    await store.snapshot(snapshot)
    data_dir = os.path.join(tmp_path, "restored.etcd")
    assert await EtcdStore.restore(snapshot, data_dir, name="restored") == data_dir
    with pytest.raises(errors.InvalidRequest, match="exists"):
        await EtcdStore.restore(snapshot, data_dir)
    async with (
        EtcdServer(data_dir=data_dir, name="restored") as restored,
        EtcdStore([restored.endpoint]) as copy,
    ):
        kv = await copy.get(p + b"k")
        assert kv is not None and (kv.value, kv.mod_revision) == (b"saved", written.revision)
        assert await copy.current_revision() >= written.revision


async def test_failover_to_the_next_endpoint(etcd: EtcdServer, p: bytes) -> None:
    async with EtcdStore([_free_url(), etcd.endpoint], timeout=2) as s:
        await s.put(p + b"k", b"v")
        assert (await s.get(p + b"k")) is not None
        async with s.watch(p, prefix=True) as stream:
            await s.put(p + b"k", b"w")
            (event,) = await _take(stream, 1)
        assert event.kv.value == b"w"


async def test_unreachable_endpoint_is_a_clear_error() -> None:
    url = _free_url()
    async with EtcdStore([url], timeout=1) as s:
        with pytest.raises(errors.StoreUnavailable, match=url):
            await s.get(b"/k")
        with pytest.raises(errors.StoreUnavailable, match=url):
            await s.put(b"/k", b"v")
        with pytest.raises(errors.StoreUnavailable, match=url):
            async with s.watch(b"/k"):
                pass


async def test_close_ends_watches_and_calls(etcd: EtcdServer, p: bytes) -> None:
    s = EtcdStore([etcd.endpoint])
    async with s.watch(p, prefix=True) as stream:
        await s.close()
        with pytest.raises(errors.StoreClosed):
            await _take(stream, 1)
    with pytest.raises(errors.StoreClosed):
        await s.get(p)


# -- the HTTP/1.1 layer, against a scripted gateway -------------------------------------------

_PUT_ANSWER = b'{"header":{"revision":"7"}}'


@contextlib.asynccontextmanager
async def _scripted_gateway(
    answers: list[bytes | list[tuple[bytes, bytes]]],
) -> AsyncIterator[tuple[str, list[int]]]:
    """A fake member answering request i with ``answers[i]``: extra headers for a 200 with
    _PUT_ANSWER (framed by h11), or raw bytes sent as they are before hanging up. Yields its
    URL and, per request served, the number of the connection it came on."""
    served: list[int] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    connections = 0

    async def serve(stream: anyio.abc.SocketStream) -> None:
        nonlocal connections
        number, connections = connections, connections + 1
        server = h11.Connection(h11.SERVER)
        async with stream:
            while answers:
                event = server.next_event()
                if event is h11.NEED_DATA:
                    try:
                        server.receive_data(await stream.receive())
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                    continue
                if not isinstance(event, h11.EndOfMessage):
                    continue
                served.append(number)
                answer = answers.pop(0)
                if isinstance(answer, bytes):
                    await stream.send(answer)
                    return
                length = (b"Content-Length", b"%d" % len(_PUT_ANSWER))
                response = h11.Response(status_code=200, headers=[*answer, length])
                for part in (response, h11.Data(data=_PUT_ANSWER), h11.EndOfMessage()):
                    await stream.send(server.send(part) or b"")
                if server.our_state is not h11.DONE:  # "Connection: close"
                    return
                server.start_next_cycle()

    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}", served
        tasks.cancel_scope.cancel()


async def test_keep_alive_reuses_a_connection_until_the_member_closes_it() -> None:
    answers: list[bytes | list[tuple[bytes, bytes]]] = [[], [(b"Connection", b"close")], [], []]
    async with _scripted_gateway(answers) as (url, served), EtcdStore([url], timeout=2) as s:
        for _ in range(4):
            assert (await s.put(b"/k", b"v")).revision == 7
    assert served == [0, 0, 1, 1]


async def test_a_member_speaking_bad_http_is_store_unavailable() -> None:
    answers: list[bytes | list[tuple[bytes, bytes]]] = [b"SPDY/9 200 OK\r\n\r\n", b"\x16\x03\x01"]
    async with _scripted_gateway(answers) as (url, _), EtcdStore([url], timeout=2) as s:
        with pytest.raises(errors.StoreUnavailable, match=url):
            await s.get(b"/k")
        with pytest.raises(errors.StoreUnavailable, match=url):
            await s.current_revision()


async def test_a_write_cut_off_mid_answer_is_reported_as_maybe_applied() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + _PUT_ANSWER[:10]
    async with _scripted_gateway([cut]) as (url, _), EtcdStore([url], timeout=2) as s:
        with pytest.raises(errors.StoreUnavailable, match="may or may not have been applied"):
            await s.put(b"/k", b"v")


class _InstantClock:
    """Records backoff sleeps instead of waiting."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return 0.0

    def time(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await anyio.lowlevel.checkpoint()

    async def sleep_until(self, deadline: float) -> None:
        await self.sleep(deadline)


async def test_watch_gives_up_with_watch_cancelled_when_etcd_is_gone(p: bytes) -> None:
    _require_etcd()
    clock = _InstantClock()
    async with (
        EtcdServer() as server,
        EtcdStore([server.endpoint], clock=clock, timeout=1) as s,
        s.watch(p, prefix=True) as stream,
    ):
        last = await s.put(p + b"k", b"v")
        await _take(stream, 1)
        server.kill()
        with pytest.raises(errors.WatchCancelled) as caught:
            await _take(stream, 1)
    assert caught.value.revision == last.revision + 1
    assert clock.sleeps and clock.sleeps == sorted(clock.sleeps)  # backoff grows


async def test_cluster_member_killed_requests_and_watch_fail_over(p: bytes) -> None:
    _require_etcd()
    async with EtcdCluster(3) as cluster:
        follower = (cluster.leader() + 1) % 3
        others = [url for i, url in enumerate(cluster.endpoints) if i != follower]
        endpoints = [cluster.endpoints[follower], *others]
        async with EtcdStore(endpoints, timeout=2) as s, s.watch(p, prefix=True) as stream:
            before = [(await s.put(p + b"%d" % i, b"x")).revision for i in range(5)]
            assert [e.revision for e in await _take(stream, 5)] == before
            assert s.endpoints.active == 0
            cluster.kill_member(follower)  # kill -9 the member the store and the watch use
            after = [(await s.put(p + b"%d" % i, b"y")).revision for i in range(5)]
            assert s.endpoints.active != 0
            resumed = await _take(stream, 5, seconds=10)
            assert [e.revision for e in resumed] == after  # nothing lost, nothing twice
            kv = await s.get(p + b"0", revision=before[0])
            assert kv is not None and kv.value == b"x"


# -- the shared conformance suite -----------------------------------------------------------


class TestEtcdStoreConformance(StoreConformance):
    fake_clock = False  # etcd's leases run on its own (real) clock

    @pytest.fixture
    def clock(self) -> clock_module.Clock:
        return clock_module.SystemClock()

    @pytest.fixture
    async def store(self, etcd: EtcdServer) -> AsyncIterator[t.Store]:
        async with EtcdStore([etcd.endpoint]) as s:
            yield s
