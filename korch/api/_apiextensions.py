"""apiextensions.k8s.io/v1 CustomResourceDefinition.

Modelling rules are those of :mod:`korch.api._meta`. The structural schema
(``schema.openAPIV3Schema``) is kept as a plain JSON dict: it is recursive, full of
``x-kubernetes-*`` extensions, and consumed by the schema/validation modules as data.
"""

from __future__ import annotations

import datetime
from typing import Any

import attrs

from korch.api._meta import Model, ObjectMeta, field_info

__all__ = (
    "CustomResourceColumnDefinition",
    "CustomResourceConversion",
    "CustomResourceDefinition",
    "CustomResourceDefinitionCondition",
    "CustomResourceDefinitionNames",
    "CustomResourceDefinitionSpec",
    "CustomResourceDefinitionStatus",
    "CustomResourceDefinitionVersion",
    "CustomResourceSubresourceScale",
    "CustomResourceSubresourceStatus",
    "CustomResourceSubresources",
    "CustomResourceValidation",
    "SelectableField",
    "ServiceReference",
    "WebhookClientConfig",
    "WebhookConversion",
)

_REQ = field_info(always=True, required=True)


@attrs.frozen(kw_only=True)
class CustomResourceDefinitionNames(Model):
    """Plural, singular, kind, list kind, short names and categories of a custom resource."""

    plural: str = attrs.field(default="", metadata=_REQ)
    singular: str = ""
    short_names: list[str] = attrs.Factory(list)
    kind: str = attrs.field(default="", metadata=_REQ)
    list_kind: str = ""
    categories: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class CustomResourceValidation(Model):
    """The structural OpenAPI v3 schema, as JSON."""

    open_api_v3_schema: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class CustomResourceSubresourceStatus(Model):
    """Enables the ``/status`` subresource (an empty object on the wire)."""


@attrs.frozen(kw_only=True)
class CustomResourceSubresourceScale(Model):
    """Enables ``/scale``: JSON paths of the replica fields and the label selector."""

    spec_replicas_path: str = attrs.field(default="", metadata=_REQ)
    status_replicas_path: str = attrs.field(default="", metadata=_REQ)
    label_selector_path: str | None = None


@attrs.frozen(kw_only=True)
class CustomResourceSubresources(Model):
    """The status and scale subresources."""

    status: CustomResourceSubresourceStatus | None = None
    scale: CustomResourceSubresourceScale | None = None


@attrs.frozen(kw_only=True)
class CustomResourceColumnDefinition(Model):
    """An additional ``kubectl get`` column, taken from ``json_path``."""

    name: str = attrs.field(default="", metadata=_REQ)
    type: str = attrs.field(default="", metadata=_REQ)
    format: str = ""
    description: str = ""
    priority: int = 0
    json_path: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class SelectableField(Model):
    """A field usable in field selectors."""

    json_path: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class CustomResourceDefinitionVersion(Model):
    """One version of the resource: served? stored? its schema, subresources, columns."""

    name: str = attrs.field(default="", metadata=_REQ)
    served: bool = attrs.field(default=False, metadata=_REQ)
    storage: bool = attrs.field(default=False, metadata=_REQ)
    deprecated: bool = False
    deprecation_warning: str | None = None
    schema: CustomResourceValidation | None = None
    subresources: CustomResourceSubresources | None = None
    additional_printer_columns: list[CustomResourceColumnDefinition] = attrs.Factory(list)
    selectable_fields: list[SelectableField] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class ServiceReference(Model):
    """A service a conversion webhook is reached through."""

    namespace: str = attrs.field(default="", metadata=_REQ)
    name: str = attrs.field(default="", metadata=_REQ)
    path: str | None = None
    port: int | None = None


@attrs.frozen(kw_only=True)
class WebhookClientConfig(Model):
    """How to call a webhook: a URL or a service, and the CA bundle (bytes)."""

    url: str | None = None
    service: ServiceReference | None = None
    ca_bundle: bytes = b""


@attrs.frozen(kw_only=True)
class WebhookConversion(Model):
    """A conversion webhook."""

    client_config: WebhookClientConfig | None = None
    conversion_review_versions: list[str] = attrs.field(
        factory=list, metadata=field_info(required=True)
    )


@attrs.frozen(kw_only=True)
class CustomResourceConversion(Model):
    """None (only apiVersion changes) or Webhook conversion between versions."""

    strategy: str = attrs.field(default="", metadata=_REQ)
    webhook: WebhookConversion | None = None


@attrs.frozen(kw_only=True)
class CustomResourceDefinitionSpec(Model):
    """Group, names, scope and versions of a custom resource."""

    group: str = attrs.field(default="", metadata=_REQ)
    names: CustomResourceDefinitionNames = attrs.field(
        factory=CustomResourceDefinitionNames, metadata=field_info(required=True)
    )
    scope: str = attrs.field(default="", metadata=_REQ)
    versions: list[CustomResourceDefinitionVersion] = attrs.field(
        factory=list, metadata=field_info(required=True)
    )
    conversion: CustomResourceConversion | None = None
    preserve_unknown_fields: bool = False


@attrs.frozen(kw_only=True)
class CustomResourceDefinitionCondition(Model):
    """Established, NamesAccepted, NonStructuralSchema, Terminating…"""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""
    observed_generation: int = 0


@attrs.frozen(kw_only=True)
class CustomResourceDefinitionStatus(Model):
    """Conditions, the names actually served, and every version ever stored."""

    conditions: list[CustomResourceDefinitionCondition] = attrs.Factory(list)
    accepted_names: CustomResourceDefinitionNames = attrs.Factory(CustomResourceDefinitionNames)
    stored_versions: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class CustomResourceDefinition(Model):
    """apiextensions.k8s.io/v1 CustomResourceDefinition (cluster-scoped)."""

    api_version: str = "apiextensions.k8s.io/v1"
    kind: str = "CustomResourceDefinition"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: CustomResourceDefinitionSpec = attrs.Factory(CustomResourceDefinitionSpec)
    status: CustomResourceDefinitionStatus = attrs.Factory(CustomResourceDefinitionStatus)

    def served_version(self, version: str) -> CustomResourceDefinitionVersion | None:
        """The served version called ``version``, or None."""
        for candidate in self.spec.versions:
            if candidate.name == version and candidate.served:
                return candidate
        return None

    @property
    def storage_version(self) -> str | None:
        """The name of the version objects are stored in (exactly one has ``storage``)."""
        for candidate in self.spec.versions:
            if candidate.storage:
                return candidate.name
        return None
