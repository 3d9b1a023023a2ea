"""korch snapshot save|restore: a running cluster's SQLite store, and etcd."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from click.testing import CliRunner, Result

from korch.api import ConfigMap, ObjectMeta
from korch.apiserver import APIServer
from korch.cli import main
from korch.store import SQLiteStore
from korch.testing import EtcdServer, _etcd_server


def test_save_while_running_then_restore_elsewhere(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    backup = tmp_path / "backup.db"
    restored = tmp_path / "restored"
    runner = CliRunner()

    async def scenario() -> None:
        async with SQLiteStore(data / "state.db") as store:  # the cluster is "running"
            client = APIServer(store).client()
            await client.create(ConfigMap(metadata=ObjectMeta(name="kept"), data={"a": "1"}))
            args = ["snapshot", "save", str(backup), "--data-dir", str(data)]
            results: list[Result] = []
            # a thread of its own: the command runs its own event loop, as in a second process
            thread = threading.Thread(target=lambda: results.append(runner.invoke(main, args)))
            thread.start()
            await anyio.to_thread.run_sync(thread.join)
            (result,) = results
            assert result.exit_code == 0, result.output
            assert "saved a snapshot" in result.output
            await client.create(ConfigMap(metadata=ObjectMeta(name="later")))

    anyio.run(scenario)
    result = runner.invoke(main, ["snapshot", "restore", str(backup), "--data-dir", str(restored)])
    assert result.exit_code == 0, result.output

    async def check() -> None:
        async with SQLiteStore(restored / "state.db") as store:
            client = APIServer(store).client()
            assert (await client.get(ConfigMap, "kept")).data == {"a": "1"}
            names = [c.metadata.name for c in (await client.list(ConfigMap)).items]
            assert names == ["kept"]
            await client.create(ConfigMap(metadata=ObjectMeta(name="continues")))

    anyio.run(check)


def test_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["snapshot", "save", str(tmp_path / "b.db"), "--data-dir", str(tmp_path / "none")]
    )
    assert result.exit_code != 0
    assert "no store at" in result.output
    not_a_snapshot = tmp_path / "junk.db"
    not_a_snapshot.write_bytes(b"junk" * 100)
    result = runner.invoke(
        main, ["snapshot", "restore", str(not_a_snapshot), "--data-dir", str(tmp_path / "r")]
    )
    assert result.exit_code != 0
    assert "not a korch store or snapshot" in result.output
    result = runner.invoke(main, ["snapshot", "save", "x.db", "--store", "memory"])
    assert result.exit_code != 0
    assert "cannot snapshot store 'memory'" in result.output


@pytest.mark.etcd
def test_etcd_snapshot_save_and_restore(tmp_path: Path) -> None:
    if _etcd_server.find_etcd() is None:
        if os.environ.get("CI"):
            pytest.fail(_etcd_server.INSTALL_HINT)
        pytest.skip(_etcd_server.INSTALL_HINT)
    runner = CliRunner()
    backup = tmp_path / "etcd.snap"
    with EtcdServer() as server:
        host = server.client_url.removeprefix("http://")
        result = runner.invoke(main, ["snapshot", "save", str(backup), "--store", f"etcd://{host}"])
        assert result.exit_code == 0, result.output
    assert backup.stat().st_size > 0
    target = tmp_path / "etcd-data"
    result = runner.invoke(
        main,
        [
            "snapshot",
            "restore",
            str(backup),
            "--store",
            f"etcd://{host}",
            "--data-dir",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (target / "member").is_dir()
