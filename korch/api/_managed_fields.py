"""Server-side apply: field ownership (``metadata.managedFields``) over wire-format objects.

Ownership is recorded as :class:`~korch.api._fieldset.FieldSet` values (immutable sets of
field paths such as ``("f:spec", "f:containers", 'k:{"name":"c"}', "f:image")``; the path
syntax, FieldsV1 encoding and set algebra live in :mod:`korch.api._fieldset`, and
:class:`FieldSet` and :func:`format_path` are re-exported here). This module walks
wire-format objects with a kind's patch schema to compute such sets, and keeps the
managedFields entries.

:func:`apply` follows kube-apiserver (structured-merge-diff):

1. the applied configuration is merged into the live object (objects recursively, ``map``
   lists item by item, ``set`` lists as unions, everything else replaced);
2. fields the manager applied last time and omits now are removed, unless another manager
   (applier or updater) still owns them;
3. fields another manager owns whose value the apply changes or adds are conflicts: a
   :class:`korch.errors.Conflict` lists them in kube-apiserver's words, or, with
   ``force=True``, the other managers lose them;
4. the applier owns exactly the fields of its configuration; fields that left the object
   leave every manager's set; managers left with nothing disappear.

:func:`update_managed_fields` does the same for a non-apply write (``Update``): the writer
takes every field it changed or added, from whoever owned it, without conflicts.

As in Kubernetes, ``apiVersion``, ``kind`` and the server-owned ``metadata`` fields (name,
uid, resourceVersion…) are never recorded; an object that has fields but no
``managedFields`` gives them to ``"before-first-apply"`` on its first apply, and is not
tracked by updates until then; more than ten ``Update`` entries fold, oldest first, into
``"ancient-changes"``. Entries are sorted as kube-apiserver sorts them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _fields_v1, _fieldset, _patch, _strategic

__all__ = (
    "FieldSet",
    "apply",
    "fieldset_of",
    "format_path",
    "update_managed_fields",
)

Path = _fieldset.Path
FieldSet = _fieldset.FieldSet
format_path = _fieldset.format_path

# What kube-apiserver never records: type meta and the server-owned metadata fields.
_STRIPPED: Final = frozenset(
    [("f:apiVersion",), ("f:kind",), ("f:metadata",)]
    + [
        ("f:metadata", "f:" + name)
        for name in [
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ]
    ]
)
_BEFORE_FIRST_APPLY: Final = "before-first-apply"
_ANCIENT_CHANGES: Final = "ancient-changes"
_MAX_UPDATE_MANAGERS: Final = 10


# -- walking objects --------------------------------------------------------------------


def _items(
    value: list[Any], schema: _strategic.PatchSchema, where: Path, *, strict: bool
) -> list[tuple[str, Any]]:
    """(path element, item) pairs of a granular list; ``strict`` rejects duplicates."""
    pairs = [(_fieldset.item_element(x, i, schema, where), x) for i, x in enumerate(value)]
    if strict:
        seen: set[str] = set()
        for element, _ in pairs:
            if element in seen:
                raise _fieldset.invalid(where, f"duplicate entries for {format_path((element,))}")
            seen.add(element)
    return pairs


def _is_granular(value: Any, schema: _strategic.PatchSchema) -> bool:
    if isinstance(value, dict):
        return bool(value) and schema.map_type != "atomic"
    if isinstance(value, list):
        return schema.ssa_list_type != "atomic"
    return False


def _collect(
    value: Any, schema: _strategic.PatchSchema, path: Path, out: set[Path], strict: bool
) -> None:
    if not _is_granular(value, schema):
        if path:
            out.add(path)
    elif isinstance(value, dict):
        for key, child in value.items():
            _collect(child, schema.field(key), (*path, "f:" + key), out, strict)
    else:
        item_schema = schema.item()
        for element, item in _items(value, schema, path, strict=strict):
            out.add((*path, element))
            if isinstance(item, dict) and _is_granular(item, item_schema):
                _collect(item, item_schema, (*path, element), out, strict)


def fieldset_of(obj: Mapping[str, Any], schema: _strategic.PatchSchema) -> FieldSet:
    """The fields an (applied) object sets.

    List items are named by their keys for ``map`` lists (``k:{"name":"c"}``), by value for
    ``set`` lists (``v:"x"``); atomic lists, atomic maps and scalars are leaves.

    Args:
        obj: a wire-format object (or applied configuration).
        schema: the kind's patch schema (``schema_for_kind(..., strict=False)``).

    Returns:
        The set of member paths (``apiVersion``, ``kind`` and ``metadata.name`` included).

    Raises:
        korch.errors.Invalid: a keyed list item lacks a key field or is duplicated.
    """
    out: set[Path] = set()
    _collect(dict(obj), schema, (), out, True)
    return FieldSet(frozenset(out))


def _subtree(value: Any, schema: _strategic.PatchSchema, path: Path) -> set[Path]:
    out: set[Path] = set()
    _collect(value, schema, path, out, False)
    return out


_MISSING: Final = object()


def _compare(
    old: Any, new: Any, schema: _strategic.PatchSchema, path: Path, acc: tuple[set[Path], ...]
) -> None:
    """Accumulate (added, modified, removed) member paths between two values."""
    added, modified, removed = acc
    if old is _MISSING:
        added.update(_subtree(new, schema, path))
    elif new is _MISSING:
        removed.update(_subtree(old, schema, path))
    elif isinstance(old, dict) and isinstance(new, dict) and _is_granular(old, schema):
        if not new:
            removed.update(_subtree(old, schema, path))
            added.add(path)
            return
        for key in old.keys() | new.keys():
            sub = schema.field(key)
            _compare(old.get(key, _MISSING), new.get(key, _MISSING), sub, (*path, "f:" + key), acc)
    elif isinstance(old, list) and isinstance(new, list) and _is_granular(old, schema):
        old_items = dict(reversed(_items(old, schema, path, strict=False)))
        new_items = dict(reversed(_items(new, schema, path, strict=False)))
        item_schema = schema.item()
        for element in old_items.keys() | new_items.keys():
            before = old_items.get(element, _MISSING)
            after = new_items.get(element, _MISSING)
            item_path = (*path, element)
            if before is _MISSING or after is _MISSING:
                (added if before is _MISSING else removed).add(item_path)
            if isinstance(before, dict) or isinstance(after, dict):
                _compare(before, after, item_schema, item_path, acc)
    elif _is_granular(old, schema) or _is_granular(new, schema):
        removed.update(_subtree(old, schema, path))
        added.update(_subtree(new, schema, path))
    elif not _patch.json_equal(old, new):
        modified.add(path)


def _changes(
    old: Any, new: Any, schema: _strategic.PatchSchema
) -> tuple[FieldSet, FieldSet, FieldSet]:
    acc: tuple[set[Path], set[Path], set[Path]] = (set(), set(), set())
    _compare(old, new, schema, (), acc)
    added, modified, removed = (FieldSet(frozenset(s - {()})) for s in acc)
    return added, modified, removed


def _merge(live: Any, config: Any, schema: _strategic.PatchSchema, path: Path) -> Any:
    """Merge an applied configuration into a live value (structured-merge-diff's merge)."""
    if isinstance(config, dict) and schema.map_type != "atomic":
        out = {k: _patch.deep_copy(v) for k, v in live.items()} if isinstance(live, dict) else {}
        for key, value in config.items():
            if value is None:
                out.pop(key, None)  # owned, but a typed object would not keep a null
            else:
                sub = schema.field(key)
                out[key] = _merge(out.get(key, _MISSING), value, sub, (*path, "f:" + key))
        return out
    if not (isinstance(config, list) and isinstance(live, list) and _is_granular(config, schema)):
        return _patch.deep_copy(config)
    lhs = _items(live, schema, path, strict=False)
    rhs = _items(config, schema, path, strict=True)
    left = dict(reversed(lhs))
    right = dict(rhs)
    item_schema = schema.item()
    # Live order is kept; items of the configuration come in its own order, shared items
    # where the configuration puts them, new items after the live items before them.
    shared = iter([e for e, _ in rhs if e in left])
    next_shared = next(shared, None)
    done: set[str] = set()
    items: list[Any] = []
    i = j = 0
    while i < len(lhs) or j < len(rhs):
        if i < len(lhs) and j < len(rhs):
            element = lhs[i][0]
            if element == rhs[j][0]:
                done.add(element)
                items.append(_merge(left[element], right[element], item_schema, (*path, element)))
                i, j = i + 1, j + 1
                next_shared = next(shared, None)
                continue
            if element in right and next_shared is not None and next_shared != element:
                i += 1
                continue
        if i < len(lhs):
            element = lhs[i][0]
            if element not in right:
                items.append(_patch.deep_copy(lhs[i][1]))
                i += 1
                continue
            if element in done:
                i += 1
                continue
        element = rhs[j][0]
        done.add(element)
        base = left.get(element, _MISSING)
        items.append(_merge(base, right[element], item_schema, (*path, element)))
        j += 1
        if next_shared == element:
            next_shared = next(shared, None)
    return items


def _remove(value: Any, node: _fieldset.Node, schema: _strategic.PatchSchema, path: Path) -> Any:
    """``value`` without the members marked in ``node``'s trie."""
    if not node.children or not _is_granular(value, schema):
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            sub = node.children.get("f:" + key)
            if sub is None:
                out[key] = child
            elif not sub.member:
                out[key] = _remove(child, sub, schema.field(key), (*path, "f:" + key))
        return out
    kept: list[Any] = []
    for element, item in _items(value, schema, path, strict=False):
        sub = node.children.get(element)
        if sub is None:
            kept.append(item)
        elif not sub.member:
            kept.append(_remove(item, sub, schema.item(), (*path, element)))
    return kept


# -- managers ---------------------------------------------------------------------------


@attrs.define
class _Manager:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: FieldSet

    @property
    def identity(self) -> tuple[str, str, str, str]:
        # Appliers are one manager whatever version they apply; updaters are per version.
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def describe(self) -> str:
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def encode(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = self.fields.to_fields_v1()
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def _decode(entries: Any) -> dict[tuple[str, str, str, str], _Manager]:
    if not isinstance(entries, list):
        raise errors.BadRequest("metadata.managedFields must be a list")
    managers: dict[tuple[str, str, str, str], _Manager] = {}
    for index, entry in enumerate(entries):
        where = f"metadata.managedFields[{index}]"
        if not isinstance(entry, dict):
            raise errors.BadRequest(f"{where} must be an object")
        operation = entry.get("operation")
        if operation not in ("Apply", "Update"):
            raise errors.BadRequest(f"{where}.operation must be Apply or Update: {operation!r}")
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise errors.BadRequest(f"{where}.fieldsType must be FieldsV1")
        fields = entry.get("fieldsV1", {})
        strings = [entry.get(k, "") for k in ("manager", "apiVersion", "subresource")]
        time = entry.get("time")
        if not all(isinstance(s, str) for s in strings) or not isinstance(time, str | None):
            raise errors.BadRequest(f"{where}: manager, apiVersion, subresource, time: strings")
        manager = _Manager(
            strings[0], operation, strings[1], strings[2], time, FieldSet.from_fields_v1(fields)
        )
        if manager.identity in managers:
            raise errors.BadRequest(f"{where}: duplicate entry for manager {strings[0]!r}")
        managers[manager.identity] = manager
    return managers


def _encode(managers: Mapping[Any, _Manager]) -> list[dict[str, Any]]:
    kept = [m for m in managers.values() if m.fields]
    kept.sort(key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource))
    return [m.encode() for m in kept]


def _cap_updaters(managers: dict[tuple[str, str, str, str], _Manager]) -> None:
    """Fold the oldest ``Update`` entries into ``ancient-changes`` until at most ten remain."""
    updaters = [m for m in managers.values() if m.operation == "Update"]
    updaters.sort(key=lambda m: (m.time or "", m.identity))
    count = len(updaters)
    for manager in updaters:
        if count <= _MAX_UPDATE_MANAGERS:
            break
        bucket = _Manager(
            _ANCIENT_CHANGES, "Update", manager.api_version, "", None, _fieldset.EMPTY
        )
        if bucket.identity == manager.identity:
            continue
        count -= bucket.identity in managers  # folding into an existing bucket frees a slot
        bucket = managers.setdefault(bucket.identity, bucket)
        bucket.fields = bucket.fields | managers.pop(manager.identity).fields
        bucket.time = manager.time


def _format_time(time: str | float | datetime.datetime | None) -> str:
    if isinstance(time, str):
        return time
    if time is None:
        moment = datetime.datetime.now(datetime.UTC)
    elif isinstance(time, datetime.datetime):
        moment = time.astimezone(datetime.UTC)
    else:
        moment = datetime.datetime.fromtimestamp(time, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_managed_fields(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = _patch.deep_copy(dict(obj or {}))
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return out


def _strip(fields: FieldSet) -> FieldSet:
    return FieldSet(fields.paths - _STRIPPED)


def _schema_of(obj: Mapping[str, Any]) -> _strategic.PatchSchema:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if isinstance(api_version, str) and isinstance(kind, str):
        return _strategic.schema_for_kind(api_version, kind, strict=False)
    return _strategic.schema_for_kind("", "", strict=False)


def _conflict_error(
    conflicts: Mapping[tuple[str, str, str, str], tuple[_Manager, FieldSet]],
) -> errors.Conflict:
    total = sum(len(fields) for _, fields in conflicts.values())
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f"conflict with {m.describe()}",
            "field": format_path(p),
        }
        for _, (m, fields) in sorted(conflicts.items())
        for p in fields
    ]
    if total == 1:
        ((manager, fields),) = conflicts.values()
        (path,) = fields
        message = (
            f"Apply failed with 1 conflict: conflict with {manager.describe()}: {format_path(path)}"
        )
    else:
        lines = []
        for _, (manager, fields) in sorted(conflicts.items()):
            lines.append(f"conflicts with {manager.describe()}:")
            lines.extend(f"- {format_path(p)}" for p in fields)
        message = f"Apply failed with {total} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, details={"causes": causes})


def apply(
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    manager: str,
    managed_fields: list[dict[str, Any]],
    schema: _strategic.PatchSchema | None = None,
    *,
    force: bool = False,
    time: str | float | datetime.datetime | None = None,
    subresource: str = "",
    api_version: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Server-side apply ``applied`` to ``live`` on behalf of ``manager``.

    Args:
        live: the stored object (``None`` or ``{}`` when apply creates it); its own
            ``metadata.managedFields`` is ignored in favour of ``managed_fields``.
        applied: the applied configuration; must not carry ``metadata.managedFields``.
        manager: the field manager (``fieldManager``), required.
        managed_fields: the object's current managedFields entries (wire dicts).
        schema: the kind's patch schema; by default looked up from ``applied``'s apiVersion
            and kind (custom resources get a metadata-only schema).
        force: take conflicting fields from their managers instead of failing.
        time: the time recorded for the applier (RFC 3339 string, epoch seconds or datetime;
            default now).
        subresource: the subresource applied to (``"status"``), recorded in the entry.
        api_version: the version recorded for the applier; default ``applied["apiVersion"]``.

    Returns:
        ``(new_object, new_managed_fields)``; ``new_object["metadata"]["managedFields"]`` is
        set to ``new_managed_fields``.

    Raises:
        korch.errors.BadRequest: no manager, managedFields in ``applied``, or malformed
            ``managed_fields``.
        korch.errors.Invalid: a keyed list item lacks a key field or is duplicated.
        korch.errors.Conflict: another manager owns a field the apply changes (unless
            ``force``); the message lists them in kube-apiserver's words.
    """
    if not manager:
        raise errors.BadRequest("fieldManager is required for apply requests")
    if not isinstance(applied, Mapping):
        raise errors.BadRequest("the applied configuration must be a JSON object")
    metadata = applied.get("metadata")
    if isinstance(metadata, dict) and metadata.get("managedFields"):
        raise errors.BadRequest("metadata.managedFields must be nil in an applied configuration")
    if schema is None:
        schema = _schema_of(applied)
    version = api_version if api_version is not None else str(applied.get("apiVersion", ""))
    current = _without_managed_fields(live)
    config = _without_managed_fields(applied)
    managers = _decode(managed_fields)
    if not managers and current:
        existing = _strip(FieldSet(frozenset(_subtree(current, schema, ()))))
        live_version = str(current.get("apiVersion", version))
        first = _Manager(
            _BEFORE_FIRST_APPLY, "Update", live_version, "", _format_time(time), existing
        )
        managers[first.identity] = first
    applied_fields = fieldset_of(config, schema)
    me = _Manager(manager, "Apply", version, subresource, None, applied_fields)
    previous = managers.get(me.identity)
    last = previous.fields if previous is not None else _fieldset.EMPTY
    me.time = previous.time if previous is not None else None
    managers[me.identity] = me
    merged = _merge(current, config, schema, ())
    # Prune what this manager applied before and nobody (itself included) holds now.
    held = _fieldset.EMPTY
    for other in managers.values():
        held = held | other.fields
    doomed = last.with_field_ancestors() - held.with_field_ancestors()
    merged = _remove(merged, _fieldset.trie(doomed.paths), schema, ())
    added, modified, removed = _changes(current, merged, schema)
    changed = added | modified
    conflicts = {
        key: (other, other.fields & changed)
        for key, other in managers.items()
        if key != me.identity and other.fields & changed
    }
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for other in managers.values():
        if other is not me:
            other.fields = other.fields - changed - removed
    me.fields = _strip(applied_fields)
    if added or modified or removed or me.fields != last or me.time is None:
        me.time = _format_time(time)
    _cap_updaters(managers)
    entries = _encode(managers)
    if entries and isinstance(merged.setdefault("metadata", {}), dict):
        merged["metadata"]["managedFields"] = _patch.deep_copy(entries)
    return merged, entries


def update_managed_fields(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    manager: str,
    *,
    managed_fields: list[dict[str, Any]] | None = None,
    schema: _strategic.PatchSchema | None = None,
    operation: str = "Update",
    time: str | float | datetime.datetime | None = None,
    subresource: str = "",
    api_version: str | None = None,
) -> list[dict[str, Any]]:
    """The managedFields after a non-apply write (create, update, patch) by ``manager``.

    The writer takes ownership of every field it added or changed (from any other manager,
    without conflicts) and every manager loses the fields the write removed.

    Args:
        old: the object before the write (``None`` or ``{}`` for a create).
        new: the object after the write.
        manager: the field manager of the write (e.g. ``"kubectl-edit"``).
        managed_fields: the entries before the write; default ``old``'s managedFields.
        schema: the kind's patch schema; default looked up from ``new``.
        operation: must be ``"Update"`` (apply goes through :func:`apply`).
        time: the time recorded for the writer (default now).
        subresource: the subresource written (``"status"``, ``"scale"``).
        api_version: the version recorded for the writer; default ``new["apiVersion"]``.

    Returns:
        The new managedFields entries (wire dicts). An existing object (one with a uid) that
        has no entries stays untracked until its first apply, as in Kubernetes.

    Raises:
        korch.errors.BadRequest: ``operation`` is not ``Update`` or the entries are malformed.
        korch.errors.Invalid: a keyed list item of ``new`` lacks a key field.
    """
    if operation != "Update":
        raise errors.BadRequest(f"operation must be 'Update' (use apply() to apply): {operation!r}")
    if not old and not managed_fields:  # a create: one walk of ``new``, not a diff with {}
        meta = new.get("metadata")
        if isinstance(meta, dict) and "managedFields" in meta:
            new = {**new, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
        owned = _fields_v1.object_fields_v1(new, schema or _schema_of(new), _STRIPPED)
        version = api_version if api_version is not None else str(new.get("apiVersion", ""))
        me = _Manager(manager, "Update", version, subresource, _format_time(time), _fieldset.EMPTY)
        return [{**me.encode(), "fieldsV1": owned}] if owned else []
    before = _without_managed_fields(old)
    after = _without_managed_fields(new)
    if managed_fields is None:
        metadata = (old or {}).get("metadata")
        managed_fields = metadata.get("managedFields") or [] if isinstance(metadata, dict) else []
    managers = _decode(managed_fields)
    metadata = before.get("metadata")
    if not managers and isinstance(metadata, dict) and metadata.get("uid"):
        return []
    if schema is None:
        schema = _schema_of(after)
    version = api_version if api_version is not None else str(after.get("apiVersion", ""))
    added, modified, removed = _changes(before, after, schema)
    changed = added | modified
    for other in managers.values():
        other.fields = other.fields - changed - removed
    me = _Manager(manager, "Update", version, subresource, None, _fieldset.EMPTY)
    previous = managers.get(me.identity)
    if previous is not None:
        me = previous
    fields = _strip(me.fields - removed | changed)
    if fields != me.fields or previous is None or me.time is None:
        me.time = _format_time(time)
    me.fields = fields
    managers[me.identity] = me
    _cap_updaters(managers)
    return _encode(managers)
