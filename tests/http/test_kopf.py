# mypy: disable-error-code="untyped-decorator"
"""A small kopf operator, unmodified, against korch's HTTPS server: it logs in with the
kubeconfig korch wrote, adds its finalizer, and handles create, update and delete of a
custom resource (status written through the status subresource)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import anyio
import pytest

from korch import errors
from korch.api import (
    CustomResourceDefinition,
    CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion,
    CustomResourceSubresources,
    CustomResourceSubresourceStatus,
    CustomResourceValidation,
    GenericResource,
    ObjectMeta,
)
from korch.client import KubeConfig
from tests.http.conftest import Served

kopf = pytest.importorskip("kopf")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

KIND = ("example.com/v1", "Database")
SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {"engine": {"type": "string"}, "size": {"type": "integer"}},
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def crd() -> CustomResourceDefinition:
    return CustomResourceDefinition(
        metadata=ObjectMeta(name="databases.example.com"),
        spec=CustomResourceDefinitionSpec(
            group="example.com",
            scope="Namespaced",
            names=CustomResourceDefinitionNames(
                plural="databases", singular="database", kind="Database"
            ),
            versions=[
                CustomResourceDefinitionVersion(
                    name="v1",
                    served=True,
                    storage=True,
                    schema=CustomResourceValidation(open_api_v3_schema=SCHEMA),
                    subresources=CustomResourceSubresources(
                        status=CustomResourceSubresourceStatus()
                    ),
                )
            ],
        ),
    )


def operator_registry(served: Served, deleted: list[str]) -> Any:
    registry = kopf.OperatorRegistry()
    config = KubeConfig.load(served.kubeconfig)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> Any:
        # the kubeconfig korch wrote: its CA and the admin's client certificate
        return kopf.ConnectionInfo(
            server=config.server,
            ca_data=config.certificate_authority,
            certificate_data=config.client_certificate,
            private_key_data=config.client_key,
        )

    @kopf.on.startup(registry=registry)
    def configure(settings: Any, **_: Any) -> None:
        settings.watching.server_timeout = 60
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()

    @kopf.on.create("example.com", "v1", "databases", registry=registry)
    def created(spec: Any, patch: Any, **_: Any) -> None:
        patch.status["phase"] = f"created-{spec.get('engine')}"

    @kopf.on.update("example.com", "v1", "databases", registry=registry)
    def updated(spec: Any, patch: Any, **_: Any) -> None:
        patch.status["phase"] = f"resized-{spec.get('size')}"

    @kopf.on.delete("example.com", "v1", "databases", registry=registry)
    def removed(name: str, **_: Any) -> None:
        deleted.append(name)

    return registry


async def wait_for_phase(client: Any, phase: str) -> Any:
    with anyio.fail_after(30):
        while True:
            got = await client.get(KIND, "orders")
            if got.body.get("status", {}).get("phase") == phase:
                return got
            async with client.watch(KIND, resource_version=got.metadata.resource_version) as events:
                await events.__anext__()


async def test_kopf_operator_handles_create_update_delete(served: Served) -> None:
    client = served.api.client()
    await client.create(crd())
    deleted: list[str] = []
    # kopf owns its event loop (it cancels what it finds there when it stops): its own thread
    stop, ready = threading.Event(), threading.Event()
    operator = threading.Thread(
        target=asyncio.run,
        args=(
            kopf.operator(
                registry=operator_registry(served, deleted),
                standalone=True,
                clusterwide=True,
                stop_flag=stop,
                ready_flag=ready,
            ),
        ),
    )
    operator.start()
    try:
        assert await anyio.to_thread.run_sync(ready.wait, 30)
        body = {"spec": {"engine": "postgres", "size": 3}}
        await client.create(
            GenericResource(
                api_version=KIND[0], kind=KIND[1], metadata=ObjectMeta(name="orders"), body=body
            )
        )
        created = await wait_for_phase(client, "created-postgres")
        assert created.metadata.finalizers  # kopf's own, so it sees the deletion
        await client.patch(KIND, "orders", {"spec": {"size": 5}}, type="merge")
        await wait_for_phase(client, "resized-5")
        await client.delete(KIND, "orders")
        with anyio.fail_after(30):
            while True:
                try:
                    current = await client.get(KIND, "orders")
                except errors.NotFound:
                    break
                async with client.watch(
                    KIND, resource_version=current.metadata.resource_version
                ) as events:
                    await events.__anext__()
        assert deleted == ["orders"]
    finally:
        stop.set()
        await anyio.to_thread.run_sync(operator.join, 30)
        assert not operator.is_alive()
