"""The real kubectl against korch's HTTPS API server, with the kubeconfig korch's PKI wrote.

Each kubectl call costs ~0.3 s, so each test strings several together around one theme.
Skipped where kubectl is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from korch.api import ConfigMap, ObjectMeta
from tests.http.conftest import Served

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

APP = Path(__file__).parent / "fixtures" / "app.yaml"


class Kubectl:
    def __init__(self, served: Served, cache: Path) -> None:
        self.base = ["kubectl", "--kubeconfig", str(served.kubeconfig), "--cache-dir", str(cache)]

    async def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        with anyio.fail_after(60):
            result = await anyio.run_process(
                [*self.base, *args],
                input=stdin.encode() if stdin is not None else None,
                check=False,
            )
        out = result.stdout.decode()
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.decode()}")
        return out if check else out + result.stderr.decode()

    async def json(self, *args: str) -> Any:
        return json.loads(await self.run(*args, "-o", "json"))


@pytest.fixture
def kubectl(served: Served, tmp_path: Path) -> Kubectl:
    return Kubectl(served, tmp_path / "kube-cache")


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()]


async def apply_app(kubectl: Kubectl) -> None:
    """Apply APP twice: kubectl maps every document's kind before creating anything, so the
    instance of a CRD created in the same run is refused the first time (as against
    kube-apiserver: "ensure CRDs are installed first")."""
    await kubectl.run("apply", "-f", str(APP), check=False)
    await kubectl.run("apply", "-f", str(APP))


async def test_apply_a_multi_document_file_and_get_everything(kubectl: Kubectl) -> None:
    out = await kubectl.run("apply", "-f", str(APP), check=False)
    for created in (
        "configmap/web-config created", "deployment.apps/web created", "service/web created",
        "job.batch/once created", "cronjob.batch/nightly created", "statefulset.apps/db created",
        "daemonset.apps/agent created",
        "customresourcedefinition.apiextensions.k8s.io/databases.example.com created",
    ):  # fmt: skip
        assert created in out
    assert 'no matches for kind "Database"' in out
    again = await kubectl.run("apply", "-f", str(APP))
    assert "deployment.apps/web unchanged" in again
    assert "database.example.com/orders created" in again
    table = rows(await kubectl.run("get", "deployments"))
    assert table[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1][:2] == ["web", "0/2"]
    wide = rows(await kubectl.run("get", "deploy", "-o", "wide"))
    assert wide[0][-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1][-3:] == ["web", "nginx:1.25", "app=web"]
    custom = rows(await kubectl.run("get", "db1"))
    assert custom[0] == ["NAME", "ENGINE", "SIZE", "AGE"]
    assert custom[1][:3] == ["orders", "postgres", "3"]
    everything = await kubectl.run("get", "all")
    for name in ("service/web", "deployment.apps/web", "job.batch/once", "statefulset.apps/db"):
        assert name in everything
    doc = await kubectl.run("get", "configmap", "web-config", "-o", "yaml")
    assert "greeting: hello" in doc and "resourceVersion:" in doc


async def test_selectors_label_annotate_patch_scale(kubectl: Kubectl, served: Served) -> None:
    client = served.api.client()
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        await client.create(ConfigMap(metadata=ObjectMeta(name=name, labels={"tier": tier})))
    names = await kubectl.run("get", "cm", "-l", "tier=web", "-o", "name")
    assert names.split() == ["configmap/a", "configmap/c"]
    by_field = await kubectl.run("get", "cm", "--field-selector", "metadata.name=b", "-o", "name")
    assert by_field.split() == ["configmap/b"]
    await kubectl.run("label", "cm", "a", "owner=me")
    await kubectl.run("annotate", "cm", "a", "note=hi")
    await kubectl.run("patch", "cm", "a", "-p", '{"data":{"x":"1"}}')
    await kubectl.run("patch", "cm", "a", "--type=merge", "-p", '{"data":{"y":"2"}}')
    await kubectl.run(
        "patch", "cm", "a", "--type=json", "-p", '[{"op":"add","path":"/data/z","value":"3"}]'
    )
    got = await client.get(ConfigMap, "a")
    assert got.metadata.labels == {"tier": "web", "owner": "me"}
    assert got.metadata.annotations["note"] == "hi"
    assert got.data == {"x": "1", "y": "2", "z": "3"}
    await apply_app(kubectl)
    await kubectl.run("scale", "deployment", "web", "--replicas=5")
    assert (await kubectl.json("get", "deploy", "web"))["spec"]["replicas"] == 5
    await kubectl.run("set", "image", "deployment/web", "web=nginx:1.26")
    deploy = await kubectl.json("get", "deploy", "web")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"


async def test_diff_server_side_apply_and_strict_validation(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    await apply_app(kubectl)
    changed = tmp_path / "changed.yaml"
    changed.write_text(APP.read_text().replace("replicas: 2", "replicas: 4"))
    diff = await kubectl.run("diff", "-f", str(changed), check=False)
    assert "-  replicas: 2" in diff and "+  replicas: 4" in diff
    conflict = await kubectl.run("apply", "--server-side", "-f", str(changed), check=False)
    assert "conflict" in conflict.lower()
    applied = await kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(changed))
    assert "deployment.apps/web serverside-applied" in applied
    assert (await kubectl.json("get", "deploy", "web"))["spec"]["replicas"] == 4
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nbogus: 1\n"
    refused = await kubectl.run("apply", "-f", "-", stdin=bad, check=False)
    assert 'unknown field "bogus"' in refused


async def test_explain_and_api_resources(kubectl: Kubectl) -> None:
    await apply_app(kubectl)
    explained = await kubectl.run("explain", "deployment.spec.replicas")
    assert "KIND:       Deployment" in explained and "replicas" in explained
    custom = await kubectl.run("explain", "database.spec")
    assert "The database engine." in custom
    resources = rows(await kubectl.run("api-resources"))
    by_name = {r[0]: r for r in resources[1:]}
    assert by_name["pods"][1:] == ["po", "v1", "true", "Pod"]
    assert by_name["databases"][1:] == ["db1", "example.com/v1", "true", "Database"]
    namespaced = await kubectl.run("api-resources", "--namespaced=false", "-o", "name")
    assert "nodes" in namespaced.split() and "pods" not in namespaced.split()


async def test_delete_with_each_propagation_policy(kubectl: Kubectl) -> None:
    await apply_app(kubectl)
    out = await kubectl.run("delete", "deployment", "web", "--cascade=foreground")
    assert 'deployment.apps "web" deleted' in out
    await kubectl.run("delete", "statefulset", "db", "--cascade=orphan")
    await kubectl.run("delete", "daemonset", "agent", "--cascade=background")
    await kubectl.run("delete", "-f", str(APP), "--ignore-not-found")
    left = await kubectl.run("get", "all", "-o", "name")
    assert left.split() == ["service/kubernetes"] or left.split() == []
    missing = await kubectl.run("get", "cm", "web-config", check=False)
    assert 'configmaps "web-config" not found' in missing


async def test_watch_prints_changes(kubectl: Kubectl, served: Served) -> None:
    client = served.api.client()
    await client.create(ConfigMap(metadata=ObjectMeta(name="first")))
    process = await anyio.open_process(
        [*kubectl.base, "get", "configmaps", "-w", "--output-watch-events"],
        stdout=subprocess.PIPE,
    )
    seen = ""
    created = deleted = False
    try:
        assert process.stdout is not None
        with anyio.fail_after(30):
            async for chunk in process.stdout:
                seen += chunk.decode()
                complete = seen.split("\n")[:-1]  # the last part may be half a line
                names = [line.split()[:2] for line in complete]
                if not created and ["ADDED", "first"] in names:
                    created = True
                    await client.create(ConfigMap(metadata=ObjectMeta(name="second")))
                if not deleted and ["ADDED", "second"] in names:
                    deleted = True
                    await client.delete(ConfigMap, "second")
                if ["DELETED", "second"] in names:
                    break
    finally:
        process.kill()
        await process.aclose()
    lines = rows(seen)
    assert lines[0][:2] == ["EVENT", "NAME"]
    assert lines[1][:2] == ["ADDED", "first"]
    assert ["ADDED", "second"] in [line[:2] for line in lines]
    assert ["DELETED", "second"] in [line[:2] for line in lines]
