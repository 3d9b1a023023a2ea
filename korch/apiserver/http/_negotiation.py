"""Content negotiation, request bodies and query parameters, as kube-apiserver reads them.

* Responses are JSON. ``Accept`` may ask for a *transformation* with media-type parameters:
  ``application/json;as=Table;v=v1;g=meta.k8s.io`` (server-side printing, what ``kubectl
  get`` asks for), ``as=PartialObjectMetadata[List]`` (metadata only), or aggregated
  discovery (``as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2``). The first acceptable
  entry wins; an ``Accept`` naming only what korch cannot produce (protobuf, CBOR) is 406.
* Request bodies are JSON or YAML (``application/yaml``); patches name their type by
  content type (``application/json-patch+json``, ``merge-patch+json``,
  ``strategic-merge-patch+json``, ``apply-patch+yaml``); other types are 415.
* Booleans and integers in the query are parsed strictly (``dryRun=All`` is the only dry
  run; ``gracePeriodSeconds=abc`` is a 400 naming the parameter).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import attrs
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from korch import errors
from korch.apiserver import _types

__all__ = (
    "PATCH_CONTENT_TYPES",
    "Accepted",
    "negotiate",
    "parse_body",
    "parse_media_type",
    "query_bool",
    "query_dry_run",
    "query_int",
)

PATCH_CONTENT_TYPES: Final[dict[str, _types.PatchType]] = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}

_JSON_TYPES: Final = frozenset({"application/json", "application/*", "*/*", ""})
_YAML_TYPES: Final = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})


def parse_media_type(text: str) -> tuple[str, dict[str, str]]:
    """``"application/json;as=Table;v=v1"`` -> ``("application/json", {"as": "Table", …})``."""
    base, *params = text.split(";")
    out: dict[str, str] = {}
    for param in params:
        key, _, value = param.partition("=")
        if key.strip():
            out[key.strip().lower()] = value.strip().strip('"')
    return base.strip().lower(), out


@attrs.frozen
class Accepted:
    """What the client accepts: plain JSON, or JSON of a transformation (``as``)."""

    transform: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList",
    # "APIGroupDiscoveryList"
    group_version: str = ""


_TRANSFORMS: Final = {
    ("Table", "meta.k8s.io"),
    ("PartialObjectMetadata", "meta.k8s.io"),
    ("PartialObjectMetadataList", "meta.k8s.io"),
    ("APIGroupDiscoveryList", "apidiscovery.k8s.io"),
}


def negotiate(accept: str, *, allowed: frozenset[str] = frozenset()) -> Accepted:
    """The response form for an ``Accept`` header.

    Args:
        accept: the header (``""`` means anything).
        allowed: the transformations this endpoint can make (``{"Table", …}``).

    Raises:
        korch.errors.NotAcceptable: nothing in ``accept`` can be produced.
    """
    if not accept.strip():
        return Accepted()
    for entry in accept.split(","):
        media, params = parse_media_type(entry)
        if media not in _JSON_TYPES:
            continue
        transform = params.get("as", "")
        if not transform:
            return Accepted()
        group, version = params.get("g", ""), params.get("v", "")
        if (transform, group) in _TRANSFORMS and transform in allowed:
            if transform == "APIGroupDiscoveryList" and version != "v2":
                continue
            if transform != "APIGroupDiscoveryList" and version != "v1":
                continue
            return Accepted(transform=transform, group_version=f"{group}/{version}")
    raise errors.NotAcceptable(
        f"only the following media types are accepted: application/json "
        f"(optionally as {', '.join(sorted(allowed)) or 'nothing else'}); got {accept!r}"
    )


def _load_yaml(body: bytes) -> Any:
    try:
        return YAML(typ="safe", pure=True).load(body.decode("utf-8"))
    except (YAMLError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"the request body is not valid YAML: {exc}") from exc


def parse_body(
    body: bytes, content_type: str, *, patch: bool = False
) -> tuple[Any, _types.PatchType | None]:
    """Decode a request body; returns ``(value, patch_type)`` (``patch_type`` is ``""`` for
    non-patch requests).

    Raises:
        korch.errors.UnsupportedMediaType: a content type this request cannot take.
        korch.errors.BadRequest: malformed JSON/YAML, or an empty body.
    """
    media, _ = parse_media_type(content_type or "application/json")
    patch_type: _types.PatchType | None = None
    if patch:
        patch_type = PATCH_CONTENT_TYPES.get(media)
        if patch_type is None:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f'include: {", ".join(PATCH_CONTENT_TYPES)} (got "{media}")'
            )
    else:
        if media not in _JSON_TYPES and media not in _YAML_TYPES:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f'include: application/json, application/yaml (got "{media}")'
            )
    if not body.strip():
        raise errors.BadRequest("the request body is empty")
    if patch_type == "apply" or media in _YAML_TYPES:
        return _load_yaml(body), patch_type
    try:
        return json.loads(body), patch_type
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"the request body is not valid JSON: {exc}") from exc


def query_bool(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A boolean query parameter (``true``/``1``/``false``/``0``).

    Raises:
        korch.errors.BadRequest: another value.
    """
    value = query.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise errors.BadRequest(f"invalid value for {name}: {value!r} (want true or false)")


def query_int(query: Mapping[str, str], name: str) -> int | None:
    """An integer query parameter, ``None`` when absent.

    Raises:
        korch.errors.BadRequest: not an integer.
    """
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f"invalid value for {name}: {value!r} (want an integer)") from None


def query_dry_run(values: list[str]) -> bool:
    """Whether ``dryRun`` asks for a dry run (``All``; anything else is a 400)."""
    for value in values:
        if value != "All":
            raise errors.BadRequest(f'Invalid value: "{value}": supported values: "All"')
    return bool(values)
