"""The command line: commands exist, validate their options and write the JSON they promise."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from korch.cli import main


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "bench" in result.output


def test_bench_store_writes_snake_case_json(tmp_path: Path) -> None:
    out = tmp_path / "store.json"
    result = CliRunner().invoke(
        main,
        [
            "bench", "store", "--backend", "memory", "--backend", "sqlite",
            "--ops", "128", "--watchers", "4", "--rate", "2000", "--duration", "0.1",
            "--json", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert {r["backend"] for r in rows} == {"memory", "sqlite"}
    workloads = {r["workload"] for r in rows}
    assert {"put", "get", "range", "txn", "watch x4"} <= workloads
    for row in rows:
        assert set(row) == {
            "backend", "workload", "concurrency", "operations", "seconds", "ops_per_s",
            "p50_ms", "p99_ms", "delivered_events_per_s",
        }  # fmt: skip
        assert row["ops_per_s"] > 0


def test_bench_store_rejects_an_unknown_backend() -> None:
    result = CliRunner().invoke(main, ["bench", "store", "--backend", "redis"])
    assert result.exit_code == 2 and "redis" in result.output
