"""The HTTP surface itself, with raw HTTPS requests: discovery, OpenAPI, tables, errors as
Status objects with kube-apiserver's codes, watch streams, limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from korch.api import ConfigMap, ObjectMeta
from korch.apiserver.http import human_duration, parse_request
from korch.client._http import ssl_context
from korch.client._kubeconfig import KubeConfig
from tests.http.conftest import Served

pytestmark = pytest.mark.anyio

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@pytest.fixture
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    config = KubeConfig.load(served.kubeconfig)
    async with httpx.AsyncClient(base_url=served.url, verify=ssl_context(config)) as client:
        yield client


def status_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status"
    assert body["code"] == response.status_code
    return body


async def test_health_and_version(http: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        response = await http.get(path)
        assert (response.status_code, response.text) == (200, "ok")
    version = (await http.get("/version")).json()
    assert (version["major"], version["minor"]) == ("1", "32")


async def test_legacy_discovery(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api")).json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in (await http.get("/apis")).json()["groups"]}
    assert groups["apps"]["preferredVersion"]["groupVersion"] == "apps/v1"
    assert groups["autoscaling"]["preferredVersion"]["version"] == "v2"
    core = {r["name"]: r for r in (await http.get("/api/v1")).json()["resources"]}
    assert core["pods"]["shortNames"] == ["po"]
    assert core["pods"]["categories"] == ["all"]
    assert "watch" in core["pods"]["verbs"]
    assert core["pods/eviction"]["group"] == "policy"
    assert core["pods/log"]["verbs"] == ["get"]
    assert "pods/exec" not in core
    apps = {r["name"]: r for r in (await http.get("/apis/apps/v1")).json()["resources"]}
    assert apps["deployments/scale"]["kind"] == "Scale"
    assert apps["deployments/scale"]["group"] == "autoscaling"
    assert (await http.get("/apis/nope/v1")).status_code == 404


async def test_aggregated_discovery(http: httpx.AsyncClient) -> None:
    response = await http.get("/apis", headers={"Accept": AGGREGATED + ",application/json"})
    assert response.headers["content-type"] == AGGREGATED
    items = {item["metadata"]["name"]: item for item in response.json()["items"]}
    deployments = next(
        r for r in items["apps"]["versions"][0]["resources"] if r["resource"] == "deployments"
    )
    assert deployments["scope"] == "Namespaced"
    assert deployments["shortNames"] == ["deploy"]
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    core = (await http.get("/api", headers={"Accept": AGGREGATED})).json()["items"]
    assert [item["metadata"] for item in core] == [{}]


async def test_openapi_documents(http: httpx.AsyncClient) -> None:
    index = (await http.get("/openapi/v3")).json()["paths"]
    url = index["apis/apps/v1"]["serverRelativeURL"]
    document = (await http.get(url)).json()
    assert document["openapi"].startswith("3.")
    assert "io.k8s.api.apps.v1.Deployment" in document["components"]["schemas"]
    assert (await http.get("/openapi/v3/apis/nope/v1")).status_code == 404
    v2 = (await http.get("/openapi/v2", headers={"Accept": "application/json"})).json()
    assert v2["swagger"] == "2.0" and "io.k8s.api.core.v1.Pod" in v2["definitions"]
    proto = await http.get(
        "/openapi/v2",
        headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
    )
    assert proto.status_code == 200 and proto.content.startswith(b"\x0a\x032.0")


async def test_errors_are_status_objects(http: httpx.AsyncClient, served: Served) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    missing = await http.get(f"{path}/nope")
    assert missing.status_code == 404
    assert status_of(missing)["details"] == {"name": "nope", "kind": "configmaps"}
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert (await http.post(path, json=body)).status_code == 201
    again = await http.post(path, json=body)
    assert (again.status_code, status_of(again)["reason"]) == (409, "AlreadyExists")
    invalid = await http.post(path, json={**body, "metadata": {"name": "Not_Valid"}})
    assert invalid.status_code == 422
    causes = status_of(invalid)["details"]["causes"]
    assert causes[0]["field"] == "metadata.name"
    unsupported = await http.patch(f"{path}/c", content=b"{}", headers={"Content-Type": "text/x"})
    assert unsupported.status_code == 415
    refused = await http.get(path, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert refused.status_code == 406
    big = {**body, "metadata": {"name": "big"}, "data": {"x": "y" * (3 * 1024 * 1024)}}
    too_large = await http.post(path, json=big)
    assert (too_large.status_code, status_of(too_large)["reason"]) == (
        413, "RequestEntityTooLarge",
    )  # fmt: skip
    strict = await http.post(
        path + "?fieldValidation=Strict", json={**body, "metadata": {"name": "s"}, "bogus": 1}
    )
    assert strict.status_code == 400 and 'unknown field "bogus"' in status_of(strict)["message"]
    warned = await http.post(path, json={**body, "metadata": {"name": "w"}, "bogus": 1})
    assert warned.status_code == 201 and 'unknown field \\"bogus\\"' not in warned.headers.get(
        "warning", ""
    )
    assert 'unknown field "bogus"' in warned.headers["warning"]
    wrong_ns = await http.post(
        "/api/v1/namespaces/kube-system/configmaps",
        json={**body, "metadata": {"name": "x", "namespace": "default"}},
    )
    assert wrong_ns.status_code == 400
    dry = await http.post(path + "?dryRun=All", json={**body, "metadata": {"name": "dry"}})
    assert dry.status_code == 201
    assert (await http.get(f"{path}/dry")).status_code == 404
    assert (await http.post(path + "?dryRun=Maybe", json=body)).status_code == 400
    async with httpx.AsyncClient(base_url=served.url, verify=False) as anonymous:
        anon = await anonymous.get(path)
    assert anon.status_code == 401 and status_of(anon)["reason"] == "Unauthorized"


async def test_tables(http: httpx.AsyncClient, served: Served) -> None:
    client = served.api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"a": "1", "b": "2"}))
    table = (
        await http.get("/api/v1/namespaces/default/configmaps", headers={"Accept": TABLE})
    ).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    row = table["rows"][0]
    assert row["cells"][:2] == ["c", 2]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    one = await http.get(
        "/api/v1/namespaces/default/configmaps/c?includeObject=Object", headers={"Accept": TABLE}
    )
    assert one.json()["rows"][0]["object"]["data"] == {"a": "1", "b": "2"}
    assert [human_duration(s) for s in (5, 150, 3700, 90000, 800000)] == [
        "5s", "2m30s", "61m", "25h", "9d",
    ]  # fmt: skip


async def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    events = []
    with anyio.fail_after(10):
        async for line in response.aiter_lines():
            if line.strip():
                events.append(json.loads(line))
            if len(events) == count:
                break
    return events


async def test_watch_stream(http: httpx.AsyncClient, served: Served) -> None:
    client = served.api.client()
    first = await client.create(ConfigMap(metadata=ObjectMeta(name="a")))
    rv = first.metadata.resource_version
    path = f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
    async with http.stream("GET", path) as response:
        assert response.status_code == 200
        await client.create(ConfigMap(metadata=ObjectMeta(name="b")))
        await client.delete(ConfigMap, "a")
        events = await read_events(response, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"), ("DELETED", "a"),
    ]  # fmt: skip
    # a watch of one object by its legacy path ends at timeoutSeconds
    legacy = "/api/v1/watch/namespaces/default/configmaps/b?timeoutSeconds=1"
    async with http.stream("GET", legacy) as response:
        lines = [line async for line in response.aiter_lines() if line.strip()]
    assert [json.loads(line)["object"]["metadata"]["name"] for line in lines] == ["b"]
    # too old: 200, then an in-stream ERROR event with a 410 Status
    await served.api.store.compact(await served.api.store.current_revision())
    async with http.stream("GET", "/api/v1/configmaps?watch=true&resourceVersion=1") as response:
        assert response.status_code == 200
        [error] = await read_events(response, 1)
    assert error["type"] == "ERROR"
    assert (error["object"]["code"], error["object"]["reason"]) == (410, "Expired")
    bad = await http.get("/api/v1/configmaps?watch=true&labelSelector=a+in+(")
    assert bad.status_code == 400


async def test_watch_as_table(http: httpx.AsyncClient, served: Served) -> None:
    client = served.api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="a")))
    await client.create(ConfigMap(metadata=ObjectMeta(name="b")))
    headers = {"Accept": TABLE}
    async with http.stream("GET", "/api/v1/configmaps?watch=1", headers=headers) as response:
        events = await read_events(response, 2)
    assert [e["object"]["kind"] for e in events] == ["Table", "Table"]
    assert events[0]["object"]["columnDefinitions"]
    assert events[1]["object"]["columnDefinitions"] is None
    assert [e["object"]["rows"][0]["cells"][0] for e in events] == ["a", "b"]


def test_request_paths() -> None:
    info = parse_request("GET", "/apis/apps/v1/namespaces/ns/deployments/web/scale")
    assert info is not None
    assert (info.verb, info.group, info.resource, info.namespace, info.name, info.subresource) == (
        "get", "apps", "deployments", "ns", "web", "scale",
    )  # fmt: skip
    ns = parse_request("PUT", "/api/v1/namespaces/ns/finalize")
    assert ns is not None and (ns.resource, ns.name, ns.subresource) == (
        "namespaces", "ns", "finalize",
    )  # fmt: skip
    watch = parse_request("GET", "/api/v1/watch/pods")
    assert watch is not None and watch.verb == "watch"
    assert parse_request("DELETE", "/api/v1/namespaces/ns/pods") is not None
    assert parse_request("GET", "/apis/apps/v1") is None
    assert parse_request("GET", "/version") is None
