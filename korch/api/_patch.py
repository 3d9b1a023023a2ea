"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386) over wire-format values.

Every function here is pure: it takes JSON values as Python data (``dict``, ``list``, ``str``,
``int``, ``float``, ``bool``, ``None``) and returns a new value, never mutating its inputs, so
a caller may patch an object it also keeps in a cache. Equality follows JSON, not Python:
``true`` is not ``1`` (Python says ``True == 1``), while ``1`` and ``1.0`` are the same number.

Errors mirror kube-apiserver: a patch document that is not a list of well-formed operations
is :class:`korch.errors.BadRequest`; an operation that cannot be applied (a missing path, a
failed ``test``, an index out of range) is :class:`korch.errors.Invalid` (HTTP 422), whose
single cause names the JSON pointer and whose message names the operation's index. No
``KeyError``/``IndexError``/``TypeError`` escapes.

``merge_patch(original, create_merge_patch(original, modified)) == modified`` holds for every
pair of JSON objects whose members are never ``null`` (a merge patch cannot express "set to
null": null means delete).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from korch import errors

__all__ = (
    "create_merge_patch",
    "json_equal",
    "json_patch",
    "merge_patch",
)

_OPS = ("add", "remove", "replace", "move", "copy", "test")


def json_equal(a: object, b: object) -> bool:
    """Whether two JSON values are equal under JSON's rules.

    Objects compare member-wise regardless of order, arrays element-wise, numbers by value
    (``1 == 1.0``), and booleans only equal booleans (unlike Python, where ``True == 1``).
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            return False
        return all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def deep_copy(value: Any) -> Any:
    """A deep copy of a JSON value (faster than :func:`copy.deepcopy` for plain data)."""
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value


# -- JSON pointer (RFC 6901) ------------------------------------------------------------


def _parse_pointer(pointer: object, where: str) -> list[str]:
    if not isinstance(pointer, str):
        raise errors.BadRequest(f"{where}: a JSON pointer must be a string, not {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise errors.BadRequest(f"{where}: JSON pointer {pointer!r} must start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        # "~" must be followed by 0 or 1; anything else is a malformed escape.
        stripped = token.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise errors.BadRequest(f"{where}: JSON pointer {pointer!r} has a bad '~' escape")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _list_index(token: str, length: int, *, allow_end: bool) -> int | None:
    """The array index a token names, or None when it is not a valid index."""
    if token == "-":
        return length if allow_end else None
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        return None
    index = int(token)
    limit = length if allow_end else length - 1
    return index if index <= limit else None


class _Failed(Exception):
    """An operation could not be applied; turned into :class:`errors.Invalid` by the caller."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer
        self.message = message


def _resolve(document: Any, tokens: list[str], pointer: str) -> Any:
    current = document
    for depth, token in enumerate(tokens):
        if isinstance(current, dict):
            if token not in current:
                raise _Failed(pointer, f"path {_prefix(tokens, depth + 1)!r} does not exist")
            current = current[token]
        elif isinstance(current, list):
            index = _list_index(token, len(current), allow_end=False)
            if index is None:
                raise _Failed(pointer, f"index {token!r} is out of range or not an array index")
            current = current[index]
        else:
            raise _Failed(pointer, f"{_prefix(tokens, depth)!r} is neither an object nor an array")
    return current


def _prefix(tokens: list[str], depth: int) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens[:depth])


def _add(document: Any, tokens: list[str], value: Any, pointer: str) -> Any:
    if not tokens:
        return value
    parent = _resolve(document, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = _list_index(last, len(parent), allow_end=True)
        if index is None:
            raise _Failed(pointer, f"index {last!r} is out of range for an array of {len(parent)}")
        parent.insert(index, value)
    else:
        raise _Failed(pointer, "the parent of the target is neither an object nor an array")
    return document


def _remove(document: Any, tokens: list[str], pointer: str) -> Any:
    if not tokens:
        raise _Failed(pointer, "the whole document cannot be removed")
    parent = _resolve(document, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _Failed(pointer, f"path {pointer!r} does not exist")
        return parent.pop(last)
    if isinstance(parent, list):
        index = _list_index(last, len(parent), allow_end=False)
        if index is None:
            raise _Failed(pointer, f"index {last!r} is out of range or not an array index")
        return parent.pop(index)
    raise _Failed(pointer, "the parent of the target is neither an object nor an array")


def _apply_operation(document: Any, op: Mapping[str, Any], where: str) -> Any:
    name = op["op"]
    pointer = op["path"]
    tokens = _parse_pointer(pointer, where)
    if name == "add":
        return _add(document, tokens, deep_copy(op["value"]), pointer)
    if name == "remove":
        _remove(document, tokens, pointer)
        return document
    if name == "replace":
        _resolve(document, tokens, pointer)  # the target must exist
        if not tokens:
            return deep_copy(op["value"])
        _remove(document, tokens, pointer)
        return _add(document, tokens, deep_copy(op["value"]), pointer)
    if name == "test":
        actual = _resolve(document, tokens, pointer)
        if not json_equal(actual, op["value"]):
            raise _Failed(pointer, f"test failed: the value is {actual!r}, not {op['value']!r}")
        return document
    source = op["from"]
    source_tokens = _parse_pointer(source, where)
    if name == "move":
        if tokens[: len(source_tokens)] == source_tokens and len(tokens) > len(source_tokens):
            raise _Failed(pointer, f"cannot move {source!r} into one of its own children")
        if tokens == source_tokens:
            _resolve(document, tokens, source)
            return document
        value = _remove(document, source_tokens, source)
        return _add(document, tokens, value, pointer)
    # copy
    value = deep_copy(_resolve(document, source_tokens, source))
    return _add(document, tokens, value, pointer)


def _check_operation(index: int, op: object) -> Mapping[str, Any]:
    where = f"json patch operation {index}"
    if not isinstance(op, dict):
        raise errors.BadRequest(f"{where}: an operation must be an object, not {op!r}")
    name = op.get("op")
    if name not in _OPS:
        raise errors.BadRequest(f"{where}: unknown op {name!r}; expected one of {', '.join(_OPS)}")
    if "path" not in op:
        raise errors.BadRequest(f"{where} ({name}): missing 'path'")
    if name in ("add", "replace", "test") and "value" not in op:
        raise errors.BadRequest(f"{where} ({name} {op['path']!r}): missing 'value'")
    if name in ("move", "copy") and "from" not in op:
        raise errors.BadRequest(f"{where} ({name} {op['path']!r}): missing 'from'")
    return op


def json_patch(document: Any, operations: Sequence[Any]) -> Any:
    """Apply a JSON patch (RFC 6902) and return the patched document.

    Args:
        document: the JSON value to patch; it is not modified.
        operations: the patch, a list of operation objects (``op`` one of add, remove,
            replace, move, copy, test; ``path`` and ``from`` JSON pointers with ``~0``/``~1``
            escapes; ``-`` appends to an array).

    Returns:
        A new JSON value; the operations apply in order and all or none take effect.

    Raises:
        korch.errors.BadRequest: the patch is not a list of well-formed operations.
        korch.errors.Invalid: an operation failed (missing path, index out of range, failed
            ``test``); the message names the operation's index and path, the cause its pointer.
    """
    if not isinstance(operations, list):
        raise errors.BadRequest(
            f"a json patch must be a list of operations, not {type(operations).__name__}"
        )
    checked = [_check_operation(i, op) for i, op in enumerate(operations)]
    result = deep_copy(document)
    for index, op in enumerate(checked):
        where = f"json patch operation {index}"
        try:
            result = _apply_operation(result, op, where)
        except _Failed as failed:
            raise errors.Invalid(
                f"{where} ({op['op']} {op['path']!r}) failed",
                [errors.Cause(failed.pointer or "/", failed.message)],
            ) from None
    return result


# -- merge patch (RFC 7386) -------------------------------------------------------------


def merge_patch(document: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386) and return the result.

    Objects merge recursively, a ``null`` member deletes, anything else (arrays included)
    replaces. A patch that is not an object replaces the whole document.

    Args:
        document: the JSON value to patch; it is not modified.
        patch: the merge patch.

    Returns:
        A new JSON value.
    """
    if not isinstance(patch, dict):
        return deep_copy(patch)
    result: dict[str, Any] = dict(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    # Members the patch did not touch are shared with ``document`` until here: copy them so
    # the result never aliases the input.
    return {k: (v if k in patch else deep_copy(v)) for k, v in result.items()}


def create_merge_patch(original: Any, modified: Any) -> Any:
    """The JSON merge patch that turns ``original`` into ``modified``.

    Args:
        original: the JSON value before.
        modified: the JSON value after.

    Returns:
        A merge patch ``p`` with ``merge_patch(original, p) == modified`` (provided no object
        member of ``modified`` is ``null``); ``{}`` when the values are equal objects.
    """
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return deep_copy(modified)
    patch: dict[str, Any] = {}
    for key in original:
        if key not in modified:
            patch[key] = None
    for key, value in modified.items():
        if key not in original:
            patch[key] = deep_copy(value)
        elif not json_equal(original[key], value):
            before = original[key]
            if isinstance(before, dict) and isinstance(value, dict):
                patch[key] = create_merge_patch(before, value)
            else:
                patch[key] = deep_copy(value)
    return patch
