"""Storage layout: keys, the stored encoding, resource versions and continue tokens.

Keys follow kube-apiserver's etcd layout with the group spelled out::

    /registry/<group or "core">/<plural>/<namespace>/<name>     namespaced kinds
    /registry/<group or "core">/<plural>/<name>                 cluster-scoped kinds

so every object of a resource type lives under one prefix (one watch, one range) and every
object of a namespace under a sub-prefix; keys sort by namespace, then name.

Values are the object's wire form as compact UTF-8 JSON (``separators=(",", ":")``), without
``metadata.resourceVersion``: the resourceVersion of an object *is* the store's
``mod_revision`` of its key, set on every read, so it can never disagree with the store
(kube-apiserver does the same). Measured alternatives for a stored Pod with managedFields
(CPython 3.11): compact JSON 1,439 bytes, 17 µs to encode, 14 µs to decode; JSON with
default separators 1,563 bytes, 19/14 µs; ``pickle`` 1,411 bytes, 6/10 µs; ``marshal``
1,303 bytes, 4/10 µs. The binary formats would save ~15 µs of a ~400 µs create, are
Python-only and unsafe to load from a shared etcd; JSON keeps the store readable by
``etcdctl`` and by other korch versions.

A continue token is kube-apiserver's: URL-safe base64 of
``{"v": "meta.k8s.io/v1", "rv": <revision>, "start": "<next key, relative to the list's
prefix>"}``; the next page is read at that same revision, so a paged list is one consistent
snapshot (or fails with 410 Expired once the revision is compacted).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from korch import errors
from korch.api import _registry

__all__ = (
    "decode",
    "decode_continue",
    "encode",
    "encode_continue",
    "namespace_prefix",
    "object_key",
    "parse_resource_version",
    "resource_prefix",
)

_ROOT: Final = "/registry/"
_TOKEN_VERSION: Final = "meta.k8s.io/v1"


def resource_prefix(rt: _registry.ResourceType) -> bytes:
    """The prefix of every key of ``rt``: ``/registry/<group|core>/<plural>/``."""
    return f"{_ROOT}{rt.group or 'core'}/{rt.plural}/".encode()


def namespace_prefix(rt: _registry.ResourceType, namespace: str) -> bytes:
    """The prefix of ``rt``'s keys in ``namespace`` (all of them for ``""`` or cluster scope)."""
    if not namespace or not rt.namespaced:
        return resource_prefix(rt)
    return resource_prefix(rt) + namespace.encode() + b"/"


def object_key(rt: _registry.ResourceType, namespace: str, name: str) -> bytes:
    """The key of object ``name`` (in ``namespace`` for namespaced kinds)."""
    if rt.namespaced:
        return resource_prefix(rt) + f"{namespace}/{name}".encode()
    return resource_prefix(rt) + name.encode()


def encode(wire: dict[str, Any]) -> bytes:
    """The stored bytes of a wire-form object (its resourceVersion left out).

    ``wire`` is not modified.
    """
    metadata = wire.get("metadata")
    if isinstance(metadata, dict) and "resourceVersion" in metadata:
        wire = {**wire, "metadata": {k: v for k, v in metadata.items() if k != "resourceVersion"}}
    return json.dumps(
        wire, ensure_ascii=False, separators=(",", ":"), check_circular=False
    ).encode()


def decode(value: bytes, mod_revision: int) -> dict[str, Any]:
    """The wire form of a stored value, with ``metadata.resourceVersion = mod_revision``.

    Raises:
        korch.errors.InternalError: the stored value is not a JSON object.
    """
    try:
        wire = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InternalError(f"stored object is not valid JSON: {exc}") from exc
    if not isinstance(wire, dict):
        raise errors.InternalError("stored object is not a JSON object")
    metadata = wire.get("metadata")
    if not isinstance(metadata, dict):
        metadata = wire["metadata"] = {}
    metadata["resourceVersion"] = str(mod_revision)
    return wire


def parse_resource_version(text: str | None, what: str = "resourceVersion") -> int:
    """A resourceVersion string as a revision (``""``/``None`` → 0).

    Raises:
        korch.errors.BadRequest: not a non-negative decimal integer.
    """
    if not text:
        return 0
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise errors.BadRequest(f"invalid {what} {text!r}: must be a non-negative integer")
    return int(text)


def encode_continue(revision: int, start: bytes) -> str:
    """A continue token resuming at key ``start`` (relative to the list prefix) at ``revision``."""
    body = {"v": _TOKEN_VERSION, "rv": revision, "start": start.decode("utf-8", "surrogateescape")}
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, bytes]:
    """``(revision, start)`` of a continue token made by :func:`encode_continue`.

    Raises:
        korch.errors.BadRequest: the token is malformed (kube-apiserver's "continue key is
            not valid").
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"continue key is not valid: {exc}") from None
    if not isinstance(body, dict) or body.get("v") != _TOKEN_VERSION:
        raise errors.BadRequest(
            "continue key is not valid: incorrect encoded start resourceVersion"
        )
    revision, start = body.get("rv"), body.get("start")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision <= 0:
        raise errors.BadRequest(
            "continue key is not valid: incorrect encoded start resourceVersion"
        )
    if not isinstance(start, str) or start.startswith("/") or ".." in start.split("/"):
        raise errors.BadRequest("continue key is not valid: invalid start key")
    return revision, start.encode("utf-8", "surrogateescape")
