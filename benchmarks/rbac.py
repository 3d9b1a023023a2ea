"""RBAC benchmark: time per authorization decision with 1,000 roles (target ≤ 20 µs).

    python benchmarks/rbac.py [--roles 1000] [--decisions 100000] [--json results.json]

The policy: the default ClusterRoles and bindings, plus ``--roles`` roles — nine in ten
namespaced Roles spread over 50 namespaces, one in ten ClusterRoles — each with five rules
over a mix of core and ``apps`` resources (some with resourceNames, subresources and
wildcards), and one binding per role: a RoleBinding to a user or a group in the role's
namespace, or a ClusterRoleBinding. There are 2,000 users; each belongs to
``system:authenticated`` and two of 100 groups. Requests are drawn at random (seeded) from
the users and a request mix of get/list/watch/create/update/delete on pods, pods/log,
deployments, deployments/scale, secrets, configmaps and nodes in random namespaces; about one
in seven ends up allowed.

Workloads, each ``--decisions`` decisions (one warm-up pass first):

* ``authorize`` — ``await RBACAuthorizer.authorize(RequestAttributes)``, the path
  ``APIServer`` takes for every request (target ≤ 20 µs per decision, on the CPU mean);
* ``authorize (allowed)`` / ``authorize (denied)`` — the same, split by outcome;
* ``non-resource`` — ``RBACAuthorizer.decide`` on ``/healthz``, ``/apis/apps``… paths;
* ``reference walk`` — :func:`korch.security._rbac.naive_decision` over every binding, on a
  tenth of the decisions, to show what the index saves;
* ``index rebuild`` — building the :class:`RBACEvaluator` from the objects (what a change to
  any role or binding costs on the next request), 20 times.

``cpu_mean_us`` is the process CPU time per decision (``time.process_time``) and the
target is checked on it: it leaves out the time the process waited for a CPU on a busy
machine, which ``mean_us`` (wall clock) includes. p50/p99 are wall-clock per decision, from
batches of 100 timed together. Prints a table and, with ``--json PATH``, writes a list of
``{"workload", "roles", "decisions", "mean_us", "cpu_mean_us", "p50_us", "p99_us",
"target_us", "met"}`` objects (``null`` where a figure does not apply). This is a benchmark,
not a test: nothing asserts on the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.table import Table

from korch.api import (
    ClusterRole,
    ClusterRoleBinding,
    ObjectMeta,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
    default_registry,
)
from korch.apiserver import RequestAttributes, UserInfo
from korch.security import _rbac, _roles
from korch.security._rbac_authorizer import RBACAuthorizer
from korch.security._rbac_index import RBACEvaluator

RBAC = "rbac.authorization.k8s.io"
NAMESPACES = [f"team-{i}" for i in range(50)]
GROUPS = [f"group-{i}" for i in range(100)]
TARGET_US = 20.0
BATCH = 100


def _rules(rng: random.Random) -> list[PolicyRule]:
    choices = [
        ([""], ["pods"], ["get", "list", "watch"], []),
        ([""], ["pods/log"], ["get"], []),
        ([""], ["configmaps"], ["get", "update"], [f"cm-{rng.randrange(20)}"]),
        ([""], ["secrets"], ["get"], [f"secret-{rng.randrange(20)}"]),
        (["apps"], ["deployments", "replicasets"], ["get", "list", "watch"], []),
        (["apps"], ["deployments/scale"], ["update", "patch"], []),
        (["apps", ""], ["*"], ["get"], []),
        (["batch"], ["jobs", "cronjobs"], ["*"], []),
        ([""], ["services", "endpoints"], ["create", "delete"], []),
    ]
    out = []
    for groups, resources, verbs, names in rng.sample(choices, 5):
        out.append(
            PolicyRule(api_groups=groups, resources=resources, verbs=verbs, resource_names=names)
        )
    return out


def build_policy(n_roles: int, n_users: int, rng: random.Random) -> list[object]:
    objects: list[object] = [
        *_roles.default_cluster_roles(),
        *_roles.default_cluster_role_bindings(),
    ]
    for i in range(n_roles):
        subject_kind = rng.choice(["User", "Group"])
        subject_name = (
            f"user-{rng.randrange(n_users)}" if subject_kind == "User" else rng.choice(GROUPS)
        )
        subject = {"kind": subject_kind, "api_group": RBAC, "name": subject_name}
        if i % 10 == 0:
            objects.append(ClusterRole(metadata=ObjectMeta(name=f"cr-{i}"), rules=_rules(rng)))
            objects.append(
                ClusterRoleBinding(
                    metadata=ObjectMeta(name=f"crb-{i}"),
                    role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name=f"cr-{i}"),
                    subjects=[_subject(subject)],
                )
            )
            continue
        namespace = rng.choice(NAMESPACES)
        objects.append(
            Role(metadata=ObjectMeta(name=f"r-{i}", namespace=namespace), rules=_rules(rng))
        )
        objects.append(
            RoleBinding(
                metadata=ObjectMeta(name=f"rb-{i}", namespace=namespace),
                role_ref=RoleRef(api_group=RBAC, kind="Role", name=f"r-{i}"),
                subjects=[_subject(subject)],
            )
        )
    return objects


def _subject(fields: dict[str, str]) -> Subject:
    return Subject(kind=fields["kind"], api_group=fields["api_group"], name=fields["name"])


def build_requests(n: int, n_users: int, rng: random.Random) -> list[RequestAttributes]:
    registry = default_registry()
    kinds = [
        (registry.lookup("v1", "Pod"), ""),
        (registry.lookup("v1", "Pod"), "log"),
        (registry.lookup("apps/v1", "Deployment"), ""),
        (registry.lookup("apps/v1", "Deployment"), "scale"),
        (registry.lookup("v1", "Secret"), ""),
        (registry.lookup("v1", "ConfigMap"), ""),
        (registry.lookup("v1", "Node"), ""),
    ]
    users = [
        UserInfo(
            name=f"user-{i}",
            groups=("system:authenticated", *random.Random(i).sample(GROUPS, 2)),
        )
        for i in range(n_users)
    ]
    out = []
    for _ in range(n):
        rt, sub = rng.choice(kinds)
        verb = rng.choice(["get", "list", "watch", "create", "update", "delete"])
        name = "" if verb in ("list", "watch") else rng.choice(["cm-1", "secret-2", "web"])
        namespace = rng.choice(NAMESPACES) if rt.namespaced else ""
        out.append(
            RequestAttributes(
                user=rng.choice(users),
                verb=verb,
                resource=rt,
                namespace=namespace,
                name=name,
                subresource=sub,
            )
        )
    return out


def _row(
    workload: str,
    roles: int,
    per_call_us: list[float],
    total_s: float,
    cpu_s: float,
    n: int,
    target: float | None,
) -> dict[str, Any]:
    mean = total_s / n * 1e6 if n else 0.0
    cpu_mean = cpu_s / n * 1e6 if n else 0.0
    quantiles = statistics.quantiles(per_call_us, n=100) if len(per_call_us) > 1 else [mean] * 99
    return {
        "workload": workload,
        "roles": roles,
        "decisions": n,
        "mean_us": round(mean, 2),
        "cpu_mean_us": round(cpu_mean, 2),
        "p50_us": round(quantiles[49], 2),
        "p99_us": round(quantiles[98], 2),
        "target_us": target,
        "met": None if target is None else cpu_mean <= target,
    }


async def _time_authorize(
    authorizer: RBACAuthorizer, requests: list[RequestAttributes]
) -> tuple[list[float], float, float, list[bool]]:
    batches: list[float] = []
    outcomes: list[bool] = []
    total = 0.0
    cpu0 = time.process_time()
    for start in range(0, len(requests), BATCH):
        chunk = requests[start : start + BATCH]
        t0 = time.perf_counter()
        for request in chunk:
            await authorizer.authorize(request)
        elapsed = time.perf_counter() - t0
        total += elapsed
        batches.append(elapsed / len(chunk) * 1e6)
    cpu = time.process_time() - cpu0
    for request in requests:
        outcomes.append((await authorizer.authorize(request)).allowed)
    return batches, total, cpu, outcomes


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(args.seed)
    objects = build_policy(args.roles, args.users, rng)
    authorizer = RBACAuthorizer(objects=objects)
    requests = build_requests(args.decisions, args.users, rng)
    await _time_authorize(authorizer, requests[: min(len(requests), 10_000)])  # warm-up
    batches, total, cpu, outcomes = await _time_authorize(authorizer, requests)
    results = [_row("authorize", args.roles, batches, total, cpu, len(requests), TARGET_US)]
    for label, wanted in (("authorize (allowed)", True), ("authorize (denied)", False)):
        subset = [r for r, ok in zip(requests, outcomes, strict=True) if ok is wanted]
        sub_batches, sub_total, sub_cpu, _ = await _time_authorize(authorizer, subset)
        results.append(
            _row(label, args.roles, sub_batches, sub_total, sub_cpu, len(subset), TARGET_US)
        )
    paths = ["/healthz", "/apis/apps", "/api/v1", "/metrics", "/openapi/v2", "/debug/pprof"]
    users = [r.user for r in requests]
    calls = [
        (user, _rbac.NonResourceAttributes(path=rng.choice(paths), verb="get")) for user in users
    ]
    per: list[float] = []
    total = 0.0
    cpu0 = time.process_time()
    for start in range(0, len(calls), BATCH):
        chunk = calls[start : start + BATCH]
        t0 = time.perf_counter()
        for user, request in chunk:
            authorizer.decide(user, request)
        elapsed = time.perf_counter() - t0
        total += elapsed
        per.append(elapsed / len(chunk) * 1e6)
    cpu = time.process_time() - cpu0
    results.append(_row("non-resource", args.roles, per, total, cpu, len(calls), TARGET_US))
    policy = authorizer.policy
    sample = requests[: max(1, len(requests) // 10)]
    per, total = [], 0.0
    cpu0 = time.process_time()
    for start in range(0, len(sample), BATCH):
        sample_chunk = sample[start : start + BATCH]
        t0 = time.perf_counter()
        for req in sample_chunk:
            rt = req.resource
            attributes = _rbac.ResourceAttributes(
                verb=req.verb,
                group=rt.group,
                resource=rt.plural,
                subresource=req.subresource,
                namespace=req.namespace,
                name=req.name,
            )
            _rbac.naive_decision(policy, req.user, attributes)
        elapsed = time.perf_counter() - t0
        total += elapsed
        per.append(elapsed / len(sample_chunk) * 1e6)
    cpu = time.process_time() - cpu0
    results.append(_row("reference walk", args.roles, per, total, cpu, len(sample), None))
    rebuilds = []
    cpu0 = time.process_time()
    for _ in range(20):
        t0 = time.perf_counter()
        RBACEvaluator.from_objects(objects)
        rebuilds.append((time.perf_counter() - t0) * 1e6)
    cpu = time.process_time() - cpu0
    results.append(_row("index rebuild", args.roles, rebuilds, sum(rebuilds) / 1e6, cpu, 20, None))
    return results


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark, print the table, write JSON if asked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--roles", type=int, default=1000, help="Roles beyond the defaults.")
    parser.add_argument("--users", type=int, default=2000, help="Distinct users.")
    parser.add_argument("--decisions", type=int, default=100_000, help="Decisions per workload.")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the random policy.")
    parser.add_argument("--json", dest="json_path", type=Path, help="Write results here.")
    args = parser.parse_args(argv)
    results = anyio.run(run, args)
    table = Table(title=f"RBAC decisions, {args.roles} roles")
    columns = ("workload", "decisions", "cpu µs", "wall µs", "p50 µs", "p99 µs", "target µs", "met")
    for column in columns:
        table.add_column(column, justify="left" if column == "workload" else "right")
    for row in results:
        table.add_row(
            row["workload"],
            f"{row['decisions']:,}",
            f"{row['cpu_mean_us']:.2f}",
            f"{row['mean_us']:.2f}",
            f"{row['p50_us']:.2f}",
            f"{row['p99_us']:.2f}",
            "" if row["target_us"] is None else f"{row['target_us']:.0f}",
            "" if row["met"] is None else ("yes" if row["met"] else "NO"),
        )
    Console(width=120).print(table)
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
