"""Container probes: when they run, what they do, and how results add up (the kubelet's prober).

Timing (on the agent's clock): a probe first runs ``initialDelaySeconds`` after the
container started, then every ``periodSeconds`` (default 10). Liveness and readiness
probes wait until the startup probe (if any) has succeeded. A result flips the probe's
state only after ``successThreshold`` consecutive successes (default 1) or
``failureThreshold`` consecutive failures (default 3). Before its first result a readiness
probe counts as failing, a startup probe as not yet started.

Handlers: ``exec`` runs the command through the runtime (exit 0 is success); ``httpGet``
sends a GET with httpx (status 200-399 is success; HTTPS is not verified, as the kubelet
does not); ``tcpSocket`` opens a TCP connection. A handler that does not answer within
``timeoutSeconds`` (default 1) fails. ``grpc`` probes are not supported and always fail,
saying so.
"""

from __future__ import annotations

from typing import Literal

import anyio
import httpx

from korch.api import Container, Probe
from korch.runtime import RuntimeAdapter

__all__ = ("ProbeKind", "ProbeState", "run_probe")

ProbeKind = Literal["startup", "liveness", "readiness"]


class ProbeState:
    """One probe of one container: its schedule and its consecutive results."""

    __slots__ = ("failures", "kind", "next_at", "probe", "result", "successes")

    def __init__(self, kind: ProbeKind, probe: Probe, started_at: float) -> None:
        self.kind = kind
        self.probe = probe
        self.next_at = started_at + max(probe.initial_delay_seconds, 0)
        self.successes = 0
        self.failures = 0
        self.result: bool | None = None

    @property
    def period(self) -> float:
        return float(self.probe.period_seconds or 10)

    @property
    def timeout(self) -> float:
        return float(self.probe.timeout_seconds or 1)

    def record(self, success: bool, now: float) -> bool:
        """Count one result; returns True if the probe's state changed."""
        self.next_at = now + self.period
        if success:
            self.successes += 1
            self.failures = 0
            if self.result is not True and self.successes >= (self.probe.success_threshold or 1):
                self.result = True
                return True
        else:
            self.failures += 1
            self.successes = 0
            if self.result is not False and self.failures >= (self.probe.failure_threshold or 3):
                self.result = False
                return True
        return False


def _port(value: int | str, container: Container) -> int:
    if isinstance(value, int):
        return value
    if value.isdigit():
        return int(value)
    for port in container.ports:
        if port.name == value:
            return port.container_port
    raise ValueError(f"port {value!r} is not a named port of container {container.name!r}")


async def run_probe(
    probe: Probe,
    *,
    runtime: RuntimeAdapter,
    container_id: str,
    container: Container,
    pod_ip: str,
    http: httpx.AsyncClient,
) -> tuple[bool, str]:
    """Run ``probe`` once; returns (success, a message saying why it failed)."""
    timeout = float(probe.timeout_seconds or 1)
    try:
        if probe.exec is not None:
            result = await runtime.exec_sync(container_id, probe.exec.command, timeout)
            if result.exit_code == 0:
                return True, ""
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            return False, f"command {probe.exec.command} exited with {result.exit_code}: {output}"
        if probe.http_get is not None:
            action = probe.http_get
            scheme = (action.scheme or "HTTP").lower()
            host = action.host or pod_ip or "127.0.0.1"
            path = action.path or "/"
            if not path.startswith("/"):
                path = "/" + path
            url = f"{scheme}://{host}:{_port(action.port, container)}{path}"
            headers = {"User-Agent": "kube-probe/1.31", "Accept": "*/*"}
            headers.update({h.name: h.value for h in action.http_headers})
            response = await http.get(url, headers=headers, timeout=timeout)
            if 200 <= response.status_code < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {response.status_code}"
        if probe.tcp_socket is not None:
            action_tcp = probe.tcp_socket
            host = action_tcp.host or pod_ip or "127.0.0.1"
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(host, _port(action_tcp.port, container))
            await stream.aclose()
            return True, ""
        if probe.grpc is not None:
            return False, "gRPC probes are not supported by korch's node agent"
        return False, "the probe has no handler"
    except TimeoutError:
        return False, f"probe timed out after {timeout:g}s"
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return False, f"probe failed: {exc}"
