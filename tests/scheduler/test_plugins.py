"""The default plugins, as kube-scheduler documents them (one scheduling cycle at a time)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from korch import errors
from korch.api import _selector
from korch.scheduler import (
    Cache,
    Handle,
    NodeResourcesFit,
    PodInfo,
    PodTopologySpread,
    Profile,
    build_profile,
    default_profile,
    nodes_to_find,
    register_plugin,
)

from ._builders import node, pod, term


def cluster(*nodes: Any, pods: tuple[tuple[Any, str], ...] = ()) -> Cache:
    cache = Cache()
    for n in nodes:
        cache.add_node(n)
    for p, where in pods:
        cache.add_pod(PodInfo.of(p), where)
    return cache


def schedule(cache: Cache, p: Any, profile: Profile | None = None, **kwargs: Any) -> Any:
    profile = profile or default_profile(handle=Handle(cache=cache))
    return profile.schedule(PodInfo.of(p), cache, rng=None, **kwargs)


def message(cache: Cache, p: Any, profile: Profile | None = None) -> str:
    result = schedule(cache, p, profile)
    assert result.node_name == ""
    text: str = result.diagnosis.message()
    return text


@pytest.fixture(params=[False, True], ids=["fast", "reference"])
def reference(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


# -- NodeResourcesFit -------------------------------------------------------------------------


def test_insufficient_resources_and_the_failed_scheduling_message() -> None:
    cache = cluster(
        node("a", cpu="1"),
        node("b", cpu="1", memory="100Mi"),
        node("c", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        node("d", pods=1),
        pods=((pod("x"), "d"),),
    )
    assert message(cache, pod("p", cpu="2")) == (
        "0/4 nodes are available: 1 Insufficient memory, 1 Too many pods, "
        "1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
    )  # kube-scheduler sorts the "count reason" strings


def test_requests_of_zero_always_fit() -> None:
    cache = cluster(node("a", cpu="0", memory="0"))
    assert schedule(cache, pod("p", cpu=None, memory=None)).node_name == "a"


def test_least_allocated_prefers_the_emptier_node(reference: bool) -> None:
    cache = cluster(node("a"), node("b"), pods=((pod("x", cpu="2"), "a"),))
    assert schedule(cache, pod("p"), reference=reference).node_name == "b"


def test_most_allocated_prefers_the_fuller_node(reference: bool) -> None:
    cache = cluster(node("a"), node("b"), pods=((pod("x", cpu="2", memory="8Gi"), "a"),))
    profile = build_profile(
        args={"NodeResourcesFit": {"strategy": "MostAllocated"}},
        disabled=["NodeResourcesBalancedAllocation"],
        handle=Handle(cache=cache),
    )
    assert schedule(cache, pod("p"), profile, reference=reference).node_name == "a"


def test_requested_to_capacity_ratio_follows_its_shape() -> None:
    fit = NodeResourcesFit(strategy="RequestedToCapacityRatio", shape=[(0, 0), (100, 10)])
    cache = cluster(node("a", cpu="1", memory="1Gi"))
    info = PodInfo.of(pod("p", cpu="500m", memory="512Mi"))
    assert fit.score(None, info, cache.by_name["a"]) == 50  # type: ignore[arg-type]


def test_unknown_scoring_strategy_is_rejected() -> None:
    with pytest.raises(errors.BadRequest, match=r"scoringStrategy\.type"):
        NodeResourcesFit(strategy="Random")


def test_balanced_allocation_prefers_even_cpu_and_memory_use(reference: bool) -> None:
    # both nodes end equally allocated on average; only b keeps cpu and memory in balance
    cache = cluster(
        node("a", cpu="4", memory="4Gi"),
        node("b", cpu="4", memory="4Gi"),
        pods=((pod("x", cpu="2", memory=None), "a"), (pod("y", cpu="1", memory="1Gi"), "b")),
    )
    profile = build_profile(disabled=["NodeResourcesFit"], handle=Handle(cache=cache))
    assert (
        schedule(cache, pod("p", cpu=None, memory=None), profile, reference=reference).node_name
        == "b"
    )


# -- node plugins -----------------------------------------------------------------------------


def test_unschedulable_nodes_unless_tolerated() -> None:
    cache = cluster(node("a", unschedulable=True))
    assert message(cache, pod("p")) == "0/1 nodes are available: 1 node(s) were unschedulable."
    tolerant = pod(
        "q", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]
    )
    assert schedule(cache, tolerant).node_name == "a"


def test_taints_and_tolerations(reference: bool) -> None:
    cache = cluster(
        node("gpu", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        node("spot", taints=[{"key": "spot", "value": "", "effect": "PreferNoSchedule"}]),
    )
    assert schedule(cache, pod("p"), reference=reference).node_name == "spot"
    tolerant = pod("q", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}])
    # PreferNoSchedule untolerated on "spot" counts against it (weight 3)
    assert schedule(cache, tolerant, reference=reference).node_name == "gpu"


def test_node_selector_and_required_node_affinity() -> None:
    cache = cluster(node("a", labels={"disk": "ssd"}), node("b", labels={"disk": "hdd"}))
    assert schedule(cache, pod("p", nodeSelector={"disk": "hdd"})).node_name == "b"
    assert message(cache, pod("q", nodeSelector={"disk": "nvme"})) == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    }
    assert schedule(cache, pod("r", affinity=affinity)).node_name == "a"


def test_preferred_node_affinity_weights(reference: bool) -> None:
    cache = cluster(node("a", labels={"disk": "ssd"}), node("b", labels={"zone": "z1"}))
    preferred = [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
        {
            "weight": 60,
            "preference": {
                "matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]
            },
        },
    ]
    p = pod(
        "p",
        affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}},
    )
    assert schedule(cache, p, reference=reference).node_name == "b"


def test_host_ports_conflict() -> None:
    cache = cluster(node("a"), node("b"), pods=((pod("x", host_port=8080), "a"),))
    assert schedule(cache, pod("p", host_port=8080)).node_name == "b"
    cache.add_pod(PodInfo.of(pod("y", host_port=8080)), "b")
    assert message(cache, pod("q", host_port=8080)) == (
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."
    )


def test_image_locality_prefers_nodes_with_the_image(reference: bool) -> None:
    cache = cluster(
        node("a"),
        node("b", images=[("registry.example/app:1", 500 * 1024 * 1024)]),
    )
    p = pod("p", image="registry.example/app:1")
    assert schedule(cache, p, reference=reference).node_name == "b"


# -- PodTopologySpread ------------------------------------------------------------------------

ZONE = "topology.kubernetes.io/zone"


def spread(when: str = "DoNotSchedule", key: str = ZONE, skew: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": skew,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]


def test_hard_spread_keeps_zones_within_max_skew(reference: bool) -> None:
    web = {"app": "web"}
    cache = cluster(
        node("a1", labels={ZONE: "a"}),
        node("b1", labels={ZONE: "b"}),
        node("none"),
        pods=((pod("x", labels=web), "a1"),),
    )
    result = schedule(
        cache, pod("p", labels=web, topologySpreadConstraints=spread()), reference=reference
    )
    assert result.node_name == "b1"
    full = cluster(
        node("a1", labels={ZONE: "a"}),
        node("b1", labels={ZONE: "b"}, cpu="50m"),
        node("none"),
        pods=((pod("x", labels=web), "a1"), (pod("y", labels=web), "a1")),
    )
    assert message(full, pod("q", labels=web, topologySpreadConstraints=spread())) == (
        "0/3 nodes are available: 1 Insufficient cpu, "
        "1 node(s) didn't match pod topology spread constraints, "
        "1 node(s) didn't match pod topology spread constraints (missing required label)."
    )


def test_soft_spread_prefers_the_emptier_zone(reference: bool) -> None:
    web = {"app": "web"}
    cache = cluster(
        node("a1", labels={ZONE: "a"}),
        node("b1", labels={ZONE: "b"}),
        pods=((pod("x", labels=web), "a1"), (pod("y", labels=web), "a1")),
    )
    p = pod("p", labels=web, topologySpreadConstraints=spread("ScheduleAnyway"))
    assert schedule(cache, p, reference=reference).node_name == "b1"


def test_default_constraints_use_the_default_selector() -> None:
    web = {"app": "web"}
    cache = cluster(
        node("a"), node("b"), pods=((pod("x", labels=web, cpu=None, memory=None), "a"),)
    )
    selector = _selector.parse_selector("app=web")
    spread_plugin = PodTopologySpread(default_selector=lambda info: selector)
    profile = Profile([spread_plugin], weights={"PodTopologySpread": 2})
    assert schedule(cache, pod("p", labels=web), profile).node_name == "b"
    without = Profile([PodTopologySpread()])
    assert schedule(cache, pod("p", labels=web), without).node_name == "a"  # lowest slot


# -- InterPodAffinity -------------------------------------------------------------------------

HOST = "kubernetes.io/hostname"


def test_required_anti_affinity_spreads_over_hosts(reference: bool) -> None:
    web = {"app": "web"}
    anti = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(web, HOST)]}
    }
    cache = cluster(node("a"), node("b"), pods=((pod("x", labels=web), "a"),))
    assert (
        schedule(cache, pod("p", labels=web, affinity=anti), reference=reference).node_name == "b"
    )
    cache.add_pod(PodInfo.of(pod("y", labels=web)), "b")
    assert message(cache, pod("q", labels=web, affinity=anti)) == (
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
    )


def test_existing_pods_anti_affinity_is_respected() -> None:
    db = {"app": "db"}
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(db, HOST)]}}
    cache = cluster(node("a"), pods=((pod("x", labels={"app": "web"}, affinity=anti), "a"),))
    assert message(cache, pod("p", labels=db)) == (
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."
    )


def test_required_affinity_and_the_first_pod_of_a_group(reference: bool) -> None:
    web = {"app": "web"}
    affinity = {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(web, ZONE)]}
    }
    cache = cluster(node("a", labels={ZONE: "a"}), node("b", labels={ZONE: "b"}), node("c"))
    # nobody matches yet and the pod matches its own term: any node with the key will do
    first = schedule(cache, pod("p", labels=web, affinity=affinity), reference=reference)
    assert first.node_name in ("a", "b")
    cache.assume_pod(PodInfo.of(pod("p", labels=web, affinity=affinity)), first.node_name)
    second = schedule(cache, pod("q", labels=web, affinity=affinity), reference=reference)
    assert second.node_name == first.node_name
    # a pod that does not match its own term needs an existing match
    lonely = cluster(node("a", labels={ZONE: "a"}))
    assert message(lonely, pod("r", labels={"app": "db"}, affinity=affinity)) == (
        "0/1 nodes are available: 1 node(s) didn't match pod affinity rules."
    )


def test_preferred_affinity_scores(reference: bool) -> None:
    web = {"app": "web"}
    preferred = {
        "podAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": term(web, HOST)}
            ]
        }
    }
    cache = cluster(node("a"), node("b"), pods=((pod("x", labels=web), "b"),))
    assert schedule(cache, pod("p", affinity=preferred), reference=reference).node_name == "b"


# -- profiles ---------------------------------------------------------------------------------


def test_nodes_to_find_follows_kube_scheduler() -> None:
    assert nodes_to_find(50, 0) == 50
    assert nodes_to_find(5000, 100) == 5000
    assert nodes_to_find(5000, 0) == 5000 * 10 // 100  # 50 - 5000/125 = 10 %
    assert nodes_to_find(100_000, 0) == 5000  # at least 5 %
    assert nodes_to_find(1000, 1) == 100  # at least 100 nodes


def test_percentage_of_nodes_to_score_rotates() -> None:
    cache = cluster(*(node(f"n{i:03d}") for i in range(200)))
    profile = build_profile(percentage_of_nodes_to_score=50, handle=Handle(cache=cache))
    first = schedule(cache, pod("p"), profile)
    assert first.feasible == 100
    second = schedule(cache, pod("q"), profile)
    assert int(first.node_name[1:]) < 100 <= int(second.node_name[1:])


def test_profile_validation() -> None:
    with pytest.raises(errors.BadRequest, match="unknown scheduler plugins"):
        build_profile(enabled=["NoSuchPlugin"])
    with pytest.raises(errors.BadRequest, match="invalid args"):
        build_profile(args={"NodeAffinity": {"bogus": 1}})
    with pytest.raises(errors.BadRequest, match="percentageOfNodesToScore"):
        build_profile(percentage_of_nodes_to_score=101)
    fit = NodeResourcesFit()
    with pytest.raises(errors.BadRequest, match="listed twice"):
        Profile([fit, fit])


def test_registered_plugins_join_profiles() -> None:
    class PreferB:
        name = "PreferB"

        def score(self, state: Any, pod: Any, node: Any) -> int:
            return 100 if node.name == "b" else 0

        def normalize_score(self, state: Any, pod: Any, scores: Any) -> None:
            return None

    register_plugin("PreferB", lambda args, handle: PreferB())
    cache = cluster(node("a"), node("b"))
    profile = build_profile(
        enabled=["PreferB"], weights={"PreferB": 10}, handle=Handle(cache=cache)
    )
    assert profile.weights["PreferB"] == 10
    assert schedule(cache, pod("p"), profile).node_name == "b"


def test_random_tie_breaking_uses_every_best_node() -> None:
    cache = cluster(node("a"), node("b"), node("c"))
    profile = default_profile(handle=Handle(cache=cache))
    rng = random.Random(3)
    chosen = {
        profile.schedule(PodInfo.of(pod(f"p{i}")), cache, rng=rng).node_name for i in range(30)
    }
    assert chosen == {"a", "b", "c"}


def test_fast_path_follows_node_changes() -> None:
    cache = cluster(node("a", labels={"disk": "ssd"}), node("b"), node("c", labels={"disk": "hdd"}))
    profile = default_profile(handle=Handle(cache=cache))
    wants_ssd = pod("p", nodeSelector={"disk": "ssd"})
    assert schedule(cache, wants_ssd, profile).node_name == "a"
    cache.remove_node("a")
    assert schedule(cache, wants_ssd, profile).node_name == ""
    cache.add_node(node("b", labels={"disk": "ssd"}))  # relabelled
    assert schedule(cache, wants_ssd, profile).node_name == "b"
    cache.add_node(node("d", labels={"disk": "ssd"}, cpu="8"))  # reuses a's slot
    for reference in (False, True):
        assert schedule(cache, wants_ssd, profile, reference=reference).node_name == "d"
    heartbeat = cache.node_version
    cache.add_node(node("d", labels={"disk": "ssd"}, cpu="8"))  # nothing placement-relevant
    assert cache.node_version == heartbeat
