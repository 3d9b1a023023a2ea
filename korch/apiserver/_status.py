"""kube-apiserver's error messages, and errors as ``Status`` objects.

Every error the server raises names the resource the way kube-apiserver does, with the
group-qualified resource (``pods``, ``deployments.apps``) and the object's name::

    pods "web" not found
    pods "web" already exists
    Operation cannot be fulfilled on pods "web": the object has been modified; please apply
    your changes to the latest version and try again
    Pod "web" is invalid: metadata.finalizers: Forbidden: …

and carries ``details`` (name, group, kind = resource plural) so an HTTP layer can build the
``Status`` object. :func:`status_for_error` builds that ``Status`` (used in-stream for watch
ERROR events); its ``code`` is the StatusReason's HTTP code, part of the Status value itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from korch import errors
from korch.api import _meta, _registry

__all__ = (
    "CODES",
    "already_exists",
    "conflict",
    "error_from_status",
    "expired",
    "forbidden",
    "invalid",
    "not_found",
    "qualified_kind",
    "status_for_error",
)

MODIFIED_MESSAGE: Final = (
    "the object has been modified; please apply your changes to the latest version and try again"
)

#: HTTP code of each StatusReason (``metav1.StatusReason``), as kube-apiserver maps them.
CODES: Final[dict[str, int]] = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "NotAcceptable": 406,
    "AlreadyExists": 409,
    "Conflict": 409,
    "Expired": 410,
    "RequestEntityTooLarge": 413,
    "UnsupportedMediaType": 415,
    "Invalid": 422,
    "TooManyRequests": 429,
    "InternalError": 500,
    "Timeout": 504,
    "Unknown": 500,
}


def _details(rt: _registry.ResourceType, name: str) -> dict[str, object]:
    return {"name": name, "group": rt.group, "kind": rt.plural}


def qualified_kind(rt: _registry.ResourceType) -> str:
    """``Kind`` or ``Kind.group``, as Invalid messages name a kind (``Deployment.apps``)."""
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


def not_found(rt: _registry.ResourceType, name: str) -> errors.NotFound:
    """``pods "web" not found``."""
    return errors.NotFound(f'{rt.group_resource} "{name}" not found', details=_details(rt, name))


def already_exists(rt: _registry.ResourceType, name: str) -> errors.AlreadyExists:
    """``pods "web" already exists``."""
    return errors.AlreadyExists(
        f'{rt.group_resource} "{name}" already exists', details=_details(rt, name)
    )


def conflict(
    rt: _registry.ResourceType, name: str, reason: str = MODIFIED_MESSAGE, *, by_kind: bool = False
) -> errors.Conflict:
    """``Operation cannot be fulfilled on pods "web": <reason>``.

    ``by_kind`` names the kind instead (``on Pod "web"``), as delete preconditions do.
    """
    what = qualified_kind(rt) if by_kind else rt.group_resource
    return errors.Conflict(
        f'Operation cannot be fulfilled on {what} "{name}": {reason}', details=_details(rt, name)
    )


def invalid(
    rt: _registry.ResourceType, name: str, causes: Iterable[errors.Cause]
) -> errors.Invalid:
    """``Pod "web" is invalid: <causes>``."""
    return errors.Invalid(
        f'{qualified_kind(rt)} "{name}" is invalid',
        list(causes),
        details={"name": name, "group": rt.group, "kind": rt.kind},
    )


def forbidden(rt: _registry.ResourceType, name: str, reason: str) -> errors.Forbidden:
    """``pods "web" is forbidden: <reason>`` (``pods is forbidden: …`` without a name)."""
    what = f'{rt.group_resource} "{name}"' if name else rt.group_resource
    return errors.Forbidden(f"{what} is forbidden: {reason}", details=_details(rt, name))


def expired(requested: int, oldest: int) -> errors.Expired:
    """A watch or list from a compacted (too old) resourceVersion: 410 Gone."""
    return errors.Expired(f"too old resource version: {requested} ({oldest})")


def status_for_error(error: BaseException) -> _meta.Status:
    """The ``Status`` (kind: Status, status: Failure) kube-apiserver would send for ``error``.

    Args:
        error: a :class:`korch.errors.APIError` (anything else becomes a 500 InternalError).

    Returns:
        A :class:`korch.api.Status` with message, reason, code and details (name, group,
        kind and, for Invalid errors, one cause per field problem).
    """
    if not isinstance(error, errors.APIError):
        error = errors.InternalError(f"an error on the server has prevented the request: {error}")
    details = error.details or {}
    causes = [
        _meta.StatusCause(reason=c.reason, message=c.message, field=c.field)
        for c in getattr(error, "causes", ())
    ]
    status_details = None
    if details or causes:
        status_details = _meta.StatusDetails(
            name=str(details.get("name", "")),
            group=str(details.get("group", "")),
            kind=str(details.get("kind", "")),
            causes=causes,
        )
    retry_after = getattr(error, "retry_after", None)
    if status_details is not None and isinstance(retry_after, int | float) and retry_after:
        status_details = _meta.StatusDetails(
            name=status_details.name,
            group=status_details.group,
            kind=status_details.kind,
            causes=status_details.causes,
            retry_after_seconds=int(retry_after),
        )
    token = details.get("continue")
    metadata = _meta.ListMeta(continue_=token) if isinstance(token, str) else _meta.ListMeta()
    return _meta.Status(
        metadata=metadata,
        status="Failure",
        message=error.message,
        reason=error.reason,
        details=status_details,
        code=CODES.get(error.reason, 500),
    )


_ERRORS: Final[dict[str, type[errors.APIError]]] = {
    "BadRequest": errors.BadRequest,
    "Unauthorized": errors.Unauthorized,
    "Forbidden": errors.Forbidden,
    "NotFound": errors.NotFound,
    "MethodNotAllowed": errors.MethodNotAllowed,
    "NotAcceptable": errors.NotAcceptable,
    "AlreadyExists": errors.AlreadyExists,
    "Conflict": errors.Conflict,
    "Expired": errors.Expired,
    "RequestEntityTooLarge": errors.RequestEntityTooLarge,
    "UnsupportedMediaType": errors.UnsupportedMediaType,
    "Timeout": errors.Timeout,
    "InternalError": errors.InternalError,
}


def error_from_status(status: _meta.Status) -> errors.APIError:
    """The exception a ``Status`` stands for (the inverse of :func:`status_for_error`).

    The Status itself is kept in ``details["status"]``.
    """
    details: dict[str, object] = {"status": status}
    if status.details is not None:
        details.update(
            name=status.details.name, group=status.details.group, kind=status.details.kind
        )
    if status.reason == "Invalid":
        causes = [
            errors.Cause(c.field, c.message, c.reason)
            for c in (status.details.causes if status.details is not None else [])
        ]
        invalid = errors.Invalid(status.message, details=details)
        invalid.causes = tuple(causes)
        return invalid
    if status.reason == "TooManyRequests":
        retry = status.details.retry_after_seconds if status.details is not None else 1
        too_many = errors.TooManyRequests(status.message, retry_after=float(retry or 1))
        too_many.details = details
        return too_many
    cls = _ERRORS.get(status.reason, errors.InternalError)
    return cls(status.message, details=details)
