"""Applying manifests: server-side apply, CRDs before their instances, errors per object."""

from __future__ import annotations

import pathlib

import pytest

from korch import errors
from korch.api import ConfigMap, Deployment, Namespace
from korch.cluster import apply_manifests, apply_objects, read_manifest_sources
from korch.testing import Environment

pytestmark = pytest.mark.anyio

SEEDS = pathlib.Path(__file__).parents[2].parent / "shared" / "seed-manifests.yaml"

CRD_AFTER_INSTANCE = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: team}
spec: {size: 3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team}
"""


async def test_namespaces_and_crds_apply_first() -> None:
    async with Environment() as env:
        outcomes = await apply_manifests(env.client, ["-"], stdin=CRD_AFTER_INSTANCE)
        assert [o.error for o in outcomes] == [None] * 4
        assert [o.kind for o in outcomes] == [
            "Namespace", "CustomResourceDefinition", "Widget", "ConfigMap",
        ]  # fmt: skip
        widget = await env.client.get(("example.com/v1", "Widget"), "w1", namespace="team")
        assert widget.spec == {"size": 3}
        assert (await env.client.get(ConfigMap, "settings")).metadata.namespace == "default"
        await env.client.get(Namespace, "team")


async def test_reapplying_updates_in_place() -> None:
    async with Environment() as env:
        first = await apply_manifests(env.client, ["-"], stdin=CRD_AFTER_INSTANCE)
        changed = CRD_AFTER_INSTANCE.replace('a: "1"', 'a: "2"')
        second = await apply_manifests(env.client, ["-"], stdin=changed)
        assert [o.error for o in second] == [None] * 4
        config = await env.client.get(ConfigMap, "settings")
        assert config.data == {"a": "2"}
        assert config.metadata.uid == first[3].result.metadata.uid


async def test_each_failure_is_reported_with_its_object() -> None:
    async with Environment() as env:
        objects = read_manifest_sources(["-"], stdin=CRD_AFTER_INSTANCE.replace("w1", "W_1"))
        outcomes = await apply_objects(env.client, objects)
        failed = [o for o in outcomes if o.error is not None]
        assert [(o.kind, o.name) for o in failed] == [("Widget", "W_1")]
        assert isinstance(failed[0].error, errors.Invalid)
        assert "widget/W_1:" in str(failed[0])
        with pytest.raises(errors.Invalid):
            await apply_objects(env.client, objects, stop_on_error=True)


async def test_the_seed_manifests_apply() -> None:
    if not SEEDS.exists():
        pytest.skip(f"the seeds are not beside this checkout ({SEEDS})")
    async with Environment() as env:
        outcomes = await apply_manifests(env.client, [SEEDS])
        # the seeds' MySQLDatabase sets `storage: 10` where its CRD's schema wants a string:
        # kube-apiserver rejects it too, naming the field
        failed = [str(o) for o in outcomes if o.error is not None]
        assert failed == [
            'mysqldatabase/my-database: MySQLDatabase.example.com "my-database" is invalid: '
            'spec.storage: Invalid value: "integer": spec.storage in body must be of type '
            'string: "integer"'
        ]
        assert len(outcomes) == 11
        assert (await env.client.list(Deployment)).items


async def test_missing_file_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    async with Environment() as env:
        with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
            await apply_manifests(env.client, [tmp_path / "nope.yaml"])
