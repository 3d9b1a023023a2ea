"""The API server's shared state and the primitives every verb is built from.

:class:`ServerCore` holds the store, registry, clock, admission chain, authorizer,
strategies and watch caches, and offers the few operations the verbs compose:

* resolving a request's kind to a :class:`korch.api.ResourceType`;
* reading one object at the current revision (:meth:`ServerCore.read`), decoding each
  version once (a version the watch cache or a recent write already decoded is reused);
* the three guarded writes, each one store transaction whose compare is the optimistic
  concurrency check: :meth:`ServerCore.put_new` (``version == 0``, else AlreadyExists),
  :meth:`ServerCore.put_over` (``mod_revision == rv``) and :meth:`ServerCore.remove`
  (``mod_revision == rv``); the latter two return ``None`` when the compare fails, so the
  verb decides between Conflict (the client sent a resourceVersion) and retrying;
* :meth:`ServerCore.finish`: the wire form of an object about to be stored, with
  ``managedFields`` maintained (``update_managed_fields``) unless server-side apply already
  computed them.

A write's result equals what a later read decodes from the stored bytes (timestamps
truncated to seconds as the codec stores them), and is offered to the type's watch cache.
It is not decoded again: :meth:`ServerCore.finish` returns a ``_Wire`` (the wire dict that
remembers the typed object it came from), and the result is that object with its
``resourceVersion`` and ``managedFields`` set (:func:`korch.apiserver._objects.stored_from_object`;
the codec round-trips every object the server writes, which
tests/apiserver/test_write_results.py checks over every kind of the fixture corpus).
"""

from __future__ import annotations

import datetime
import logging
import random
import uuid
from typing import Any, Final

import anyio
import anyio.abc

from korch import clock as clock_module
from korch import errors
from korch.api import _codec, _generic, _managed_fields, _registry
from korch.apiserver import _admission, _cache, _keys, _objects, _status, _strategy, _types
from korch.store import _types as store_types

__all__ = ("DEFAULT_FIELD_MANAGER", "ServerCore")

log = logging.getLogger("korch.apiserver")

DEFAULT_FIELD_MANAGER: Final = "korch"
_NAME_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_MAX_GENERATED_PREFIX: Final = 58
_EPOCH: Final = datetime.datetime.fromtimestamp(0, datetime.UTC)


class _Wire(dict[str, Any]):
    """The wire form :meth:`ServerCore.finish` made, remembering the typed object it came
    from, so the write's result is built from that object instead of decoded again."""

    __slots__ = ("fresh", "obj")

    obj: Any
    fresh: bool  # managedFields computed by finish itself (their fieldsV1 dicts are new)


class ServerCore:
    """State and primitives shared by the verb mixins of :class:`APIServer`."""

    def __init__(
        self,
        store: store_types.Store,
        *,
        clock: clock_module.Clock | None = None,
        registry: _registry.Registry | None = None,
        admission: Any = (),
        authorizer: _admission.Authorizer | None = None,
        rng: random.Random | None = None,
        watch_cache_size: int = 10_000,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.store = store
        self.clock: clock_module.Clock = clock or clock_module.SystemClock()
        self.registry = registry if registry is not None else _registry.default_registry().copy()
        self.admission = _admission.AdmissionChain(admission)
        self.authorizer = authorizer
        self._rng = rng or random.Random()
        self._seeded = rng is not None
        self._strategies: dict[tuple[str, str], _strategy.Strategy] = {}
        self._caches: dict[bytes, _cache.TypeCache] = {}
        self._cache_size = watch_cache_size
        self._bookmark_interval = bookmark_interval
        self._task_group: anyio.abc.TaskGroup | None = None
        self._namespace_memo: dict[str, tuple[int, bool]] = {}
        self._bootstrapped = False
        self._bootstrap_lock = anyio.Lock()
        self._last_now: tuple[int, datetime.datetime, str] = (-1, _EPOCH, "")

    # -- kinds -----------------------------------------------------------------------

    def resource_type(self, kind: _types.KindRef) -> _registry.ResourceType:
        """The resource type a request names (a ResourceType, a kind class or a pair).

        Raises:
            korch.errors.NotFound: the kind is not served (``no matches for kind …``).
            korch.errors.BadRequest: ``kind`` is none of the accepted forms.
        """
        if isinstance(kind, _registry.ResourceType):
            return kind
        if isinstance(kind, tuple):
            if len(kind) != 2 or not all(isinstance(part, str) for part in kind):
                raise errors.BadRequest(f"a kind must be (apiVersion, kind), got {kind!r}")
            return self.registry.lookup(kind[0], kind[1])
        if isinstance(kind, type):
            if kind is _generic.GenericResource:
                raise errors.BadRequest(
                    "GenericResource names no kind: pass (apiVersion, kind) instead"
                )
            rt = self.registry.for_class(kind)
            if rt is None:
                raise errors.NotFound(f"no resource type is registered for {kind.__qualname__}")
            return rt
        raise errors.BadRequest(f"cannot tell the kind of {kind!r}")

    def resource_type_of(self, obj: Any) -> _registry.ResourceType:
        """The resource type of an object, by its apiVersion and kind.

        Raises:
            korch.errors.BadRequest: ``obj`` is not an API object.
            korch.errors.NotFound: its kind is not served.
        """
        api_version, kind = getattr(obj, "api_version", None), getattr(obj, "kind", None)
        if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
            raise errors.BadRequest(f"not an API object (no apiVersion/kind): {obj!r}")
        return self.registry.lookup(api_version, kind)

    def strategy(self, rt: _registry.ResourceType) -> _strategy.Strategy:
        """The rules the server applies to ``rt`` (see :mod:`korch.apiserver._strategy`)."""
        return _strategy.strategy_for(rt, self._strategies)

    def register_strategy(self, group: str, kind: str, strategy: _strategy.Strategy) -> None:
        """Use ``strategy`` for kind ``kind`` of ``group`` (e.g. a custom resource's scale)."""
        self._strategies[(group, kind)] = strategy

    @staticmethod
    def namespace_for(rt: _registry.ResourceType, namespace: str | None) -> str:
        """The namespace of a one-object request (``""`` for cluster-scoped kinds).

        Raises:
            korch.errors.BadRequest: a namespaced kind and no namespace.
        """
        if not rt.namespaced:
            return ""
        if not namespace:
            raise errors.BadRequest(f"a namespace is required for {rt.group_resource}")
        return namespace

    @staticmethod
    def check_name(name: str) -> None:
        """Reject names that cannot name a stored object.

        Raises:
            korch.errors.BadRequest: empty, ``.``/``..``, or containing ``/`` or ``%``.
        """
        if not isinstance(name, str) or not name:
            raise errors.BadRequest("resource name may not be empty")
        if name in (".", "..") or "/" in name or "%" in name:
            raise errors.BadRequest(
                f"invalid resource name {name!r}: may not be '.' or '..' "
                "and may not contain '/' or '%'"
            )

    # -- time and identity -------------------------------------------------------------

    def now(self) -> datetime.datetime:
        """The clock's time, whole seconds, UTC (what metav1.Time stores)."""
        return self._now()[1]

    def _now(self) -> tuple[int, datetime.datetime, str]:
        # One datetime (and its RFC 3339 text) per second, shared by every write in it.
        seconds = int(self.clock.time())
        last = self._last_now
        if last[0] != seconds:
            moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
            last = self._last_now = (seconds, moment, moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return last

    def new_uid(self) -> str:
        """A random (version 4) UUID; reproducible when the server was given an ``rng``."""
        if self._seeded:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        return str(uuid.uuid4())

    def generate_name(self, prefix: str) -> str:
        """``prefix`` (at most 58 characters kept) plus 5 random characters."""
        suffix = "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(5))
        return prefix[:_MAX_GENERATED_PREFIX] + suffix

    # -- start-up ----------------------------------------------------------------------

    async def ensure_bootstrapped(self) -> None:
        """Create the built-in namespaces before the first request (once)."""
        if self._bootstrapped:
            return
        async with self._bootstrap_lock:
            if not self._bootstrapped:
                await self._bootstrap()
                self._bootstrapped = True

    async def _bootstrap(self) -> None:
        """Create what must exist before any request (implemented by the server)."""

    # -- authorization -----------------------------------------------------------------

    async def authorize(
        self,
        user: _types.UserInfo | None,
        verb: str,
        rt: _registry.ResourceType,
        namespace: str = "",
        name: str = "",
        subresource: str = "",
    ) -> None:
        """Ask the authorizer, if any.

        Raises:
            korch.errors.Forbidden: denied (kube-apiserver's message).
        """
        if self.authorizer is None:
            return
        request = _admission.RequestAttributes(
            user=user,
            verb=verb,
            resource=rt,
            namespace=namespace,
            name=name,
            subresource=subresource,
        )
        decision = await self.authorizer.authorize(request)
        if decision.allowed:
            return
        who = user.name if user is not None else "system:anonymous"
        resource = f"{rt.plural}/{subresource}" if subresource else rt.plural
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        reason = (
            f'User "{who}" cannot {verb} resource "{resource}" in API group "{rt.group}" {where}'
        )
        if decision.reason:
            reason += f": {decision.reason}"
        raise _status.forbidden(rt, name, reason)

    # -- reading -----------------------------------------------------------------------

    def cache(self, rt: _registry.ResourceType) -> _cache.TypeCache | None:
        """The watch cache of ``rt``, if one was started."""
        return self._caches.get(_keys.resource_prefix(rt))

    async def running_cache(self, rt: _registry.ResourceType) -> _cache.TypeCache | None:
        """The watch cache of ``rt``, started if needed and ready; ``None`` when the server
        is not running (``async with APIServer(...)``) or the cache failed."""
        task_group = self._task_group
        if task_group is None:
            return None
        prefix = _keys.resource_prefix(rt)
        cache = self._caches.get(prefix)
        if cache is None:
            cache = _cache.TypeCache(
                rt,
                self.store,
                self.registry,
                capacity=self._cache_size,
                clock=self.clock,
                bookmark_interval=self._bookmark_interval,
            )
            self._caches[prefix] = cache
            task_group.start_soon(self._run_cache, cache)
            task_group.start_soon(cache.run_bookmarks)
        while not cache.ready.is_set() and not cache.closed:
            await cache.changed().wait()
        return None if cache.closed else cache

    async def _run_cache(self, cache: _cache.TypeCache) -> None:
        try:
            await cache.run()
        except errors.StoreClosed:
            pass
        except Exception:
            log.exception("the watch cache of %s failed", cache.rt.plural)
        finally:
            cache.close()
            if self._caches.get(cache.prefix) is cache:
                del self._caches[cache.prefix]

    def decode(self, rt: _registry.ResourceType, kv: store_types.KeyValue) -> _objects.Stored:
        """Decode a key-value of ``rt``, reusing the watch cache's object for that version."""
        cache = self._caches.get(_keys.resource_prefix(rt))
        if cache is not None:
            hit = cache.lookup(kv.key, kv.mod_revision)
            if hit is not None:
                return hit
        return _objects.decode_stored(rt, kv, self.registry)

    async def read(self, rt: _registry.ResourceType, key: bytes) -> _objects.Stored | None:
        """The current version of ``key`` (a linearizable read), or ``None``."""
        kv = await self.store.get(key)
        return self.decode(rt, kv) if kv is not None else None

    async def read_existing(
        self, rt: _registry.ResourceType, namespace: str, name: str
    ) -> _objects.Stored:
        """Like :meth:`read` by name, raising NotFound (``pods "web" not found``)."""
        stored = await self.read(rt, _keys.object_key(rt, namespace, name))
        if stored is None:
            raise _status.not_found(rt, name)
        return stored

    # -- writing -----------------------------------------------------------------------

    def finish(
        self,
        obj: Any,
        old_wire: dict[str, Any] | None,
        *,
        manager: str,
        subresource: str = "",
        managed: list[dict[str, Any]] | None = None,
        reset: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """The wire form of ``obj`` as it will be stored, with managedFields updated.

        Args:
            obj: the object to store.
            old_wire: the wire form of the stored version it replaces (``None``: create).
            manager: the field manager of the write.
            subresource: the subresource written (recorded in managedFields).
            managed: managedFields already computed (server-side apply, deletion updates).
            reset: top-level fields the server set, not the writer (a create's ``status``
                for kinds with a status subresource): nobody is recorded as their manager,
                like kube-apiserver's ``ResetFieldsFor``.
        """
        wire = _Wire(_codec.to_dict(obj))
        wire.obj = obj
        wire.fresh = managed is None
        if managed is None:
            owned = {k: v for k, v in wire.items() if k not in reset} if reset else wire
            managed = _managed_fields.update_managed_fields(
                old_wire,
                owned,
                manager or DEFAULT_FIELD_MANAGER,
                time=self._now()[2],
                subresource=subresource,
            )
        metadata = wire.setdefault("metadata", {})
        if managed:
            metadata["managedFields"] = managed
        else:
            metadata.pop("managedFields", None)
        metadata.pop("resourceVersion", None)
        return wire

    def _result(
        self, rt: _registry.ResourceType, key: bytes, wire: dict[str, Any], revision: int
    ) -> _objects.Stored:
        stored = self._stored(rt, key, wire, revision)
        cache = self._caches.get(_keys.resource_prefix(rt))
        if cache is not None and revision:
            cache.offer(stored)
        return stored

    def dry_result(
        self, rt: _registry.ResourceType, key: bytes, wire: dict[str, Any], revision: int
    ) -> _objects.Stored:
        """What a dry-run write returns: the object as it would be stored, not stored."""
        return self._stored(rt, key, wire, revision)

    def _stored(
        self, rt: _registry.ResourceType, key: bytes, wire: dict[str, Any], revision: int
    ) -> _objects.Stored:
        wire["metadata"]["resourceVersion"] = str(revision) if revision else ""
        if isinstance(wire, _Wire):
            return _objects.stored_from_object(
                rt, key, wire.obj, wire, revision, share_fields=wire.fresh
            )
        return _objects.stored_from_wire(rt, key, wire, revision, self.registry)

    async def put_new(
        self, rt: _registry.ResourceType, key: bytes, wire: dict[str, Any]
    ) -> _objects.Stored | None:
        """Store a new object; ``None`` if the key exists."""
        result = await self.store.txn(
            compare=[store_types.Compare.version(key) == 0],
            success=[store_types.Put(key, _keys.encode(wire))],
        )
        if not result.succeeded:
            return None
        return self._result(rt, key, wire, result.revision)

    async def put_over(
        self, rt: _registry.ResourceType, old: _objects.Stored, wire: dict[str, Any]
    ) -> _objects.Stored | None:
        """Replace version ``old``; ``None`` if the key changed since (or is gone)."""
        key = old.key
        result = await self.store.txn(
            compare=[store_types.Compare.mod(key) == old.revision],
            success=[store_types.Put(key, _keys.encode(wire))],
        )
        if not result.succeeded:
            return None
        return self._result(rt, key, wire, result.revision)

    async def remove(self, old: _objects.Stored) -> int | None:
        """Delete version ``old``; the deleting revision, or ``None`` if the key changed."""
        result = await self.store.txn(
            compare=[store_types.Compare.mod(old.key) == old.revision],
            success=[store_types.Delete(old.key)],
        )
        return result.revision if result.succeeded else None
