"""Real etcd processes for tests and benchmarks: :class:`EtcdServer` and :class:`EtcdCluster`.

Each member runs ``/usr/bin/etcd`` (Debian's ``etcd-server``; or ``etcd`` on PATH) on free
loopback ports (picked by binding port 0) with a data directory in a temporary directory,
quiet logs written to ``<tmp>/<name>.log``, and is waited for until ``/health`` answers
(bounded by ``startup_timeout``). Stopping kills the processes and removes what was
created; a garbage-collected server kills its processes too, so a failing test never
leaves an etcd behind.

    with EtcdServer() as etcd:                 # or: async with EtcdServer() as etcd
        store = EtcdStore([etcd.endpoint])

    with EtcdCluster(3) as cluster:
        store = EtcdStore(cluster.endpoints)
        cluster.kill_member(cluster.leader())  # kill -9; start_member(i) brings it back
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import anyio
import httpx

from korch import errors

__all__ = ("EtcdCluster", "EtcdServer", "find_etcd")

INSTALL_HINT = "install etcd: apt-get install -y etcd-server"


def find_etcd() -> str | None:
    """The etcd binary: ``/usr/bin/etcd`` if present, else ``etcd`` on PATH, else None."""
    if os.access("/usr/bin/etcd", os.X_OK):
        return "/usr/bin/etcd"
    return shutil.which("etcd")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@functools.lru_cache(maxsize=8)
def _etcd_version(binary: str) -> tuple[int, int]:
    output = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    for line in output.splitlines():
        if line.startswith("etcd Version:"):
            major, minor = line.split(":", 1)[1].strip().split(".")[:2]
            return int(major), int(minor)
    return (3, 4)


def _kill_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


class _Member:
    def __init__(self, name: str, data_dir: str) -> None:
        self.name = name
        self.data_dir = data_dir
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"


class EtcdCluster:
    """``n`` etcd members on loopback, one temporary directory for all their data.

    Args:
        n: number of members (1, 3, 5…).
        etcd: the etcd binary (default: :func:`find_etcd`).
        startup_timeout: seconds to wait for every member to be healthy.
        extra_args: more flags for every member (e.g.
            ``["--experimental-watch-progress-notify-interval=500ms"]``).

    Raises (on start):
        korch.errors.StoreUnavailable: etcd is not installed, or did not become healthy
            (the message has the tail of its log).
    """

    def __init__(
        self,
        n: int = 3,
        *,
        etcd: str | None = None,
        startup_timeout: float = 20.0,
        extra_args: Sequence[str] = (),
        _data_dir: str | None = None,
        _name: str = "korch",
    ) -> None:
        if n < 1:
            raise errors.InvalidRequest(f"a cluster needs at least one member, got {n}")
        self._n = n
        self._binary = etcd
        self._startup_timeout = startup_timeout
        self._extra_args = tuple(extra_args)
        self._given_data_dir = _data_dir
        self._name = _name
        self._token = f"korch-{uuid.uuid4().hex[:12]}"
        self._tmp: str | None = None
        self._members: list[_Member] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._finalizer: weakref.finalize[..., EtcdCluster] | None = None

    # -- properties ----------------------------------------------------------------------

    @property
    def endpoints(self) -> list[str]:
        """Client URLs of every member, in member order."""
        return [member.client_url for member in self._members]

    @property
    def names(self) -> list[str]:
        return [member.name for member in self._members]

    @property
    def directory(self) -> str:
        """The temporary directory holding data directories and logs."""
        if self._tmp is None:
            raise errors.StoreUnavailable("the etcd cluster is not started")
        return self._tmp

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Start every member and wait until all are healthy."""
        binary = self._binary or find_etcd()
        if binary is None:
            raise errors.StoreUnavailable(f"etcd is not installed ({INSTALL_HINT})")
        self._binary = binary
        self._tmp = tempfile.mkdtemp(prefix="korch-etcd-")
        self._finalizer = weakref.finalize(self, _cleanup, self._processes, self._tmp)
        for index in range(self._n):
            name = self._name if self._n == 1 else f"{self._name}{index}"
            data_dir = self._given_data_dir or os.path.join(self._tmp, f"{name}.etcd")
            self._members.append(_Member(name, data_dir))
        for attempt in range(3):
            try:
                for index in range(self._n):
                    self._spawn(index)
                for index in range(self._n):
                    self._wait_healthy(index)
                return self
            except errors.StoreUnavailable as exc:
                # another process took a port between our probe and etcd's bind: new ports
                if "address already in use" not in str(exc) or self._given_data_dir or attempt == 2:
                    self.stop()
                    raise
                _kill_all(self._processes)
                for member in self._members:
                    shutil.rmtree(member.data_dir, ignore_errors=True)
                    member.client_port, member.peer_port = _free_port(), _free_port()
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Kill every member and remove the temporary directory."""
        if self._finalizer is not None:
            self._finalizer()
        self._members.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)

    # -- members -------------------------------------------------------------------------

    def kill_member(self, index: int) -> None:
        """``kill -9`` one member (its data directory stays, for :meth:`start_member`)."""
        process = self._members[index].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def start_member(self, index: int) -> None:
        """Start a killed member again on its old ports and data, and wait until healthy."""
        process = self._members[index].process
        if process is not None and process.poll() is None:
            return
        self._spawn(index)
        self._wait_healthy(index)

    def leader(self) -> int:
        """The index of the member that is the Raft leader now.

        Raises:
            korch.errors.StoreUnavailable: no running member knows a leader.
        """
        ids: dict[int, int] = {}
        leader = 0
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            for index, member in enumerate(self._members):
                if not self.is_running(index):
                    continue
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    status = client.post(member.client_url + "/v3/maintenance/status", json={})
                    body = status.json()
                    ids[int(body["header"]["member_id"])] = index
                    leader = int(body.get("leader", 0)) or leader
        if leader not in ids:
            raise errors.StoreUnavailable("no running etcd member knows a leader")
        return ids[leader]

    def is_running(self, index: int) -> bool:
        process = self._members[index].process
        return process is not None and process.poll() is None

    def _log_path(self, member: _Member) -> str:
        return os.path.join(self.directory, f"{member.name}.log")

    def _spawn(self, index: int) -> None:
        assert self._binary is not None
        member = self._members[index]
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in self._members)
        command = [
            self._binary,
            "--name", member.name,
            "--data-dir", member.data_dir,
            "--listen-client-urls", member.client_url,
            "--advertise-client-urls", member.client_url,
            "--listen-peer-urls", member.peer_url,
            "--initial-advertise-peer-urls", member.peer_url,
            "--initial-cluster", cluster,
            "--initial-cluster-token", self._token,
            "--initial-cluster-state", "new",
            "--log-level", "error",
            *self._extra_args,
        ]  # fmt: skip
        if _etcd_version(self._binary) < (3, 5):
            command += ["--logger", "zap"]  # 3.4 defaults to capnslog, which ignores --log-level
        with open(self._log_path(member), "ab") as log:
            member.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append(member.process)

    def _wait_healthy(self, index: int) -> None:
        member = self._members[index]
        deadline = time.monotonic() + self._startup_timeout
        url = member.client_url + "/health"
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                process = member.process
                if process is None or process.poll() is not None:
                    raise errors.StoreUnavailable(
                        f"etcd member {member.name} exited at start:\n{self._log_tail(member)}"
                    )
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    response = client.get(url)
                    if response.status_code == 200 and response.json().get("health") == "true":
                        return
                if time.monotonic() > deadline:
                    raise errors.StoreUnavailable(
                        f"etcd member {member.name} not healthy after {self._startup_timeout}s:"
                        f"\n{self._log_tail(member)}"
                    )
                time.sleep(0.05)

    def _log_tail(self, member: _Member) -> str:
        try:
            with open(self._log_path(member), "rb") as log:
                return log.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"


def _cleanup(processes: list[subprocess.Popen[bytes]], directory: str) -> None:
    _kill_all(processes)
    shutil.rmtree(directory, ignore_errors=True)


class EtcdServer(EtcdCluster):
    """One etcd member on free loopback ports: ``endpoint`` is its client URL.

    Args:
        data_dir: an existing data directory to serve (e.g. made by
            :meth:`korch.store.EtcdStore.restore`, with the same ``name``); it is kept
            on stop. Default: a fresh one in the temporary directory.
        name: the member name (``--name``).
        etcd, startup_timeout, extra_args: as for :class:`EtcdCluster`.
    """

    def __init__(
        self,
        *,
        data_dir: str | None = None,
        name: str = "korch",
        etcd: str | None = None,
        startup_timeout: float = 20.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(
            1,
            etcd=etcd,
            startup_timeout=startup_timeout,
            extra_args=extra_args,
            _data_dir=data_dir,
            _name=name,
        )

    @property
    def endpoint(self) -> str:
        """The client URL, e.g. ``http://127.0.0.1:41234``."""
        return self.endpoints[0]

    @property
    def client_url(self) -> str:
        return self.endpoint

    @property
    def data_dir(self) -> str:
        return self._members[0].data_dir

    def kill(self) -> None:
        """``kill -9`` the server."""
        self.kill_member(0)
