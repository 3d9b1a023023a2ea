"""Encryption at rest: kube-apiserver's EncryptionConfiguration over any korch store.

:class:`EncryptingStore` wraps a :class:`korch.store.Store` and is one itself, so an
``APIServer`` runs over it unchanged: values of the configured resources are encrypted on
``put``/``txn`` and decrypted on ``get``/``range``/``txn`` reads/``watch``. Keys, revisions,
leases and every other value pass through untouched; a snapshot of the inner store holds the
ciphertext, so backups stay encrypted.

**Configuration** (:class:`EncryptionConfiguration`): the ``apiserver.config.k8s.io/v1``
YAML kube-apiserver's ``--encryption-provider-config`` reads — a list of ``resources``
entries, each with its ``providers`` (``aesgcm`` with named base64 keys of 16, 24 or 32
bytes, ``identity``); ``docs/security.md`` shows one.

A resource ``secrets`` names the keys under ``/registry/core/secrets/`` (korch's layout,
``/registry/<group|core>/<plural>/``), ``deployments.apps`` those under
``/registry/apps/deployments/``, ``*.apps`` a whole group, ``*.`` the core group and ``*.*``
everything under ``/registry/``. The first entry that names a key applies. As a korch
extension an entry starting with ``/`` is a raw key prefix (for stores used without an API
server).

**Providers, in order**: the first provider writes — for ``aesgcm``, with its *first* key;
every provider reads. So rotation is: add the new key first (every API server), then rewrite
all values (:meth:`EncryptingStore.rewrite`, or ``kubectl get secrets -A -o json | kubectl
replace -f -``), then drop the old key. ``identity`` writes plaintext and reads any value
that is not encrypted; put it last while encrypting an existing cluster's data, first to
decrypt it.

**Format** (kube's, so the data is interchangeable): ``k8s:enc:aesgcm:v1:<key name>:`` then a
random 12-byte nonce, then AES-GCM ciphertext and tag; the authenticated data is the store
key, so a value copied to another key does not decrypt.

**Errors.** A value that no configured provider can read — encrypted with a key that is no
longer configured, tampered with, or plaintext without ``identity`` — raises
:class:`korch.errors.InternalError` (500, as kube-apiserver answers), naming the key and the
reason: ``unable to transform key "/registry/core/secrets/default/db": no key named "key1"
in the aesgcm provider (configured: key2)``.

**Transactions.** A transaction that compares the *value* of an encrypted key cannot be sent
as is (ciphertexts differ each time); the wrapper reads the compared keys, evaluates every
compare on the plaintext, and runs the chosen branch guarded by the keys' mod revisions,
retrying if one changed meanwhile. The API server never compares values.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from korch import errors
from korch.store import _types as t

__all__ = (
    "AESGCMKey",
    "EncryptingStore",
    "EncryptionConfiguration",
    "EncryptionProvider",
    "ResourceEncryption",
    "generate_encryption_key",
)

API_VERSION: Final = "apiserver.config.k8s.io/v1"
KIND: Final = "EncryptionConfiguration"
ENCRYPTED_PREFIX: Final = b"k8s:enc:"
_AESGCM_PREFIX: Final = "k8s:enc:aesgcm:v1:"
_NONCE_SIZE: Final = 12
_KEY_SIZES: Final = (16, 24, 32)
_MAX_CAS_ATTEMPTS: Final = 100


def generate_encryption_key(size: int = 32) -> bytes:
    """Random bytes for an aesgcm key (base64 them for the configuration file)."""
    return os.urandom(size)


@attrs.frozen(repr=False)
class AESGCMKey:
    """A named AES key of 16, 24 or 32 bytes (``repr`` hides the secret)."""

    name: str
    secret: bytes

    def __repr__(self) -> str:
        return f"AESGCMKey(name={self.name!r}, secret=<{len(self.secret)} bytes>)"


@attrs.frozen
class EncryptionProvider:
    """``aesgcm`` (with its keys, the first one writes) or ``identity`` (plaintext)."""

    type: str
    keys: tuple[AESGCMKey, ...] = ()


@attrs.frozen
class ResourceEncryption:
    """The providers of a set of resources (``secrets``, ``*.apps``…), in order."""

    resources: tuple[str, ...]
    providers: tuple[EncryptionProvider, ...]


def _cause(field: str, message: str, reason: str = "FieldValueInvalid") -> errors.Cause:
    return errors.Cause(field, message, reason)


def _missing(field: str, message: str) -> errors.Cause:
    return errors.Cause(field, message, "FieldValueRequired")


def _parse_key(raw: Any, path: str, causes: list[errors.Cause]) -> AESGCMKey | None:
    if not isinstance(raw, Mapping):
        causes.append(_cause(path, "must be a map with name and secret"))
        return None
    name, secret = raw.get("name"), raw.get("secret")
    if not isinstance(name, str) or not name:
        causes.append(_missing(f"{path}.name", "key name is required"))
        return None
    if ":" in name:
        causes.append(_cause(f"{path}.name", f"key name {name!r} must not contain ':'"))
        return None
    if not isinstance(secret, str) or not secret:
        causes.append(_missing(f"{path}.secret", "secret is required"))
        return None
    try:
        data = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        causes.append(_cause(f"{path}.secret", "secret is not valid base64"))
        return None
    if len(data) not in _KEY_SIZES:
        message = f"aes-gcm keys must be 16, 24 or 32 bytes; key {name!r} has {len(data)}"
        causes.append(_cause(f"{path}.secret", message))
        return None
    return AESGCMKey(name, data)


def _parse_provider(raw: Any, path: str, causes: list[errors.Cause]) -> EncryptionProvider | None:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        causes.append(_cause(path, "a provider is a map with exactly one provider type"))
        return None
    ((kind, body),) = raw.items()
    if kind == "identity":
        return EncryptionProvider("identity")
    if kind != "aesgcm":
        causes.append(
            _cause(path, f"provider {kind!r} is not supported (supported: aesgcm, identity)")
        )
        return None
    raw_keys = body.get("keys") if isinstance(body, Mapping) else None
    if not isinstance(raw_keys, list) or not raw_keys:
        causes.append(_missing(f"{path}.aesgcm.keys", "at least one key is required"))
        return None
    keys = [_parse_key(k, f"{path}.aesgcm.keys[{i}]", causes) for i, k in enumerate(raw_keys)]
    names = [k.name for k in keys if k is not None]
    for name in {n for n in names if names.count(n) > 1}:
        message = f"key name {name!r} is used more than once"
        causes.append(_cause(f"{path}.aesgcm.keys", message, "FieldValueDuplicate"))
    if None in keys:
        return None
    return EncryptionProvider("aesgcm", tuple(k for k in keys if k is not None))


def _key_prefix(resource: str) -> bytes:
    if resource.startswith("/"):
        return resource.encode()
    plural, _, group = resource.partition(".")
    if plural == "*":
        if group == "*":
            return b"/registry/"
        return f"/registry/{group or 'core'}/".encode()
    return f"/registry/{group or 'core'}/{plural}/".encode()


@attrs.frozen
class EncryptionConfiguration:
    """Which resources are encrypted, and how (see the module docstring)."""

    resources: tuple[ResourceEncryption, ...]

    @classmethod
    def aesgcm(
        cls,
        keys: Mapping[str, bytes] | Sequence[AESGCMKey],
        *,
        resources: Sequence[str] = ("secrets",),
        identity_fallback: bool = True,
    ) -> EncryptionConfiguration:
        """A configuration that encrypts ``resources`` with aesgcm ``keys`` (first writes),
        reading plaintext too when ``identity_fallback``."""
        if isinstance(keys, Mapping):
            key_list = tuple(AESGCMKey(name, secret) for name, secret in keys.items())
        else:
            key_list = tuple(keys)
        keys_yaml = [
            {"name": k.name, "secret": base64.b64encode(k.secret).decode()} for k in key_list
        ]
        providers: list[dict[str, Any]] = [{"aesgcm": {"keys": keys_yaml}}]
        if identity_fallback:
            providers.append({"identity": {}})
        entry = {"resources": list(resources), "providers": providers}
        # through from_dict, so keys are checked exactly as a file's are
        return cls.from_dict({"apiVersion": API_VERSION, "kind": KIND, "resources": [entry]})

    @classmethod
    def from_dict(cls, data: Any) -> EncryptionConfiguration:
        """Build from the decoded YAML/JSON document.

        Raises:
            korch.errors.Invalid: a field is missing or wrong; ``causes`` name each one.
        """
        causes: list[errors.Cause] = []
        if not isinstance(data, Mapping):
            raise errors.Invalid("EncryptionConfiguration must be a map", [])
        found = (data.get("apiVersion"), data.get("kind"))
        if found != (API_VERSION, KIND):
            causes.append(_cause("kind", f"expected {API_VERSION} {KIND}, got {found}"))
        raw_resources = data.get("resources")
        if not isinstance(raw_resources, list) or not raw_resources:
            causes.append(_missing("resources", "at least one entry is required"))
            raw_resources = []
        entries = []
        for i, raw in enumerate(raw_resources):
            path = f"resources[{i}]"
            names = raw.get("resources") if isinstance(raw, Mapping) else None
            if (
                not names
                or not isinstance(names, list)
                or not all(isinstance(n, str) and n for n in names)
            ):
                causes.append(_missing(f"{path}.resources", "a list of resource names is required"))
                continue
            raw_providers = raw.get("providers")
            if not isinstance(raw_providers, list) or not raw_providers:
                causes.append(_missing(f"{path}.providers", "at least one provider is required"))
                continue
            providers = [
                _parse_provider(p, f"{path}.providers[{j}]", causes)
                for j, p in enumerate(raw_providers)
            ]
            if None not in providers:
                entries.append(
                    ResourceEncryption(tuple(names), tuple(p for p in providers if p is not None))
                )
        if causes:
            raise errors.Invalid("invalid EncryptionConfiguration", causes)
        return cls(tuple(entries))

    @classmethod
    def parse(cls, text: str) -> EncryptionConfiguration:
        """Parse the YAML (or JSON) text of an EncryptionConfiguration.

        Raises:
            korch.errors.BadRequest: the text is not YAML.
            korch.errors.Invalid: the document is not a valid configuration.
        """
        try:
            data = YAML(typ="safe", pure=True).load(text)
        except YAMLError as exc:
            raise errors.BadRequest(f"EncryptionConfiguration is not valid YAML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EncryptionConfiguration:
        """Read and parse a configuration file (``--encryption-provider-config``)."""
        return cls.parse(Path(path).read_text(encoding="utf-8"))

    def prefixes(self) -> list[tuple[bytes, tuple[EncryptionProvider, ...]]]:
        """``(key prefix, providers)`` in configuration order (the first match applies)."""
        return [
            (_key_prefix(name), entry.providers)
            for entry in self.resources
            for name in entry.resources
        ]


class _Transformer:
    """Encrypts with the first provider, decrypts with whichever provider's prefix fits."""

    def __init__(self, providers: tuple[EncryptionProvider, ...]) -> None:
        self._identity = any(p.type == "identity" for p in providers)
        self._ciphers: dict[bytes, AESGCM] = {}
        self._key_names: list[str] = []
        for provider in providers:
            for key in provider.keys:
                self._ciphers[f"{_AESGCM_PREFIX}{key.name}:".encode()] = AESGCM(key.secret)
                self._key_names.append(key.name)
        first = providers[0]
        self._writer: tuple[bytes, AESGCM] | None = None
        if first.type == "aesgcm":
            prefix = f"{_AESGCM_PREFIX}{first.keys[0].name}:".encode()
            self._writer = (prefix, self._ciphers[prefix])

    def encrypt(self, key: bytes, value: bytes) -> bytes:
        if self._writer is None:
            return value
        prefix, cipher = self._writer
        nonce = os.urandom(_NONCE_SIZE)
        return prefix + nonce + cipher.encrypt(nonce, value, key)

    def decrypt(self, key: bytes, value: bytes) -> bytes:
        if not value.startswith(ENCRYPTED_PREFIX):
            if self._identity or not value:
                return value
            raise self._failure(
                key, "the value is not encrypted and no identity provider is configured to read it"
            )
        end = value.find(b":", len(_AESGCM_PREFIX))
        if not value.startswith(_AESGCM_PREFIX.encode()) or end < 0:
            raise self._failure(key, f"no provider reads values prefixed {value[:24]!r}")
        prefix = value[: end + 1]
        cipher = self._ciphers.get(prefix)
        if cipher is None:
            name = prefix[len(_AESGCM_PREFIX) : -1].decode(errors="replace")
            known = ", ".join(self._key_names) or "none"
            raise self._failure(
                key, f'no key named "{name}" in the aesgcm provider (configured: {known})'
            )
        body = value[len(prefix) :]
        try:
            return cipher.decrypt(body[:_NONCE_SIZE], body[_NONCE_SIZE:], key)
        except (InvalidTag, ValueError) as exc:
            raise self._failure(
                key,
                "the value failed authentication (wrong key, tampered "
                "with, or copied from another key)",
            ) from exc

    @staticmethod
    def _failure(key: bytes, reason: str) -> errors.InternalError:
        shown = key.decode(errors="replace")
        return errors.InternalError(f'unable to transform key "{shown}": {reason}')


class _DecryptingStream:
    """A watch stream whose events carry decrypted values."""

    def __init__(self, inner: t.WatchStream, store: EncryptingStore) -> None:
        self._inner = inner
        self._store = store

    async def _events(self) -> AsyncIterator[t.Event]:
        async for response in self.responses():
            for event in response.events:
                yield event

    def __aiter__(self) -> AsyncIterator[t.Event]:
        return self._events()

    async def responses(self) -> AsyncIterator[t.WatchResponse]:
        async for response in self._inner.responses():
            if not response.events:
                yield response
                continue
            plain = self._store._plain
            events = tuple(
                t.Event(e.type, plain(e.kv), None if e.prev_kv is None else plain(e.prev_kv))
                for e in response.events
            )
            yield t.WatchResponse(events, response.revision)

    @property
    def revision(self) -> int:
        return self._inner.revision

    async def request_progress(self) -> None:
        await self._inner.request_progress()


class EncryptingStore:
    """A :class:`korch.store.Store` that encrypts configured values at rest.

    ``async with EncryptingStore(MemoryStore(), config) as store:`` enters the inner store's
    context too (its background work, e.g. lease expiry); ``close()`` closes the inner store.

    Args:
        store: the store that holds the (encrypted) data.
        config: which keys are encrypted and with which keys
            (:class:`EncryptionConfiguration`).
    """

    def __init__(self, store: t.Store, config: EncryptionConfiguration) -> None:
        self.store = store
        self.config = config
        self._rules = [(prefix, _Transformer(p)) for prefix, p in config.prefixes()]

    def __repr__(self) -> str:
        return f"EncryptingStore({self.store!r})"

    def _transformer(self, key: bytes) -> _Transformer | None:
        if not isinstance(key, bytes):
            return None  # the inner store rejects it with a clear error
        for prefix, transformer in self._rules:
            if key.startswith(prefix):
                return transformer
        return None

    def _seal(self, key: bytes, value: bytes) -> bytes:
        transformer = self._transformer(key)
        return value if transformer is None else transformer.encrypt(key, value)

    def _plain(self, kv: t.KeyValue) -> t.KeyValue:
        transformer = self._transformer(kv.key)
        if transformer is None or not kv.value:
            return kv
        return attrs.evolve(kv, value=transformer.decrypt(kv.key, kv.value))

    def _plain_put(self, result: t.PutResult) -> t.PutResult:
        if result.prev_kv is None:
            return result
        return attrs.evolve(result, prev_kv=self._plain(result.prev_kv))

    def _plain_delete(self, result: t.DeleteResult) -> t.DeleteResult:
        return attrs.evolve(result, prev_kvs=tuple(self._plain(kv) for kv in result.prev_kvs))

    def _plain_result(
        self, result: t.PutResult | t.DeleteResult | t.RangeResult
    ) -> t.PutResult | t.DeleteResult | t.RangeResult:
        if isinstance(result, t.RangeResult):
            return attrs.evolve(result, kvs=tuple(self._plain(kv) for kv in result.kvs))
        if isinstance(result, t.PutResult):
            return self._plain_put(result)
        return self._plain_delete(result)

    def _seal_ops(self, ops: Sequence[t.Op]) -> list[t.Op]:
        return [
            attrs.evolve(op, value=self._seal(op.key, op.value)) if isinstance(op, t.Put) else op
            for op in ops
        ]

    # -- reads and writes ------------------------------------------------------------

    async def get(self, key: bytes, *, revision: int = 0) -> t.KeyValue | None:
        kv = await self.store.get(key, revision=revision)
        return None if kv is None else self._plain(kv)

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
        result = await self.store.range(
            key,
            range_end,
            prefix=prefix,
            limit=limit,
            revision=revision,
            count_only=count_only,
            keys_only=keys_only,
        )
        if count_only or keys_only:
            return result
        return attrs.evolve(result, kvs=tuple(self._plain(kv) for kv in result.kvs))

    async def put(
        self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False
    ) -> t.PutResult:
        result = await self.store.put(key, self._seal(key, value), lease=lease, prev_kv=prev_kv)
        return self._plain_put(result)

    async def delete(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        prev_kv: bool = False,
    ) -> t.DeleteResult:
        result = await self.store.delete(key, range_end, prefix=prefix, prev_kv=prev_kv)
        return self._plain_delete(result)

    async def txn(
        self,
        compare: Sequence[t.CompareResult] = (),
        success: Sequence[t.Op] = (),
        failure: Sequence[t.Op] = (),
    ) -> t.TxnResult:
        if any(
            c.target is t.CompareTarget.VALUE and self._transformer(c.key) is not None
            for c in compare
        ):
            return await self._txn_on_plaintext(compare, success, failure)
        result = await self.store.txn(compare, self._seal_ops(success), self._seal_ops(failure))
        return self._plain_txn(result)

    def _plain_txn(self, result: t.TxnResult) -> t.TxnResult:
        responses = tuple(self._plain_result(r) for r in result.responses)
        return attrs.evolve(result, responses=responses)

    async def _txn_on_plaintext(
        self,
        compare: Sequence[t.CompareResult],
        success: Sequence[t.Op],
        failure: Sequence[t.Op],
    ) -> t.TxnResult:
        keys = list(dict.fromkeys(c.key for c in compare))
        for _ in range(_MAX_CAS_ATTEMPTS):
            snapshot = await self.store.txn((), [t.Get(k) for k in keys], ())
            current: dict[bytes, t.KeyValue | None] = {}
            for key, response in zip(keys, snapshot.responses, strict=True):
                assert isinstance(response, t.RangeResult)
                current[key] = self._plain(response.kvs[0]) if response.kvs else None
            outcome = all(c.evaluate(current[c.key]) for c in compare)
            guard = [
                t.Compare.version(k) == 0 if kv is None else t.Compare.mod(k) == kv.mod_revision
                for k, kv in current.items()
            ]
            branch = success if outcome else failure
            result = await self.store.txn(guard, self._seal_ops(branch), ())
            if result.succeeded:
                return self._plain_txn(attrs.evolve(result, succeeded=outcome))
        raise errors.Conflict(
            f"a transaction comparing encrypted values kept racing with writes to {keys!r}"
        )

    @contextlib.asynccontextmanager
    async def _watch(
        self, key: bytes, range_end: bytes | None, **options: Any
    ) -> AsyncIterator[t.WatchStream]:
        async with self.store.watch(key, range_end, **options) as stream:
            yield _DecryptingStream(stream, self)

    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> contextlib.AbstractAsyncContextManager[t.WatchStream]:
        return self._watch(
            key,
            range_end,
            prefix=prefix,
            start_revision=start_revision,
            prev_kv=prev_kv,
            progress_notify=progress_notify,
        )

    # -- rotation --------------------------------------------------------------------

    async def rewrite(self, prefix: bytes = b"/registry/") -> int:
        """Re-encrypt every configured value under ``prefix`` with the current write key
        (after adding a new first key, before removing the old one). Values that change
        meanwhile are skipped: their writer already used the new key.

        Returns:
            How many values were rewritten.
        """
        rewritten = 0
        listing = await self.store.range(prefix, prefix=True)
        for kv in listing.kvs:
            transformer = self._transformer(kv.key)
            if transformer is None:
                continue
            value = transformer.encrypt(kv.key, transformer.decrypt(kv.key, kv.value))
            result = await self.store.txn(
                [t.Compare.mod(kv.key) == kv.mod_revision],
                [t.Put(kv.key, value, lease=kv.lease)],
                (),
            )
            rewritten += result.succeeded
        return rewritten

    # -- everything else passes through --------------------------------------------

    async def grant_lease(self, ttl: int, *, id: int = 0) -> t.Lease:
        return await self.store.grant_lease(ttl, id=id)

    async def keepalive(self, lease_id: int) -> int:
        return await self.store.keepalive(lease_id)

    async def revoke(self, lease_id: int) -> None:
        await self.store.revoke(lease_id)

    async def time_to_live(self, lease_id: int, *, keys: bool = False) -> t.LeaseStatus:
        return await self.store.time_to_live(lease_id, keys=keys)

    async def leases(self) -> tuple[int, ...]:
        return await self.store.leases()

    async def compact(self, revision: int) -> None:
        await self.store.compact(revision)

    async def current_revision(self) -> int:
        return await self.store.current_revision()

    async def compact_revision(self) -> int:
        return await self.store.compact_revision()

    async def snapshot(self, path: str) -> None:
        await self.store.snapshot(path)

    async def close(self) -> None:
        await self.store.close()

    async def __aenter__(self) -> EncryptingStore:
        # the inner store's context runs its background work (e.g. lease expiry)
        enter = getattr(self.store, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        exit_ = getattr(self.store, "__aexit__", None)
        if exit_ is not None:
            await exit_(exc_type, exc, traceback)
        else:
            await self.close()
