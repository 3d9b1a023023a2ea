"""Expectations: do not act twice on a cache that has not yet seen the last action.

A reconciler reading from an informer cache may run again before the cache holds the pods
it just created (or still holds the ones it just deleted); counting them again would create
or delete too many (kube-controller-manager's ``ControllerExpectations`` exist for this).
Here an owner's expectations are the **names** of the pods it created (the API server picks
them from ``generateName``, so they are known once ``create`` returns) and the **uids** of
the pods it deleted. They are *satisfied* when the reader shows every created name and
none of the deleted uids (or shows them being deleted). Until then the reconciler writes
status but does not create or delete. Expectations older than :data:`TIMEOUT` (5 minutes)
are dropped, so a lost watch event cannot wedge an owner.

The check is level-based (it compares against what the reader lists), so it needs no
watch-event hooks, and with a live :class:`~korch.workloads._common.ClientReader` it is
always satisfied at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import attrs

from korch import clock as clock_module

__all__ = ("TIMEOUT", "Expectations")

TIMEOUT: Final = 300.0


@attrs.define
class _Pending:
    created: set[str]
    deleted: set[str]
    since: float


class Expectations:
    """Outstanding creates and deletes per owner key (see the module docstring)."""

    def __init__(self, clock: clock_module.Clock) -> None:
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    def expect(self, key: str, *, created: Iterable[str] = (), deleted: Iterable[str] = ()) -> None:
        """Record pod names just created and pod uids just deleted for ``key``."""
        pending = self._pending.get(key)
        now = self._clock.monotonic()
        if pending is None:
            pending = self._pending[key] = _Pending(set(), set(), now)
        pending.created.update(created)
        pending.deleted.update(deleted)
        pending.since = now

    def satisfied(self, key: str, observed: Iterable[Any]) -> bool:
        """Whether the reader's ``observed`` pods reflect every recorded action of ``key``.

        Satisfied (or timed-out) expectations are forgotten.
        """
        pending = self._pending.get(key)
        if pending is None:
            return True
        if self._clock.monotonic() - pending.since > TIMEOUT:
            del self._pending[key]
            return True
        names = set()
        live_uids = set()
        for obj in observed:
            names.add(obj.metadata.name)
            if obj.metadata.deletion_timestamp is None:
                live_uids.add(obj.metadata.uid)
        pending.created -= names
        pending.deleted &= live_uids
        if pending.created or pending.deleted:
            return False
        del self._pending[key]
        return True

    def forget(self, key: str) -> None:
        """Drop ``key``'s expectations (its owner was deleted)."""
        self._pending.pop(key, None)

    def __len__(self) -> int:
        return len(self._pending)
