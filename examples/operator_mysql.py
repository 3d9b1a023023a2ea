"""A complete operator for the seeds' MySQLDatabase custom resource.

For every ``MySQLDatabase`` (``spec.version``, ``spec.storage`` in GiB) the operator keeps:

* a ``Secret`` ``<name>-credentials`` with a generated root password (created once, never
  rotated behind the user's back);
* a headless ``Service`` ``<name>`` on port 3306 (stable DNS name for the StatefulSet);
* a ``StatefulSet`` ``<name>`` running ``mysql:<version>`` with a ``<storage>Gi`` volume
  claim per replica;
* ``status``: ``phase``, ``endpoint`` and a ``Ready`` condition that is True once the
  StatefulSet reports a ready replica;
* a finalizer ``example.com/mysql-cleanup``: on deletion it deletes the database's
  PersistentVolumeClaims (a StatefulSet's claims outlive it by default) before the
  MySQLDatabase goes; the Secret, Service and StatefulSet are owned, so the garbage
  collector removes them.

The CRD is the seeds' one plus a status subresource (and a schema for ``status``), which an
operator that reports readiness needs. A spec the operator cannot use (``storage`` not a
whole number) is reported as ``Ready=False, reason InvalidSpec`` and not retried until it
changes.

Run: ``python examples/operator_mysql.py`` — it starts an in-process API server and the
operator, creates a database, plays the StatefulSet controller's part by marking its pod
ready, and deletes the database again. ``tests/controllers/test_operator_mysql.py`` tests
the operator on ``korch.testing.ControllerEnvironment``'s fake clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import anyio

from korch.api import (
    Container,
    ContainerPort,
    EnvVar,
    EnvVarSource,
    LabelSelector,
    ObjectMeta,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    PodSpec,
    PodTemplateSpec,
    Secret,
    SecretKeySelector,
    Service,
    ServicePort,
    ServiceSpec,
    StatefulSet,
    StatefulSetSpec,
    VolumeMount,
    VolumeResourceRequirements,
    load_manifests,
)
from korch.controllers import Context, Controller, Result, Terminal, controller

MYSQL = ("example.com/v1", "MySQLDatabase")
FINALIZER = "example.com/mysql-cleanup"
READY_RECHECK_SECONDS = 300

CRD = """
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
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              version:
                type: string
              storage:
                type: string
                format: int64
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
  scope: Namespaced
  names:
    plural: mysqldatabases
    singular: mysqldatabase
    kind: MySQLDatabase
    shortNames:
    - mdb
"""

DATABASE = """
apiVersion: example.com/v1
kind: MySQLDatabase
metadata:
  name: my-database
spec:
  version: "5.7"
  storage: "10"
"""


def crd() -> object:
    """The MySQLDatabase CustomResourceDefinition."""
    (definition,) = load_manifests(CRD)
    return definition


def labels_for(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": name}


def credentials(name: str) -> Secret:
    password = secrets.token_urlsafe(18).encode()
    return Secret(
        metadata=ObjectMeta(name=f"{name}-credentials", labels=labels_for(name)),
        data={"root-password": password},
    )


def service(name: str) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, labels=labels_for(name)),
        spec=ServiceSpec(
            cluster_ip="None",
            selector=labels_for(name),
            ports=[ServicePort(name="mysql", port=3306, target_port=3306)],
        ),
    )


def stateful_set(name: str, version: str, storage_gib: int) -> StatefulSet:
    labels = labels_for(name)
    password = EnvVarSource(
        secret_key_ref=SecretKeySelector(name=f"{name}-credentials", key="root-password")
    )
    container = Container(
        name="mysql",
        image=f"mysql:{version}",
        ports=[ContainerPort(name="mysql", container_port=3306)],
        env=[EnvVar(name="MYSQL_ROOT_PASSWORD", value_from=password)],
        volume_mounts=[VolumeMount(name="data", mount_path="/var/lib/mysql")],
    )
    claim = PersistentVolumeClaim(
        metadata=ObjectMeta(name="data"),
        spec=PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=VolumeResourceRequirements(requests={"storage": f"{storage_gib}Gi"}),
        ),
    )
    return StatefulSet(
        metadata=ObjectMeta(name=name, labels=labels),
        spec=StatefulSetSpec(
            replicas=1,
            service_name=name,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels), spec=PodSpec(containers=[container])
            ),
            volume_claim_templates=[claim],
        ),
    )


async def reconcile(ctx: Context) -> Result | None:
    """Bring one MySQLDatabase's Secret, Service, StatefulSet and status to what it asks."""
    database = ctx.object
    if database is None:
        return None  # deleted: owned objects are garbage collected
    async with ctx.finalizer(FINALIZER) as deleting:
        if deleting:
            await delete_volume_claims(ctx)
            await ctx.event("Deleted", "volume claims deleted")
            return None
        spec = database.spec
        storage = str(spec.get("storage", ""))
        if not storage.isdigit() or int(storage) < 1:
            ctx.status["phase"] = "Failed"
            message = f"spec.storage must be a whole number of GiB, not {storage!r}"
            ctx.conditions.set("Ready", False, "InvalidSpec", message)
            raise Terminal(message)
        if ctx.get(Secret, f"{ctx.name}-credentials") is None:
            await ctx.apply(credentials(ctx.name))
        await ctx.apply(service(ctx.name))
        workload = await ctx.apply(stateful_set(ctx.name, str(spec["version"]), int(storage)))
        ready = (workload.status.ready_replicas or 0) >= 1
        ctx.status["endpoint"] = f"{ctx.name}.{ctx.namespace}.svc:3306"
        ctx.status["phase"] = "Ready" if ready else "Provisioning"
        if ready:
            ctx.conditions.set("Ready", True, "StatefulSetReady", "MySQL is accepting connections")
        else:
            ctx.conditions.set("Ready", False, "Provisioning", "waiting for the MySQL pod")
    return Result(requeue_after=READY_RECHECK_SECONDS)


async def delete_volume_claims(ctx: Context) -> None:
    claims = await ctx.client.list(
        PersistentVolumeClaim,
        namespace=ctx.namespace,
        label_selector=f"app.kubernetes.io/instance={ctx.name}",
    )
    for claim in claims.items:
        await ctx.client.delete(PersistentVolumeClaim, claim.metadata.name, namespace=ctx.namespace)


def mysql_controller() -> Controller:
    """The operator's controller: MySQLDatabases owning Secrets, Services, StatefulSets."""
    return (
        controller(MYSQL, name="mysqldatabases")
        .owns(Secret)
        .owns(Service)
        .owns(StatefulSet)
        .options(workers=2)
        .build(reconcile)
    )


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    with anyio.fail_after(10):
        while not await check():  # noqa: ASYNC110 - polls the API server, as a user would
            await anyio.sleep(0.01)
    print(f"  ✓ {what}")


async def main() -> None:
    from korch.api import GenericResource
    from korch.apiserver import APIServer
    from korch.controllers import Manager
    from korch.errors import NotFound
    from korch.store import MemoryStore

    async with APIServer(MemoryStore()) as api:
        client = api.client()
        await client.create(crd())
        manager = Manager(client, name="mysql-operator", leader_election=True)
        manager.add(mysql_controller())
        async with anyio.create_task_group() as group:
            group.start_soon(manager.run)
            await manager.wait_leading()
            (database,) = load_manifests(DATABASE)
            assert isinstance(database, GenericResource)
            await client.create(database)
            print("created MySQLDatabase my-database")

            async def provisioned() -> bool:
                obj = await client.get(MYSQL, "my-database")
                return obj.status.get("phase") == "Provisioning"

            await wait_until(provisioned, "StatefulSet, Service and Secret created; Provisioning")
            sts = await client.get(StatefulSet, "my-database")
            print(f"  StatefulSet image {sts.spec.template.spec.containers[0].image}")
            # play the StatefulSet controller's part: its one pod became ready
            await client.patch_status(
                StatefulSet, "my-database", {"status": {"replicas": 1, "readyReplicas": 1}}
            )

            async def ready() -> bool:
                obj = await client.get(MYSQL, "my-database")
                return any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in obj.status.get("conditions", [])
                )

            await wait_until(ready, "Ready=True")
            print(f"  status: {(await client.get(MYSQL, 'my-database')).status['endpoint']}")
            await client.delete(MYSQL, "my-database")

            async def gone() -> bool:
                try:
                    await client.get(MYSQL, "my-database")
                except NotFound:
                    return True
                return False

            await wait_until(gone, "deleted through the finalizer")
            group.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
