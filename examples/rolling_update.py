"""A rolling update and a rollback, on an in-process cluster with simulated nodes.

Run: python examples/rolling_update.py

A Deployment of 6 replicas (maxSurge 2, maxUnavailable 1) runs on 3 nodes with the fake
runtime. Changing its image rolls the pods over to a new ReplicaSet, a few at a time;
``rollback`` (what ``kubectl rollout undo`` does) brings the previous template back, and
the controller reuses its old ReplicaSet. ``rollout_status`` follows the deployment the way
``kubectl rollout status`` does, from the fields the Deployment controller writes.
"""

from __future__ import annotations

import anyio

from korch.api import (
    Container,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    LabelSelector,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
    RollingUpdateDeployment,
)
from korch.client import Client
from korch.cluster import Cluster
from korch.workloads import rollback

REVISION = "deployment.kubernetes.io/revision"


def status_line(d: Deployment) -> tuple[str, bool]:
    """What ``kubectl rollout status`` prints for ``d``, and whether the rollout is done."""
    name, status = d.metadata.name, d.status
    replicas = d.spec.replicas or 0
    if d.metadata.generation > status.observed_generation:
        return "Waiting for deployment spec update to be observed...", False
    for condition in status.conditions:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            raise RuntimeError(f"deployment {name!r} exceeded its progress deadline")
    if status.updated_replicas < replicas:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {status.updated_replicas} '
            f"out of {replicas} new replicas have been updated...",
            False,
        )
    if status.replicas > status.updated_replicas:
        old = status.replicas - status.updated_replicas
        return (
            f'Waiting for deployment "{name}" rollout to finish: {old} old replicas are '
            "pending termination...",
            False,
        )
    if status.available_replicas < status.updated_replicas:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {status.available_replicas} '
            f"of {status.updated_replicas} updated replicas are available...",
            False,
        )
    return f'deployment "{name}" successfully rolled out', True


async def rollout_status(client: Client, name: str) -> None:
    """Print rollout progress until the deployment is fully rolled out."""
    last = ""
    with anyio.fail_after(60):
        async with client.watch(
            Deployment, namespace="default", field_selector=f"metadata.name={name}"
        ) as events:
            async for event in events:
                line, done = status_line(event.object)
                if line != last:
                    print(" ", line)
                    last = line
                if done:
                    return


async def show(client: Client) -> None:
    sets = (await client.list(ReplicaSet, namespace="default")).items
    for rs in sorted(sets, key=lambda rs: int(rs.metadata.annotations.get(REVISION, "0"))):
        image = rs.spec.template.spec.containers[0].image
        print(
            f"  revision {rs.metadata.annotations.get(REVISION)}: {rs.metadata.name} "
            f"{image} replicas={rs.spec.replicas}"
        )
    pods = (await client.list(Pod, namespace="default", label_selector="app=web")).items
    images = sorted({p.spec.containers[0].image for p in pods if not p.metadata.deletion_timestamp})
    print(f"  running images: {', '.join(images)}")


async def main() -> None:
    labels = {"app": "web"}
    deployment = Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(
            replicas=6,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=[Container(name="web", image="nginx:1.25")]),
            ),
            strategy=DeploymentStrategy(
                type="RollingUpdate",
                rolling_update=RollingUpdateDeployment(max_surge=2, max_unavailable=1),
            ),
        ),
    )
    async with Cluster(nodes=3, runtime="fake") as cluster:
        client = cluster.client
        print("create deployment web (nginx:1.25):")
        await client.create(deployment)
        await rollout_status(client, "web")

        print("set image nginx:1.26:")
        patch = {
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}
        }
        await client.patch(Deployment, "web", patch, namespace="default")
        await rollout_status(client, "web")
        await show(client)

        print("rollout undo:")
        await rollback(client, "web", namespace="default")
        await rollout_status(client, "web")
        await show(client)
        d = await client.get(Deployment, "web", namespace="default")
        assert d.spec.template.spec.containers[0].image == "nginx:1.25"
        assert d.metadata.annotations[REVISION] == "3"


if __name__ == "__main__":
    anyio.run(main)
