"""The fast path (batch plugins over numpy columns, shared work between equivalent pods)
makes exactly the decisions of the plain per-node reference, on random clusters and pods."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from korch.scheduler import Cache, Handle, PodInfo, default_profile

from ._builders import node, pod, term

ZONES = ["a", "b", "c"]
APPS = ["web", "db"]
TAINTS = [
    {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
    {"key": "spot", "value": "", "effect": "PreferNoSchedule"},
    {"key": "old", "value": "yes", "effect": "NoExecute"},
]
TOLERATIONS = [
    {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
    {"key": "spot", "operator": "Exists"},
    {"operator": "Exists"},
]
KEYS = ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]


@st.composite
def nodes(draw: Any) -> list[Any]:
    out = []
    for i in range(draw(st.integers(1, 9))):
        labels = {}
        if draw(st.booleans()):
            labels["topology.kubernetes.io/zone"] = draw(st.sampled_from(ZONES))
        if draw(st.booleans()):
            labels["disk"] = draw(st.sampled_from(["ssd", "hdd"]))
        out.append(
            node(
                f"n{i}",
                cpu=draw(st.sampled_from(["1", "2", "500m", "4"])),
                memory=draw(st.sampled_from(["1Gi", "2Gi", "8Gi"])),
                pods=draw(st.integers(1, 6)),
                labels=labels,
                taints=draw(st.lists(st.sampled_from(TAINTS), max_size=2, unique_by=str)),
                unschedulable=draw(st.booleans()) and draw(st.booleans()),
                images=draw(
                    st.lists(
                        st.tuples(st.sampled_from(["app:1", "app:2"]), st.integers(0, 2**31)),
                        max_size=2,
                        unique_by=lambda t: t[0],
                    )
                ),
            )
        )
    return out


@st.composite
def pods(draw: Any, name: str) -> Any:
    labels = {"app": draw(st.sampled_from(APPS))} if draw(st.booleans()) else {}
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["tolerations"] = draw(st.lists(st.sampled_from(TOLERATIONS), max_size=2))
    if draw(st.integers(0, 3)) == 0:
        spec["nodeSelector"] = {"disk": draw(st.sampled_from(["ssd", "hdd"]))}
    affinity: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        expression = {
            "key": "topology.kubernetes.io/zone",
            "operator": draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"])),
        }
        if expression["operator"] in ("In", "NotIn"):
            expression["values"] = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=2))
        affinity["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [expression]}]
            }
        }
    if draw(st.integers(0, 2)) == 0:
        affinity.setdefault("nodeAffinity", {})[
            "preferredDuringSchedulingIgnoredDuringExecution"
        ] = [
            {
                "weight": draw(st.integers(1, 100)),
                "preference": {
                    "matchExpressions": [
                        {
                            "key": "disk",
                            "operator": "In",
                            "values": [draw(st.sampled_from(["ssd", "hdd"]))],
                        }
                    ]
                },
            }
        ]
    for kind in ("podAffinity", "podAntiAffinity"):
        if draw(st.integers(0, 3)) == 0:
            t = term({"app": draw(st.sampled_from(APPS))}, draw(st.sampled_from(KEYS)))
            if draw(st.booleans()):
                affinity[kind] = {"requiredDuringSchedulingIgnoredDuringExecution": [t]}
            else:
                affinity[kind] = {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": draw(st.integers(1, 100)), "podAffinityTerm": t}
                    ]
                }
    if affinity:
        spec["affinity"] = affinity
    if draw(st.integers(0, 2)) == 0:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": draw(st.integers(1, 2)),
                "topologyKey": draw(st.sampled_from(KEYS)),
                "whenUnsatisfiable": draw(st.sampled_from(["DoNotSchedule", "ScheduleAnyway"])),
                "labelSelector": {"matchLabels": {"app": draw(st.sampled_from(APPS))}},
                **({"minDomains": 2} if draw(st.booleans()) else {}),
            }
        ]
    return pod(
        name,
        cpu=draw(st.sampled_from([None, "100m", "300m", "1"])),
        memory=draw(st.sampled_from([None, "100Mi", "1Gi"])),
        labels=labels,
        image=draw(st.sampled_from(["app:1", "app:2", "other"])),
        host_port=draw(st.sampled_from([0, 0, 8080])),
        **spec,
    )


def _decide(profile: Any, cache: Cache, info: PodInfo, reference: bool) -> tuple[str, Any]:
    result = profile.schedule(info, cache, reference=reference, rng=None)
    if result.node_name:
        cache.assume_pod(info, result.node_name)
        return result.node_name, None
    return "", result.diagnosis.message()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cluster=nodes(),
    existing=st.lists(st.tuples(pods("x"), st.integers(0, 8)), max_size=8),
    incoming=st.lists(pods("y"), min_size=1, max_size=8),
    repeat=st.booleans(),
)
def test_fast_path_decides_like_the_reference(
    cluster: list[Any], existing: list[Any], incoming: list[Any], repeat: bool
) -> None:
    fast, slow = Cache(), Cache()
    for n in cluster:
        fast.add_node(n)
        slow.add_node(n)
    for i, (p, where) in enumerate(existing):
        target = cluster[where % len(cluster)].metadata.name
        info = PodInfo.of(
            p.__class__(
                metadata=p.metadata.__class__(
                    name=f"x{i}", namespace="default", labels=p.metadata.labels
                ),
                spec=p.spec,
            )
        )
        fast.add_pod(info, target)
        slow.add_pod(info, target)
    fast_profile = default_profile(handle=Handle(cache=fast))
    slow_profile = default_profile(handle=Handle(cache=slow))
    if repeat:  # equivalent pods one after another: the shared-work path
        incoming = [incoming[0]] * len(incoming)
    for i, p in enumerate(incoming):
        info = PodInfo.of(
            p.__class__(
                metadata=p.metadata.__class__(
                    name=f"y{i}", namespace="default", labels=p.metadata.labels
                ),
                spec=p.spec,
            )
        )
        assert _decide(fast_profile, fast, info, False) == _decide(slow_profile, slow, info, True)
