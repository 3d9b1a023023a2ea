"""Encryption at rest: Secrets created through the API server are never plaintext in the raw
store; key rotation; clear errors; the EncryptionConfiguration file."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from korch import errors
from korch.api import ConfigMap, ObjectMeta, Secret
from korch.apiserver import APIServer
from korch.clock import FakeClock
from korch.security._encryption import (
    AESGCMKey,
    EncryptingStore,
    EncryptionConfiguration,
    generate_encryption_key,
)
from korch.store import Compare, Get, MemoryStore, Put

pytestmark = pytest.mark.anyio

KEY1 = bytes(range(32))
KEY2 = bytes(range(32, 64))
SECRET_KEY = b"/registry/core/secrets/default/db"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


CONFIG_YAML = f"""
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm:
          keys:
            - name: key1
              secret: {b64(KEY1)}
      - identity: {{}}
"""


@pytest.fixture
async def raw() -> AsyncIterator[MemoryStore]:
    store = MemoryStore(clock=FakeClock())
    yield store
    await store.close()


def config(*keys: tuple[str, bytes], identity: bool = True) -> EncryptionConfiguration:
    return EncryptionConfiguration.aesgcm(
        [AESGCMKey(name, secret) for name, secret in keys], identity_fallback=identity
    )


async def test_secret_through_apiserver_is_never_plaintext(raw: MemoryStore) -> None:
    store = EncryptingStore(raw, EncryptionConfiguration.parse(CONFIG_YAML))
    api = APIServer(store, clock=FakeClock())
    client = api.client()
    await client.create(Secret(metadata=ObjectMeta(name="db"), data={"password": b"hunter2"}))
    await client.create(Secret(metadata=ObjectMeta(name="s2"), string_data={"token": "t0ps3cret"}))
    await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"k": "visible"}))
    listing = await raw.range(b"/registry/", prefix=True)
    secrets = [kv for kv in listing.kvs if kv.key.startswith(b"/registry/core/secrets/")]
    assert len(secrets) == 2
    for kv in secrets:
        assert kv.value.startswith(b"k8s:enc:aesgcm:v1:key1:")
        for plain in (b"hunter2", base64.b64encode(b"hunter2"), b"t0ps3cret", b"db"):
            assert plain not in kv.value
    configmap = next(kv for kv in listing.kvs if b"/configmaps/" in kv.key)
    assert b"visible" in configmap.value  # only the configured resources are encrypted
    got = await client.get(Secret, "db")
    assert got.data == {"password": b"hunter2"}
    updated = await client.patch(Secret, "db", {"data": {"password": b64(b"new")}}, type="merge")
    assert updated.data["password"] == b"new"
    assert b"new" not in (await raw.get(SECRET_KEY)).value  # type: ignore[union-attr]


async def test_watch_through_apiserver_sees_plaintext(raw: MemoryStore) -> None:
    clock = FakeClock()
    async with APIServer(EncryptingStore(raw, config(("key1", KEY1))), clock=clock) as api:
        client = api.client()
        first = await client.create(Secret(metadata=ObjectMeta(name="a"), data={"x": b"1"}))
        async with client.watch(
            Secret, namespace="default", resource_version=first.metadata.resource_version
        ) as events:
            await client.create(Secret(metadata=ObjectMeta(name="b"), data={"x": b"2"}))
            async for event in events:
                assert event.type == "ADDED"
                assert event.object.data == {"x": b"2"}
                break


async def test_rotation(raw: MemoryStore) -> None:
    old = EncryptingStore(raw, config(("key1", KEY1)))
    await old.put(SECRET_KEY, b"payload")
    # step 1: the new key first, the old one still there to read
    both = EncryptingStore(raw, config(("key2", KEY2), ("key1", KEY1)))
    kv = await both.get(SECRET_KEY)
    assert kv is not None and kv.value == b"payload"
    await both.put(b"/registry/core/secrets/default/new", b"fresh")
    assert (await raw.get(b"/registry/core/secrets/default/new")).value.startswith(  # type: ignore[union-attr]
        b"k8s:enc:aesgcm:v1:key2:"
    )
    # step 2: rewrite everything with the new key
    assert await both.rewrite() == 2
    assert (await raw.get(SECRET_KEY)).value.startswith(b"k8s:enc:aesgcm:v1:key2:")  # type: ignore[union-attr]
    # step 3: drop the old key; everything still reads
    only_new = EncryptingStore(raw, config(("key2", KEY2)))
    kv = await only_new.get(SECRET_KEY)
    assert kv is not None and kv.value == b"payload"


async def test_missing_key_is_a_clear_error(raw: MemoryStore) -> None:
    await EncryptingStore(raw, config(("key1", KEY1))).put(SECRET_KEY, b"payload")
    other = EncryptingStore(raw, config(("key2", KEY2)))
    with pytest.raises(errors.InternalError) as caught:
        await other.get(SECRET_KEY)
    assert caught.value.message == (
        f'unable to transform key "{SECRET_KEY.decode()}": no key named "key1" in the aesgcm '
        "provider (configured: key2)"
    )
    api = APIServer(other, clock=FakeClock())
    with pytest.raises(errors.InternalError, match='no key named "key1"'):
        await api.client().get(Secret, "db")


async def test_wrong_secret_under_the_same_name_fails_authentication(raw: MemoryStore) -> None:
    await EncryptingStore(raw, config(("key1", KEY1))).put(SECRET_KEY, b"payload")
    impostor = EncryptingStore(raw, config(("key1", KEY2)))
    with pytest.raises(errors.InternalError, match="failed authentication"):
        await impostor.get(SECRET_KEY)


async def test_value_bound_to_its_key(raw: MemoryStore) -> None:
    store = EncryptingStore(raw, config(("key1", KEY1)))
    await store.put(SECRET_KEY, b"payload")
    stolen = await raw.get(SECRET_KEY)
    assert stolen is not None
    await raw.put(b"/registry/core/secrets/attacker/copy", stolen.value)
    with pytest.raises(errors.InternalError, match="failed authentication"):
        await store.get(b"/registry/core/secrets/attacker/copy")


async def test_identity_reads_plaintext_only_when_configured(raw: MemoryStore) -> None:
    await raw.put(SECRET_KEY, b"legacy plaintext")
    kv = await EncryptingStore(raw, config(("key1", KEY1))).get(SECRET_KEY)
    assert kv is not None and kv.value == b"legacy plaintext"
    strict = EncryptingStore(raw, config(("key1", KEY1), identity=False))
    with pytest.raises(errors.InternalError, match="not encrypted"):
        await strict.get(SECRET_KEY)


async def test_identity_first_writes_plaintext_and_still_decrypts(raw: MemoryStore) -> None:
    await EncryptingStore(raw, config(("key1", KEY1))).put(SECRET_KEY, b"payload")
    decrypting = EncryptingStore(
        raw,
        EncryptionConfiguration.parse(f"""
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: ["*.*"]
  providers:
  - identity: {{}}
  - aesgcm: {{keys: [{{name: key1, secret: "{b64(KEY1)}"}}]}}
"""),
    )
    assert await decrypting.rewrite() == 1
    assert (await raw.get(SECRET_KEY)).value == b"payload"  # type: ignore[union-attr]


async def test_txn_value_compare_on_encrypted_keys(raw: MemoryStore) -> None:
    store = EncryptingStore(raw, config(("key1", KEY1)))
    await store.put(SECRET_KEY, b"v1")
    ok = await store.txn(
        [Compare.value(SECRET_KEY) == b"v1"], [Put(SECRET_KEY, b"v2")], [Get(SECRET_KEY)]
    )
    assert ok.succeeded
    stale = await store.txn(
        [Compare.value(SECRET_KEY) == b"v1"], [Put(SECRET_KEY, b"v3")], [Get(SECRET_KEY)]
    )
    assert not stale.succeeded
    assert stale.responses[0].kvs[0].value == b"v2"  # type: ignore[union-attr]


async def test_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "encryption.yaml"
    path.write_text(CONFIG_YAML)
    loaded = EncryptionConfiguration.load(path)
    assert loaded.prefixes()[0][0] == b"/registry/core/secrets/"
    assert "secret=" in repr(loaded) and b64(KEY1) not in repr(loaded)
    wildcard = EncryptionConfiguration.aesgcm(
        {"k": KEY1}, resources=["deployments.apps", "*.batch", "*.", "*.*", "/raw/"]
    )
    assert [p for p, _ in wildcard.prefixes()] == [
        b"/registry/apps/deployments/",
        b"/registry/batch/",
        b"/registry/core/",
        b"/registry/",
        b"/raw/",
    ]
    assert len(generate_encryption_key()) == 32


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("kind: Other\napiVersion: v1\nresources: []", "kind"),
        (
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
            "resources: [{resources: [secrets], providers: [{aescbc: {}}]}]",
            "resources[0].providers[0]",
        ),
        (
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
            "resources: [{resources: [secrets], providers: [{aesgcm: {keys: [{name: k, "
            "secret: c2hvcnQ=}]}}]}]",
            "resources[0].providers[0].aesgcm.keys[0].secret",
        ),
        (
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
            "resources: [{resources: [secrets]}]",
            "resources[0].providers",
        ),
    ],
)
def test_invalid_configuration_names_the_field(text: str, field: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        EncryptionConfiguration.parse(text)
    assert field in [cause.field for cause in caught.value.causes]


def test_not_yaml() -> None:
    with pytest.raises(errors.BadRequest, match="not valid YAML"):
        EncryptionConfiguration.parse("resources: [")
