"""Strategic merge patch: Kubernetes' schema-aware merge patch, over wire-format values.

A strategic merge patch is a JSON merge patch (null deletes, objects merge) whose lists can
merge too. How each field merges comes from a :class:`PatchSchema`, the Python form of the
``patchStrategy``/``patchMergeKey`` struct tags of Kubernetes' Go types (and, for server-side
apply, of their ``listType``/``listMapKey``/``mapType``/``structType`` markers):

* a list with strategy ``merge`` and a merge key (``containers`` by ``name``) merges item by
  item; items of the patch that match no live item are added, the others merge recursively;
* a list of primitives with strategy ``merge`` (``finalizers``) is a set union;
* every other list is replaced whole (``tolerations``, ``taints``, Role ``rules``);
* maps merge recursively unless their strategy is ``replace``.

Directives steer the merge as in kube-apiserver: ``$patch: replace|merge|delete`` (maps and
list items), ``$retainKeys``, ``$deleteFromPrimitiveList/<field>``,
``$setElementOrder/<field>``. Directives and nulls never reach the result.

Order of a merged list follows Kubernetes: ``$setElementOrder`` first, then the patch's own
order, then the live order; an item new to the list is placed before the live items it cannot
be compared with (so a patch adding a container puts it first, as ``kubectl patch`` shows).

Custom resources have no struct tags: :func:`schema_for_kind` raises
:class:`korch.errors.UnsupportedMediaType` (415) for them, as kube-apiserver does; callers
fall back to a JSON merge patch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _patch

__all__ = (
    "PatchSchema",
    "create_strategic_merge_patch",
    "schema_for_kind",
    "strategic_merge_patch",
)

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST: Final = "$deleteFromPrimitiveList/"
_SET_ELEMENT_ORDER: Final = "$setElementOrder/"


@attrs.frozen
class PatchSchema:
    """Patch metadata of one JSON value (an object, a list or a scalar) and its children.

    Attributes:
        fields: schemas of an object's fields, by wire name; a field not listed merges by the
            defaults (objects merge, lists are replaced / atomic).
        items: schema of a list's items (for lists of objects).
        strategy: the ``patchStrategy`` tag: ``""``, ``"merge"``, ``"replace"``,
            ``"retainKeys"`` or ``"merge,retainKeys"``.
        merge_key: the ``patchMergeKey`` tag of a merging list of objects.
        list_type: server-side apply's ``listType`` (``"atomic"``, ``"set"`` or ``"map"``);
            empty means derived from the strategy (merge + key: map; merge: set; else atomic).
        list_map_keys: server-side apply's ``listMapKey`` fields; default ``(merge_key,)``.
        key_defaults: values of key fields an item may omit (``protocol: TCP`` for ports).
        map_type: ``"atomic"`` for objects server-side apply owns as a whole (``mapType`` /
            ``structType=atomic``: label selectors, ``nodeSelector``); strategic merge patch
            still merges them.
    """

    fields: dict[str, PatchSchema] = attrs.field(factory=dict)
    items: PatchSchema | None = None
    strategy: str = ""
    merge_key: str = ""
    list_type: str = ""
    list_map_keys: tuple[str, ...] = ()
    key_defaults: dict[str, Any] = attrs.field(factory=dict)
    map_type: str = ""

    def field(self, name: str) -> PatchSchema:
        """The schema of field ``name`` (the default schema when it is not described)."""
        return self.fields.get(name, _DEFAULT)

    def item(self) -> PatchSchema:
        """The schema of this list's items (the default schema when not described)."""
        return self.items if self.items is not None else _DEFAULT

    @property
    def merges_list(self) -> bool:
        """Whether strategic merge patch merges this list instead of replacing it."""
        return "merge" in self.strategy.split(",")

    @property
    def ssa_list_type(self) -> str:
        """Server-side apply's list type: ``"atomic"``, ``"set"`` or ``"map"``."""
        if self.list_type:
            return self.list_type
        if self.merges_list:
            return "map" if self.merge_key else "set"
        return "atomic"

    @property
    def ssa_keys(self) -> tuple[str, ...]:
        """The key fields of a server-side apply ``map`` list."""
        return self.list_map_keys or ((self.merge_key,) if self.merge_key else ())


_DEFAULT: Final = PatchSchema()


def _bad(message: str, path: str) -> errors.BadRequest:
    where = f" at {path}" if path else ""
    return errors.BadRequest(f"invalid strategic merge patch{where}: {message}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- applying ---------------------------------------------------------------------------


def strategic_merge_patch(
    original: dict[str, Any], patch: dict[str, Any], schema: PatchSchema
) -> dict[str, Any]:
    """Apply a strategic merge patch, as kube-apiserver does for built-in kinds.

    Args:
        original: the live object (wire format); it is not modified.
        patch: the strategic merge patch (wire format, may hold ``$`` directives).
        schema: the patch metadata of the object's kind (see :func:`schema_for_kind`).

    Returns:
        The patched object, a new value. An empty patch returns an equal copy.

    Raises:
        korch.errors.BadRequest: the patch is malformed: not an object, an unknown
            ``$patch`` directive, a list item without its merge key, a ``$retainKeys`` or
            ``$setElementOrder`` list that contradicts the patch.
    """
    for name, value in (("object", original), ("patch", patch)):
        if not isinstance(value, dict):
            raise _bad(f"the {name} must be a JSON object, not {type(value).__name__}", "")
    merged = _merge_map(_patch.deep_copy(original), _patch.deep_copy(patch), schema, "")
    return {} if merged is None else merged


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], schema: PatchSchema, path: str
) -> dict[str, Any] | None:
    """Merge ``patch`` into ``original`` (both private copies, so mutated freely); None
    means ``$patch: delete``: drop the map from its parent."""
    if _DIRECTIVE in patch:
        directive = patch.pop(_DIRECTIVE)
        if directive == "delete":
            return None
        if directive == "replace":
            # Kubernetes uses the patch as is; merging it into nothing also drops its nulls
            # and nested directives, which a wire-format object must not keep.
            original = {}
        elif directive != "merge":
            raise _bad(f"unknown $patch directive {directive!r} in a map", path)
    if _RETAIN_KEYS in patch:
        _retain_keys(original, patch, path)
    ordered = _apply_element_orders(original, patch, schema, path)
    for key, value in patch.items():
        if key.startswith(_SET_ELEMENT_ORDER) or key in ordered:
            continue
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(original, key, value, path)
            continue
        if key.startswith("$"):
            raise _bad(f"unknown directive {key!r}", path)
        field_schema = schema.field(key)
        child_path = _join(path, key)
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key)
        if isinstance(value, dict):
            replace = field_schema.strategy == "replace"
            base = current if isinstance(current, dict) and not replace else {}
            merged = _merge_map(base, value, field_schema, child_path)
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list) and field_schema.merges_list:
            live = current if isinstance(current, list) else []
            original[key] = _merge_list(live, value, field_schema, child_path)
        else:
            original[key] = value
    return original


def _retain_keys(original: dict[str, Any], patch: dict[str, Any], path: str) -> None:
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
        raise _bad("$retainKeys must be a list of field names", path)
    keep = set(retain)
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in keep:
            raise _bad(f"field {key!r} is set by the patch but missing from $retainKeys", path)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _delete_from_primitive_list(original: dict[str, Any], key: str, values: Any, path: str) -> None:
    field = key[len(_DELETE_FROM_PRIMITIVE_LIST) :]
    if not isinstance(values, list) or any(isinstance(v, dict | list) for v in values):
        raise _bad(f"{key} must be a list of primitive values", path)
    current = original.get(field)
    if isinstance(current, list):
        original[field] = [x for x in current if not any(_patch.json_equal(x, v) for v in values)]


def _apply_element_orders(
    original: dict[str, Any], patch: dict[str, Any], schema: PatchSchema, path: str
) -> set[str]:
    """Merge every list named by a ``$setElementOrder/<field>`` and order it; returns the
    fields handled, which the main merge loop then skips."""
    handled: set[str] = set()
    for key, order in patch.items():
        if not key.startswith(_SET_ELEMENT_ORDER):
            continue
        field = key[len(_SET_ELEMENT_ORDER) :]
        field_schema, child_path = schema.field(field), _join(path, field)
        if not isinstance(order, list):
            raise _bad(f"{key} must be a list", path)
        live, patch_list = original.get(field), patch.get(field, [])
        if not isinstance(patch_list, list) or (field not in patch and not isinstance(live, list)):
            continue  # null, not a list, or nothing to order: the main loop handles the field
        identity = _identity_function(field_schema, child_path)
        order_ids = [identity(item) for item in order]
        _check_order_covers_patch(patch_list, order_ids, identity, child_path)
        live_list = live if isinstance(live, list) else []
        if field_schema.merges_list:
            merged = _merge_list(live_list, patch_list, field_schema, child_path)
        else:
            merged = patch_list if field in patch else live_list
        in_order = sorted(
            (x for x in merged if identity(x) in order_ids),
            key=lambda x: order_ids.index(identity(x)),
        )
        server_only = [x for x in merged if identity(x) not in order_ids]
        server_ids = [identity(x) for x in live_list]
        original[field] = _interleave(server_only, in_order, server_ids, identity)
        handled.add(field)
    return handled


def _check_order_covers_patch(
    patch_list: list[Any], order_ids: list[Any], identity: Callable[[Any], Any], path: str
) -> None:
    position = 0
    for item in patch_list:
        if isinstance(item, dict) and _DIRECTIVE in item:
            continue
        item_id = identity(item)
        while position < len(order_ids) and order_ids[position] != item_id:
            position += 1
        if position == len(order_ids):
            raise _bad(f"the order of the patch list does not match $setElementOrder/{path}", path)
        position += 1


def _identity_function(schema: PatchSchema, path: str) -> Callable[[Any], Any]:
    """A function giving a list item's identity: its merge key value, or itself."""
    key = schema.merge_key

    def identity(item: Any) -> Any:
        if isinstance(item, dict):
            if not key or key not in item:
                raise _bad(f"list item {item!r} does not contain the merge key {key!r}", path)
            return _hashable(item[key])
        if isinstance(item, list):
            raise _bad("lists of lists are not supported", path)
        return _hashable(item)

    return identity


def _hashable(value: Any) -> Any:
    # Tag the type so that JSON true and 1 stay distinct as dict keys and in comparisons.
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True))
    return (type(value).__name__, value)


def _interleave(
    server_only: list[Any],
    patch_items: list[Any],
    server_ids: list[Any],
    identity: Callable[[Any], Any],
) -> list[Any]:
    """Merge two ordered lists: a server-only item goes first only when both items are in
    the live list and it came first there; otherwise the patch item goes first."""
    positions = {item_id: i for i, item_id in reversed(list(enumerate(server_ids)))}
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(patch_items):
        left = positions.get(identity(server_only[i]))
        right = positions.get(identity(patch_items[j]))
        if left is not None and right is not None and left < right:
            result.append(server_only[i])
            i += 1
        else:
            result.append(patch_items[j])
            j += 1
    return result + server_only[i:] + patch_items[j:]


def _merge_list(original: list[Any], patch: list[Any], schema: PatchSchema, path: str) -> list[Any]:
    """Merge a patch list into a live list whose strategy is ``merge``."""
    identity = _identity_function(schema, path)
    maps = any(isinstance(x, dict) for x in original + patch)
    if maps:
        if not all(isinstance(x, dict) for x in original + patch):
            raise _bad("a merging list mixes objects and primitive values", path)
        if not schema.merge_key:
            raise _bad("cannot merge a list of objects without a merge key", path)
        original, patch = _special_list_items(original, patch, identity, path)
    original_ids = [identity(x) for x in original]
    patch_ids = [identity(x) for x in patch]
    merged, merged_ids = list(original), list(original_ids)
    if not maps:  # a set of primitives: duplicates go
        merged = [x for i, x in enumerate(original) if original_ids.index(original_ids[i]) == i]
        merged_ids = [identity(x) for x in merged]
    for item, item_id in zip(patch, patch_ids, strict=True):
        if item_id not in merged_ids:
            merged.append({} if isinstance(item, dict) else item)
            merged_ids.append(item_id)
        if isinstance(item, dict):  # merges into the first live item with its key
            index = merged_ids.index(item_id)
            result = _merge_map(merged[index], item, schema.item(), path)
            merged[index] = {} if result is None else result
    patch_items = sorted(
        (x for x, x_id in zip(merged, merged_ids, strict=True) if x_id in patch_ids),
        key=lambda x: patch_ids.index(identity(x)),
    )
    server_only = [x for x, x_id in zip(merged, merged_ids, strict=True) if x_id not in patch_ids]
    return _interleave(server_only, patch_items, original_ids, identity)


def _special_list_items(
    original: list[Any], patch: list[Any], identity: Callable[[Any], Any], path: str
) -> tuple[list[Any], list[Any]]:
    """Handle ``$patch`` list items; returns the live items left and the plain patch items."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            item_id = identity(item)
            original = [x for x in original if identity(x) != item_id]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            rest = {k: v for k, v in item.items() if k != _DIRECTIVE}
            if rest:
                plain.append(rest)
        else:
            raise _bad(f"unknown $patch directive {directive!r} in a list item", path)
    if replace:
        return [], plain
    return original, plain


# -- diffing ----------------------------------------------------------------------------


def create_strategic_merge_patch(
    original: dict[str, Any], modified: dict[str, Any], schema: PatchSchema
) -> dict[str, Any]:
    """The two-way strategic merge patch from ``original`` to ``modified``.

    Like ``kubectl``'s two-way patch: changed fields are set, removed fields are ``null``,
    merging lists of objects list only changed items (removed ones as ``$patch: delete``),
    merging primitive lists use ``$deleteFromPrimitiveList``, and every changed merging list
    gets a ``$setElementOrder`` so the result keeps ``modified``'s order.

    Args:
        original: the object before (wire format).
        modified: the object after.
        schema: the patch metadata of the kind.

    Returns:
        A patch ``p`` with ``strategic_merge_patch(original, p, schema) == modified`` when
        ``modified`` has no ``null`` members and no duplicate list items.

    Raises:
        korch.errors.BadRequest: an argument is not an object, or an item of a merging list
            lacks its merge key.
    """
    if not isinstance(original, dict) or not isinstance(modified, dict):
        raise _bad("both objects of a strategic merge patch diff must be JSON objects", "")
    return _diff_maps(original, modified, schema, "")


def _diff_maps(
    original: dict[str, Any], modified: dict[str, Any], schema: PatchSchema, path: str
) -> dict[str, Any]:
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, after in modified.items():
        if key not in original:
            patch[key] = _patch.deep_copy(after)
            continue
        before = original[key]
        if _patch.json_equal(before, after):
            continue
        sub = schema.field(key)
        child_path = _join(path, key)
        if isinstance(before, dict) and isinstance(after, dict) and sub.strategy != "replace":
            patch[key] = _diff_maps(before, after, sub, child_path)
        elif isinstance(before, list) and isinstance(after, list) and sub.merges_list:
            patch.update(_diff_lists(key, before, after, sub, child_path))
        else:
            patch[key] = _patch.deep_copy(after)
    return patch


def _diff_lists(
    key: str, original: list[Any], modified: list[Any], schema: PatchSchema, path: str
) -> dict[str, Any]:
    identity = _identity_function(schema, path)
    before_ids = [identity(x) for x in original]
    after_ids = [identity(x) for x in modified]
    out: dict[str, Any] = {}
    if any(isinstance(x, dict) for x in original + modified):
        merge_key = schema.merge_key
        changes: list[Any] = []
        for item, item_id in zip(modified, after_ids, strict=True):
            if item_id not in before_ids:
                changes.append(_patch.deep_copy(item))
                continue
            diff = _diff_maps(original[before_ids.index(item_id)], item, schema.item(), path)
            if diff:
                changes.append({merge_key: item[merge_key], **diff})
        for item, item_id in zip(original, before_ids, strict=True):
            if item_id not in after_ids:
                changes.append({merge_key: item[merge_key], _DIRECTIVE: "delete"})
        if changes:
            out[key] = changes
        if (changes or before_ids != after_ids) and modified:
            out[_SET_ELEMENT_ORDER + key] = [{merge_key: x[merge_key]} for x in modified]
        return out
    added = [x for x, x_id in zip(modified, after_ids, strict=True) if x_id not in before_ids]
    removed = [x for x, x_id in zip(original, before_ids, strict=True) if x_id not in after_ids]
    if added:
        out[key] = _patch.deep_copy(added)
    if removed:
        out[_DELETE_FROM_PRIMITIVE_LIST + key] = _patch.deep_copy(removed)
    if modified:
        out[_SET_ELEMENT_ORDER + key] = _patch.deep_copy(modified)
    return out


# -- built-in kinds ---------------------------------------------------------------------
# Transcribed from the struct tags of k8s.io/api (core/v1, apps/v1, batch/v1, meta/v1).
# Only fields that differ from the defaults are listed: every other list is atomic.


def _merge(key: str = "", item: PatchSchema | None = None, **options: Any) -> PatchSchema:
    strategy = options.pop("strategy", "merge")
    return PatchSchema(items=item, strategy=strategy, merge_key=key, **options)


def _obj(**fields: PatchSchema) -> PatchSchema:
    return PatchSchema(fields=fields)


_ATOMIC: Final = PatchSchema(map_type="atomic")  # structType/mapType=atomic: selectors, refs
_CONDITIONS: Final = _merge("type")
_TCP: Final = {"protocol": "TCP"}
_META: Final = _obj(ownerReferences=_merge("uid", _ATOMIC), finalizers=_merge())
_CONTAINER: Final = _obj(
    ports=_merge("containerPort", list_map_keys=("containerPort", "protocol"), key_defaults=_TCP),
    env=_merge("name"),
    volumeMounts=_merge("mountPath"),
    volumeDevices=_merge("devicePath"),
    resources=_obj(claims=PatchSchema(list_type="map", list_map_keys=("name",))),
)
_POD_SPEC: Final = _obj(
    volumes=_merge("name", strategy="merge,retainKeys"),
    initContainers=_merge("name", _CONTAINER),
    containers=_merge("name", _CONTAINER),
    ephemeralContainers=_merge("name", _CONTAINER),
    imagePullSecrets=_merge("name"),
    hostAliases=_merge("ip"),
    topologySpreadConstraints=_merge(
        "topologyKey",
        _obj(labelSelector=_ATOMIC),
        list_map_keys=("topologyKey", "whenUnsatisfiable"),
    ),
    schedulingGates=_merge("name"),
    resourceClaims=_merge("name", strategy="merge,retainKeys"),
    nodeSelector=_ATOMIC,
    affinity=_obj(nodeAffinity=_obj(requiredDuringSchedulingIgnoredDuringExecution=_ATOMIC)),
)
_POD_STATUS: Final = _obj(
    conditions=_CONDITIONS,
    podIPs=_merge("ip"),
    hostIPs=_merge("ip", list_type="atomic"),
    resourceClaimStatuses=_merge("name", strategy="merge,retainKeys"),
)
_TEMPLATE: Final = _obj(metadata=_META, spec=_POD_SPEC)
_HAS_CONDITIONS: Final = _obj(conditions=_CONDITIONS)
_WORKLOAD: Final = _obj(selector=_ATOMIC, template=_TEMPLATE)  # also Job and RC specs


def _kind(**fields: PatchSchema) -> PatchSchema:
    return PatchSchema(fields={"metadata": _META, **fields})


_KINDS: Final[dict[tuple[str, str], PatchSchema]] = {
    ("v1", "Pod"): _kind(spec=_POD_SPEC, status=_POD_STATUS),
    ("v1", "PodTemplate"): _kind(template=_TEMPLATE),
    ("v1", "ReplicationController"): _kind(spec=_WORKLOAD, status=_HAS_CONDITIONS),
    ("apps/v1", "Deployment"): _kind(
        spec=_obj(
            selector=_ATOMIC, template=_TEMPLATE, strategy=PatchSchema(strategy="retainKeys")
        ),
        status=_HAS_CONDITIONS,
    ),
    ("apps/v1", "ReplicaSet"): _kind(spec=_WORKLOAD, status=_HAS_CONDITIONS),
    ("apps/v1", "StatefulSet"): _kind(spec=_WORKLOAD, status=_HAS_CONDITIONS),
    ("apps/v1", "DaemonSet"): _kind(spec=_WORKLOAD, status=_HAS_CONDITIONS),
    ("batch/v1", "Job"): _kind(
        spec=_WORKLOAD, status=_obj(conditions=_merge("type", list_type="atomic"))
    ),
    ("batch/v1", "CronJob"): _kind(spec=_obj(jobTemplate=_obj(metadata=_META, spec=_WORKLOAD))),
    ("v1", "Service"): _kind(
        spec=_obj(
            ports=_merge("port", list_map_keys=("port", "protocol"), key_defaults=_TCP),
            selector=_ATOMIC,
        ),
        status=_HAS_CONDITIONS,
    ),
    ("v1", "Node"): _kind(
        spec=_obj(podCIDRs=_merge()),
        status=_obj(conditions=_CONDITIONS, addresses=_merge("type")),
    ),
    ("v1", "Namespace"): _kind(status=_HAS_CONDITIONS),
    ("v1", "PersistentVolume"): _kind(spec=_obj(claimRef=_ATOMIC)),
    ("v1", "PersistentVolumeClaim"): _kind(spec=_obj(selector=_ATOMIC), status=_HAS_CONDITIONS),
    ("v1", "ServiceAccount"): _kind(secrets=_merge("name")),
}
# Kinds with nothing but metadata to merge (Endpoints subsets and Role rules are atomic).
_KINDS.update(
    {
        (group_version, kind): _kind()
        for group_version, kinds in (
            ("v1", "ConfigMap Secret Endpoints Event LimitRange ResourceQuota"),
            ("rbac.authorization.k8s.io/v1", "Role ClusterRole RoleBinding ClusterRoleBinding"),
            ("coordination.k8s.io/v1", "Lease"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        )
        for kind in kinds.split()
    }
)
_METADATA_ONLY: Final = _kind()


def schema_for_kind(api_version: str, kind: str, *, strict: bool = True) -> PatchSchema:
    """The patch schema of a built-in kind.

    Args:
        api_version: the object's ``apiVersion`` (``"apps/v1"``, ``"v1"``).
        kind: the object's ``kind``.
        strict: when false, an unknown kind (a custom resource) gets a schema describing
            only ``metadata`` (what server-side apply uses for custom resources) instead of
            an error.

    Returns:
        The kind's :class:`PatchSchema`.

    Raises:
        korch.errors.UnsupportedMediaType: ``strict`` and the kind is not built in; like
            kube-apiserver, which accepts only JSON and merge patches for custom resources.
    """
    schema = _KINDS.get((api_version, kind))
    if schema is not None:
        return schema
    if not strict:
        return _METADATA_ONLY
    group, _, version = api_version.rpartition("/")
    raise errors.UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/apply-patch+yaml",
        details={"group": group, "version": version, "kind": kind},
    )
