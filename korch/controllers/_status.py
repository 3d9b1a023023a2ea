"""Pure helpers of a reconcile's status handling: conditions, merge diffs, subset checks.

* :func:`set_condition` is ``meta.SetStatusCondition`` over wire-format dicts:
  ``lastTransitionTime`` changes only when ``status`` does; ``reason``, ``message`` and
  ``observedGeneration`` are always updated.
* :func:`merge_diff` / :func:`merge_apply` are RFC 7386 (JSON merge patch): the patch from
  one document to another, and applying one. A reconcile's status edits are kept as a
  merge diff so they can be re-applied to a fresh read after a 409 Conflict.
* :func:`is_subset` tells whether an object already has every field a desired object sets
  (so a server-side apply would change nothing and is skipped).
"""

from __future__ import annotations

import copy
import datetime
from typing import Any, Final

__all__ = (
    "CONDITION_STATUSES",
    "apply_condition",
    "find_condition",
    "is_subset",
    "merge_apply",
    "merge_diff",
    "rfc3339",
    "set_condition",
)

CONDITION_STATUSES: Final = ("True", "False", "Unknown")


def rfc3339(seconds: float) -> str:
    """A clock reading as ``metav1.Time`` text (UTC, whole seconds)."""
    moment = datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(conditions: list[dict[str, Any]], type: str) -> dict[str, Any] | None:
    for condition in conditions:
        if condition.get("type") == type:
            return condition
    return None


def set_condition(
    conditions: list[dict[str, Any]],
    *,
    type: str,
    status: str,
    reason: str,
    message: str,
    observed_generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """A new list with condition ``type`` set (see the module docstring)."""
    result = []
    found = False
    for condition in conditions:
        if condition.get("type") != type:
            result.append(condition)
            continue
        found = True
        changed = dict(condition)
        if condition.get("status") != status:
            changed["lastTransitionTime"] = now
        changed.setdefault("lastTransitionTime", now)
        changed.update(
            status=status, reason=reason, message=message, observedGeneration=observed_generation
        )
        result.append(changed)
    if not found:
        result.append(
            {
                "type": type,
                "status": status,
                "observedGeneration": observed_generation,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }
        )
    return result


def apply_condition(conditions: list[dict[str, Any]], op: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`set_condition` with its keyword arguments in a dict (a recorded edit)."""
    return set_condition(
        conditions,
        type=str(op["type"]),
        status=str(op["status"]),
        reason=str(op["reason"]),
        message=str(op["message"]),
        observed_generation=int(op["observed_generation"]),
        now=str(op["now"]),
    )


def merge_diff(old: Any, new: Any) -> Any:
    """The JSON merge patch that turns ``old`` into ``new`` (``{}`` when equal dicts)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
        elif old[key] != value:
            if isinstance(value, dict) and isinstance(old[key], dict):
                patch[key] = merge_diff(old[key], value)
            else:
                patch[key] = copy.deepcopy(value)
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


def merge_apply(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch to ``target`` (which is not modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_apply(result.get(key), value)
    return result


def is_subset(desired: Any, actual: Any) -> bool:
    """Every field ``desired`` sets has the same value in ``actual`` (lists: same length,
    item by item)."""
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return False
        return all(k in actual and is_subset(v, actual[k]) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            return False
        return all(is_subset(d, a) for d, a in zip(desired, actual, strict=True))
    return bool(desired == actual)
