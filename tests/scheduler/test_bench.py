"""``korch bench scheduler``: the command runs workloads end to end and writes JSON; the YAML
workload format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from korch import errors
from korch.cli._bench_scheduler import bench_scheduler
from korch.scheduler import _perf

KEYS = {
    "workload", "nodes", "init_pods", "measured_pods", "throughput_avg", "latency_p50_ms",
    "latency_p99_ms", "peak_rss_mb",
}  # fmt: skip


def test_bench_writes_the_architecture_keys(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        bench_scheduler,
        [
            "--workload",
            "SchedulingBasic",
            "--workload",
            "SchedulingPodAntiAffinity",
            "--nodes",
            "30",
            "--pods",
            "20",
            "--init-pods",
            "10",
            "--reference-pods",
            "5",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "kube threshold" in result.output
    assert "fast path" in result.output  # the speedup line of SchedulingBasic
    rows = json.loads(out.read_text())
    assert [(r["workload"], r["implementation"]) for r in rows] == [
        ("SchedulingBasic", "fast"),
        ("SchedulingBasic", "reference"),
        ("SchedulingPodAntiAffinity", "fast"),
    ]
    for row in rows:
        assert row.keys() >= KEYS
        assert row["throughput_avg"] > 0
        assert row["bound"] == row["measured_pods"]


def test_unknown_workload_is_a_clear_error() -> None:
    result = CliRunner().invoke(bench_scheduler, ["--workload", "Nope"])
    assert result.exit_code != 0
    assert "unknown workload 'Nope'" in result.output


def test_yaml_workload_file(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "name: GpuNodes\n"
        "nodes: 10\n"
        "initPods: 2\n"
        "measuredPods: 5\n"
        "nodeTemplate: {metadata: {labels: {gpu: 'true'}}}\n"
        "podTemplate: {spec: {nodeSelector: {gpu: 'true'}}}\n"
    )
    out = tmp_path / "out.json"
    result = CliRunner().invoke(bench_scheduler, ["--file", str(path), "--json", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())
    assert (row["workload"], row["nodes"], row["bound"]) == ("GpuNodes", 10, 5)


def test_workload_file_errors_name_the_field() -> None:
    with pytest.raises(errors.BadRequest, match=r"workloads\[0\]\.nodes: Required value"):
        _perf.load_workloads("name: x\nmeasuredPods: 1\n")
    with pytest.raises(errors.BadRequest, match=r"workloads\[1\]\.nodes: must be"):
        _perf.load_workloads(
            "workloads:\n- {name: a, nodes: 1, measuredPods: 1}\n"
            "- {name: b, nodes: -1, measuredPods: 1}\n"
        )
