"""Predicates: which changes of a watched object are worth a reconcile.

A :class:`Predicate` is a pure function of ``(old, new)``: ``old`` is ``None`` when the
object appeared, ``new`` is ``None`` when it went away, both are set for an update (and are
the same object on a resync). Predicates only filter *events*; the reconcile itself is
level-triggered and never sees them. They combine with ``&``, ``|`` and ``~`` (or
:func:`all_of`, :func:`any_of`)::

    controller(Database).filter(generation_changed | labels_changed | deleting)

Built-in predicates (controller-runtime's names in brackets):

* :data:`generation_changed` [GenerationChangedPredicate] — appearances, disappearances and
  updates that bumped ``metadata.generation`` (spec changes; status writes are ignored);
* :data:`labels_changed`, :data:`annotations_changed` [LabelChangedPredicate,
  AnnotationChangedPredicate];
* :data:`resource_version_changed` [ResourceVersionChangedPredicate] — drops resyncs;
* :data:`deleting` — the object has a ``deletionTimestamp`` (or just went away);
* :func:`label_selector` — the object's labels match a selector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from korch.api import _selector

__all__ = (
    "Predicate",
    "all_of",
    "annotations_changed",
    "any_of",
    "deleting",
    "generation_changed",
    "label_selector",
    "labels_changed",
    "resource_version_changed",
)


class Predicate:
    """A filter of ``(old, new)`` changes (see the module docstring)."""

    __slots__ = ("func", "name")

    def __init__(self, func: Callable[[Any, Any], bool], name: str = "") -> None:
        self.func = func
        self.name = name or getattr(func, "__name__", "predicate")

    def __call__(self, old: Any, new: Any) -> bool:
        return bool(self.func(old, new))

    def __and__(self, other: Predicate) -> Predicate:
        return all_of(self, other)

    def __or__(self, other: Predicate) -> Predicate:
        return any_of(self, other)

    def __invert__(self) -> Predicate:
        inner = self
        return Predicate(lambda old, new: not inner(old, new), f"not {self.name}")

    def __repr__(self) -> str:
        return f"<Predicate {self.name}>"


def all_of(*predicates: Predicate) -> Predicate:
    """True when every predicate is (an empty list is always true)."""
    names = " and ".join(p.name for p in predicates)
    return Predicate(lambda old, new: all(p(old, new) for p in predicates), f"({names})")


def any_of(*predicates: Predicate) -> Predicate:
    """True when any predicate is (an empty list is never true)."""
    names = " or ".join(p.name for p in predicates)
    return Predicate(lambda old, new: any(p(old, new) for p in predicates), f"({names})")


def _generation_changed(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return True
    return bool(old.metadata.generation != new.metadata.generation)


def _labels_changed(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return True
    return bool(old.metadata.labels != new.metadata.labels)


def _annotations_changed(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return True
    return bool(old.metadata.annotations != new.metadata.annotations)


def _resource_version_changed(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return True
    return bool(old.metadata.resource_version != new.metadata.resource_version)


def _deleting(old: Any, new: Any) -> bool:
    return new is None or new.metadata.deletion_timestamp is not None


generation_changed = Predicate(_generation_changed, "generation_changed")
labels_changed = Predicate(_labels_changed, "labels_changed")
annotations_changed = Predicate(_annotations_changed, "annotations_changed")
resource_version_changed = Predicate(_resource_version_changed, "resource_version_changed")
deleting = Predicate(_deleting, "deleting")


def label_selector(selector: str | _selector.Selector) -> Predicate:
    """The object (new, or old when it went away) has labels matching ``selector``.

    Raises:
        korch.errors.BadRequest: ``selector`` is not a valid label selector.
    """
    parsed = _selector.parse_selector(selector) if isinstance(selector, str) else selector

    def matches(old: Any, new: Any) -> bool:
        obj = new if new is not None else old
        return obj is not None and parsed.matches(obj.metadata.labels)

    return Predicate(matches, f"labels({parsed})")
