"""Load a multi-document manifest file, edit it as typed objects, and write it back.

Run: python examples/manifests.py

Comments and formatting of everything the edit does not touch survive the round trip,
because ManifestFile applies only the changed fields to the original YAML tree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import attrs

from korch.api import ConfigMap, Deployment, ManifestFile, ObjectMeta, dump_yaml, load_manifests

MANIFEST = """\
# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2          # scaled by hand for now
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25   # pinned
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.yaml"
        path.write_text(MANIFEST)

        objs = load_manifests(path)  # typed objects, in file order
        print("loaded:", ", ".join(f"{type(o).__name__}/{o.metadata.name}" for o in objs))  # type: ignore[attr-defined]

        manifest = ManifestFile.read(path)
        web = manifest[0]
        assert isinstance(web, Deployment) and web.spec is not None
        manifest[0] = attrs.evolve(web, spec=attrs.evolve(web.spec, replicas=5))
        manifest.append(ConfigMap(metadata=ObjectMeta(name="web-config"), data={"mode": "prod"}))
        manifest.write()

        text = path.read_text()
        print(text)
        assert "replicas: 5          # scaled by hand for now" in text  # comment kept
        assert "image: nginx:1.25   # pinned" in text
        assert [type(o).__name__ for o in load_manifests(text)] == [
            "Deployment",
            "Service",
            "ConfigMap",
        ]
        print("dump_yaml of the typed objects (no comments: they were never in them):")
        print(dump_yaml(load_manifests(path)[2:]))


if __name__ == "__main__":
    main()
