"""Field sets of server-side apply: paths, their FieldsV1 elements, and set algebra.

A :class:`FieldSet` is an immutable set of field paths. A path (:data:`Path`) is a tuple of
path elements, each kept in its serialised FieldsV1 form so that equal elements are equal
strings:

* ``"f:spec"`` — a field of an object;
* ``'k:{"name":"c"}'`` — an item of a ``map`` list, by its key fields (JSON, sorted keys);
* ``'v:"x"'`` — an item of a ``set`` list, by value;
* ``"i:0"`` — an item of an atomic list, by index.

Invariant: every element inside a :class:`FieldSet` is canonical (:func:`canonical_element`),
so set operations compare strings only. A set holds *members*: leaves (scalars, atomic lists
and maps, empty objects, nulls) and list items; an object field is a member only through its
leaves. FieldsV1 marks a member that also has children with ``".": {}``, and orders children
as structured-merge-diff does (fields, keys, values, indexes).

The ownership logic built on these sets (apply, update, conflicts) lives in
:mod:`korch.api._managed_fields`, which re-exports :class:`FieldSet` and :func:`format_path`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _strategic

__all__ = (
    "EMPTY",
    "FieldSet",
    "Node",
    "Path",
    "canonical_element",
    "canonical_json",
    "element_sort_key",
    "format_path",
    "invalid",
    "item_element",
    "object_fields_v1",
    "trie",
)

Path = tuple[str, ...]


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys; integral floats as integers (``1.0`` -> ``1``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_element(element: str) -> str:
    """Normalise one serialised path element, or raise BadRequest."""
    if not isinstance(element, str):
        raise errors.BadRequest(f"invalid managedFields path element {element!r}")
    kind, sep, rest = element.partition(":")
    if sep and kind == "f":
        return element
    if sep and kind in ("k", "v", "i"):
        try:
            value = json.loads(rest)
        except ValueError:
            value = _BAD
        if kind == "k" and isinstance(value, dict):
            return "k:" + canonical_json(value)
        if kind == "v" and value is not _BAD:
            return "v:" + canonical_json(value)
        if kind == "i" and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return f"i:{value}"
    raise errors.BadRequest(f"invalid managedFields path element {element!r}")


_BAD: Final = object()


def element_sort_key(element: str) -> tuple[int, Any]:
    """Sort key of an element in FieldsV1 order."""
    # Fields, then keys, then values, then indexes, as structured-merge-diff orders them.
    kind, _, rest = element.partition(":")
    rank = "fkvi".index(kind)
    return (rank, int(rest) if kind == "i" else rest)


def format_path(path: Path) -> str:
    """A path as kube-apiserver prints it: ``.spec.containers[name="c"].image``."""
    parts: list[str] = []
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            parts.append("." + rest)
        elif kind == "k":
            keys = json.loads(rest)
            parts.append(
                "[" + ",".join(f"{k}={canonical_json(keys[k])}" for k in sorted(keys)) + "]"
            )
        elif kind == "v":
            parts.append(f"[={rest}]")
        else:
            parts.append(f"[{rest}]")
    return "".join(parts)


@attrs.frozen
class FieldSet:
    """An immutable set of field paths (see the module docstring for the element syntax).

    Supports ``|``, ``&``, ``-`` (and :meth:`union`, :meth:`intersection`,
    :meth:`difference`), ``in``, ``len`` and iteration (in FieldsV1 order).
    """

    paths: frozenset[Path] = frozenset()

    @classmethod
    def of(cls, paths: Iterable[Iterable[str]]) -> FieldSet:
        """A set of the given paths; each element is normalised (``'k:{"b":1,"a":2}'``
        becomes ``'k:{"a":2,"b":1}'``).

        Raises:
            korch.errors.BadRequest: an element is not ``f:``, ``k:``, ``v:`` or ``i:``.
        """
        return cls(frozenset(tuple(canonical_element(e) for e in p) for p in paths))

    @classmethod
    def from_fields_v1(cls, fields: Mapping[str, Any]) -> FieldSet:
        """Parse Kubernetes' FieldsV1 JSON (``{"f:spec": {"f:replicas": {}}}``).

        Raises:
            korch.errors.BadRequest: the value is not a valid FieldsV1 tree.
        """
        out: set[Path] = set()

        def walk(node: Any, prefix: Path) -> None:
            if not isinstance(node, dict):
                raise errors.BadRequest(f"invalid FieldsV1 at {format_path(prefix)!r}: {node!r}")
            if not node and prefix:
                out.add(prefix)
            for key, child in node.items():
                if key == ".":
                    if prefix:
                        out.add(prefix)
                    continue
                walk(child, (*prefix, canonical_element(key)))

        walk(fields, ())
        return cls(frozenset(out))

    def to_fields_v1(self) -> dict[str, Any]:
        """Serialise to FieldsV1 JSON, children sorted as kube-apiserver sorts them."""
        root = trie(self.paths)

        def render(node: Node) -> dict[str, Any]:
            out: dict[str, Any] = {".": {}} if node.member and node.children else {}
            for element in sorted(node.children, key=element_sort_key):
                out[element] = render(node.children[element])
            return out

        return render(root)

    def union(self, other: FieldSet) -> FieldSet:
        """Paths in either set."""
        return FieldSet(self.paths | other.paths)

    def intersection(self, other: FieldSet) -> FieldSet:
        """Paths in both sets."""
        return FieldSet(self.paths & other.paths)

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths in this set and not in ``other``."""
        return FieldSet(self.paths - other.paths)

    __or__ = union
    __and__ = intersection
    __sub__ = difference

    def __contains__(self, path: object) -> bool:
        return path in self.paths

    def __iter__(self) -> Iterator[Path]:
        return iter(sorted(self.paths, key=lambda p: [element_sort_key(e) for e in p]))

    def __len__(self) -> int:
        return len(self.paths)

    def with_field_ancestors(self) -> FieldSet:
        """This set plus every ancestor that is a named field (``f:``), which is how
        structured-merge-diff decides what a manager still holds when pruning."""
        out = set(self.paths)
        for path in self.paths:
            for depth in range(1, len(path)):
                if path[depth - 1].startswith("f:"):
                    out.add(path[:depth])
        return FieldSet(frozenset(out))


#: The empty field set.
EMPTY: Final = FieldSet()


@attrs.define
class Node:
    """A node of a path trie; ``member`` marks a path of the set ending here."""

    member: bool = False
    children: dict[str, Node] = attrs.field(factory=dict)


def trie(paths: Iterable[Path]) -> Node:
    """The trie of ``paths`` (shared prefixes share nodes)."""
    root = Node()
    for path in paths:
        node = root
        for element in path:
            node = node.children.setdefault(element, Node())
        node.member = True
    return root


# -- list items -------------------------------------------------------------------------


def item_element(item: Any, index: int, schema: _strategic.PatchSchema, where: Path) -> str:
    """The path element naming ``item``, the ``index``-th item of the list at ``where``.

    Raises:
        korch.errors.Invalid: a ``map`` list item is not an object or lacks a key field
            (without a default), or a ``set`` list item is not a primitive value.
    """
    list_type = schema.ssa_list_type
    if list_type == "map":
        if not isinstance(item, dict):
            raise invalid(where, f"element {index} of a keyed list must be an object")
        keys: dict[str, Any] = {}
        for name in schema.ssa_keys:
            if name in item:
                keys[name] = item[name]
            elif name in schema.key_defaults:
                keys[name] = schema.key_defaults[name]
            else:
                raise invalid(where, f"element {index} omits the key field {name!r}")
        return "k:" + canonical_json(keys)
    if list_type == "set":
        if isinstance(item, dict | list):
            raise invalid(where, f"element {index} of a set must be a primitive value")
        return "v:" + canonical_json(item)
    return f"i:{index}"


def invalid(where: Path, message: str) -> errors.Invalid:
    """The Invalid error of an object server-side apply cannot walk, naming ``where``."""
    field = format_path(where).lstrip(".") or "<root>"
    return errors.Invalid("invalid object for server-side apply", [errors.Cause(field, message)])


# -- one-pass FieldsV1 of a whole object -------------------------------------------------


def _is_granular(value: Any, schema: _strategic.PatchSchema) -> bool:
    if isinstance(value, dict):
        return bool(value) and schema.map_type != "atomic"
    if isinstance(value, list):
        return schema.ssa_list_type != "atomic"
    return False


def _map_fields(
    value: dict[str, Any], schema: _strategic.PatchSchema, where: Path
) -> dict[str, Any]:
    # Sorting "f:" elements by key string is FieldsV1 order.
    out: dict[str, Any] = {}
    for key in sorted(value):
        child = value[key]
        sub = schema.field(key)
        if not _is_granular(child, sub):
            out["f:" + key] = {}
        elif isinstance(child, dict):
            out["f:" + key] = _map_fields(child, sub, (*where, "f:" + key))
        elif child:
            out["f:" + key] = _list_fields(child, sub, (*where, "f:" + key))
    return out


def _list_fields(value: list[Any], schema: _strategic.PatchSchema, where: Path) -> dict[str, Any]:
    item_schema = schema.item()
    items: dict[str, Any] = {}
    for index, item in enumerate(value):
        element = item_element(item, index, schema, where)
        rendered: dict[str, Any] = {}
        if isinstance(item, dict) and _is_granular(item, item_schema):
            rendered = {".": {}, **_map_fields(item, item_schema, (*where, element))}
        previous = items.get(element)
        items[element] = rendered if previous is None else _union(previous, rendered)
    return {element: items[element] for element in sorted(items, key=element_sort_key)}


def _union(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two rendered FieldsV1 nodes of the same member (duplicate list items) as one."""
    merged = {k: _union(a[k], b[k]) if k in b else a[k] for k in a}
    merged.update({k: v for k, v in b.items() if k not in a})
    children = sorted((k for k in merged if k != "."), key=element_sort_key)
    if not children:
        return {}
    return {".": {}, **{k: merged[k] for k in children}}


def _unset(root: dict[str, Any], path: Path) -> None:
    """Drop member ``path`` from a rendered FieldsV1 tree, pruning what is left empty."""
    nodes = [root]
    for element in path:
        child = nodes[-1].get(element)
        if child is None:
            return
        nodes.append(child)
    target = nodes[-1]
    if target:
        target.pop(".", None)
        return
    for depth in range(len(path), 0, -1):
        parent = nodes[depth - 1]
        del parent[path[depth - 1]]
        if parent.keys() == {"."}:
            parent.clear()  # a member whose children are gone is a leaf
            return
        if parent or depth == 1:
            return


def object_fields_v1(
    obj: Mapping[str, Any], schema: _strategic.PatchSchema, stripped: Iterable[Path] = ()
) -> dict[str, Any]:
    """``FieldSet`` of every member path of ``obj`` minus ``stripped``, as FieldsV1, in one pass.

    The same as ``FieldSet(paths_of(obj) - stripped).to_fields_v1()`` where the member paths
    are those a create owns: every leaf (scalar, atomic list or map, empty map) and every
    item of a granular list (duplicates merged); it skips the intermediate path sets and
    tries, which is what makes a create's managedFields cheap.

    Args:
        obj: a wire-format object (its ``metadata.managedFields`` already left out).
        schema: the kind's patch schema (``schema_for_kind(..., strict=False)``).
        stripped: member paths nobody owns (``apiVersion``, ``metadata.uid``…).

    Returns:
        The FieldsV1 dict (``{}`` when no path remains).

    Raises:
        korch.errors.Invalid: a keyed list item lacks a key field (or a set item is not a
            primitive value).
    """
    root: dict[str, Any] = {}
    if _is_granular(obj, schema):
        root = _map_fields(dict(obj), schema, ())
    for path in stripped:
        _unset(root, path)
    return root
