"""NodeAgent on a FakeRuntime and a FakeClock: registration, heartbeats, pod life cycle."""

from __future__ import annotations

import anyio
import pytest

from korch import errors
from korch.api import (
    ConfigMap,
    ConfigMapKeySelector,
    Container,
    EnvVar,
    EnvVarSource,
    Lease,
    Node,
    ObjectMeta,
    Pod,
    Taint,
)
from korch.apiserver import PodLogOptions
from korch.node import NodeAgent
from korch.runtime import FakeRuntime
from korch.testing import Environment
from tests.node.conftest import pod

pytestmark = pytest.mark.anyio


async def get_pod(env: Environment, name: str) -> Pod:
    return await env.client.get(Pod, name, namespace="default")


def condition(p: Pod, kind: str) -> str:
    return next((c.status for c in p.status.conditions if c.type == kind), "")


async def test_registers_node_and_renews_its_lease(env: Environment, runtime: FakeRuntime) -> None:
    agent = NodeAgent(
        env.client,
        runtime,
        "n1",
        clock=env.clock,
        capacity={"cpu": "4", "memory": "8Gi", "pods": "110"},
        labels={"zone": "a"},
        taints=[Taint(key="dedicated", value="gpu", effect="NoSchedule")],
    )
    async with anyio.create_task_group() as group:
        group.start_soon(agent.run)
        await env.settle()
        node = await env.client.get(Node, "n1")
        assert node.metadata.labels["zone"] == "a"
        assert node.metadata.labels["kubernetes.io/hostname"] == "n1"
        assert [t.key for t in node.spec.taints] == ["dedicated"]
        assert node.status.capacity["cpu"] == "4"
        assert node.status.allocatable["memory"] == "8Gi"
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert (ready.status, ready.reason) == ("True", "KubeletReady")
        assert node.status.node_info.container_runtime_version == "fake://0.1.0"
        lease = await env.client.get(Lease, "n1", namespace="kube-node-lease")
        assert lease.spec.holder_identity == "n1"
        assert lease.spec.lease_duration_seconds == 40
        assert lease.metadata.owner_references[0].uid == node.metadata.uid
        first = lease.spec.renew_time
        await env.advance(10)
        renewed = await env.client.get(Lease, "n1", namespace="kube-node-lease")
        assert renewed.spec.renew_time is not None and first is not None
        assert (renewed.spec.renew_time - first).total_seconds() == pytest.approx(10)
        group.cancel_scope.cancel()


async def test_a_pod_runs_and_reports_its_status(env: Environment, agent: NodeAgent) -> None:
    await env.client.create(pod("web"))
    await env.settle()
    web = await get_pod(env, "web")
    assert web.status.phase == "Running"
    assert web.status.pod_ip.startswith("10.")
    assert web.status.host_ip == "127.0.0.1"
    for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
        assert condition(web, kind) == "True"
    (status,) = web.status.container_statuses
    assert status.ready and status.started and status.restart_count == 0
    assert status.state.running is not None
    assert status.container_id.startswith("fake://")


async def test_pods_of_other_nodes_are_left_alone(env: Environment, agent: NodeAgent) -> None:
    await env.client.create(pod("elsewhere", node="n2"))
    await env.settle()
    assert (await get_pod(env, "elsewhere")).status.phase == "Pending"


async def test_start_latency_shows_container_creating(env: Environment, agent: NodeAgent) -> None:
    await env.client.create(pod("slow", annotations={"fake.korch.io/start-latency": "5"}))
    await env.settle()
    slow = await get_pod(env, "slow")
    assert slow.status.phase == "Pending"
    assert slow.status.container_statuses[0].state.waiting is not None
    assert slow.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    await env.advance(5)
    assert (await get_pod(env, "slow")).status.phase == "Running"


async def test_init_containers_run_in_order_before_containers(
    env: Environment, agent: NodeAgent
) -> None:
    notes = {"fake.korch.io/first.run-seconds": "5", "fake.korch.io/second.run-seconds": "5"}
    init = (Container(name="first", image="busybox"), Container(name="second", image="busybox"))
    await env.client.create(pod("ordered", init=init, annotations=notes))
    await env.settle()
    p = await get_pod(env, "ordered")
    assert p.status.phase == "Pending"
    assert condition(p, "Initialized") == "False"
    states = [s.state for s in p.status.init_container_statuses]
    assert states[0].running is not None and states[1].waiting is not None
    waiting = p.status.container_statuses[0].state.waiting
    assert waiting is not None and waiting.reason == "PodInitializing"
    await env.advance(5)
    p = await get_pod(env, "ordered")
    terminated = p.status.init_container_statuses[0].state.terminated
    assert terminated is not None and terminated.reason == "Completed"
    assert p.status.init_container_statuses[1].state.running is not None
    await env.advance(5)
    p = await get_pod(env, "ordered")
    assert p.status.phase == "Running"
    assert condition(p, "Initialized") == "True"


async def test_a_failed_init_container_fails_a_never_restart_pod(
    env: Environment, agent: NodeAgent
) -> None:
    notes = {"fake.korch.io/setup.run-seconds": "1", "fake.korch.io/setup.exit-code": "2"}
    setup = Container(name="setup", image="busybox")
    await env.client.create(pod("once", init=(setup,), annotations=notes, restart_policy="Never"))
    await env.advance(1)
    p = await get_pod(env, "once")
    assert p.status.phase == "Failed"
    assert p.status.container_statuses[0].state.running is None


@pytest.mark.parametrize(
    ("policy", "exit_code", "phase"),
    [("Never", 0, "Succeeded"), ("Never", 3, "Failed"), ("OnFailure", 0, "Succeeded")],
)
async def test_restart_policy_decides_terminal_phases(
    env: Environment, agent: NodeAgent, policy: str, exit_code: int, phase: str
) -> None:
    notes = {"fake.korch.io/run-seconds": "2", "fake.korch.io/exit-code": str(exit_code)}
    await env.client.create(pod("job", annotations=notes, restart_policy=policy))
    await env.advance(2)
    p = await get_pod(env, "job")
    assert p.status.phase == phase
    terminated = p.status.container_statuses[0].state.terminated
    assert terminated is not None and terminated.exit_code == exit_code
    assert condition(p, "Ready") == "False"
    await env.advance(600)
    assert (await get_pod(env, "job")).status.container_statuses[0].restart_count == 0


async def test_crash_loop_backs_off_10s_doubling_to_5_minutes(
    env: Environment, agent: NodeAgent
) -> None:
    notes = {"fake.korch.io/run-seconds": "1", "fake.korch.io/exit-code": "1"}
    await env.client.create(pod("crash", annotations=notes))
    await env.advance(1)  # first exit: restarted at once (the kubelet's first restart)
    p = await get_pod(env, "crash")
    status = p.status.container_statuses[0]
    assert status.restart_count == 1 and status.state.running is not None
    assert status.last_state.terminated is not None
    assert status.last_state.terminated.exit_code == 1
    assert p.status.phase == "Running"
    delays = []
    for _ in range(7):
        await env.advance(1)  # the container runs 1 s, then exits
        before = (await get_pod(env, "crash")).status.container_statuses[0]
        waiting = before.state.waiting
        assert waiting is not None and waiting.reason == "CrashLoopBackOff"
        waited = 0
        while (await get_pod(env, "crash")).status.container_statuses[0].restart_count == (
            before.restart_count
        ):
            await env.advance(1)
            waited += 1
        delays.append(waited)
    assert delays == [10, 20, 40, 80, 160, 300, 300]


async def test_back_off_resets_after_ten_minutes_running(env: Environment) -> None:
    def behavior(sandbox, config):  # type: ignore[no-untyped-def]
        from korch.runtime import FakeBehavior

        seconds = 700 if config.attempt == 3 else 1
        return FakeBehavior(run_seconds=seconds, exit_code=1)

    runtime = FakeRuntime(clock=env.clock, behavior=behavior)
    agent = NodeAgent(env.client, runtime, "n1", clock=env.clock, heartbeat_seconds=3600)
    async with anyio.create_task_group() as group:
        group.start_soon(agent.run)
        await env.settle()
        await env.client.create(pod("flaky"))
        # attempt 0 exits at 1 s (restart now), 1 at 2 s (+10 s), 2 at 13 s (+20 s),
        # attempt 3 starts at 33 s and runs 700 s: its exit restarts at once
        await env.advance(33)
        assert (await get_pod(env, "flaky")).status.container_statuses[0].restart_count == 3
        await env.advance(700)
        status = (await get_pod(env, "flaky")).status.container_statuses[0]
        assert status.restart_count == 4 and status.state.running is not None
        group.cancel_scope.cancel()


async def test_failed_liveness_probe_restarts_the_container(
    env: Environment, runtime: FakeRuntime, agent: NodeAgent
) -> None:
    from korch.api import ExecAction, Probe

    probe = Probe(exec=ExecAction(command=["true"]), period_seconds=5, failure_threshold=3)
    await env.client.create(pod("live", Container(name="app", image="x", liveness_probe=probe)))
    await env.settle()
    found = runtime.find_container("default", "live", "app")
    assert found is not None
    runtime.set_exec_exit_code(found.id, 1)
    await env.advance(10)  # failures at 0 s (before), 5 s, 10 s: not yet three
    assert (await get_pod(env, "live")).status.container_statuses[0].restart_count == 0
    await env.advance(5)
    status = (await get_pod(env, "live")).status.container_statuses[0]
    assert status.restart_count == 1
    assert status.last_state.terminated is not None


async def test_readiness_probe_gates_ready(
    env: Environment, runtime: FakeRuntime, agent: NodeAgent
) -> None:
    from korch.api import ExecAction, Probe

    probe = Probe(exec=ExecAction(command=["check"]), period_seconds=2, initial_delay_seconds=4)
    await env.client.create(pod("ready", Container(name="app", image="x", readiness_probe=probe)))
    await env.settle()
    p = await get_pod(env, "ready")
    assert p.status.phase == "Running" and condition(p, "Ready") == "False"
    await env.advance(4)
    assert condition(await get_pod(env, "ready"), "Ready") == "True"
    found = runtime.find_container("default", "ready", "app")
    assert found is not None
    runtime.set_exec_exit_code(found.id, 1)
    await env.advance(6)  # three failures at 2 s intervals
    p = await get_pod(env, "ready")
    assert condition(p, "Ready") == "False"
    assert condition(p, "ContainersReady") == "False"
    assert p.status.container_statuses[0].restart_count == 0


async def test_startup_probe_holds_back_liveness(
    env: Environment, runtime: FakeRuntime, agent: NodeAgent
) -> None:
    from korch.api import ExecAction, Probe

    startup = Probe(exec=ExecAction(command=["s"]), period_seconds=1, failure_threshold=30)
    liveness = Probe(exec=ExecAction(command=["l"]), period_seconds=1, failure_threshold=1)
    spec = Container(name="app", image="x", startup_probe=startup, liveness_probe=liveness)
    await env.client.create(pod("boot", spec, annotations={"fake.korch.io/exec-exit-code": "1"}))
    await env.advance(5)
    status = (await get_pod(env, "boot")).status.container_statuses[0]
    assert status.started is False and status.restart_count == 0  # liveness has not run
    await env.advance(30)  # the startup probe gave up: restart
    assert (await get_pod(env, "boot")).status.container_statuses[0].restart_count >= 1


async def test_graceful_deletion_waits_for_the_grace_period(
    env: Environment, runtime: FakeRuntime, agent: NodeAgent
) -> None:
    notes = {"fake.korch.io/termination-seconds": "100"}
    await env.client.create(pod("slowstop", annotations=notes, termination_grace_period_seconds=30))
    await env.settle()
    await env.client.delete(Pod, "slowstop", namespace="default")
    await env.advance(29)
    still = await get_pod(env, "slowstop")
    assert still.metadata.deletion_timestamp is not None
    await env.advance(1)
    with pytest.raises(errors.NotFound):
        await get_pod(env, "slowstop")
    assert not await runtime.list_pod_sandboxes()


async def test_a_quick_container_stops_at_once(
    env: Environment, runtime: FakeRuntime, agent: NodeAgent
) -> None:
    await env.client.create(pod("quick"))
    await env.settle()
    await env.client.delete(Pod, "quick", namespace="default")
    await env.settle()
    with pytest.raises(errors.NotFound):
        await get_pod(env, "quick")


async def test_active_deadline_fails_the_pod(env: Environment, agent: NodeAgent) -> None:
    await env.client.create(pod("deadline", active_deadline_seconds=60))
    await env.advance(60)
    p = await get_pod(env, "deadline")
    assert (p.status.phase, p.status.reason) == ("Failed", "DeadlineExceeded")


async def test_missing_config_map_is_a_config_error(env: Environment, agent: NodeAgent) -> None:
    ref = EnvVarSource(config_map_key_ref=ConfigMapKeySelector(name="settings", key="level"))
    spec = Container(name="app", image="x", env=[EnvVar(name="LEVEL", value_from=ref)])
    await env.client.create(pod("configured", spec))
    await env.settle()
    waiting = (await get_pod(env, "configured")).status.container_statuses[0].state.waiting
    assert waiting is not None and waiting.reason == "CreateContainerConfigError"
    assert 'configmap "settings" not found' in waiting.message
    await env.client.create(
        ConfigMap(metadata=ObjectMeta(name="settings", namespace="default"), data={"level": "3"})
    )
    await env.advance(10)
    assert (await get_pod(env, "configured")).status.phase == "Running"


async def test_create_errors_are_reported_not_hidden(env: Environment, agent: NodeAgent) -> None:
    await env.client.create(pod("broken", annotations={"fake.korch.io/create-error": "no way"}))
    await env.settle()
    p = await get_pod(env, "broken")
    waiting = p.status.container_statuses[0].state.waiting
    assert waiting is not None
    assert (waiting.reason, waiting.message) == ("CreateContainerError", "no way")
    assert p.status.phase == "Pending"


async def test_restarted_agent_adopts_without_duplicates(
    env: Environment, runtime: FakeRuntime
) -> None:
    first = NodeAgent(env.client, runtime, "n1", clock=env.clock, heartbeat_seconds=3600)
    async with anyio.create_task_group() as group:
        group.start_soon(first.run)
        await env.settle()
        await env.client.create(pod("keep"))
        await env.client.create(pod("gone"))
        await env.settle()
        group.cancel_scope.cancel()
    before = {c.id for c in await runtime.list_containers()}
    assert len(before) == 2
    await env.client.delete(Pod, "gone", namespace="default", grace_period_seconds=0)
    second = NodeAgent(env.client, runtime, "n1", clock=env.clock, heartbeat_seconds=3600)
    async with anyio.create_task_group() as group:
        group.start_soon(second.run)
        await env.settle()
        await env.advance(30)
        containers = await runtime.list_containers()
        kept = runtime.find_container("default", "keep", "app")
        assert kept is not None and kept.id in before and kept.state == "running"
        assert [c.id for c in containers] == [kept.id]  # the orphan is gone, nothing new
        assert len(await runtime.list_pod_sandboxes()) == 1
        assert (await get_pod(env, "keep")).status.container_statuses[0].restart_count == 0
        group.cancel_scope.cancel()


async def test_logs_through_the_api(
    env: Environment, runtime: FakeRuntime, agent: NodeAgent
) -> None:
    env.api.register_log_source("n1", agent)
    await env.client.create(pod("talky"))
    await env.settle()
    found = runtime.find_container("default", "talky", "app")
    assert found is not None
    runtime.write_log(found.id, b"one\ntwo\n")
    await env.advance(5)
    runtime.write_log(found.id, b"three\n")
    assert await env.client.read_pod_log("talky", namespace="default") == "one\ntwo\nthree\n"
    tail = PodLogOptions(tail_lines=1)
    assert await env.client.read_pod_log("talky", namespace="default", options=tail) == "three\n"
    since = PodLogOptions(since_seconds=2)
    assert await env.client.read_pod_log("talky", namespace="default", options=since) == "three\n"
    chunks = [c async for c in agent.read_log("default", "talky", "app", timestamps=True)]
    assert b"".join(chunks).splitlines()[0].endswith(b"Z one")
    with pytest.raises(errors.BadRequest, match="previous terminated container"):
        await env.client.read_pod_log(
            "talky", namespace="default", options=PodLogOptions(previous=True)
        )


async def test_follow_ends_when_the_container_exits(
    env: Environment, runtime: FakeRuntime, agent: NodeAgent
) -> None:
    await env.client.create(pod("tail", annotations={"fake.korch.io/run-seconds": "10"}))
    await env.settle()
    found = runtime.find_container("default", "tail", "app")
    assert found is not None
    received: list[bytes] = []

    async def follow() -> None:
        async for chunk in agent.read_log("default", "tail", "app", follow=True):
            received.append(chunk)

    async with anyio.create_task_group() as group:
        group.start_soon(follow)
        await env.settle()
        runtime.write_log(found.id, b"hello\n")
        await env.settle()
        assert received == [b"hello\n"]
        await env.advance(10)
    assert received == [b"hello\n"]
