"""List and get: namespaces, selectors, paging, and resourceVersion semantics."""

from __future__ import annotations

import attrs
import pytest

from korch import errors
from korch.api import ConfigMap, ObjectMeta, Pod
from korch.apiserver import APIServer
from korch.clock import FakeClock
from korch.store import MemoryStore
from tests.apiserver.conftest import make_pod

pytestmark = pytest.mark.anyio


async def _pods(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("a", labels={"app": "web", "tier": "fe"}, node="n1"))
    await client.create(make_pod("b", labels={"app": "web", "tier": "be"}, node="n2"))
    await client.create(make_pod("c", labels={"app": "db"}, node="n1"))
    await client.create(make_pod("d", namespace="kube-system", labels={"app": "web"}))


def names(listed) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{o.metadata.namespace}/{o.metadata.name}" for o in listed.items]


async def test_list_one_namespace_or_all(any_api: APIServer) -> None:
    await _pods(any_api)
    client = any_api.client()
    assert names(await client.list(Pod, namespace="default")) == [
        "default/a", "default/b", "default/c",
    ]  # fmt: skip
    every = await client.list(Pod)
    assert names(every) == ["default/a", "default/b", "default/c", "kube-system/d"]
    assert every.kind == "PodList"
    assert every.api_version == "v1"


async def test_list_resource_version_is_the_read_revision(
    api: APIServer, store: MemoryStore
) -> None:
    await _pods(api)
    listed = await api.client().list(Pod)
    assert listed.metadata.resource_version == str(await store.current_revision())


@pytest.mark.parametrize("resource_version", ["", "0"])
async def test_label_selectors(any_api: APIServer, resource_version: str) -> None:
    await _pods(any_api)
    client = any_api.client()

    async def select(selector: str) -> list[str]:
        listed = await client.list(Pod, label_selector=selector, resource_version=resource_version)
        return names(listed)

    assert await select("app=web") == ["default/a", "default/b", "kube-system/d"]
    assert await select("app=web,tier in (fe)") == ["default/a"]
    assert await select("!tier") == ["default/c", "kube-system/d"]
    assert await select("app notin (web)") == ["default/c"]


@pytest.mark.parametrize("resource_version", ["", "0"])
async def test_field_selectors(any_api: APIServer, resource_version: str) -> None:
    await _pods(any_api)
    client = any_api.client()
    listed = await client.list(
        Pod, field_selector="spec.nodeName=n1", resource_version=resource_version
    )
    assert names(listed) == ["default/a", "default/c"]
    listed = await client.list(Pod, field_selector="metadata.namespace!=default")
    assert names(listed) == ["kube-system/d"]
    listed = await client.list(
        Pod, field_selector="spec.nodeName=n1,metadata.name=c", label_selector="app=db"
    )
    assert names(listed) == ["default/c"]


async def test_bad_selectors_are_bad_requests(api: APIServer) -> None:
    client = api.client()
    with pytest.raises(errors.BadRequest):
        await client.list(Pod, label_selector="app in (")
    with pytest.raises(errors.BadRequest, match=r"field label not supported: spec\.foo"):
        await client.list(Pod, field_selector="spec.foo=bar")


async def test_paging_reads_one_consistent_snapshot(api: APIServer) -> None:
    client = api.client()
    for i in range(7):
        await client.create(ConfigMap(metadata=ObjectMeta(name=f"c{i}")))
    first = await client.list(ConfigMap, namespace="default", limit=3)
    assert [c.metadata.name for c in first.items] == ["c0", "c1", "c2"]
    assert first.metadata.continue_
    assert first.metadata.remaining_item_count == 4
    # changes after the first page do not show up in the following pages
    await client.delete(ConfigMap, "c4")
    await client.create(ConfigMap(metadata=ObjectMeta(name="c9")))
    second = await client.list(
        ConfigMap, namespace="default", limit=3, continue_=first.metadata.continue_
    )
    assert [c.metadata.name for c in second.items] == ["c3", "c4", "c5"]
    assert second.metadata.resource_version == first.metadata.resource_version
    third = await client.list(
        ConfigMap, namespace="default", limit=3, continue_=second.metadata.continue_
    )
    assert [c.metadata.name for c in third.items] == ["c6"]
    assert third.metadata.continue_ == ""


async def test_paging_with_a_selector_counts_selected_objects(api: APIServer) -> None:
    client = api.client()
    for i in range(10):
        labels = {"even": "yes"} if i % 2 == 0 else {}
        await client.create(ConfigMap(metadata=ObjectMeta(name=f"c{i}", labels=labels)))
    seen: list[str] = []
    token = ""
    while True:
        page = await client.list(
            ConfigMap, namespace="default", label_selector="even=yes", limit=2, continue_=token
        )
        assert len(page.items) <= 2
        seen += [c.metadata.name for c in page.items]
        token = page.metadata.continue_
        if not token:
            break
    assert seen == ["c0", "c2", "c4", "c6", "c8"]


async def test_continue_after_compaction_is_expired(api: APIServer, store: MemoryStore) -> None:
    client = api.client()
    for i in range(4):
        await client.create(ConfigMap(metadata=ObjectMeta(name=f"c{i}")))
    first = await client.list(ConfigMap, namespace="default", limit=2)
    await client.create(ConfigMap(metadata=ObjectMeta(name="later")))
    await store.compact(await store.current_revision())
    with pytest.raises(errors.Expired) as caught:
        await client.list(
            ConfigMap, namespace="default", limit=2, continue_=first.metadata.continue_
        )
    assert "The provided continue parameter is too old" in str(caught.value)
    assert caught.value.details["continue"]


async def test_malformed_continue_token(api: APIServer) -> None:
    with pytest.raises(errors.BadRequest, match="continue key is not valid"):
        await api.client().list(ConfigMap, continue_="not-a-token")


async def test_exact_resource_version_reads_the_past(api: APIServer, store: MemoryStore) -> None:
    client = api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"v": "1"}))
    await client.update(attrs.evolve(created, data={"v": "2"}))
    past = await client.list(
        ConfigMap,
        resource_version=created.metadata.resource_version,
        resource_version_match="Exact",
    )
    assert [c.data for c in past.items] == [{"v": "1"}]
    assert past.metadata.resource_version == created.metadata.resource_version
    await store.compact(await store.current_revision())
    with pytest.raises(errors.Expired, match="too old resource version"):
        await client.list(
            ConfigMap,
            resource_version=created.metadata.resource_version,
            resource_version_match="Exact",
        )


async def test_not_older_than(any_api: APIServer, store: MemoryStore) -> None:
    client = any_api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"v": "1"}))
    await client.update(attrs.evolve(created, data={"v": "2"}))
    listed = await client.list(
        ConfigMap, resource_version=created.metadata.resource_version,
        resource_version_match="NotOlderThan",
    )  # fmt: skip
    assert [c.data for c in listed.items] == [{"v": "2"}]
    assert int(listed.metadata.resource_version) >= int(created.metadata.resource_version)


async def test_future_resource_version_is_a_timeout(any_api: APIServer, store: MemoryStore) -> None:
    client = any_api.client()
    future = str(await store.current_revision() + 100)
    with pytest.raises(errors.Timeout, match="Too large resource version"):
        await client.list(ConfigMap, resource_version=future)
    with pytest.raises(errors.Timeout, match="Too large resource version"):
        await client.get(ConfigMap, "c", resource_version=future)


async def test_resource_version_zero_is_served_from_the_watch_cache(
    store: MemoryStore, clock: FakeClock
) -> None:
    async with APIServer(store, clock=clock) as api:
        client = api.client()
        await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
        rt = api.resource_type(ConfigMap)
        assert api.cache(rt) is None
        listed = await client.list(ConfigMap, resource_version="0")
        cache = api.cache(rt)
        assert cache is not None
        assert [c.metadata.name for c in listed.items] == ["c"]
        assert listed.metadata.resource_version == str(cache.revision)
        # the cache hands out the very objects it holds: no decoding per read
        assert listed.items[0] is next(iter(cache.objects.values())).obj


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resource_version_match": "Exact"}, "forbidden unless resourceVersion is provided"),
        ({"resource_version": "0", "resource_version_match": "Exact"}, "forbidden for"),
        ({"resource_version": "5", "continue_": "x"}, "not allowed when using continue"),
        ({"resource_version_match": "Sometimes", "resource_version": "1"}, "Unsupported"),
    ],
)
async def test_invalid_list_options(api: APIServer, options: dict[str, str], message: str) -> None:
    with pytest.raises(errors.Invalid, match=message):
        await api.client().list(ConfigMap, **options)  # type: ignore[call-overload]


async def test_bad_resource_version_is_bad_request(api: APIServer) -> None:
    with pytest.raises(errors.BadRequest, match="invalid resourceVersion"):
        await api.client().list(ConfigMap, resource_version="abc")


async def test_get_with_resource_version_zero(any_api: APIServer) -> None:
    client = any_api.client()
    created = await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    assert await client.get(ConfigMap, "c", resource_version="0") == created
    with pytest.raises(errors.NotFound):
        await client.get(ConfigMap, "missing", resource_version="0")
