"""Writes: ``create``, ``update`` (main resource and ``status``/``finalize``) and ``patch``.

A create runs, in kube-apiserver's order: namespace checks (the namespace must exist and
not be terminating), system metadata (uid, creationTimestamp), the kind's
``PrepareForCreate`` (status reset, generation 1), defaulting, mutating admission, name
generation (``generateName`` + 5 random characters, retried on collision), validation,
validating admission, managedFields, and one store transaction that fails with
AlreadyExists if the key exists.

An update reads the stored version, keeps what clients cannot change (uid,
creationTimestamp, generation, deletionTimestamp), applies the kind's
``PrepareForUpdate`` (status or spec reset per subresource, generation bump), defaults,
admits, validates and stores with a compare on the stored ``mod_revision``. If the client
sent a ``resourceVersion`` that is not the stored one — or another write lands first — it
gets 409 Conflict; an update without one retries on the newer version. An update that
changes nothing stores nothing and returns the stored object (same resourceVersion). An
update that removes the last finalizer of an object being deleted stores it and then
deletes it.

A patch is an update computed from the stored object: JSON patch, merge patch, strategic
merge patch (built-in kinds only: 415 for custom resources) or server-side apply (with a
field manager, conflicts unless ``force``; apply creates the object when it is missing).
A patch retries on conflicts unless it sets ``metadata.resourceVersion`` itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Final

import attrs

from korch import errors
from korch.api import (
    _codec,
    _core_node,
    _defaults_pod,
    _managed_fields,
    _meta,
    _patch,
    _registry,
    _strategic,
)
from korch.apiserver import _admission, _core, _hooks, _keys, _objects, _status, _strategy, _types

__all__ = ("SYSTEM_NAMESPACES", "Writes")

SYSTEM_NAMESPACES: Final = ("default", "kube-system", "kube-public", "kube-node-lease")
_GENERATE_ATTEMPTS: Final = 8
PATCH_TYPES: Final = ("json", "merge", "strategic", "apply")


def _without_revision(wire: dict[str, Any]) -> dict[str, Any]:
    metadata = wire.get("metadata") or {}
    return {**wire, "metadata": {k: v for k, v in metadata.items() if k != "resourceVersion"}}


class Writes(_core.ServerCore):
    """``create``, ``update`` and ``patch``."""

    # -- create ------------------------------------------------------------------------

    async def create(
        self,
        obj: Any,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str = "",
        user: _types.UserInfo | None = None,
    ) -> Any:
        """Store a new object.

        Args:
            obj: a typed object (or GenericResource) with ``metadata.name`` or
                ``metadata.generateName``.
            namespace: the namespace, for namespaced kinds (default: the object's own).
            dry_run: validate and admit, but do not store.
            field_manager: recorded in ``managedFields`` (default ``"korch"``).
            user: who asks (authorizer, admission).

        Returns:
            The stored object (uid, creationTimestamp, resourceVersion, defaults…).

        Raises:
            korch.errors.AlreadyExists: ``pods "web" already exists``.
            korch.errors.NotFound: the namespace does not exist.
            korch.errors.Forbidden: the namespace is being terminated, or admission refused.
            korch.errors.Invalid: validation failed.
        """
        rt = self.resource_type_of(obj)
        if "create" not in rt.verbs:
            raise errors.MethodNotAllowed(f"create is not supported on {rt.group_resource}")
        meta = obj.metadata
        target = ""
        if rt.namespaced:
            if namespace and meta.namespace and namespace != meta.namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            target = self.namespace_for(rt, namespace or meta.namespace)
        await self.ensure_bootstrapped()
        await self.authorize(user, "create", rt, target, meta.name)
        stored = await self.create_object(
            rt, obj, target, dry_run=dry_run, manager=field_manager, user=user
        )
        return stored.obj

    async def create_object(
        self,
        rt: _registry.ResourceType,
        obj: Any,
        namespace: str,
        *,
        dry_run: bool,
        manager: str,
        user: _types.UserInfo | None,
        managed: list[dict[str, Any]] | None = None,
    ) -> _objects.Stored:
        """The create pipeline of the module docstring (authorization already done)."""
        meta = obj.metadata
        if rt.namespaced:
            await self._check_namespace(rt, namespace, meta.name or meta.generate_name)
        strategy = self.strategy(rt)
        system = {
            "namespace": namespace,
            "uid": self.new_uid(),
            "creation_timestamp": self.now(),
            "resource_version": "",
            "self_link": "",
            "deletion_timestamp": None,
            "deletion_grace_period_seconds": None,
        }
        obj = _defaults_pod.copy_with(obj, {"metadata": _defaults_pod.copy_with(meta, system)})
        obj = _hooks.default(_strategy.prepare_for_create(rt, strategy, obj))
        if self.admission.mutating:
            obj = await self.admission.admit(
                self._attributes("CREATE", rt, obj, None, dry_run=dry_run, user=user)
            )
        reset = ("status",) if "status" in rt.subresources else ()
        generate = not obj.metadata.name and obj.metadata.generate_name
        for _ in range(_GENERATE_ATTEMPTS if generate else 1):
            candidate = obj
            if generate:
                name = self.generate_name(obj.metadata.generate_name)
                candidate = attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, name=name))
            _hooks.validate_create(rt, candidate)
            if self.admission.validating:
                await self.admission.validate(
                    self._attributes("CREATE", rt, candidate, None, dry_run=dry_run, user=user)
                )
            wire = self.finish(candidate, None, manager=manager, managed=managed, reset=reset)
            key = _keys.object_key(rt, namespace, candidate.metadata.name)
            if dry_run:
                if await self.store.get(key) is None:
                    return self.dry_result(rt, key, wire, 0)
                continue
            stored = await self.put_new(rt, key, wire)
            if stored is not None:
                return stored
        raise _status.already_exists(rt, candidate.metadata.name)

    async def _check_namespace(self, rt: _registry.ResourceType, namespace: str, name: str) -> None:
        ns_rt = self.registry.lookup("v1", "Namespace")
        kv = await self.store.get(_keys.object_key(ns_rt, "", namespace))
        if kv is None:
            raise _status.not_found(ns_rt, namespace)
        memo = self._namespace_memo.get(namespace)
        if memo is None or memo[0] != kv.mod_revision:
            ns = self.decode(ns_rt, kv).obj
            terminating = ns.metadata.deletion_timestamp is not None or (
                ns.status.phase == "Terminating"
            )
            memo = self._namespace_memo[namespace] = (kv.mod_revision, terminating)
        if memo[1]:
            raise _status.forbidden(
                rt,
                name,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    async def _bootstrap(self) -> None:
        ns_rt = self.registry.lookup("v1", "Namespace")
        for name in SYSTEM_NAMESPACES:
            if await self.store.get(_keys.object_key(ns_rt, "", name)) is not None:
                continue
            namespace = _core_node.Namespace(metadata=_meta.ObjectMeta(name=name))
            # another API server over the same store may be faster
            with contextlib.suppress(errors.AlreadyExists):
                await self.create_object(ns_rt, namespace, "", dry_run=False, manager="", user=None)

    # -- update ------------------------------------------------------------------------

    async def update(
        self,
        obj: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_manager: str = "",
        user: _types.UserInfo | None = None,
    ) -> Any:
        """Replace an object (PUT).

        Args:
            obj: the new state, named by its metadata; its ``resourceVersion`` (if any) must
                be the stored one.
            subresource: ``""``, ``"status"`` (only status changes count) or ``"finalize"``
                (namespaces: only ``spec.finalizers`` changes count).
            dry_run: validate and admit, but do not store.
            field_manager: recorded in ``managedFields``.
            user: who asks.

        Raises:
            korch.errors.NotFound: no such object (or subresource).
            korch.errors.Conflict: ``resourceVersion`` is stale (kube-apiserver's message).
            korch.errors.Invalid: validation failed, or a custom resource was updated
                without a ``resourceVersion``.
        """
        rt = self.resource_type_of(obj)
        self._check_subresource(rt, subresource)
        meta = obj.metadata
        namespace = self.namespace_for(rt, meta.namespace)
        self.check_name(meta.name)
        await self.ensure_bootstrapped()
        await self.authorize(user, "update", rt, namespace, meta.name, subresource)
        strategy = self.strategy(rt)
        revision = _keys.parse_resource_version(meta.resource_version)
        if not revision and not strategy.allow_unconditional_update:
            cause = errors.Cause(
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            )
            raise _status.invalid(rt, meta.name, [cause])
        key = _keys.object_key(rt, namespace, meta.name)
        while True:
            old = await self.read(rt, key)
            if old is None:
                raise _status.not_found(rt, meta.name)
            if revision and old.revision != revision:
                raise _status.conflict(rt, meta.name)
            new = _strategy.carry_system_metadata(obj, old.obj)
            new = _strategy.prepare_for_update(rt, strategy, new, old.obj, subresource)
            result = await self.commit_update(
                rt, new, old, subresource=subresource, manager=field_manager,
                dry_run=dry_run, user=user,
            )  # fmt: skip
            if result is not None:
                return result.obj
            if revision:
                raise _status.conflict(rt, meta.name)

    def _check_subresource(self, rt: _registry.ResourceType, subresource: str) -> None:
        if not subresource:
            return
        allowed = subresource == "status" or (subresource == "finalize" and rt.kind == "Namespace")
        if not allowed or subresource not in rt.subresources:
            raise errors.NotFound(
                f"the server could not find the requested resource ({rt.group_resource} has "
                f'no "{subresource}" subresource that can be written this way)'
            )

    async def commit_update(
        self,
        rt: _registry.ResourceType,
        new: Any,
        old: _objects.Stored,
        *,
        subresource: str,
        manager: str,
        dry_run: bool,
        user: _types.UserInfo | None,
        managed: list[dict[str, Any]] | None = None,
    ) -> _objects.Stored | None:
        """Default, admit, validate and store ``new`` over ``old`` (prepared already).

        Returns:
            The stored result (``old`` itself for a no-op), or ``None`` when ``old`` is no
            longer the stored version (the caller retries or reports a conflict).
        """
        new = _hooks.default(new)
        if self.admission.mutating:
            new = await self.admission.admit(
                self._attributes("UPDATE", rt, new, old.obj, subresource, dry_run, user)
            )
        _hooks.validate_update(rt, new, old.obj)
        if self.admission.validating:
            await self.admission.validate(
                self._attributes("UPDATE", rt, new, old.obj, subresource, dry_run, user)
            )
        old_wire = _codec.to_dict(old.obj)
        wire = self.finish(new, old_wire, manager=manager, subresource=subresource, managed=managed)
        if wire == _without_revision(old_wire):
            return old
        if dry_run:
            return self.dry_result(rt, old.key, wire, old.revision)
        result = await self.put_over(rt, old, wire)
        if result is None:
            return None
        old_meta, meta = old.obj.metadata, result.obj.metadata
        if (
            old_meta.deletion_timestamp is not None
            and old_meta.finalizers
            and not meta.finalizers
            and not old_meta.deletion_grace_period_seconds
        ):
            await self.remove(result)  # the last finalizer is gone: delete it (if unchanged)
        return result

    def _attributes(
        self,
        operation: _admission.Operation,
        rt: _registry.ResourceType,
        obj: Any,
        old: Any,
        subresource: str = "",
        dry_run: bool = False,
        user: _types.UserInfo | None = None,
    ) -> _admission.AdmissionAttributes:
        meta = (obj if obj is not None else old).metadata
        return _admission.AdmissionAttributes(
            operation=operation,
            resource=rt,
            namespace=meta.namespace,
            name=meta.name,
            object=obj,
            old_object=old,
            subresource=subresource,
            dry_run=dry_run,
            user=user,
        )

    # -- patch -------------------------------------------------------------------------

    async def patch(
        self,
        kind: _types.KindRef,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        type: _types.PatchType = "strategic",
        field_manager: str = "",
        force: bool = False,
        subresource: str = "",
        dry_run: bool = False,
        user: _types.UserInfo | None = None,
    ) -> Any:
        """Patch an object (see the module docstring).

        Args:
            kind: the resource type.
            name: the object's name.
            patch: a list of operations (``json``), a dict (``merge``, ``strategic``,
                ``apply``) or, for ``apply``/``merge``, a typed object.
            namespace: its namespace.
            type: ``"json"``, ``"merge"``, ``"strategic"`` or ``"apply"``.
            field_manager: the manager (required for ``apply``).
            force: ``apply`` takes fields owned by other managers instead of conflicting.
            subresource: ``""`` or ``"status"``.
            dry_run: compute and validate, do not store.
            user: who asks.

        Raises:
            korch.errors.NotFound: no such object (apply creates it instead).
            korch.errors.Conflict: an apply conflict (the fields and their managers), or the
                patch's own resourceVersion is stale.
            korch.errors.UnsupportedMediaType: unknown patch type, or a strategic merge patch
                of a custom resource.
            korch.errors.BadRequest: a malformed patch, or one changing name or namespace.
            korch.errors.Invalid: the patched object is invalid.
        """
        rt = self.resource_type(kind)
        namespace = self.namespace_for(rt, namespace)
        self.check_name(name)
        self._check_subresource(rt, subresource)
        body = self._patch_body(type, patch, force)
        await self.ensure_bootstrapped()
        await self.authorize(user, "patch", rt, namespace, name, subresource)
        strategy = self.strategy(rt)
        key = _keys.object_key(rt, namespace, name)
        manager = field_manager
        while True:
            old = await self.read(rt, key)
            if old is None:
                if type != "apply" or subresource:
                    raise _status.not_found(rt, name)
                await self.authorize(user, "create", rt, namespace, name)
                obj, applied = self._applied_new(rt, namespace, name, body, manager, force)
                try:
                    stored = await self.create_object(
                        rt, obj, namespace, dry_run=dry_run, manager=manager, user=user,
                        managed=applied,
                    )  # fmt: skip
                except errors.AlreadyExists:
                    continue  # created meanwhile: apply to it
                return stored.obj
            live = _codec.to_dict(old.obj)
            managed: list[dict[str, Any]] | None = None
            if type == "apply":
                merged, managed = _managed_fields.apply(
                    live,
                    body,
                    manager,
                    list(live.get("metadata", {}).get("managedFields") or []),
                    force=force,
                    time=self.now(),
                    subresource=subresource,
                )
            else:
                merged = self._apply_patch(rt, type, live, body)
            new = self._decode_patched(rt, merged, namespace, name)
            conditional = new.metadata.resource_version != str(old.revision)
            if conditional and new.metadata.resource_version:
                raise _status.conflict(rt, name)
            new = _strategy.carry_system_metadata(new, old.obj)
            new = _strategy.prepare_for_update(rt, strategy, new, old.obj, subresource)
            result = await self.commit_update(
                rt, new, old, subresource=subresource, manager=manager, dry_run=dry_run,
                user=user, managed=managed,
            )  # fmt: skip
            if result is not None:
                return result.obj

    @staticmethod
    def _patch_body(type: str, patch: Any, force: bool) -> Any:
        if type not in PATCH_TYPES:
            raise errors.UnsupportedMediaType(
                f"unsupported patch type {type!r}: use one of {', '.join(PATCH_TYPES)}"
            )
        if force and type != "apply":
            raise errors.BadRequest("force may only be set for apply patches")
        if type == "json":
            if not isinstance(patch, list):
                raise errors.BadRequest("a json patch must be a list of operations")
            return patch
        if attrs.has(patch.__class__):
            return _codec.to_dict(patch)
        if not isinstance(patch, Mapping):
            raise errors.BadRequest(f"a {type} patch must be a JSON object")
        return dict(patch)

    @staticmethod
    def _apply_patch(
        rt: _registry.ResourceType, type: str, live: dict[str, Any], body: Any
    ) -> dict[str, Any]:
        if type == "json":
            merged = _patch.json_patch(live, body)
        elif type == "merge":
            merged = _patch.merge_patch(live, body)
        else:
            schema = _strategic.schema_for_kind(rt.api_version, rt.kind)
            merged = _strategic.strategic_merge_patch(live, body, schema)
        if not isinstance(merged, dict):
            raise errors.BadRequest("the patched object is not a JSON object")
        return merged

    def _decode_patched(
        self, rt: _registry.ResourceType, merged: dict[str, Any], namespace: str, name: str
    ) -> Any:
        if merged.get("apiVersion") != rt.api_version or merged.get("kind") != rt.kind:
            raise errors.BadRequest(
                f"the patch may not change apiVersion and kind (want {rt.api_version} {rt.kind})"
            )
        new: Any = _codec.from_dict(merged, rt.cls, registry=self.registry)
        meta = new.metadata
        if meta.name != name:
            raise errors.BadRequest(
                f"the name of the object ({meta.name}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.namespace != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        return new

    def _applied_new(
        self,
        rt: _registry.ResourceType,
        namespace: str,
        name: str,
        body: dict[str, Any],
        manager: str,
        force: bool,
    ) -> tuple[Any, list[dict[str, Any]]]:
        if body.get("apiVersion") != rt.api_version or body.get("kind") != rt.kind:
            raise errors.BadRequest(
                f"an applied configuration must have apiVersion {rt.api_version!r} and kind "
                f"{rt.kind!r}"
            )
        metadata = dict(body.get("metadata") or {})
        metadata.setdefault("name", name)
        if rt.namespaced:
            metadata.setdefault("namespace", namespace)
        merged, managed = _managed_fields.apply(
            None, {**body, "metadata": metadata}, manager, [], force=force, time=self.now()
        )
        return self._decode_patched(rt, merged, namespace, name), managed
