"""EtcdStore: the Store contract over a real etcd (3.4+) through its gRPC-JSON gateway.

Every call is one ``POST /v3/...`` on a pool of keep-alive HTTP/1.1 connections framed by
h11 (at most ``max_connections``; see :mod:`korch.store._etcd_wire` for why not httpx),
encoded with the stdlib :mod:`json`; watches use their own full-duplex connections (see
:mod:`korch.store._etcd_watch`). etcd already has exactly the contract's semantics, so this
module only translates:

* requests and responses through :mod:`korch.store._etcd_wire` (base64 bytes, int64 as
  strings, omitted zero values);
* errors: "required revision has been compacted" → :class:`~korch.errors.Compacted`, "… is
  a future revision" → :class:`~korch.errors.FutureRevision`, "requested lease not found" →
  :class:`~korch.errors.LeaseNotFound`, other refusals (duplicate key in a txn, too large
  TTL, lease exists…) → :class:`~korch.errors.InvalidRequest`, unreachable members and
  5xx → :class:`~korch.errors.StoreUnavailable`.

Failover: a request goes to the member that answered last; if it cannot be reached it goes
to the next one. Reads are also retried elsewhere after a broken connection or a 5xx;
writes only when they certainly did not reach etcd (connection refused, "no leader"), so a
write is never applied twice.

The compact revision: etcd 3.4 does not report it, except to a watch that starts below it.
:meth:`EtcdStore.compact_revision` keeps the highest one it has seen (from its own
:meth:`~EtcdStore.compact` calls and from watches) as a lower bound, checks it with a
count-only read at that revision, and if another client compacted further, finds the exact
revision by binary search over count-only reads (reads below it fail, reads at it succeed):
two requests usually, ``log2(revision)`` at worst. ``Compacted`` errors carry it.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import anyio

from korch import clock as clock_module
from korch import errors
from korch.store import _etcd_watch
from korch.store import _etcd_wire as wire
from korch.store import _types as t

__all__ = ("EtcdStore",)

_RANGE, _PUT, _DELETE, _TXN = "/v3/kv/range", "/v3/kv/put", "/v3/kv/deleterange", "/v3/kv/txn"
_PROBE_KEY = wire.b64(b"\x00")


class EtcdStore:
    """A :class:`korch.store.Store` backed by an etcd cluster (3.4 or newer).

    Args:
        endpoints: client URLs of the members (``http://`` or ``https://``); requests fail
            over between them.
        timeout: seconds for each request (connect, send, answer), and for opening a watch.
        clock: the clock for watch reconnection backoff.
        tls: the SSL context for ``https://`` endpoints (client certificates, CA);
            default: the system's trust store.
        max_connections: size of the HTTP connection pool (watches use their own sockets).

    Raises:
        korch.errors.InvalidRequest: no endpoints, or one that is not an http(s) URL.
    """

    def __init__(
        self,
        endpoints: Sequence[str] = ("http://127.0.0.1:2379",),
        *,
        timeout: float = 5.0,
        clock: clock_module.Clock | None = None,
        tls: ssl.SSLContext | None = None,
        max_connections: int = 100,
    ) -> None:
        self._endpoints = wire.Endpoints(endpoints, tls=tls, timeout=timeout)
        self._clock: clock_module.Clock = clock or clock_module.SystemClock()
        self._pool = wire.Pool(self._endpoints, max_connections)
        self._closed = False
        self._compact_hint = 0
        self._watches: set[_etcd_watch.EtcdWatch] = set()

    def __repr__(self) -> str:
        return f"EtcdStore({self._endpoints!r})"

    async def __aenter__(self) -> EtcdStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections; open watches end with StoreClosed. Idempotent."""
        self._closed = True
        for watch in list(self._watches):
            await watch.store_closed()
        await self._pool.aclose()

    # -- transport -----------------------------------------------------------------------

    async def _call(self, path: str, request: dict[str, Any], *, read: bool) -> dict[str, Any]:
        """POST ``request`` to the first member that answers; the decoded response.

        Raises wire.EtcdError for an etcd refusal, StoreUnavailable when no member answers.
        """
        if self._closed:
            raise errors.StoreClosed("the store is closed")
        body = json.dumps(request, separators=(",", ":")).encode()
        endpoints = self._endpoints
        problems: list[str] = []
        cause: BaseException | None = None
        for index, member in endpoints.in_order():
            try:
                status, raw = await self._pool.request(index, path, body, read=read)
            except wire.Broken as exc:
                if self._closed:
                    raise errors.StoreClosed("the store is closed") from exc
                if exc.sent and not read:
                    # the write may have been applied: retrying it could apply it twice
                    raise errors.StoreUnavailable(
                        f"etcd at {member.url} broke off a write, which may or may not have "
                        f"been applied: {exc}"
                    ) from exc
                problems.append(str(exc))
                cause = exc
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if status == 200 and isinstance(data, dict):
                endpoints.active = index
                result = data.get("result", data)  # streaming endpoints wrap in "result"
                if isinstance(data.get("error"), dict):  # an error inside a stream
                    raise wire.EtcdError(503, wire.error_message(data))
                return result if isinstance(result, dict) else data
            message = wire.error_message(data) or raw[:200].decode("utf-8", "replace")
            message = message or f"HTTP {status}"
            if status >= 500 and (read or "no leader" in message):
                problems.append(f"{member.url}: {message}")
                continue
            raise wire.EtcdError(status, message)
        raise errors.StoreUnavailable(
            f"no etcd endpoint answered ({endpoints!r}): " + "; ".join(problems)
        ) from cause

    async def _translate(
        self, exc: wire.EtcdError, *, revision: int = 0, lease: int = 0
    ) -> errors.StoreError:
        if exc.compacted:
            return errors.Compacted(revision, await self.compact_revision())
        if exc.future_revision:
            return errors.FutureRevision(revision, await self.current_revision())
        if exc.lease_not_found:
            return errors.LeaseNotFound(lease)
        return exc.plain()

    # -- reads ---------------------------------------------------------------------------

    async def get(self, key: bytes, *, revision: int = 0) -> t.KeyValue | None:
        """The version of ``key`` at ``revision`` (0: now), or None.

        Raises:
            korch.errors.Compacted / FutureRevision: ``revision`` is not kept / not reached.
        """
        result = await self.range(key, revision=revision)
        return result.kvs[0] if result.kvs else None

    async def range(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        limit: int = 0,
        revision: int = 0,
        count_only: bool = False,
        keys_only: bool = False,
    ) -> t.RangeResult:
        """Keys in ``[key, range_end)`` (or under ``prefix``, or ``key`` alone), in key order.

        ``limit`` caps ``kvs`` (``more`` tells if it cut), ``count`` counts every match,
        ``revision`` reads the past; the result's ``revision`` is the store's current one.

        Raises:
            korch.errors.Compacted / FutureRevision: ``revision`` is not kept / not reached.
            korch.errors.InvalidRequest: a malformed request.
        """
        start, end = wire.key_range(key, range_end, prefix)
        wire.check_int("limit", limit)
        wire.check_int("revision", revision)
        request = wire.range_request(start, end, limit, revision, count_only, keys_only)
        try:
            raw = await self._call(_RANGE, request, read=True)
        except wire.EtcdError as exc:
            raise await self._translate(exc, revision=revision) from exc
        return wire.range_result(raw, wire.revision_of(raw))

    async def current_revision(self) -> int:
        """The store's current revision."""
        try:
            raw = await self._call(_RANGE, {"key": _PROBE_KEY, "count_only": True}, read=True)
        except wire.EtcdError as exc:
            raise exc.plain() from exc
        return wire.revision_of(raw)

    async def _readable(self, revision: int) -> bool:
        request = {"key": _PROBE_KEY, "count_only": True, "revision": revision}
        try:
            await self._call(_RANGE, request, read=True)
        except wire.EtcdError as exc:
            if exc.compacted:
                return False
            if exc.future_revision:
                return True
            raise exc.plain() from exc
        return True

    async def compact_revision(self) -> int:
        """The oldest revision still readable (0: never compacted); see the module docstring."""
        hint = self._compact_hint
        low = max(hint, 1)
        if not await self._readable(low):
            high = await self.current_revision()
            low += 1
            while low < high:
                middle = (low + high) // 2
                if await self._readable(middle):
                    high = middle
                else:
                    low = middle + 1
        if low == 1 and hint == 0:
            return 0
        self.note_compact_revision(low)
        return low

    # -- writes --------------------------------------------------------------------------

    async def put(
        self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False
    ) -> t.PutResult:
        """Set ``key`` to ``value`` at a new revision, attached to ``lease`` if non-zero.

        Raises:
            korch.errors.LeaseNotFound: ``lease`` does not exist.
        """
        wire.key_range(key, None, False)
        if not isinstance(value, bytes):
            raise errors.InvalidRequest(f"value must be bytes, got {type(value).__name__}")
        request: dict[str, Any] = {"key": wire.b64(key), "value": wire.b64(value)}
        if lease:
            request["lease"] = wire.check_int("lease", lease)
        if prev_kv:
            request["prev_kv"] = True
        try:
            raw = await self._call(_PUT, request, read=False)
        except wire.EtcdError as exc:
            raise await self._translate(exc, lease=lease) from exc
        prev = raw.get("prev_kv")
        return t.PutResult(wire.revision_of(raw), wire.decode_kv(prev) if prev else None)

    async def delete(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        prev_kv: bool = False,
    ) -> t.DeleteResult:
        """Delete ``key`` (or a range / prefix) at one revision; nothing deleted, no revision."""
        start, end = wire.key_range(key, range_end, prefix)
        request: dict[str, Any] = {"key": wire.b64(start)}
        if end is not None:
            request["range_end"] = wire.b64(end)
        if prev_kv:
            request["prev_kv"] = True
        try:
            raw = await self._call(_DELETE, request, read=False)
        except wire.EtcdError as exc:
            raise await self._translate(exc) from exc
        return t.DeleteResult(
            wire.revision_of(raw), int(raw.get("deleted", 0)), wire.decode_kvs(raw.get("prev_kvs"))
        )

    async def txn(
        self,
        compare: Sequence[t.CompareResult] = (),
        success: Sequence[t.Op] = (),
        failure: Sequence[t.Op] = (),
    ) -> t.TxnResult:
        """If every ``compare`` holds apply ``success``, else ``failure``, at one revision.

        Raises:
            korch.errors.InvalidRequest: a key written twice, or something not an op.
            korch.errors.LeaseNotFound: a Put names a lease that does not exist.
        """
        request = {
            "compare": [wire.encode_compare(c) for c in compare],
            "success": [wire.encode_op(op) for op in success],
            "failure": [wire.encode_op(op) for op in failure],
        }
        read_only = all(isinstance(op, t.Get) for op in (*success, *failure))
        try:
            raw = await self._call(_TXN, request, read=read_only)
        except wire.EtcdError as exc:
            leases = (op.lease for op in (*success, *failure) if isinstance(op, t.Put) and op.lease)
            raise await self._translate(exc, lease=next(leases, 0)) from exc
        revision = wire.revision_of(raw)
        responses: list[t.PutResult | t.DeleteResult | t.RangeResult] = []
        for item in raw.get("responses", ()):
            if "response_put" in item:
                put = item["response_put"]
                prev = put.get("prev_kv")
                responses.append(t.PutResult(revision, wire.decode_kv(prev) if prev else None))
            elif "response_delete_range" in item:
                deleted = item["response_delete_range"]
                responses.append(
                    t.DeleteResult(
                        revision,
                        int(deleted.get("deleted", 0)),
                        wire.decode_kvs(deleted.get("prev_kvs")),
                    )
                )
            else:
                responses.append(wire.range_result(item.get("response_range", {}), revision))
        return t.TxnResult(bool(raw.get("succeeded")), revision, tuple(responses))

    # -- watch ---------------------------------------------------------------------------

    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> _etcd_watch.EtcdWatch:
        """Watch ``key`` (or a range / prefix) from ``start_revision`` (inclusive; 0 = now).

        Use as ``async with store.watch(...) as stream``; see :mod:`korch.store._etcd_watch`
        for reconnection and progress notifications.

        Raises (on entering):
            korch.errors.Compacted: ``start_revision`` is below the compaction point.
            korch.errors.StoreUnavailable: no member could be reached.
        """
        start, end = wire.key_range(key, range_end, prefix)
        wire.check_int("start_revision", start_revision)
        return _etcd_watch.EtcdWatch(
            self,
            start,
            end,
            start_revision=start_revision,
            prev_kv=prev_kv,
            progress_notify=progress_notify,
        )

    # WatchHost, for the watches
    @property
    def endpoints(self) -> wire.Endpoints:
        return self._endpoints

    @property
    def clock(self) -> clock_module.Clock:
        return self._clock

    @property
    def closed(self) -> bool:
        return self._closed

    def note_compact_revision(self, revision: int) -> None:
        self._compact_hint = max(self._compact_hint, revision)

    async def check_watch_start(self, key: bytes, revision: int) -> None:
        """Raise Compacted now, rather than on the first read, for a compacted start."""
        request = {"key": wire.b64(key), "count_only": True, "revision": revision}
        try:
            await self._call(_RANGE, request, read=True)
        except wire.EtcdError as exc:
            if not exc.future_revision:  # a watch may start in the future
                raise await self._translate(exc, revision=revision) from exc

    def watch_opened(self, watch: _etcd_watch.EtcdWatch) -> None:
        self._watches.add(watch)

    def watch_closed(self, watch: _etcd_watch.EtcdWatch) -> None:
        self._watches.discard(watch)

    # -- leases --------------------------------------------------------------------------

    async def grant_lease(self, ttl: int, *, id: int = 0) -> t.Lease:
        """A new lease of ``ttl`` seconds (etcd raises it to its minimum, about 2 s).

        Raises:
            korch.errors.InvalidRequest: ttl < 1, too large, or ``id`` already in use.
        """
        wire.check_int("ttl", ttl, minimum=1)
        request = {"TTL": ttl, "ID": wire.check_int("id", id)}
        try:
            raw = await self._call("/v3/lease/grant", request, read=False)
        except wire.EtcdError as exc:
            raise await self._translate(exc, lease=id) from exc
        if raw.get("error"):
            raise errors.InvalidRequest(f"etcd: {raw['error']}")
        return t.Lease(int(raw["ID"]), int(raw.get("TTL", ttl)))

    async def keepalive(self, lease_id: int) -> int:
        """Renew the lease; returns its TTL. Raises LeaseNotFound if it is gone."""
        request = {"ID": wire.check_int("lease_id", lease_id)}
        try:
            raw = await self._call("/v3/lease/keepalive", request, read=True)
        except wire.EtcdError as exc:
            raise await self._translate(exc, lease=lease_id) from exc
        ttl = int(raw.get("TTL", 0))
        if ttl <= 0:
            raise errors.LeaseNotFound(lease_id)
        return ttl

    async def revoke(self, lease_id: int) -> None:
        """End the lease now, deleting its keys (one revision, DELETE events)."""
        request = {"ID": wire.check_int("lease_id", lease_id)}
        try:
            await self._call("/v3/lease/revoke", request, read=False)
        except wire.EtcdError as exc:
            raise await self._translate(exc, lease=lease_id) from exc

    async def time_to_live(self, lease_id: int, *, keys: bool = False) -> t.LeaseStatus:
        """Remaining TTL in seconds (-1 when the lease is gone) and, with ``keys``, its keys."""
        request = {"ID": wire.check_int("lease_id", lease_id), "keys": bool(keys)}
        try:
            raw = await self._call("/v3/lease/timetolive", request, read=True)
        except wire.EtcdError as exc:
            raise await self._translate(exc, lease=lease_id) from exc
        ttl = int(raw.get("TTL", 0))
        if ttl < 0:
            return t.LeaseStatus(lease_id, -1, 0)
        attached = tuple(sorted(wire.unb64(k) for k in raw.get("keys", ())))
        return t.LeaseStatus(lease_id, ttl, int(raw.get("grantedTTL", 0)), attached)

    async def leases(self) -> tuple[int, ...]:
        """The IDs of every live lease, sorted."""
        try:
            raw = await self._call("/v3/lease/leases", {}, read=True)
        except wire.EtcdError as exc:
            raise exc.plain() from exc
        return tuple(sorted(int(lease["ID"]) for lease in raw.get("leases", ())))

    # -- maintenance ---------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Forget history before ``revision``: reads and watches below it raise Compacted.

        Raises:
            korch.errors.Compacted: ``revision`` is not above the current compaction point.
            korch.errors.FutureRevision: ``revision`` is above the current revision.
        """
        wire.check_int("revision", revision, minimum=1)
        try:
            await self._call("/v3/kv/compaction", {"revision": revision}, read=False)
        except wire.EtcdError as exc:
            raise await self._translate(exc, revision=revision) from exc
        self.note_compact_revision(revision)

    async def status(self) -> dict[str, Any]:
        """The answering member's ``/v3/maintenance/status`` (version, dbSize, leader…)."""
        try:
            return await self._call("/v3/maintenance/status", {}, read=True)
        except wire.EtcdError as exc:
            raise exc.plain() from exc

    async def snapshot(self, path: str) -> None:
        """Write etcd's native snapshot (``etcdctl snapshot save`` format) to ``path``.

        The file appears only when complete (written beside it, then renamed).

        Raises:
            korch.errors.StoreUnavailable: etcd could not be reached or broke off.
        """
        if self._closed:
            raise errors.StoreClosed("the store is closed")
        partial = anyio.Path(f"{path}.partial")
        problems = []
        for _, member in self._endpoints.in_order():
            try:
                conn = await wire.Connection.connect(member, self._endpoints)
            except wire.Broken as exc:
                problems.append(str(exc))
                continue
            try:
                try:
                    out = await anyio.open_file(partial, "wb")
                except OSError as exc:
                    raise errors.StoreError(f"cannot write the snapshot {path!r}: {exc}") from exc
                async with out:
                    await _etcd_watch.stream_snapshot(conn, out, self._endpoints.timeout)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await partial.unlink(missing_ok=True)
                if isinstance(exc, wire.BROKEN) and not isinstance(exc, errors.KorchError):
                    raise errors.StoreUnavailable(
                        f"snapshot from {member.url} failed: {exc!r}"
                    ) from exc
                raise
            finally:
                await conn.aclose()
            await partial.replace(path)
            return
        raise errors.StoreUnavailable("no etcd endpoint answered: " + "; ".join(problems))

    @staticmethod
    async def restore(
        snapshot_path: str,
        data_dir: str,
        *,
        name: str = "default",
        initial_advertise_peer_urls: str = "http://localhost:2380",
        initial_cluster: str | None = None,
        initial_cluster_token: str = "etcd-cluster",
        tool: str | None = None,
    ) -> str:
        """Restore an etcd snapshot into a new data directory; returns ``data_dir``.

        Runs ``etcdutl snapshot restore`` (etcd ≥ 3.5) or ``etcdctl snapshot restore``
        (3.4). Nothing is started: then run ``etcd --name NAME --data-dir DATA_DIR …`` on the
        restored directory (with a new member, ``name`` and the peer URLs must match what is
        given here; ``initial_cluster`` defaults to ``NAME=PEER_URL``).

        Raises:
            korch.errors.InvalidRequest: the snapshot is missing or ``data_dir`` exists.
            korch.errors.StoreError: the tool is missing or failed (its message included).
        """
        if not await anyio.Path(snapshot_path).is_file():
            raise errors.InvalidRequest(f"no snapshot file at {snapshot_path!r}")
        if await anyio.Path(data_dir).exists():
            raise errors.InvalidRequest(f"the data directory {data_dir!r} already exists")
        program = tool or shutil.which("etcdutl") or shutil.which("etcdctl")
        if program is None:
            raise errors.StoreError(
                "restoring an etcd snapshot needs etcdutl or etcdctl: "
                "apt-get install -y etcd-client"
            )
        command = [
            program,
            "snapshot",
            "restore",
            snapshot_path,
            "--data-dir",
            data_dir,
            "--name",
            name,
            "--initial-cluster",
            initial_cluster or f"{name}={initial_advertise_peer_urls}",
            "--initial-cluster-token",
            initial_cluster_token,
            "--initial-advertise-peer-urls",
            initial_advertise_peer_urls,
        ]
        env = {**os.environ, "ETCDCTL_API": "3"}
        result = await anyio.run_process(command, check=False, env=env)
        if result.returncode != 0:
            output = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
            raise errors.StoreError(f"{' '.join(command)} failed: {output[-2000:]}")
        return data_dir
