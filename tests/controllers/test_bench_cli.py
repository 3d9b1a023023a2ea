"""``korch bench controllers`` (the click command; the lead wires it into ``korch bench``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from korch.cli._bench_controllers import bench_controllers


def test_bench_controllers_writes_snake_case_json(tmp_path: Path) -> None:
    out = tmp_path / "controllers.json"
    result = CliRunner().invoke(
        bench_controllers,
        ["--objects", "60", "--pods", "20", "--gc-threshold", "0", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "reconcile" in result.output
    rows = json.loads(out.read_text())
    assert [r["workload"] for r in rows] == [
        "reconcile",
        "informer memory (default transform)",
        "informer memory (no transform)",
        "informer memory (default transform, in-process)",
    ]
    for row in rows:
        assert all(re.fullmatch(r"[a-z0-9_]+", key) for key in row)
    reconcile = rows[0]
    assert reconcile["objects"] == 60 and reconcile["child_writes"] == 60
    assert reconcile["lost_children"] == reconcile["duplicate_children"] == 0
    assert reconcile["not_ready"] == 0
    assert rows[1]["bytes_per_pod"] < rows[2]["bytes_per_pod"]


def test_bench_controllers_rejects_bad_counts() -> None:
    result = CliRunner().invoke(bench_controllers, ["--objects", "0"])
    assert result.exit_code != 0 and "--objects" in result.output
