"""Compiled schema nodes and the walks over objects that use them: validate, default, prune.

``_schema`` compiles a CRD's ``openAPIV3Schema`` into a tree of :class:`Node` objects; this
module holds the tree and the pure functions over wire-format values (dicts and lists)
that walk it. Each node's keyword checks (enum, pattern, bounds, formats, list types) are
closures built once at compile time, so validation does no schema interpretation. The walks
mirror kube-apiserver's ``apiextensions-apiserver`` (``pruning``, ``defaulting``,
``schemaobjectmeta``) and kube-openapi's validators; messages and paths are described in
``_schema``'s docstring. ``apply_defaults`` and ``prune_value`` mutate the value they are given:
callers pass a copy (:func:`copy_json`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from korch import errors
from korch.api import _go_compat as go
from korch.api import _validation as fv

Check = Callable[[Any, str, list[errors.Cause]], None]
MISSING: Any = object()
META = frozenset(("apiVersion", "kind", "metadata"))
_OBJECT_META = frozenset((
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
))  # fmt: skip


def child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def in_body(path: str) -> str:
    return f"{path} in body" if path else "in body"


def copy_json(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: copy_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [copy_json(v) for v in x]
    return x


def canon(x: Any) -> Any:
    # Hashable identity of a JSON value where True != 1 but 1 == 1.0, as JSON equality.
    if isinstance(x, Mapping):
        return ("o", tuple(sorted((str(k), canon(v)) for k, v in x.items())))
    if isinstance(x, list):
        return ("a", tuple(canon(v) for v in x))
    if isinstance(x, bool):
        return ("b", x)
    return ("n" if isinstance(x, int | float) else "s", x)


def is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


class Node:
    """One compiled schema node; ``types`` is None where any JSON type is allowed."""

    __slots__ = (
        "additional", "all_of", "any_of", "checks", "closed", "default", "defaulted",
        "embedded", "format", "items", "label", "not_", "nullable", "one_of", "preserve",
        "properties", "required", "types",
    )  # fmt: skip

    def __init__(self) -> None:
        self.types: frozenset[str] | None = None
        self.label = self.format = ""
        self.nullable = self.preserve = self.embedded = self.closed = False
        self.properties: dict[str, Node] = {}
        self.defaulted: tuple[tuple[str, Node], ...] = ()
        self.required: tuple[str, ...] = ()
        self.additional: Node | None = None
        self.items: Node | None = None
        self.default: Any = MISSING
        self.checks: list[Check] = []
        self.any_of: list[Node] = []
        self.all_of: list[Node] = []
        self.one_of: list[Node] = []
        self.not_: Node | None = None


# -- validation -------------------------------------------------------------------------


def type_error(path: str, label: str, got: str) -> errors.Cause:
    detail = f"{in_body(path)} must be of type {label}: {go.go_quote(got)}"
    return fv.type_invalid(path, got, detail)


def _validate(n: Node, x: Any, path: str, out: list[errors.Cause]) -> None:
    if x is None:
        if n.types is not None and not n.nullable:
            out.append(type_error(path, n.label, "null"))
        return
    if n.types is not None:
        t = fv.json_type(x)
        if t not in n.types and not (
            (t == "integer" and "number" in n.types)
            or (t == "number" and "integer" in n.types and x.is_integer())
        ):
            # kube-openapi first compares a declared format with the data's Go format.
            got = {"integer": "int64", "number": "float64"}.get(t, "")
            if n.format and t not in ("string", "array") and got != n.format:
                out.append(type_error(path, n.format, got))
            else:
                out.append(type_error(path, n.label, t))
            return
    for check in n.checks:
        check(x, path, out)
    if isinstance(x, Mapping):
        _validate_object(n, x, path, out)
    elif isinstance(x, list) and n.items is not None:
        for i, v in enumerate(x):
            _validate(n.items, v, f"{path}[{i}]", out)
    if n.any_of or n.all_of or n.one_of or n.not_ is not None:
        _validate_junctors(n, x, path, out)


def _validate_object(n: Node, x: Mapping[str, Any], path: str, out: list[errors.Cause]) -> None:
    if n.embedded:
        _validate_embedded(x, path, out)
    out.extend(fv.required(child_path(path, k)) for k in n.required if k not in x)
    for key, v in x.items():
        prop = n.properties.get(key)
        if prop is not None:
            _validate(prop, v, child_path(path, key), out)
        elif n.additional is not None:
            _validate(n.additional, v, f"{path}[{key}]", out)
        elif n.closed:
            detail = f"{in_body(child_path(path, key))} is a forbidden property"
            out.append(fv.invalid(path, key, detail))


def _validate_embedded(x: Mapping[str, Any], path: str, out: list[errors.Cause]) -> None:
    for key in ("apiVersion", "kind"):
        p, v = child_path(path, key), x.get(key)
        if key not in x:
            out.append(fv.required(p, "must not be empty"))
        elif not isinstance(v, str) or not v:
            out.append(fv.invalid(p, v, "must not be empty" if v == "" else "must be a string"))
        elif key == "apiVersion" and v.count("/") > 1:
            out.append(fv.invalid(p, v, f"unexpected GroupVersion string: {v}"))
        elif key == "kind" and (msgs := fv.is_dns1035_label(v.lower())):
            detail = "may have mixed case, but should otherwise match: " + ",".join(msgs)
            out.append(fv.invalid(p, v, detail))
    if "metadata" in x:
        meta = x["metadata"]
        if isinstance(meta, Mapping):
            meta = {**meta, "name": meta.get("name") or "dummy"}  # names are not required here
            namespaced = bool(meta.get("namespace"))
            path_meta, rule = child_path(path, "metadata"), fv.name_is_path_segment
            out.extend(
                fv.validate_object_meta(
                    meta, namespaced=namespaced, name_validator=rule, path=path_meta
                )
            )
        else:
            out.append(type_error(child_path(path, "metadata"), "object", fv.json_type(meta)))


def run(n: Node, x: Any, path: str) -> list[errors.Cause]:
    out: list[errors.Cause] = []
    _validate(n, x, path, out)
    return out


def _validate_junctors(n: Node, x: Any, path: str, out: list[errors.Cause]) -> None:
    subject = go.go_quote(path)
    if n.any_of:
        results = [run(b, x, path) for b in n.any_of]
        if all(results):
            out.append(fv.invalid(path, "", f"{subject} must validate at least one schema (anyOf)"))
            best: list[errors.Cause] = min(results, key=len)
            out.extend(best)
    if n.one_of:
        results = [run(b, x, path) for b in n.one_of]
        valid = sum(1 for r in results if not r)
        if valid != 1:
            found = "Found none valid" if not valid else f"Found {valid} valid alternatives"
            detail = f"{subject} must validate one and only one schema (oneOf). {found}"
            out.append(fv.invalid(path, "", detail))
            if not valid:
                best = min(results, key=len)
                out.extend(best)
    if n.all_of:
        results = [run(b, x, path) for b in n.all_of]
        failed = [c for r in results for c in r]
        if failed:
            out.extend(failed)
            none = ". None validated" if all(results) else ""
            out.append(
                fv.invalid(path, "", f"{subject} must validate all the schemas (allOf){none}")
            )
    if n.not_ is not None and not run(n.not_, x, path):
        out.append(fv.invalid(path, "", f"{subject} must not validate the schema (not)"))


# -- defaulting and pruning -------------------------------------------------------------


def apply_defaults(x: Any, n: Node) -> None:
    if isinstance(x, dict):
        for key, field in n.defaulted:
            if key not in x or (x[key] is None and not field.nullable):
                x[key] = copy_json(field.default)
        for key, v in x.items():
            prop = n.properties.get(key)
            if prop is None and n.additional is not None:
                prop = n.additional
                if v is None and not prop.nullable and prop.default is not MISSING:
                    x[key] = v = copy_json(prop.default)
            if prop is not None:
                apply_defaults(v, prop)
    elif isinstance(x, list) and n.items is not None:
        items = n.items
        for i, v in enumerate(x):
            if v is None and not items.nullable and items.default is not MISSING:
                x[i] = v = copy_json(items.default)
            apply_defaults(v, items)


def prune_value(x: Any, n: Node | None, path: str, pruned: list[str], root: bool = False) -> None:
    keep_unknown = n is not None and n.preserve
    if isinstance(x, dict):
        for key in list(x):
            if n is not None and (root or n.embedded) and key in META:
                if not root and key == "metadata" and isinstance(x[key], dict):
                    for k in [k for k in x[key] if k not in _OBJECT_META]:
                        pruned.append(f"{child_path(path, key)}.{k}")
                        del x[key][k]
                continue
            prop = None if n is None else n.properties.get(key)
            child = prop if prop is not None or n is None else n.additional
            sub = child_path(path, key) if prop is not None else f"{path}[{key}]"
            if child is None:
                if not keep_unknown:
                    pruned.append(child_path(path, key))
                    del x[key]
            elif x[key] is None and not child.nullable and child.default is MISSING:
                del x[key]
            else:
                prune_value(x[key], child, sub, pruned)
    elif isinstance(x, list):
        items = None if n is None else n.items
        if keep_unknown:
            if items is None:
                return
            if not items.preserve:  # kube-apiserver keeps unknown fields of these items, too
                items = _copy_node(items, preserve=True)
        for i, v in enumerate(x):
            prune_value(v, items, f"{path}[{i}]", pruned)


def _copy_node(n: Node, *, preserve: bool) -> Node:
    clone = Node()
    for slot in Node.__slots__:
        setattr(clone, slot, getattr(n, slot))
    clone.preserve = preserve
    return clone


# -- keyword checks ---------------------------------------------------------------------


def enum_check(values: list[Any]) -> Check:
    allowed = {canon(v) for v in values}
    shown = [v if isinstance(v, str) else go.go_json(v) for v in values]

    def check(x: Any, path: str, out: list[errors.Cause]) -> None:
        if canon(x) not in allowed:
            out.append(fv.not_supported(path, x, shown))

    return check


def pattern_check(pattern: str, rx: re.Pattern[str]) -> Check:
    def check(x: Any, path: str, out: list[errors.Cause]) -> None:
        if isinstance(x, str) and not rx.search(x):
            out.append(fv.invalid(path, x, f"{in_body(path)} should match '{pattern}'"))

    return check


def length_check(min_len: int | None, max_len: int | None) -> Check:
    def check(x: Any, path: str, out: list[errors.Cause]) -> None:
        if isinstance(x, str):
            if max_len is not None and len(x) > max_len:
                out.append(fv.too_long(path, max_len))
            if min_len is not None and len(x) < min_len:
                detail = f"{in_body(path)} should be at least {min_len} chars long"
                out.append(fv.invalid(path, x, detail))

    return check


def number_check(low: Any, high: Any, multiple: Any, ex_low: bool, ex_high: bool) -> Check:
    def check(x: Any, path: str, out: list[errors.Cause]) -> None:
        if not is_number(x):
            return
        subject = in_body(path)
        if high is not None and (x > high or (ex_high and x == high)):
            rel = "less than" if ex_high else "less than or equal to"
            out.append(fv.invalid(path, x, f"{subject} should be {rel} {go.format_number(high)}"))
        if low is not None and (x < low or (ex_low and x == low)):
            rel = "greater than" if ex_low else "greater than or equal to"
            out.append(fv.invalid(path, x, f"{subject} should be {rel} {go.format_number(low)}"))
        if multiple and (
            x % multiple if isinstance(x, int) and isinstance(multiple, int) else (x / multiple) % 1
        ):
            detail = f"{subject} should be a multiple of {go.format_number(multiple)}"
            out.append(fv.invalid(path, x, detail))

    return check


def items_check(low: int | None, high: int | None, unique: bool) -> Check:
    def check(x: Any, path: str, out: list[errors.Cause]) -> None:
        if not isinstance(x, list):
            return
        if low is not None and len(x) < low:
            out.append(
                fv.invalid(path, len(x), f"{in_body(path)} should have at least {low} items")
            )
        if high is not None and len(x) > high:
            out.append(fv.too_many(path, len(x), high))
        if unique and len({canon(v) for v in x}) != len(x):
            out.append(fv.invalid(path, "", f"{in_body(path)} shouldn't contain duplicates"))

    return check


def properties_check(low: int | None, high: int | None) -> Check:
    def check(x: Any, path: str, out: list[errors.Cause]) -> None:
        if isinstance(x, Mapping):
            if low is not None and len(x) < low:
                detail = f"{in_body(path)} should have at least {low} properties"
                out.append(fv.invalid(path, len(x), detail))
            if high is not None and len(x) > high:
                out.append(fv.too_many(path, len(x), high))

    return check


def set_check(x: Any, path: str, out: list[errors.Cause]) -> None:
    if isinstance(x, list):
        seen: set[Any] = set()
        for i, v in enumerate(x):
            key = canon(v)
            if key in seen:
                out.append(fv.duplicate(f"{path}[{i}]", v))
            seen.add(key)


def map_check(keys: tuple[str, ...]) -> Check:
    def check(x: Any, path: str, out: list[errors.Cause]) -> None:
        if isinstance(x, list):
            seen: set[Any] = set()
            for i, v in enumerate(x):
                if isinstance(v, Mapping):
                    key = {k: v[k] for k in keys if k in v}
                    if canon(key) in seen:
                        out.append(fv.duplicate(f"{path}[{i}]", key))
                    seen.add(canon(key))

    return check


def format_check(name: str, valid: Callable[[str], bool]) -> Check:
    def check(x: Any, path: str, out: list[errors.Cause]) -> None:
        if isinstance(x, str) and not valid(x):
            detail = f"{in_body(path)} must be of type {name}: {go.go_quote(x)}"
            out.append(fv.type_invalid(path, x, detail))

    return check
