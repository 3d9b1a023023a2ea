"""The MySQLDatabase operator of examples/operator_mysql.py, on the fake clock."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from korch import errors
from korch.api import (
    ObjectMeta,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    Secret,
    Service,
    StatefulSet,
    VolumeResourceRequirements,
    load_manifests,
)
from korch.testing import ControllerEnvironment

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "operator_mysql.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("operator_mysql", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["operator_mysql"] = module
    spec.loader.exec_module(module)
    return module


operator = load_example()
MYSQL = operator.MYSQL


@pytest.fixture
async def env() -> AsyncIterator[ControllerEnvironment]:
    async with ControllerEnvironment(operator.mysql_controller(), objects=[operator.crd()]) as e:
        yield e


def database(name: str = "db", version: str = "5.7", storage: str = "10") -> Any:
    (obj,) = load_manifests(
        f"apiVersion: example.com/v1\nkind: MySQLDatabase\nmetadata: {{name: {name}}}\n"
        f"spec: {{version: '{version}', storage: '{storage}'}}"
    )
    return obj


def ready_condition(obj: Any) -> dict[str, Any]:
    (condition,) = [c for c in obj.status["conditions"] if c["type"] == "Ready"]
    return condition


async def test_creates_secret_service_and_stateful_set(env: ControllerEnvironment) -> None:
    created = await env.client.create(database())
    await env.settle()
    sts = await env.client.get(StatefulSet, "db")
    svc = await env.client.get(Service, "db")
    secret = await env.client.get(Secret, "db-credentials")
    for child in (sts, svc, secret):
        (ref,) = child.metadata.owner_references
        assert (ref.kind, ref.name, ref.uid) == ("MySQLDatabase", "db", created.metadata.uid)
    container = sts.spec.template.spec.containers[0]
    assert container.image == "mysql:5.7"
    assert container.env[0].value_from.secret_key_ref.name == "db-credentials"
    claim = sts.spec.volume_claim_templates[0]
    assert claim.spec.resources.requests == {"storage": "10Gi"}
    assert svc.spec.cluster_ip == "None" and svc.spec.ports[0].port == 3306
    assert len(secret.data["root-password"]) >= 16
    obj = await env.client.get(MYSQL, "db")
    assert obj.status["phase"] == "Provisioning"
    assert obj.status["endpoint"] == "db.default.svc:3306"
    assert ready_condition(obj)["status"] == "False"
    assert obj.metadata.finalizers == [operator.FINALIZER]


async def test_reports_ready_when_the_stateful_set_is(env: ControllerEnvironment) -> None:
    await env.client.create(database())
    await env.settle()
    await env.client.patch_status(
        StatefulSet, "db", {"status": {"replicas": 1, "readyReplicas": 1}}
    )
    await env.settle()
    obj = await env.client.get(MYSQL, "db")
    assert obj.status["phase"] == "Ready"
    condition = ready_condition(obj)
    assert condition["status"] == "True" and condition["reason"] == "StatefulSetReady"
    assert condition["observedGeneration"] == 1


async def test_periodic_reconciles_change_nothing(env: ControllerEnvironment) -> None:
    await env.client.create(database())
    await env.settle()
    before = {
        kind.__name__: (await env.client.get(kind, name)).metadata.resource_version
        for kind, name in ((StatefulSet, "db"), (Service, "db"), (Secret, "db-credentials"))
    }
    status_writes = env.controllers[0].metrics.status_writes
    await env.advance(2 * operator.READY_RECHECK_SECONDS)
    assert env.controllers[0].metrics.reconciles >= 3
    after = {
        kind.__name__: (await env.client.get(kind, name)).metadata.resource_version
        for kind, name in ((StatefulSet, "db"), (Service, "db"), (Secret, "db-credentials"))
    }
    assert after == before  # no rewrite, and the password was not rotated
    assert env.controllers[0].metrics.status_writes == status_writes


async def test_a_spec_change_rolls_the_stateful_set(env: ControllerEnvironment) -> None:
    await env.client.create(database())
    await env.settle()
    await env.client.patch(MYSQL, "db", {"spec": {"version": "8.0"}}, type="merge")
    await env.settle()
    sts = await env.client.get(StatefulSet, "db")
    assert sts.spec.template.spec.containers[0].image == "mysql:8.0"


async def test_an_unusable_spec_is_reported_and_not_retried(env: ControllerEnvironment) -> None:
    await env.client.create(database(storage="0"))
    await env.settle()
    obj = await env.client.get(MYSQL, "db")
    condition = ready_condition(obj)
    assert condition["status"] == "False" and condition["reason"] == "InvalidSpec"
    assert "spec.storage" in condition["message"]
    reconciles = env.controllers[0].metrics.reconciles
    await env.advance(120)  # backoff would have retried within seconds
    assert env.controllers[0].metrics.reconciles == reconciles
    with pytest.raises(errors.NotFound):
        await env.client.get(StatefulSet, "db")


async def test_deletion_cleans_up_volume_claims_through_the_finalizer(
    env: ControllerEnvironment,
) -> None:
    await env.client.create(database())
    await env.settle()
    labels = operator.labels_for("db")
    claim = PersistentVolumeClaim(  # what the StatefulSet controller would have created
        metadata=ObjectMeta(name="data-db-0", labels=labels),
        spec=PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=VolumeResourceRequirements(requests={"storage": "10Gi"}),
        ),
    )
    await env.client.create(claim)
    await env.client.delete(MYSQL, "db")
    await env.settle()
    with pytest.raises(errors.NotFound):
        await env.client.get(MYSQL, "db")
    with pytest.raises(errors.NotFound):
        await env.client.get(PersistentVolumeClaim, "data-db-0")


async def test_the_seeds_bad_database_is_rejected_by_the_schema(
    env: ControllerEnvironment,
) -> None:
    (bad,) = load_manifests(
        "apiVersion: example.com/v1\nkind: MySQLDatabase\nmetadata: {name: my-database}\n"
        "spec: {version: '5.7', storage: 10}"
    )
    with pytest.raises(errors.Invalid, match=r"spec\.storage"):
        await env.client.create(bad)
