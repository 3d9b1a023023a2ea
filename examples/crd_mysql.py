"""Custom resources: register the seeds' MySQLDatabase CRD, create a valid instance, and
see schema validation reject the seeds' bad one (``storage: 10`` where a string is due).

Run: ``python examples/crd_mysql.py``.
"""

from __future__ import annotations

import anyio

from korch import errors
from korch.api import load_manifests
from korch.apiserver import APIServer
from korch.clock import FakeClock
from korch.store import MemoryStore

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
  scope: Namespaced
  names:
    plural: mysqldatabases
    singular: mysqldatabase
    kind: MySQLDatabase
    shortNames:
    - mdb
"""

GOOD = """
apiVersion: example.com/v1
kind: MySQLDatabase
metadata:
  name: good-database
spec:
  version: "5.7"
  storage: "10"
"""

# exactly as in the seeds: storage is a number, the schema says string
BAD = """
apiVersion: example.com/v1
kind: MySQLDatabase
metadata:
  name: my-database
spec:
  version: "5.7"
  storage: 10
"""


async def main() -> None:
    clock = FakeClock()
    async with APIServer(MemoryStore(clock=clock), clock=clock) as api:
        client = api.client()
        (crd,) = load_manifests(CRD)
        crd = await client.create(crd)
        established = {c.type: c.status for c in crd.status.conditions}
        print(f"CRD {crd.metadata.name}: {established}")

        (good,) = load_manifests(GOOD)
        created = await client.create(good)
        print(f"created {created.kind} {created.metadata.name}: spec={created.spec}")

        (bad,) = load_manifests(BAD)
        try:
            await client.create(bad)
        except errors.Invalid as exc:
            print(f"rejected: {exc}")
            for cause in exc.causes:
                print(f"  {cause.field}: {cause.message}")
        else:
            raise SystemExit("the bad MySQLDatabase was accepted")


if __name__ == "__main__":
    anyio.run(main)
