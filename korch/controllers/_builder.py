"""The controller builder: ``controller(Kind).owns(Child).watches(Other, map=fn)...``.

Sugar over :class:`~korch.controllers.Controller` (controller-runtime's builder). Each call
returns a new builder; :meth:`Builder.build` (or using the builder as a decorator) makes
the controller. What each step stands for:

* ``controller(Kind)`` — an informer on ``Kind``; every change of an object queues its key;
* ``.owns(Child)`` — an informer on ``Child``; a change of a child queues the key of the
  object named by the child's controller ownerReference (same group and kind as ``Kind``);
* ``.watches(Other, map=fn)`` — an informer on ``Other``; a change queues every key
  ``fn(obj)`` returns (called with the old and with the new object);
* ``.filter(p, ...)`` — predicates on the primary kind's changes (``owns`` and ``watches``
  take their own: ``.owns(Child, p)``);
* ``.options(workers=N, timeout=s, period=s, max_threads=N, ...)`` — see
  :class:`~korch.controllers.Controller`.

::

    @controller(Database).owns(StatefulSet).filter(generation_changed | deleting)
    async def databases(ctx: Context) -> Result | None: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from korch.controllers import _controller, _predicates

__all__ = ("Builder", "controller")


@attrs.frozen
class Builder:
    """Accumulates a controller's watches and options (see the module docstring)."""

    kind: Any
    name: str = ""
    watch_list: tuple[_controller.Watch, ...] = ()
    predicates: tuple[_predicates.Predicate, ...] = ()
    settings: dict[str, Any] = attrs.Factory(dict)

    def owns(self, kind: Any, *predicates: _predicates.Predicate) -> Builder:
        """Reconcile the owner when an object of ``kind`` it controls changes."""
        watch = _controller.Watch(kind, None, predicates, owned=True)
        return attrs.evolve(self, watch_list=(*self.watch_list, watch))

    def watches(
        self,
        kind: Any,
        *predicates: _predicates.Predicate,
        map: Callable[[Any], Iterable[str]],
    ) -> Builder:
        """Reconcile the keys ``map(obj)`` returns when an object of ``kind`` changes."""
        if not callable(map):
            raise TypeError("watches() needs map=fn(obj) -> iterable of keys")
        watch = _controller.Watch(kind, map, predicates)
        return attrs.evolve(self, watch_list=(*self.watch_list, watch))

    def filter(self, *predicates: _predicates.Predicate) -> Builder:
        """Only changes of the primary kind that pass every predicate queue a key."""
        return attrs.evolve(self, predicates=(*self.predicates, *predicates))

    def named(self, name: str) -> Builder:
        """The controller's name (logs, metrics, default field manager ``korch-<name>``)."""
        return attrs.evolve(self, name=name)

    def options(
        self,
        *,
        workers: int | None = None,
        timeout: float | None = None,
        period: float | None = None,
        max_threads: int | None = None,
        ryow_timeout: float | None = None,
        field_manager: str | None = None,
        rate_limiter: Any = None,
    ) -> Builder:
        """Set controller options (unset ones keep their defaults)."""
        given = {
            "workers": workers,
            "timeout": timeout,
            "period": period,
            "max_threads": max_threads,
            "ryow_timeout": ryow_timeout,
            "field_manager": field_manager,
            "rate_limiter": rate_limiter,
        }
        settings = {**self.settings, **{k: v for k, v in given.items() if v is not None}}
        return attrs.evolve(self, settings=settings)

    def build(self, reconciler: _controller.Reconciler) -> _controller.Controller:
        """The controller running ``reconciler``.

        Raises:
            TypeError: ``reconciler`` is not callable.
            ValueError: an invalid option.
        """
        if not callable(reconciler):
            raise TypeError(f"a reconciler is a callable taking a Context, not {reconciler!r}")
        return _controller.Controller(
            self.kind,
            reconciler,
            name=self.name,
            watches=self.watch_list,
            predicates=self.predicates,
            **self.settings,
        )

    def __call__(self, reconciler: _controller.Reconciler) -> _controller.Controller:
        return self.build(reconciler)


def controller(kind: Any, *, name: str = "") -> Builder:
    """Start building a controller of ``kind`` (a kind class or ``(apiVersion, kind)``)."""
    from korch.controllers import _kinds

    _kinds.kind_pair(kind)  # fails early on something that is not a kind
    return Builder(kind, name)
