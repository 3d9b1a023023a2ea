"""Pod subresources: binding (the scheduler's write), eviction (PDB-aware delete), log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest

from korch import errors
from korch.api import (
    Binding,
    Container,
    DeleteOptions,
    LabelSelector,
    ObjectMeta,
    ObjectReference,
    Pod,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
    PodSpec,
    PodStatus,
)
from korch.apiserver import APIServer, PodLogOptions, PodLogSource, status_for_error
from tests.apiserver.conftest import make_pod

pytestmark = pytest.mark.anyio


def binding(name: str, node: str, **meta: str) -> Binding:
    return Binding(metadata=ObjectMeta(name=name, **meta), target=ObjectReference(name=node))


async def test_binding_sets_node_name_and_pod_scheduled(any_api: APIServer) -> None:
    client = any_api.client()
    pod = await client.create(make_pod("web"))
    await client.bind(
        attrs.evolve(binding("web", "n1"), metadata=ObjectMeta(name="web", annotations={"a": "b"}))
    )
    bound = await client.get(Pod, "web")
    assert bound.spec.node_name == "n1"
    assert bound.metadata.annotations == {"a": "b"}
    scheduled = [c for c in bound.status.conditions if c.type == "PodScheduled"]
    assert [(c.status, c.last_transition_time is not None) for c in scheduled] == [("True", True)]
    assert int(bound.metadata.resource_version) > int(pod.metadata.resource_version)
    managers = {(e.manager, e.subresource) for e in bound.metadata.managed_fields}
    assert ("korch", "binding") in managers


async def test_binding_an_assigned_pod_is_a_conflict(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("web", node="n1"))
    with pytest.raises(errors.Conflict, match='pod web is already assigned to node "n1"'):
        await client.bind(binding("web", "n2"))
    assert (await client.get(Pod, "web")).spec.node_name == "n1"


async def test_binding_preconditions_and_missing_pod(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("web"))
    with pytest.raises(errors.Conflict, match="UID in precondition"):
        await client.bind(binding("web", "n1", uid="not-the-uid"))
    with pytest.raises(errors.NotFound, match='pods "nope" not found'):
        await client.bind(binding("nope", "n1"))
    with pytest.raises(errors.Invalid) as caught:
        await client.bind(binding("web", ""))
    assert [c.field for c in caught.value.causes] == ["target.name"]


async def test_binding_dry_run_changes_nothing(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("web"))
    await client.bind(binding("web", "n1"), dry_run=True)
    assert (await client.get(Pod, "web")).spec.node_name == ""


async def test_binding_a_pod_being_deleted_is_a_conflict(api: APIServer) -> None:
    client = api.client()
    pod = make_pod("web")
    await client.create(attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, finalizers=["x/y"])))
    await client.delete(Pod, "web")
    with pytest.raises(errors.Conflict, match="is being deleted"):
        await client.bind(binding("web", "n1"))


# -- eviction ------------------------------------------------------------------------------


def running(pod: Pod) -> Pod:
    return attrs.evolve(pod, status=PodStatus(phase="Running"))


async def make_budget(api: APIServer, allowed: int, *, fresh: bool = True) -> None:
    client = api.client()
    pdb = await client.create(
        PodDisruptionBudget(
            metadata=ObjectMeta(name="budget"),
            spec=PodDisruptionBudgetSpec(
                min_available=1, selector=LabelSelector(match_labels={"app": "web"})
            ),
        )
    )
    status = PodDisruptionBudgetStatus(
        observed_generation=pdb.metadata.generation if fresh else 0,
        disruptions_allowed=allowed,
        current_healthy=1 + allowed,
        desired_healthy=1,
        expected_pods=1 + allowed,
    )
    await client.update_status(attrs.evolve(pdb, status=status))


async def running_pod(api: APIServer, name: str, labels: dict[str, str]) -> None:
    client = api.client()
    await client.create(make_pod(name, labels=labels, node="n1"))
    await client.update_status(running(await client.get(Pod, name)))


async def test_eviction_without_a_budget_deletes(api: APIServer) -> None:
    client = api.client()
    await running_pod(api, "web", {"app": "web"})
    await client.evict("web", delete_options=DeleteOptions(grace_period_seconds=0))
    with pytest.raises(errors.NotFound):
        await client.get(Pod, "web")


async def test_eviction_spends_the_budget_then_refuses(api: APIServer) -> None:
    client = api.client()
    await make_budget(api, allowed=1)
    await running_pod(api, "a", {"app": "web"})
    await running_pod(api, "b", {"app": "web"})
    await client.evict("a", delete_options=DeleteOptions(grace_period_seconds=0))
    pdb = await client.get(PodDisruptionBudget, "budget")
    assert pdb.status.disruptions_allowed == 0
    assert set(pdb.status.disrupted_pods) == {"a"}
    with pytest.raises(errors.TooManyRequests) as caught:
        await client.evict("b")
    status = status_for_error(caught.value)
    assert status.code == 429
    assert status.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status.details is not None
    assert [c.reason for c in status.details.causes] == ["DisruptionBudget"]
    assert "needs 1 healthy pods and has 2 currently" in status.details.causes[0].message
    assert (await client.get(Pod, "b")).metadata.deletion_timestamp is None


async def test_eviction_waits_for_a_processed_budget(api: APIServer) -> None:
    await make_budget(api, allowed=3, fresh=False)
    await running_pod(api, "a", {"app": "web"})
    with pytest.raises(errors.TooManyRequests):
        await api.client().evict("a")


async def test_eviction_ignores_budgets_for_pending_or_other_pods(api: APIServer) -> None:
    client = api.client()
    await make_budget(api, allowed=0)
    await client.create(make_pod("pending", labels={"app": "web"}))
    await client.evict("pending")
    await running_pod(api, "other", {"app": "db"})
    await client.evict("other", delete_options=DeleteOptions(grace_period_seconds=0))
    assert (await client.list(Pod)).items == []


# -- log -----------------------------------------------------------------------------------


@attrs.define
class FakeLogs:
    """A node's log source: fixed lines per container."""

    lines: dict[str, list[bytes]]
    asked: list[PodLogOptions] = attrs.Factory(list)

    async def pod_log(self, pod: Pod, options: PodLogOptions) -> AsyncIterator[bytes]:
        self.asked.append(options)
        chosen = self.lines[options.container]
        if options.tail_lines is not None:
            chosen = chosen[len(chosen) - options.tail_lines :]
        for line in chosen:
            yield line


async def test_pod_log_comes_from_the_nodes_source(api: APIServer) -> None:
    client = api.client()
    source = FakeLogs({"c": [b"one\n", b"two\n", b"three\n"]})
    assert isinstance(source, PodLogSource)
    api.register_log_source("n1", source)
    await client.create(make_pod("web", node="n1"))
    assert await client.read_pod_log("web") == "one\ntwo\nthree\n"
    assert await client.read_pod_log("web", options=PodLogOptions(tail_lines=1)) == "three\n"
    async with client.pod_log("web", options=PodLogOptions(follow=True)) as chunks:
        assert [chunk async for chunk in chunks] == [b"one\n", b"two\n", b"three\n"]
    assert [o.container for o in source.asked] == ["c", "c", "c"]
    assert source.asked[2].follow


async def test_pod_log_errors_name_the_problem(api: APIServer) -> None:
    client = api.client()
    await client.create(make_pod("unscheduled"))
    with pytest.raises(errors.BadRequest, match="does not have a host assigned"):
        await client.read_pod_log("unscheduled")
    await client.create(make_pod("elsewhere", node="n9"))
    with pytest.raises(errors.BadRequest, match='node "n9"'):
        await client.read_pod_log("elsewhere")
    two = Pod(
        metadata=ObjectMeta(name="two"),
        spec=PodSpec(
            containers=[Container(name="a", image="x"), Container(name="b", image="x")],
            node_name="n1",
        ),
    )
    api.register_log_source("n1", FakeLogs({"a": [], "b": []}))
    await client.create(two)
    with pytest.raises(errors.BadRequest, match=r"choose one of: \[a b\]"):
        await client.read_pod_log("two")
    with pytest.raises(errors.BadRequest, match="container z is not valid for pod two"):
        await client.read_pod_log("two", options=PodLogOptions(container="z"))
    with pytest.raises(errors.NotFound):
        await client.read_pod_log("missing")
