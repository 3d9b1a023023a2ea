"""CustomResourceDefinitions: a CRD stored through the server makes its kind servable at once.

kube-apiserver's apiextensions server, folded into the in-process server as a mixin of
:class:`~korch.apiserver.APIServer` (:class:`CustomResources`). Its hooks are the server's
write primitives, so every path that stores a CRD (create, update, patch, apply, status)
is seen, and dry runs are not:

* **Creating or updating a CRD** runs the CRD's own validation (``korch.api``: the name
  must be ``<plural>.<group>``, every served version needs a structural schema, exactly one
  storage version…) and then, in the CRD's ``PrepareForCreate``/``PrepareForUpdate``, sets
  its status the way the apiextensions controllers would a moment later: ``acceptedNames``
  and the conditions ``NamesAccepted`` and ``Established`` (``True``; ``False`` with reason
  ``…NameConflict`` when another CRD or a built-in kind of the group already uses the plural
  or kind), and the storage version added to ``storedVersions``. Once stored, an accepted
  CRD is *installed*: every served version is registered on ``api.registry`` (names, short
  names, categories, scope, subresources; the class is GenericResource unless one was
  registered with :meth:`CustomResources.register_kind`), and a :class:`Strategy` for the
  kind (custom-resource rules plus ``ScalePaths`` from the scale subresource) is set.
* **Custom resources** are pruned (fields the schema does not declare are dropped) and
  defaulted before mutating admission, with the schema of the version they were sent in,
  and stored under the **storage version** (their apiVersion is rewritten: versions are
  converted with strategy ``None`` only, which is right when their schemas are identical).
  After mutating admission they are validated against the schema (first validating
  admission step), giving ``Invalid`` with causes like ``spec.storage: Invalid value:
  "integer": spec.storage in body must be of type string: "integer"``.
* **Deleting a CRD** (once it is really removed, after its finalizers) unregisters its
  kind and deletes every object of it (one prefix delete: watchers see DELETED events).
* **Start-up**: CRDs found in the store are installed by the server's bootstrap (the first
  request, or ``async with APIServer(...)``), so a restarted server serves them again.

Limits: reads through a non-storage version return the storage
apiVersion (no conversion on read); a CRD created through another server over the same
store is seen after a restart only; ``selectableFields`` are not served.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from korch import errors
from korch.api import _apiextensions, _codec, _generic, _meta, _registry, _schema
from korch.apiserver import _admission, _core, _keys, _objects, _strategy

__all__ = ("CRD_GROUP", "CustomResources", "SchemaValidation", "scale_paths")

CRD_GROUP: Final = "apiextensions.k8s.io"
_CRD_KIND: Final = "CustomResourceDefinition"


def _path(json_path: str) -> tuple[str, ...]:
    return tuple(part for part in json_path.strip().lstrip(".").split(".") if part)


def scale_paths(
    scale: _apiextensions.CustomResourceSubresourceScale,
) -> _strategy.ScalePaths:
    """The :class:`ScalePaths` of a CRD's scale subresource (``.spec.replicas`` -> path)."""
    selector = _path(scale.label_selector_path) if scale.label_selector_path else None
    return _strategy.ScalePaths(
        spec_replicas=_path(scale.spec_replicas_path),
        status_replicas=_path(scale.status_replicas_path),
        selector=selector or None,
        selector_is_string=True,
    )


@attrs.frozen
class _Installed:
    """One installed CRD: its definition, compiled schemas by version, the storage version."""

    crd: _apiextensions.CustomResourceDefinition
    schemas: dict[str, _schema.StructuralSchema]
    storage: str

    @property
    def group(self) -> str:
        return self.crd.spec.group

    @property
    def kind(self) -> str:
        return self.crd.spec.names.kind

    def schema_for(self, api_version: str) -> _schema.StructuralSchema | None:
        version = _meta.split_api_version(api_version)[1]
        return self.schemas.get(version) or self.schemas.get(self.storage)


def _compile(crd: _apiextensions.CustomResourceDefinition) -> dict[str, _schema.StructuralSchema]:
    out = {}
    for version in crd.spec.versions:
        raw = version.schema.open_api_v3_schema if version.schema is not None else None
        if version.served and raw is not None:
            out[version.name] = _schema.compile_schema(raw)
    return out


def _condition(
    type_: str, ok: bool, reason: str, message: str, now: Any, old: list[Any]
) -> _apiextensions.CustomResourceDefinitionCondition:
    status = "True" if ok else "False"
    previous = next((c for c in old if c.type == type_), None)
    when = now
    if previous is not None and previous.status == status:
        when = previous.last_transition_time or now  # a transition time moves on change only
    return _apiextensions.CustomResourceDefinitionCondition(
        type=type_, status=status, reason=reason, message=message, last_transition_time=when
    )


class SchemaValidation:
    """The validating admission step of custom resources: the object (after mutating
    admission) must satisfy its CRD's schema. Installed first in the server's chain."""

    def __init__(self, server: CustomResources) -> None:
        self._server = server

    async def validate(self, attributes: _admission.AdmissionAttributes) -> None:
        """Raise :class:`korch.errors.Invalid` when the object breaks its schema."""
        obj, rt = attributes.object, attributes.resource
        if obj is None or attributes.operation == "DELETE":
            return
        installed = self._server.installed_crd(rt.group, rt.kind)
        if installed is None:
            return
        schema = installed.schema_for(obj.api_version)
        if schema is None:
            return
        causes = schema.validate(_codec.to_dict(obj))
        if causes:
            raise errors.Invalid(
                f'{rt.kind}.{rt.group} "{obj.metadata.name}" is invalid',
                causes,
                details={"name": obj.metadata.name, "group": rt.group, "kind": rt.kind},
            )


class CustomResources(_core.ServerCore):
    """The CRD machinery of :class:`~korch.apiserver.APIServer` (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._installed: dict[str, _Installed] = {}
        self._typed: dict[str, type] = {}
        self._strategies[(CRD_GROUP, _CRD_KIND)] = _strategy.Strategy(
            generation=True,
            prepare_create=self._prepare_crd_create,
            prepare_update=self._prepare_crd_update,
        )
        self.admission.validating.insert(0, SchemaValidation(self))

    # -- public ------------------------------------------------------------------------

    def installed_crd(self, group: str, kind: str) -> _Installed | None:
        """The installed CRD serving ``kind`` of ``group``, or ``None``."""
        for installed in self._installed.values():
            if installed.group == group and installed.kind == kind:
                return installed
        return None

    def register_kind(self, cls: type, crd_name: str) -> None:
        """Decode the objects of CRD ``crd_name`` (``mysqldatabases.example.com``) to the
        typed class ``cls`` (an attrs model with ``api_version``, ``kind``, ``metadata``)
        instead of GenericResource — now if the CRD is installed, else once it is.

        Raises:
            korch.errors.BadRequest: ``cls`` is not an attrs class with ``metadata``.
        """
        if not attrs.has(cls) or "metadata" not in attrs.fields_dict(cls):
            raise errors.BadRequest(f"{cls!r} is not a korch API object class (attrs, metadata)")
        self._typed[crd_name] = cls
        installed = self._installed.get(crd_name)
        if installed is not None:
            self._install(installed.crd)

    async def load_custom_resources(self) -> None:
        """Install every accepted CRD found in the store (done by the server's bootstrap)."""
        rt = self.registry.lookup(f"{CRD_GROUP}/v1", _CRD_KIND)
        listed = await self.store.range(_keys.resource_prefix(rt), prefix=True)
        for kv in listed.kvs:
            self._after_write(_objects.decode_stored(rt, kv, self.registry).obj)

    # -- hooks into the write primitives -----------------------------------------------

    async def _bootstrap(self) -> None:
        await super()._bootstrap()
        await self.load_custom_resources()

    def _result(
        self, rt: _registry.ResourceType, key: bytes, wire: dict[str, Any], revision: int
    ) -> _objects.Stored:
        stored = super()._result(rt, key, wire, revision)
        if rt.group == CRD_GROUP and rt.kind == _CRD_KIND:
            self._after_write(stored.obj)
        return stored

    async def remove(self, old: _objects.Stored) -> int | None:
        revision = await super().remove(old)
        crd = old.obj
        if revision is not None and isinstance(crd, _apiextensions.CustomResourceDefinition):
            await self._uninstall(crd)
        return revision

    # -- the CRD's own strategy ----------------------------------------------------------

    def _conflict(self, crd: _apiextensions.CustomResourceDefinition) -> str:
        group, names = crd.spec.group, crd.spec.names
        mine = self._installed.get(crd.metadata.name)
        own = {(mine.group, mine.crd.spec.names.plural)} if mine is not None else set()
        for rt in self.registry:
            if rt.group != group or (rt.group, rt.plural) in own:
                continue
            if rt.plural == names.plural:
                return f'"{names.plural}" is already in use'
            if rt.kind == names.kind:
                return f'"{names.kind}" is already in use'
        return ""

    def _crd_status(self, crd: Any) -> Any:
        conflict = self._conflict(crd)
        old = list(crd.status.conditions)
        now = self.now()
        if conflict:
            names = _condition("NamesAccepted", False, "NameConflict", conflict, now, old)
            established = _condition(
                "Established", False, "NotAccepted", "not all names are accepted", now, old
            )
            accepted = crd.status.accepted_names
        else:
            names = _condition("NamesAccepted", True, "NoConflicts", "no conflicts found", now, old)
            established = _condition(
                "Established",
                True,
                "InitialNamesAccepted",
                "the initial names have been accepted",
                now,
                old,
            )
            names_spec = crd.spec.names
            accepted = attrs.evolve(
                names_spec,
                singular=names_spec.singular or names_spec.kind.lower(),
                list_kind=names_spec.list_kind or names_spec.kind + "List",
            )
        others = [c for c in old if c.type not in ("NamesAccepted", "Established")]
        stored_versions = list(crd.status.stored_versions)
        if crd.storage_version and crd.storage_version not in stored_versions:
            stored_versions.append(crd.storage_version)
        status = attrs.evolve(
            crd.status,
            conditions=[names, established, *others],
            accepted_names=accepted,
            stored_versions=stored_versions,
        )
        return attrs.evolve(crd, status=status)

    def _prepare_crd_create(self, crd: Any) -> Any:
        return self._crd_status(crd)

    def _prepare_crd_update(self, new: Any, old: Any, subresource: str) -> Any:
        if subresource == "status":
            return new
        return self._crd_status(attrs.evolve(new, status=old.status))

    # -- installing ----------------------------------------------------------------------

    def _after_write(self, crd: Any) -> None:
        established = any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions
        )
        if established and not self._conflict(crd):
            self._install(crd)

    def _install(self, crd: _apiextensions.CustomResourceDefinition) -> None:
        try:
            schemas = _compile(crd)
        except errors.Invalid:
            return  # validation refuses such CRDs; one stored by other means is not served
        storage = crd.storage_version or ""
        name = crd.metadata.name
        previous = self._installed.get(name)
        if previous is not None:
            self._unregister(previous.crd)
        installed = _Installed(crd, schemas, storage)
        self.registry.register_crd(crd, cls=self._typed.get(name))
        self._installed[name] = installed
        scale = None
        for version in crd.spec.versions:
            sub = version.subresources
            if version.name == storage and sub is not None and sub.scale is not None:
                scale = scale_paths(sub.scale)
        self._strategies[(crd.spec.group, crd.spec.names.kind)] = attrs.evolve(
            _strategy.CUSTOM_RESOURCE,
            scale=scale,
            prepare_create=lambda obj: self._prepare_object(installed, obj),
            prepare_update=lambda new, old, sub: self._prepare_object(installed, new),
        )

    def _unregister(self, crd: _apiextensions.CustomResourceDefinition) -> None:
        spec = crd.spec
        for rt in self._types_of_crd(crd):
            self.registry.unregister(rt.group, rt.version, rt.plural)
        self._strategies.pop((spec.group, spec.names.kind), None)

    async def _uninstall(self, crd: _apiextensions.CustomResourceDefinition) -> None:
        installed = self._installed.pop(crd.metadata.name, None)
        if installed is None:
            return
        types = self._types_of_crd(installed.crd)
        self._unregister(installed.crd)
        if types:
            await self.store.delete(_keys.resource_prefix(types[0]), prefix=True)

    def _types_of_crd(
        self, crd: _apiextensions.CustomResourceDefinition
    ) -> list[_registry.ResourceType]:
        spec = crd.spec
        return [t for t in self.registry if (t.group, t.plural) == (spec.group, spec.names.plural)]

    def _prepare_object(self, installed: _Installed, obj: Any) -> Any:
        """Prune and default ``obj`` with its version's schema; store the storage version."""
        schema = installed.schema_for(obj.api_version)
        storage_version = f"{installed.group}/{installed.storage}"
        if schema is None:
            return attrs.evolve(obj, api_version=storage_version)
        wire = _codec.to_dict(obj)
        wire = schema.default(schema.prune(wire)[0])
        wire["apiVersion"] = storage_version
        cls = type(obj)
        if cls is _generic.GenericResource:
            body = {k: v for k, v in wire.items() if k not in ("apiVersion", "kind", "metadata")}
            return _generic.GenericResource(
                api_version=storage_version, kind=obj.kind, metadata=obj.metadata, body=body
            )
        return _codec.from_dict(wire, cls, registry=self.registry)
