"""What a write returns equals what a later read decodes from the store.

The server builds a write's result from the object it just encoded (not by decoding the
stored bytes again), so these tests pin the equivalence over the fixture corpus's kinds and
over every kind of write; the idle server's reads always decode the stored bytes.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from korch import errors
from korch.api import ConfigMap, Namespace, ObjectMeta, Pod, Secret, _codec, _manifest, _meta
from korch.apiserver import APIServer
from korch.store import MemoryStore
from tests.apiserver.conftest import make_deployment, make_pod

pytestmark = pytest.mark.anyio

CORPUS = Path(__file__).parents[1] / "api" / "fixtures" / "corpus"


def _objects() -> list[Any]:
    out: list[Any] = []
    for path in sorted(CORPUS.iterdir()):
        for obj in _manifest.load_manifests(path):
            if isinstance(obj, _meta.ResourceList):
                out += obj.items
            elif isinstance(getattr(obj, "metadata", None), ObjectMeta):
                out.append(obj)
    return out


async def _fresh(api: APIServer, obj: Any) -> Any:
    client = api.client()
    kind = (obj.api_version, obj.kind)
    return await client.get(kind, obj.metadata.name, namespace=obj.metadata.namespace or None)


async def test_creates_of_every_corpus_kind_return_what_a_read_decodes(api: APIServer) -> None:
    client = api.client()
    created = 0
    for obj in _objects():
        namespace = obj.metadata.namespace
        if namespace and namespace not in ("default", "kube-system"):
            with contextlib.suppress(errors.AlreadyExists):
                await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
        try:
            result = await client.create(obj)
        except (errors.Invalid, errors.NotFound, errors.AlreadyExists, errors.BadRequest):
            continue  # kinds this server does not serve, or corpus objects it rejects
        assert await _fresh(api, result) == result, obj.kind
        assert result.metadata.managed_fields, obj.kind
        created += 1
    assert created >= 40


async def test_secret_string_data_is_stored_as_the_read_sees_it(api: APIServer) -> None:
    client = api.client()
    secret = Secret(metadata=ObjectMeta(name="s"), string_data={"token": "t0ps3cret"})
    result = await client.create(secret)
    assert await _fresh(api, result) == result


async def test_updates_patches_and_status_writes_return_what_a_read_decodes(
    api: APIServer,
) -> None:
    client = api.client()
    pod = await client.create(make_pod("web", labels={"app": "web"}))
    labels = {**pod.metadata.labels, "tier": "front"}
    pod = await client.update(attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, labels=labels)))
    assert await _fresh(api, pod) == pod
    pod = await client.patch(type(pod), "web", {"metadata": {"labels": {"x": "1"}}}, type="merge")
    assert await _fresh(api, pod) == pod
    pod = await client.patch(
        type(pod), "web", {"spec": {"activeDeadlineSeconds": 30}}, type="strategic"
    )
    assert await _fresh(api, pod) == pod
    status = attrs.evolve(pod.status, phase="Running")
    pod = await client.update_status(attrs.evolve(pod, status=status))
    assert await _fresh(api, pod) == pod
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default"},
        "data": {"a": "1"},
    }
    config = await client.patch(ConfigMap, "cfg", applied, type="apply", field_manager="me")
    assert await _fresh(api, config) == config
    deployment = await client.create(make_deployment("web"))
    assert await _fresh(api, deployment) == deployment


async def test_managed_fields_of_one_object_do_not_leak_into_another(api: APIServer) -> None:
    client = api.client()
    first = await client.create(make_pod("a", labels={"app": "a"}))
    before = first.metadata.managed_fields[0].fields_v1
    snapshot = repr(before)
    await client.create(make_pod("b"))
    await client.patch(type(first), "a", {"metadata": {"labels": {"app": None}}}, type="merge")
    assert repr(before) == snapshot
    assert (await _fresh(api, first)).metadata.managed_fields[0].fields_v1 != before


async def test_malformed_stored_managed_fields_decode_as_before(
    api: APIServer, store: MemoryStore
) -> None:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "odd", "namespace": "default", "uid": "u"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    odd_entries: list[Any] = [
        [{"manager": "m", "operation": "Update", "fieldsV1": {"f:a": []}}],
        [{"manager": "m", "operation": "Update", "extra": 1, "fieldsV1": {"f:a": {}}}],
        [{"manager": 7, "operation": "Update"}],
    ]
    for entries in odd_entries:
        pod["metadata"]["managedFields"] = entries
        value = json.dumps(pod).encode()
        await store.put(b"/registry/core/pods/default/odd", value)
        try:
            expected: Any = _codec.from_dict(json.loads(value), Pod)
        except errors.Invalid as exc:
            expected = str(exc)
        try:
            got: Any = await api.client().get(Pod, "odd")
            got = attrs.evolve(got, metadata=attrs.evolve(got.metadata, resource_version=""))
        except errors.InternalError as exc:
            got = str(exc).partition("does not decode: ")[2]
        assert got == expected
