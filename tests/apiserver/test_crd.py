"""CustomResourceDefinitions served by the APIServer (seeds: MySQLDatabase)."""

from __future__ import annotations

import attrs
import pytest

from korch import errors
from korch.api import CustomResourceDefinition, GenericResource, ObjectMeta, load_manifests
from korch.apiserver import APIServer
from korch.clock import FakeClock
from korch.store import MemoryStore

pytestmark = pytest.mark.anyio

CRD_YAML = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: mysqldatabases.example.com
spec:
  group: example.com
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              version:
                type: string
                default: "8.0"
              storage:
                type: string
                format: int64
              replicas:
                type: integer
          status:
            type: object
            properties:
              replicas:
                type: integer
              selector:
                type: string
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - name: Version
      type: string
      jsonPath: .spec.version
  scope: Namespaced
  names:
    plural: mysqldatabases
    singular: mysqldatabase
    kind: MySQLDatabase
    shortNames:
    - mdb
    categories:
    - all
"""

KIND = ("example.com/v1", "MySQLDatabase")


def crd() -> CustomResourceDefinition:
    (obj,) = load_manifests(CRD_YAML)
    assert isinstance(obj, CustomResourceDefinition)
    return obj


def db(name: str, **spec: object) -> GenericResource:
    return GenericResource(
        api_version="example.com/v1",
        kind="MySQLDatabase",
        metadata=ObjectMeta(name=name, namespace="default"),
        body={"spec": spec},
    )


async def test_created_crd_is_established_and_served(api: APIServer) -> None:
    client = api.client()
    stored = await client.create(crd())
    conditions = {c.type: c.status for c in stored.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert stored.status.accepted_names.kind == "MySQLDatabase"
    assert stored.status.stored_versions == ["v1"]
    assert stored.spec.versions[0].additional_printer_columns[0].json_path == ".spec.version"
    assert api.registry.resolve("mdb").kind == "MySQLDatabase"
    assert [rt.kind for rt in api.registry.with_category("all")].count("MySQLDatabase") == 1
    created = await client.create(db("d1", storage="10Gi", replicas=2))
    assert created.metadata.generation == 1
    assert (await client.get(KIND, "d1")).spec["storage"] == "10Gi"


async def test_schema_validation_names_the_field(api: APIServer) -> None:
    client = api.client()
    await client.create(crd())
    with pytest.raises(errors.Invalid) as info:
        await client.create(db("bad", version="5.7", storage=10))
    assert [c.field for c in info.value.causes] == ["spec.storage"]
    assert 'MySQLDatabase.example.com "bad" is invalid' in str(info.value)


async def test_defaulting_and_pruning(api: APIServer) -> None:
    client = api.client()
    await client.create(crd())
    created = await client.create(db("d1", storage="1Gi", unknown="x"))
    assert created.spec == {"storage": "1Gi", "version": "8.0"}


async def test_status_and_scale_subresources(api: APIServer) -> None:
    client = api.client()
    await client.create(crd())
    created = await client.create(db("d1", replicas=1))
    with_status = attrs.evolve(
        created, body={**created.body, "status": {"replicas": 1, "selector": "app=db"}}
    )
    await client.update_status(with_status)
    scale = await api.get_scale(KIND, "d1", namespace="default")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (1, 1, "app=db")
    await api.patch_scale(KIND, "d1", {"spec": {"replicas": 3}}, namespace="default")
    got = await client.get(KIND, "d1")
    assert got.spec["replicas"] == 3
    assert got.metadata.generation == 2


async def test_bad_crds_are_invalid(api: APIServer) -> None:
    client = api.client()
    wrong_name = attrs.evolve(crd(), metadata=ObjectMeta(name="dbs.example.com"))
    with pytest.raises(errors.Invalid) as info:
        await client.create(wrong_name)
    assert "metadata.name" in [c.field for c in info.value.causes]
    bad = crd()
    version = attrs.evolve(
        bad.spec.versions[0],
        schema=attrs.evolve(
            bad.spec.versions[0].schema, open_api_v3_schema={"properties": {"spec": {}}}
        ),
    )
    nonstructural = attrs.evolve(bad, spec=attrs.evolve(bad.spec, versions=[version]))
    with pytest.raises(errors.Invalid) as info:
        await client.create(nonstructural)
    assert any("openAPIV3Schema" in c.field for c in info.value.causes)
    with pytest.raises(errors.NotFound):
        await client.create(db("d1"))


async def test_deleting_the_crd_removes_its_objects(api: APIServer) -> None:
    client = api.client()
    await client.create(crd())
    await client.create(db("d1"))
    await client.delete(CustomResourceDefinition, "mysqldatabases.example.com")
    with pytest.raises(errors.NotFound):
        await client.get(KIND, "d1")
    await client.create(crd())
    assert (await client.list(KIND)).items == []


async def test_typed_class(api: APIServer) -> None:
    @attrs.frozen(kw_only=True)
    class MySQLDatabase:
        api_version: str = "example.com/v1"
        kind: str = "MySQLDatabase"
        metadata: ObjectMeta = attrs.Factory(ObjectMeta)
        spec: dict[str, object] = attrs.Factory(dict)

    api.register_kind(MySQLDatabase, "mysqldatabases.example.com")
    client = api.client()
    await client.create(crd())
    created = await client.create(
        MySQLDatabase(metadata=ObjectMeta(name="t"), spec={"storage": "1Gi"})
    )
    assert isinstance(created, MySQLDatabase)
    assert created.spec["version"] == "8.0"


async def test_crds_are_loaded_on_restart(store: MemoryStore, clock: FakeClock) -> None:
    first = APIServer(store, clock=clock)
    await first.client().create(crd())
    await first.client().create(db("d1", storage="1Gi"))
    async with APIServer(store, clock=clock) as second:
        got = await second.client().get(KIND, "d1")
        assert got.spec["storage"] == "1Gi"
