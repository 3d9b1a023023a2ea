"""The ``scale`` subresource: autoscaling/v1 ``Scale`` views of scalable kinds.

Deployments, ReplicaSets, StatefulSets and ReplicationControllers (and custom resources
whose strategy has :class:`~korch.apiserver._strategy.ScalePaths`) expose their replicas
as a ``Scale``: ``spec.replicas`` (desired), ``status.replicas`` (observed) and
``status.selector`` (the pods' label selector as a string). Writing a Scale changes only
the object's ``spec.replicas`` (so ``generation`` bumps), through the same update
pipeline as any update: a Scale carrying a stale ``resourceVersion`` conflicts, one
without retries on the latest version. ``managedFields`` records the write under the
``scale`` subresource.
"""

from __future__ import annotations

from typing import Any

import attrs

from korch import errors
from korch.api import _codec, _meta, _misc, _patch, _registry, _selector
from korch.apiserver import _keys, _objects, _status, _strategy, _types, _writes

__all__ = ("Scales",)


def _dig(wire: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(wire, dict):
            return None
        wire = wire.get(part)
    return wire


def _set(wire: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        child = wire.get(part)
        if not isinstance(child, dict):
            child = wire[part] = {}
        wire = child
    wire[path[-1]] = value


class Scales(_writes.Writes):
    """``get_scale``, ``update_scale`` and ``patch_scale``."""

    def _scale_paths(self, rt: _registry.ResourceType) -> _strategy.ScalePaths:
        paths = self.strategy(rt).scale
        if paths is None or "scale" not in rt.subresources:
            raise errors.NotFound(
                f"the server could not find the requested resource ({rt.group_resource} has "
                'no "scale" subresource)'
            )
        return paths

    @staticmethod
    def _scale_of(paths: _strategy.ScalePaths, stored: _objects.Stored) -> _misc.Scale:
        wire = _codec.to_dict(stored.obj)
        meta = stored.obj.metadata
        spec_replicas = _dig(wire, paths.spec_replicas)
        status_replicas = _dig(wire, paths.status_replicas)
        selector = ""
        if paths.selector is not None:
            raw = _dig(wire, paths.selector)
            if paths.selector_is_string:
                selector = raw if isinstance(raw, str) else ""
            elif raw is not None:
                selector = str(_selector.label_selector_as_selector(raw))
        return _misc.Scale(
            metadata=_meta.ObjectMeta(
                name=meta.name,
                namespace=meta.namespace,
                uid=meta.uid,
                resource_version=meta.resource_version,
                creation_timestamp=meta.creation_timestamp,
            ),
            spec=_misc.ScaleSpec(replicas=spec_replicas if isinstance(spec_replicas, int) else 0),
            status=_misc.ScaleStatus(
                replicas=status_replicas if isinstance(status_replicas, int) else 0,
                selector=selector,
            ),
        )

    async def get_scale(
        self,
        kind: _types.KindRef,
        name: str,
        *,
        namespace: str = "",
        user: _types.UserInfo | None = None,
    ) -> _misc.Scale:
        """The Scale of a scalable object.

        Raises:
            korch.errors.NotFound: no such object, or the kind has no scale subresource.
        """
        rt = self.resource_type(kind)
        namespace = self.namespace_for(rt, namespace)
        self.check_name(name)
        paths = self._scale_paths(rt)
        await self.ensure_bootstrapped()
        await self.authorize(user, "get", rt, namespace, name, "scale")
        return self._scale_of(paths, await self.read_existing(rt, namespace, name))

    async def update_scale(
        self,
        kind: _types.KindRef,
        name: str,
        scale: _misc.Scale,
        *,
        namespace: str = "",
        dry_run: bool = False,
        field_manager: str = "",
        user: _types.UserInfo | None = None,
    ) -> _misc.Scale:
        """Set an object's desired replicas from ``scale.spec.replicas``.

        Raises:
            korch.errors.NotFound: no such object or no scale subresource.
            korch.errors.Conflict: ``scale.metadata.resource_version`` is stale.
            korch.errors.Invalid: negative replicas (``Scale.autoscaling "web" is invalid``).
        """
        rt = self.resource_type(kind)
        namespace = self.namespace_for(rt, namespace)
        self.check_name(name)
        paths = self._scale_paths(rt)
        replicas = scale.spec.replicas
        if not isinstance(replicas, int) or replicas < 0:
            cause = errors.Cause(
                "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
            raise errors.Invalid(f'Scale.autoscaling "{name}" is invalid', [cause])
        await self.ensure_bootstrapped()
        await self.authorize(user, "update", rt, namespace, name, "scale")
        revision = _keys.parse_resource_version(scale.metadata.resource_version)
        strategy = self.strategy(rt)
        while True:
            old = await self.read_existing(rt, namespace, name)
            if revision and old.revision != revision:
                raise _status.conflict(rt, name)
            wire = _codec.to_dict(old.obj)
            _set(wire, paths.spec_replicas, replicas)
            new: Any = _codec.from_dict(wire, rt.cls, registry=self.registry)
            new = _strategy.prepare_for_update(rt, strategy, new, old.obj, "scale")
            result = await self.commit_update(
                rt, new, old, subresource="scale", manager=field_manager, dry_run=dry_run,
                user=user,
            )  # fmt: skip
            if result is not None:
                return self._scale_of(paths, result)
            if revision:
                raise _status.conflict(rt, name)

    async def patch_scale(
        self,
        kind: _types.KindRef,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        type: _types.PatchType = "merge",
        dry_run: bool = False,
        field_manager: str = "",
        user: _types.UserInfo | None = None,
    ) -> _misc.Scale:
        """Patch an object's Scale (``json`` or ``merge``/``strategic``, which are the same
        for a Scale), e.g. ``{"spec": {"replicas": 5}}``.

        Raises:
            korch.errors.UnsupportedMediaType: an ``apply`` or unknown patch type.
            korch.errors.Conflict: the patch sets a stale ``metadata.resourceVersion``.
        """
        if type not in ("json", "merge", "strategic"):
            raise errors.UnsupportedMediaType(
                f"patch type {type!r} is not supported for the scale subresource"
            )
        current = await self.get_scale(kind, name, namespace=namespace, user=user)
        live = _codec.to_dict(current)
        if type == "json":
            if not isinstance(patch, list):
                raise errors.BadRequest("a json patch must be a list of operations")
            patched = _patch.json_patch(live, patch)
        else:
            if not isinstance(patch, dict):
                raise errors.BadRequest(f"a {type} patch must be a JSON object")
            patched = _patch.merge_patch(live, patch)
        scale = _codec.from_dict(patched, _misc.Scale)
        if scale.metadata.resource_version == current.metadata.resource_version:
            scale = attrs.evolve(scale, metadata=attrs.evolve(scale.metadata, resource_version=""))
        return await self.update_scale(
            kind, name, scale, namespace=namespace, dry_run=dry_run,
            field_manager=field_manager, user=user,
        )  # fmt: skip
