"""What a reconcile hands back: a :class:`Result`, or one of two control-flow exceptions.

* return ``Result(requeue_after=30)`` — done for now, look again in 30 s (a timer);
  ``Result()`` or ``None`` — done, until something changes;
* raise ``Retry(after=5)`` — not done, try again in 5 s; ``Retry()`` — try again with the
  key's exponential backoff (0.5 s → 5 min by default);
* raise ``Terminal("spec.size is not a number")`` — the object cannot be reconciled as it
  is; no retry until it changes (the reason is logged and counted);
* raise anything else — a failure: retried with the key's backoff.

Exceptions::

    KorchError
    └── ReconcileSignal       control flow out of a reconcile
        ├── Retry             try again (after ``after`` seconds, or with backoff)
        └── Terminal          give up until the object changes
"""

from __future__ import annotations

import attrs

from korch import errors

__all__ = ("ReconcileSignal", "Result", "Retry", "Terminal")


@attrs.frozen
class Result:
    """The outcome of a successful reconcile: requeue after ``requeue_after`` seconds."""

    requeue_after: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError(f"requeue_after must be >= 0 (got {self.requeue_after})")


class ReconcileSignal(errors.KorchError):
    """Base of the exceptions a reconciler raises to steer its controller."""


class Retry(ReconcileSignal):
    """Reconcile the key again after ``after`` seconds (``None``: the key's backoff)."""

    def __init__(self, after: float | None = None, message: str = "") -> None:
        if after is not None and after < 0:
            raise ValueError(f"Retry(after) must be >= 0 (got {after})")
        when = "with backoff" if after is None else f"after {after:g}s"
        super().__init__(message or f"retry {when}")
        self.after = after


class Terminal(ReconcileSignal):
    """The object cannot be reconciled as it is: do not retry until it changes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
