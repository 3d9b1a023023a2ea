"""Rate limiters for the work queue: how long a failing key waits before its next try.

client-go's ``workqueue`` rate limiters, on a :class:`korch.clock.Clock`:

* :class:`ItemExponentialBackoff` — per key, ``base * 2**failures`` capped at ``maximum``
  (korch's defaults: 0.5 s → 5 min) with up to ``jitter`` x the delay added at random, so
  many keys failing together do not retry in lock-step; :meth:`~RateLimiter.forget`
  resets a key after a success;
* :class:`TokenBucket` — one bucket for the whole queue (``qps`` tokens per second, at most
  ``burst`` saved): a retry storm of many keys is spread out, as client-go's
  ``BucketRateLimiter`` does (10 qps, burst 100);
* :class:`MaxOf` — the longest delay of several limiters (client-go's
  ``DefaultControllerRateLimiter`` is ``MaxOf(exponential, bucket)``);
  :func:`default_rate_limiter` builds korch's default.

Limiters are pure bookkeeping: they return delays and never sleep.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Protocol

from korch import clock as clock_module

__all__ = (
    "ItemExponentialBackoff",
    "MaxOf",
    "RateLimiter",
    "TokenBucket",
    "default_rate_limiter",
)


class RateLimiter(Protocol):
    """How long a key waits before it is retried (client-go ``workqueue.RateLimiter``)."""

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` waits now; counts one more failure of it."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item`` (it succeeded): its next failure starts from scratch."""
        ...

    def retries(self, item: Hashable) -> int:
        """How many failures of ``item`` are counted."""
        ...


class ItemExponentialBackoff:
    """``base * 2**failures`` seconds per key, capped at ``maximum``, plus random jitter.

    Args:
        base: the first delay (seconds, > 0).
        maximum: the longest delay (seconds, ≥ base).
        jitter: up to this fraction of the delay is added at random (0 for none).
        rng: the randomness (seed it for reproducible tests).

    Raises:
        ValueError: a non-positive base, a maximum below base, or a negative jitter.
    """

    def __init__(
        self,
        base: float = 0.5,
        maximum: float = 300.0,
        *,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if base <= 0 or maximum < base:
            raise ValueError(f"backoff needs 0 < base <= maximum (got base={base}, max={maximum})")
        if jitter < 0:
            raise ValueError(f"jitter must be >= 0 (got {jitter})")
        self.base = base
        self.maximum = maximum
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        delay = self.maximum if failures >= 64 else min(self.maximum, self.base * 2.0**failures)
        if self.jitter:
            delay += delay * self.jitter * self._rng.random()
        return min(delay, self.maximum)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def retries(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class TokenBucket:
    """One token bucket for all keys: ``qps`` tokens a second, ``burst`` saved at most.

    Each :meth:`when` takes a token; when none is left it reserves a future one and
    returns how long until then (client-go ``BucketRateLimiter``).

    Raises:
        ValueError: a non-positive ``qps`` or ``burst``.
    """

    def __init__(
        self, qps: float = 10.0, burst: int = 100, *, clock: clock_module.Clock | None = None
    ) -> None:
        if qps <= 0 or burst <= 0:
            raise ValueError(f"a token bucket needs qps > 0 and burst > 0 (got {qps}, {burst})")
        self.qps = qps
        self.burst = burst
        self._clock = clock or clock_module.SystemClock()
        self._tokens = float(burst)
        self._last = self._clock.monotonic()

    def when(self, item: Hashable) -> float:
        now = self._clock.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        return None

    def retries(self, item: Hashable) -> int:
        return 0


class MaxOf:
    """The longest delay any of ``limiters`` asks for; retries as the first one counts."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOf needs at least one rate limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def retries(self, item: Hashable) -> int:
        return max(limiter.retries(item) for limiter in self.limiters)


def default_rate_limiter(
    *, clock: clock_module.Clock | None = None, rng: random.Random | None = None
) -> MaxOf:
    """korch's default: per-key backoff 0.5 s → 5 min with 10 % jitter, and a 10 qps /
    burst 100 bucket for the whole queue."""
    return MaxOf(
        ItemExponentialBackoff(0.5, 300.0, jitter=0.1, rng=rng),
        TokenBucket(10.0, 100, clock=clock),
    )
