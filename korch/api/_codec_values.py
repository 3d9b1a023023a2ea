"""Wire value checks of the codec: JSON types, timestamps, base64, and problem paths.

Structurers here take one wire value and return the Python value, or raise
:class:`Problem` (one bad value) or :class:`DecodeError` (problems at relative paths, from
containers). Callers add their own path element with :func:`collect`, so a problem deep in a
pod ends up as ``spec.containers[0].ports[1].containerPort``. No coercion ever happens:
Kubernetes rejects ``"3"`` for an int and ``1`` for a string, and so do these.

The generated per-class code (:mod:`korch.api._codegen`) inlines the fast path of the
str/int/bool checks and only calls the functions here for anything else.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable, Mapping
from typing import Any

import cattrs

from korch import errors
from korch.api import _quantity

__all__ = (
    "DecodeError",
    "MapKey",
    "Problem",
    "as_dict",
    "as_list",
    "collect",
    "dict_of",
    "dict_of_quantity",
    "dict_of_str",
    "format_path",
    "list_of",
    "list_of_str",
    "optional",
    "s_bool",
    "s_bytes",
    "s_float",
    "s_int",
    "s_int_or_str",
    "s_json",
    "s_quantity",
    "s_str",
    "s_time",
    "show",
    "u_bytes",
    "u_micro_time",
    "u_time",
)

Fn = Callable[[Any], Any]
Path = tuple[Any, ...]
Problems = list[tuple[Path, str, str]]
UTC = datetime.UTC


# -- problems --------------------------------------------------------------------------


class MapKey(str):
    """A path element that is a map key (printed ``[key]``) rather than a field name."""

    __slots__ = ()


class Problem(Exception):
    """One problem with the value being decoded (its path is added by the callers)."""

    def __init__(self, message: str, reason: str = "FieldValueTypeInvalid") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class DecodeError(Exception):
    """Problems found while decoding one value: (relative path, message, reason) triples."""

    def __init__(self, problems: Problems) -> None:
        super().__init__(problems)
        self.problems = problems


def show(value: Any) -> str:
    """A short JSON-ish rendering of a bad value for messages."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


_JSON_TYPE_NAMES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array"}


def bad(value: Any, expected: str) -> Problem:
    """A type problem: ``Invalid value: 3: expected string, got integer``."""
    got = _JSON_TYPE_NAMES.get(type(value))
    if got is None:
        got = "object" if isinstance(value, Mapping) else type(value).__name__
    return Problem(f"Invalid value: {show(value)}: expected {expected}, got {got}")


def collect(problems: Problems | None, exc: BaseException, key: Any) -> Problems:
    """Append ``exc``'s problems to ``problems`` under path element ``key``; return the list."""
    if problems is None:
        problems = []
    if isinstance(exc, DecodeError):
        problems.extend(((key, *path), message, reason) for path, message, reason in exc.problems)
    elif isinstance(exc, Problem):
        problems.append(((key,), exc.message, exc.reason))
    elif isinstance(exc, cattrs.BaseValidationError):  # from hooks delegated to cattrs
        problems.extend(
            ((key,), message, "FieldValueInvalid")
            for message in cattrs.transform_error(exc, path="")
        )
    else:
        problems.append(((key,), f"{type(exc).__name__}: {exc}", "FieldValueInvalid"))
    return problems


def format_path(path: Path) -> str:
    """Kube-style field path: ``spec.containers[0].env[2].name``, ``labels[app]``."""
    out = ""
    for part in path:
        if isinstance(part, int | MapKey):
            out += f"[{part}]"
        elif part != "":
            out += f".{part}" if out else str(part)
    return out


# -- structurers -----------------------------------------------------------------------


def s_str(v: Any) -> str:
    """A JSON string (str subclasses, e.g. from YAML loaders, become plain str)."""
    if isinstance(v, str):
        return str(v)
    raise bad(v, "string")


def s_int(v: Any) -> int:
    """A JSON integer (booleans and floats are rejected)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    raise bad(v, "integer")


def s_bool(v: Any) -> bool:
    """A JSON boolean (``"true"`` is rejected)."""
    if isinstance(v, bool):
        return bool(v)
    raise bad(v, "boolean")


def s_float(v: Any) -> float:
    """A JSON number."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    raise bad(v, "number")


def s_int_or_str(v: Any) -> int | str:
    """An intOrString value."""
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    raise bad(v, "integer or string")


# Timestamps recur (a pod's conditions share them; informers re-encode the same objects), and
# parsing/formatting costs ~1 µs each, so both directions go through small bounded caches.
_CACHE_LIMIT = 8192
_PARSED: dict[str, datetime.datetime] = {}
_FORMATTED: dict[datetime.datetime, str] = {}
_FORMATTED_MICRO: dict[datetime.datetime, str] = {}


def s_time(v: Any) -> datetime.datetime:
    """An RFC 3339 timestamp with a zone, as an aware datetime in UTC."""
    if v.__class__ is str:
        cached = _PARSED.get(v)
        if cached is not None:
            return cached
    if isinstance(v, str):
        try:
            parsed = datetime.datetime.fromisoformat(v)
        except ValueError:
            raise Problem(
                f"Invalid value: {show(v)}: must be an RFC 3339 timestamp", "FieldValueInvalid"
            ) from None
    elif isinstance(v, datetime.datetime):
        parsed = v
    else:
        raise bad(v, "RFC 3339 timestamp string")
    if parsed.tzinfo is None:
        raise Problem(
            f"Invalid value: {show(v)}: timestamp must carry a time zone", "FieldValueInvalid"
        )
    if parsed.tzinfo is not UTC:
        parsed = parsed.astimezone(UTC)
    if v.__class__ is str:
        if len(_PARSED) >= _CACHE_LIMIT:
            _PARSED.clear()
        _PARSED[v] = parsed
    return parsed


def s_bytes(v: Any) -> bytes:
    """Standard base64 (with padding), as Go encodes ``[]byte``."""
    if not isinstance(v, str):
        raise bad(v, "base64 string")
    try:
        return base64.b64decode(v, validate=True)
    except ValueError:
        raise Problem(f"Invalid value: {show(v)}: not valid base64", "FieldValueInvalid") from None


def s_json(v: Any) -> Any:
    """A copy of a JSON value (so objects never alias their input), checked to be JSON."""
    cls = v.__class__
    if cls is str or cls is int or cls is bool or cls is float or v is None:
        return v
    if cls is dict:
        return {k if k.__class__ is str else s_str(k): s_json(x) for k, x in v.items()}
    if cls is list:
        return [s_json(x) for x in v]
    if isinstance(v, Mapping):
        return {s_str(k): s_json(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [s_json(x) for x in v]
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    raise Problem(f"Invalid value: {show(v)}: not a JSON value", "FieldValueInvalid")


def as_dict(v: Any) -> dict[str, Any]:
    """``v`` as a dict, or a type problem."""
    if isinstance(v, Mapping):
        return dict(v)
    raise bad(v, "object")


def as_list(v: Any) -> list[Any]:
    """``v`` as a list, or a type problem (strings are not lists)."""
    if isinstance(v, list | tuple):
        return list(v)
    raise bad(v, "array")


def list_of(item: Fn) -> Fn:
    """A structurer for lists whose items ``item`` structures."""

    def structure_list(v: Any) -> list[Any]:
        if v.__class__ is not list:
            v = as_list(v)
        try:
            return [item(x) for x in v]
        except Exception:  # re-walked below to name every failing index
            problems: Problems = []
            for i, x in enumerate(v):
                try:
                    item(x)
                except Exception as exc:
                    collect(problems, exc, i)
            raise DecodeError(problems) from None

    return structure_list


_list_of_s_str = list_of(s_str)


def list_of_str(v: Any) -> list[str]:
    """A list of strings (the common case, with the check inlined)."""
    if v.__class__ is not list:
        v = as_list(v)
    for x in v:
        if x.__class__ is not str:
            return _list_of_s_str(v)  # type: ignore[no-any-return]
    return list(v)


def dict_of(item: Fn) -> Fn:
    """A structurer for string-keyed maps whose values ``item`` structures."""

    def structure_dict(v: Any) -> dict[str, Any]:
        if v.__class__ is not dict:
            v = as_dict(v)
        try:
            return {k if k.__class__ is str else s_str(k): item(x) for k, x in v.items()}
        except Exception:  # re-walked below to name every failing key
            problems: Problems = []
            for k, x in v.items():
                try:
                    s_str(k)
                    item(x)
                except Exception as exc:
                    collect(problems, exc, MapKey(k))
            raise DecodeError(problems) from None

    return structure_dict


_dict_of_s_str = dict_of(s_str)


def s_quantity(v: Any) -> str:
    """A resource.Quantity: its string, or a JSON number as its canonical string."""
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        try:
            return str(_quantity.Quantity(v))
        except errors.KorchError as exc:
            raise Problem(str(exc), "FieldValueInvalid") from exc
    raise bad(v, "string")


def dict_of_quantity(v: Any) -> dict[str, str]:
    """A map of resource names to quantities (requests, limits, capacity, hard…)."""
    if v.__class__ is not dict:
        v = as_dict(v)
    for k, x in v.items():
        if x.__class__ is not str or k.__class__ is not str:
            return dict_of(s_quantity)(v)  # type: ignore[no-any-return]
    return dict(v)


def dict_of_str(v: Any) -> dict[str, str]:
    """A map of strings to strings (labels, annotations, selectors, quantities)."""
    if v.__class__ is not dict:
        v = as_dict(v)
    for k, x in v.items():
        if x.__class__ is not str or k.__class__ is not str:
            return _dict_of_s_str(v)  # type: ignore[no-any-return]
    return dict(v)


def optional(inner: Fn) -> Fn:
    """``inner`` that lets ``None`` through (for optional items inside containers)."""

    def structure_optional(v: Any) -> Any:
        return None if v is None else inner(v)

    return structure_optional


# -- unstructurers ---------------------------------------------------------------------


def u_time(v: datetime.datetime) -> str:
    """``metav1.Time`` wire form: RFC 3339 in UTC, whole seconds (naive means UTC)."""
    text = _FORMATTED.get(v)
    if text is None:
        if len(_FORMATTED) >= _CACHE_LIMIT:
            _FORMATTED.clear()
        text = _FORMATTED[v] = _utc(v).isoformat(timespec="seconds")[:-6] + "Z"
    return text


def u_micro_time(v: datetime.datetime) -> str:
    """``metav1.MicroTime`` wire form: RFC 3339 in UTC with microseconds."""
    text = _FORMATTED_MICRO.get(v)
    if text is None:
        if len(_FORMATTED_MICRO) >= _CACHE_LIMIT:
            _FORMATTED_MICRO.clear()
        text = _FORMATTED_MICRO[v] = _utc(v).isoformat(timespec="microseconds")[:-6] + "Z"
    return text


def _utc(v: datetime.datetime) -> datetime.datetime:
    if v.tzinfo is UTC:
        return v
    return v.astimezone(UTC) if v.tzinfo is not None else v.replace(tzinfo=UTC)


def u_bytes(v: bytes) -> str:
    """``[]byte`` wire form: standard base64."""
    return base64.b64encode(v).decode("ascii")
