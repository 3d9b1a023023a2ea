"""Leader election over a coordination.k8s.io/v1 Lease (client-go's ``leaderelection``).

Replicas of a manager campaign for one Lease; the holder works, the others wait with warm
caches. Over any :class:`korch.client.Client` — in-process, etcd-backed or remote — since
the only primitive is an optimistic-concurrency update of the Lease object.

* **acquire**: every ``retry_period`` (x up to 1.2 jitter) a candidate reads the Lease. It
  may take it when it is absent, has no holder, or its record has not changed for
  ``lease_duration`` seconds *as observed locally* — the candidate measures expiry on its
  own monotonic clock from when it last saw the record change, never by comparing its
  wall clock with the holder's ``renewTime`` (so clock skew cannot steal a lease). Taking
  it writes ``holderIdentity``, ``acquireTime``, ``renewTime``, ``leaseDurationSeconds``
  and ``leaseTransitions + 1`` with the read resourceVersion; a Conflict means another
  candidate won.
* **renew**: the leader rewrites ``renewTime`` every ``retry_period``; if no renewal has
  succeeded for ``renew_deadline`` seconds it stops leading (its work is stopped first).
* **release**: on graceful shutdown the leader clears ``holderIdentity`` (and sets a 1 s
  duration) so a standby takes over at once instead of after the lease expires.

Defaults are Kubernetes': 15 s lease, 10 s renew deadline, 2 s retry period.
"""

from __future__ import annotations

import datetime
import logging
import random
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _meta, _misc
from korch.client import _protocol

__all__ = ("LeaderElector",)

log = logging.getLogger("korch.controllers.leader")


def _now(clock: clock_module.Clock) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(clock.time(), datetime.UTC)


def default_identity() -> str:
    """``<hostname>_<random uuid>``, as controller-runtime names its candidates."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    """Campaigns for, holds and releases one Lease (see the module docstring).

    Args:
        client: any client.
        name: the Lease's name.
        namespace: the Lease's namespace.
        identity: this candidate's unique name (default: hostname and a uuid).
        lease_duration, renew_deadline, retry_period: seconds (15, 10, 2).
        clock: the clock of every timer.
        rng: randomness for jitter.

    Raises:
        ValueError: the durations are not ``lease_duration > renew_deadline >
            retry_period x 1.2 > 0``.
    """

    def __init__(
        self,
        client: _protocol.Client,
        name: str,
        *,
        namespace: str = "default",
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: clock_module.Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not (lease_duration > renew_deadline > retry_period * 1.2 > 0):
            raise ValueError(
                "leader election needs lease_duration > renew_deadline > 1.2 x retry_period "
                f"> 0 (got {lease_duration}, {renew_deadline}, {retry_period})"
            )
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock = clock or clock_module.SystemClock()
        self._rng = rng or random.Random()
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._leading = False
        self.transitions = 0

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or renew the Lease; returns whether this candidate holds it."""
        clock = self.clock
        now = _now(clock)
        seconds = max(1, round(self.lease_duration))
        try:
            lease = await self.client.get(_misc.Lease, self.name, namespace=self.namespace)
        except errors.NotFound:
            spec = _misc.LeaseSpec(
                holder_identity=self.identity,
                lease_duration_seconds=seconds,
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            )
            lease = _misc.Lease(
                metadata=_meta.ObjectMeta(name=self.name, namespace=self.namespace), spec=spec
            )
            try:
                await self.client.create(lease, namespace=self.namespace)
            except errors.AlreadyExists:
                return False
            self._observe(spec)
            return True
        spec = lease.spec
        self._observe(spec)
        holder = spec.holder_identity or ""
        expired = clock.monotonic() >= self._observed_at + self.lease_duration
        if holder and holder != self.identity and not expired:
            return False
        mine = holder == self.identity
        transitions = spec.lease_transitions or 0
        new_spec = attrs.evolve(
            spec,
            holder_identity=self.identity,
            lease_duration_seconds=seconds,
            acquire_time=spec.acquire_time if mine and spec.acquire_time else now,
            renew_time=now,
            lease_transitions=transitions if mine else transitions + 1,
        )
        try:
            updated = await self.client.update(attrs.evolve(lease, spec=new_spec))
        except (errors.Conflict, errors.NotFound):
            return False
        self._observe(updated.spec)
        return True

    def _observe(self, spec: _misc.LeaseSpec) -> None:
        record = (spec.holder_identity, spec.renew_time, spec.lease_transitions)
        if record != self._observed:
            self._observed = record
            self._observed_at = self.clock.monotonic()

    async def acquire(self) -> None:
        """Wait until this candidate holds the Lease."""
        while True:
            try:
                if await self.try_acquire_or_renew():
                    self._leading = True
                    self.transitions += 1
                    log.info("%s: leading %s/%s", self.identity, self.namespace, self.name)
                    return
            except (errors.KorchError, OSError) as exc:
                log.warning("%s: cannot reach lease %s: %s", self.identity, self.name, exc)
            await self.clock.sleep(self.retry_period * (1.0 + 0.2 * self._rng.random()))

    async def hold(self) -> None:
        """Renew the Lease every retry period; return once renewals fail for
        ``renew_deadline`` seconds (leadership is lost)."""
        clock = self.clock
        last_renewal = clock.monotonic()
        while True:
            await clock.sleep(self.retry_period)
            try:
                renewed = await self.try_acquire_or_renew()
            except (errors.KorchError, OSError) as exc:
                log.warning("%s: renewing lease %s failed: %s", self.identity, self.name, exc)
                renewed = False
            now = clock.monotonic()
            if renewed:
                last_renewal = now
            elif not renewed and now - last_renewal >= self.renew_deadline:
                self._leading = False
                log.warning("%s: lost lease %s", self.identity, self.name)
                return
            elif not renewed and self._observed and self._observed[0] != self.identity:
                self._leading = False  # someone else holds it now
                log.warning("%s: lease %s taken by %s", self.identity, self.name, self._observed[0])
                return

    async def release(self) -> None:
        """Give the Lease up (if held) so a standby can take it at once."""
        if not self._leading:
            return
        self._leading = False
        try:
            lease = await self.client.get(_misc.Lease, self.name, namespace=self.namespace)
            if lease.spec.holder_identity != self.identity:
                return
            spec = attrs.evolve(
                lease.spec,
                holder_identity="",
                lease_duration_seconds=1,
                renew_time=_now(self.clock),
            )
            await self.client.update(attrs.evolve(lease, spec=spec))
        except (errors.KorchError, OSError) as exc:
            log.warning("%s: releasing lease %s failed: %s", self.identity, self.name, exc)

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Campaign, run ``lead()`` while leading, stop it when leadership is lost, and
        campaign again; until cancelled (then the Lease is released)."""
        try:
            while True:
                await self.acquire()
                async with anyio.create_task_group() as group:
                    group.start_soon(lead)
                    await self.hold()
                    group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.release()
