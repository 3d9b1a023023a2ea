"""Manifests: loading files/directories/text, dumping, and comment-preserving edits."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import attrs
import pytest

from korch import errors
from korch.api import _apps, _batch, _codec, _core_other, _core_pod, _generic, _manifest, _meta

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = FIXTURES / "seeds.yaml"
CORPUS = FIXTURES / "corpus"
FILES = [SEEDS, *sorted(CORPUS.iterdir())]


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


# -- loading ---------------------------------------------------------------------------


def test_seeds_load_as_typed_objects() -> None:
    objs = _manifest.load_manifests(SEEDS)
    assert [type(o).__name__ for o in objs] == [
        "Deployment", "Service", "Job", "CronJob", "StatefulSet", "DaemonSet", "ReplicaSet",
        "CustomResourceDefinition", "GenericResource", "Pod", "Pod",
    ]  # fmt: skip
    cronjob = objs[3]
    assert isinstance(cronjob, _batch.CronJob)
    assert cronjob.spec.schedule == "*/5 * * * *"
    custom = objs[8]
    assert isinstance(custom, _generic.GenericResource)
    assert custom.spec == {"version": "5.7", "storage": 10}  # kept verbatim, int stays int
    pod = objs[9]
    assert isinstance(pod, _core_pod.Pod)
    assert pod.spec.containers[0].command == ["sh", "-c", "echo Hello Kubernetes! && sleep 3600"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_fixture_file_dumps_and_reloads_equal(path: Path) -> None:
    objs = _manifest.load_manifests(path, strict=True)
    assert objs
    text = _manifest.dump_yaml(objs)
    assert _manifest.load_manifests(text, strict=True) == objs
    assert text.count("\n---\n") == len(objs) - 1


def test_a_directory_loads_every_manifest_in_name_order() -> None:
    everything = _manifest.load_manifests(CORPUS)
    one_by_one = [
        obj for path in sorted(CORPUS.iterdir()) for obj in _manifest.load_manifests(path)
    ]
    assert everything == one_by_one
    assert len(everything) >= 40


def test_lists_are_flattened() -> None:
    objs = _manifest.load_manifests(CORPUS / "lists.yaml")
    assert [(type(o).__name__, o.metadata.name) for o in objs] == [  # type: ignore[attr-defined]
        ("Pod", "pod1"),
        ("Pod", "pod2"),
        ("ConfigMap", "listed-config"),
        ("Deployment", "listed-deploy"),
        ("GenericResource", "listed-db"),
    ]


def test_json_text_and_streams() -> None:
    objs = _manifest.load_manifests(CORPUS / "meta.json")
    assert isinstance(objs[0], _meta.Status) and objs[0].code == 404
    single = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
    assert _manifest.load_manifests(single) == [
        _core_other.ConfigMap(metadata=_meta.ObjectMeta(name="a"))
    ]
    array = f"[{single}, {single}]"
    assert len(_manifest.load_manifests(array.encode())) == 2


def test_empty_documents_are_skipped_and_yaml12_strings_kept() -> None:
    text = """
---
# only a comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
data:
  enabled: on
  legacy: yes
  count: "010"
  when: 2024-01-01
---
---
"""
    (cm,) = _manifest.load_manifests(text)
    assert isinstance(cm, _core_other.ConfigMap)
    # YAML 1.2: on/yes are strings; unquoted dates reach the object as the string written.
    assert cm.data == {"enabled": "on", "legacy": "yes", "count": "010", "when": "2024-01-01"}
    dumped = _manifest.dump_yaml(cm)
    # Written so that YAML 1.1 readers (kubectl) see strings too.
    assert 'enabled: "on"' in dumped and 'legacy: "yes"' in dumped and 'count: "010"' in dumped
    assert _manifest.load_manifests(dumped) == [cm]


def test_non_string_keys_become_strings() -> None:
    (cm,) = _manifest.load_manifests(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  80: http\n  true: x\n"
    )
    assert cm.data == {"80": "http", "true": "x"}  # type: ignore[attr-defined]


def test_timestamps_unquoted_in_yaml() -> None:
    (pod,) = _manifest.load_manifests(
        "apiVersion: v1\nkind: Pod\nmetadata:\n"
        "  name: p\n  creationTimestamp: 2024-05-01T10:00:00Z\n"
    )
    assert isinstance(pod, _core_pod.Pod)
    assert pod.metadata.creation_timestamp is not None
    assert pod.metadata.creation_timestamp.isoformat() == "2024-05-01T10:00:00+00:00"


def test_multiline_strings_dump_as_literal_blocks() -> None:
    cm = _core_other.ConfigMap(data={"script.sh": "#!/bin/sh\necho hi\n"})
    dumped = _manifest.dump_yaml([cm])
    assert "script.sh: |\n    #!/bin/sh\n    echo hi\n" in dumped
    assert _manifest.load_manifests(dumped) == [cm]


# -- errors ----------------------------------------------------------------------------


def test_syntax_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n")
    with pytest.raises(errors.BadRequest, match=r"broken\.yaml: invalid YAML"):
        _manifest.load_manifests(path)


def test_field_errors_name_the_file_and_document(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(
        SEEDS.read_text() + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\n"
        "spec:\n  replicas: three\n"
    )
    with pytest.raises(errors.Invalid) as exc:
        _manifest.load_manifests(path)
    assert f'{path}: document 12: Deployment "bad" is invalid' in str(exc.value)
    assert [c.field for c in exc.value.causes] == ["spec.replicas"]


def test_strict_loading_rejects_unknown_fields() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containerz: []\n"
    assert _manifest.load_manifests(text)[0].unknown_fields == {}  # type: ignore[attr-defined]
    with pytest.raises(errors.Invalid) as exc:
        _manifest.load_manifests(text, strict=True)
    assert [c.field for c in exc.value.causes] == ["spec.containerz"]
    assert "<string>: document 1" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- just\n- a list\n", "document 1: expected a mapping"),
        ("apiVersion: v1\nkind: Pod\n---\nhello\n", "document 2: expected a mapping"),
        ("metadata:\n  name: x\n", "Object 'Kind' is missing"),
        ("apiVersion: v1\nkind: ConfigMap\ndata:\n  x: .inf\n", "cannot be represented"),
    ],
)
def test_malformed_documents(text: str, fragment: str) -> None:
    with pytest.raises(errors.BadRequest, match=fragment):
        _manifest.load_manifests(text)


def test_missing_files() -> None:
    with pytest.raises(FileNotFoundError):
        _manifest.load_manifests("does/not/exist.yaml")
    with pytest.raises(FileNotFoundError):
        _manifest.ManifestFile.read("does/not/exist.yaml")


def test_dump_rejects_non_objects() -> None:
    with pytest.raises(errors.BadRequest):
        _manifest.dump_yaml(42)


# -- comment-preserving edits ----------------------------------------------------------


def test_untouched_manifest_dumps_identically() -> None:
    text = SEEDS.read_text()
    assert _manifest.ManifestFile.parse(text).dump() == text


def test_edit_changes_only_the_edited_lines() -> None:
    text = SEEDS.read_text()
    manifest = _manifest.ManifestFile.parse(text)
    deployment = manifest[0]
    assert isinstance(deployment, _apps.Deployment)
    manifest[0] = attrs.evolve(deployment, spec=attrs.evolve(deployment.spec, replicas=5))
    assert _changed_lines(text, manifest.dump()) == ["-  replicas: 3", "+  replicas: 5"]
    assert "# every 5 minutes" in manifest.dump()
    assert "# The manifests shown in the seed documents" in manifest.dump()


def test_adding_and_removing_keys_keeps_comments() -> None:
    text = """\
# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # do not rename
  labels:
    app: web
    tier: frontend  # goes away
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      # main container
      - name: web
        image: nginx:1.25  # pinned
      - name: sidecar
        image: envoy:1.29
"""
    manifest = _manifest.ManifestFile.parse(text)
    d = manifest[0]
    assert isinstance(d, _apps.Deployment)
    pod_spec = d.spec.template.spec
    web, sidecar = pod_spec.containers
    edited = attrs.evolve(
        d,
        metadata=attrs.evolve(d.metadata, labels={"app": "web"}, annotations={"team": "shop"}),
        spec=attrs.evolve(
            d.spec,
            template=attrs.evolve(
                d.spec.template,
                spec=attrs.evolve(
                    pod_spec,
                    containers=[sidecar, attrs.evolve(web, image="nginx:1.26")],
                ),
            ),
        ),
    )
    manifest[0] = edited
    out = manifest.dump()
    assert "name: web  # do not rename" in out
    assert "tier: frontend" not in out
    assert "annotations:\n    team: shop" in out
    assert "image: nginx:1.26  # pinned" in out
    assert out.index("name: sidecar") < out.index("name: web\n")
    assert _manifest.load_manifests(out) == [edited]


def test_documents_can_be_added_removed_and_written(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(SEEDS.read_text())
    manifest = _manifest.ManifestFile.read(path)
    assert len(manifest) == 11
    del manifest[1]
    manifest.append(_core_other.ConfigMap(metadata=_meta.ObjectMeta(name="new"), data={"a": "on"}))
    manifest.write()
    reloaded = _manifest.load_manifests(path)
    assert len(reloaded) == 11
    assert "Service" not in [type(o).__name__ for o in reloaded]
    assert reloaded[-1] == _core_other.ConfigMap(
        metadata=_meta.ObjectMeta(name="new"), data={"a": "on"}
    )
    assert "# every 5 minutes" in path.read_text()
    with pytest.raises(ValueError, match="path"):
        _manifest.ManifestFile.parse("apiVersion: v1\nkind: Namespace\n").write()


def test_indented_sequences_keep_their_style() -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n    name: p\n"
        "spec:\n    containers:\n      - name: a\n        image: x\n"
    )
    manifest = _manifest.ManifestFile.parse(text)
    assert manifest.dump() == text
    pod = manifest[0]
    assert isinstance(pod, _core_pod.Pod)
    manifest[0] = attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, name="q"))
    assert _changed_lines(text, manifest.dump()) == ["-    name: p", "+    name: q"]


def test_json_manifest_files_dump_json() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    manifest = _manifest.ManifestFile.parse(text)
    ns = manifest[0]
    manifest[0] = attrs.evolve(ns, metadata=_meta.ObjectMeta(name="b"))  # type: ignore[misc]
    assert json.loads(manifest.dump()) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "b"},
    }
    assert _codec.to_dict(manifest[0])["metadata"] == {"name": "b"}
