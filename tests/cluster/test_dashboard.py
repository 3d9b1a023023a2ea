"""The live view's words: kubectl's age format and pod STATUS column."""

from __future__ import annotations

import datetime

import pytest
from rich.console import Console

from korch.api import (
    Container,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
)
from korch.cluster._dashboard import human_duration, pod_status, render
from korch.testing import Environment


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (125, "2m5s"),
        (180, "3m"),
        (15 * 60, "15m"),
        (3 * 3600 + 20 * 60, "3h20m"),
        (5 * 3600, "5h"),
        (30 * 3600, "30h"),
        (2 * 86400 + 4 * 3600, "2d4h"),
        (40 * 86400, "40d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def pod(*statuses: ContainerStatus, phase: str = "Running", deleting: bool = False) -> Pod:
    stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) if deleting else None
    return Pod(
        metadata=ObjectMeta(name="p", deletion_timestamp=stamp),
        spec=PodSpec(containers=[Container(name="c", image="x")]),
        status=PodStatus(phase=phase, container_statuses=list(statuses)),
    )


def waiting(reason: str) -> ContainerStatus:
    state = ContainerState(waiting=ContainerStateWaiting(reason=reason))
    return ContainerStatus(name="c", image="x", image_id="", ready=False, state=state)


def test_pod_status_words() -> None:
    running = ContainerStatus(
        name="c", image="x", image_id="", ready=True,
        state=ContainerState(running=ContainerStateRunning()),
    )  # fmt: skip
    done = ContainerStatus(
        name="c", image="x", image_id="", ready=False,
        state=ContainerState(terminated=ContainerStateTerminated(exit_code=0, reason="Completed")),
    )  # fmt: skip
    failed = ContainerStatus(
        name="c", image="x", image_id="", ready=False,
        state=ContainerState(terminated=ContainerStateTerminated(exit_code=3)),
    )  # fmt: skip
    assert pod_status(pod(phase="Pending")) == "Pending"
    assert pod_status(pod(waiting("ContainerCreating"), phase="Pending")) == "ContainerCreating"
    assert pod_status(pod(waiting("CrashLoopBackOff"))) == "CrashLoopBackOff"
    assert pod_status(pod(running)) == "Running"
    assert pod_status(pod(done, phase="Succeeded")) == "Completed"
    assert pod_status(pod(failed, phase="Failed")) == "ExitCode:3"
    assert pod_status(pod(running, deleting=True)) == "Terminating"


@pytest.mark.anyio
async def test_render_lists_pods() -> None:
    async with Environment() as env:
        await env.client.create(pod(phase=""))
        frame = await render(env.client, env.clock)
        console = Console(width=120, record=True)
        console.print(frame)
        text = console.export_text()
        assert "Pods" in text
        assert "<none>" in text
        assert "Pending" in text
