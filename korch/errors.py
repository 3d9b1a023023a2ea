"""One exception tree for all of korch.

Expected outcomes (unschedulable, requeue, skip) are values; these are the errors. Every
exception korch raises derives from :class:`KorchError`, and subclasses a builtin where one
fits, so ``except LookupError`` catches :class:`NotFound`::

    KorchError
    ├── StoreError                      the key-value store (korch.store)
    │   ├── Compacted                   a revision older than the compaction point was asked for
    │   ├── FutureRevision              a revision newer than the store's was asked for
    │   ├── LeaseNotFound (LookupError) the lease does not exist or has expired
    │   ├── WatchCancelled              the store ended a watch; resume from ``.revision``
    │   ├── StoreClosed                 the store was closed
    │   ├── InvalidRequest (ValueError) a malformed request (e.g. one key twice in a txn)
    │   └── StoreUnavailable (OSError)  a remote store (etcd) could not be reached
    └── APIError                        API semantics (korch.apiserver, korch.client)
        ├── BadRequest (ValueError)
        │   └── Invalid                 field errors; ``.causes`` lists (field_path, message)
        ├── Unauthorized
        ├── Forbidden (PermissionError)
        ├── NotFound (LookupError)
        ├── AlreadyExists
        ├── Conflict
        ├── Expired                     a resourceVersion too old to serve (410 Gone)
        ├── MethodNotAllowed, NotAcceptable, UnsupportedMediaType, RequestEntityTooLarge
        ├── TooManyRequests             ``.retry_after`` seconds
        ├── Timeout (TimeoutError)
        └── InternalError

API errors carry Kubernetes' ``reason`` word (``"NotFound"``, ``"Conflict"``…); HTTP status
codes are mapped from it only at the HTTP edge. Third-party errors are translated at the
boundary with ``raise … from exc``.
"""

from __future__ import annotations

import attrs

__all__ = (
    "APIError",
    "AlreadyExists",
    "BadRequest",
    "Cause",
    "Compacted",
    "Conflict",
    "Expired",
    "Forbidden",
    "FutureRevision",
    "InternalError",
    "Invalid",
    "InvalidRequest",
    "KorchError",
    "LeaseNotFound",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "RequestEntityTooLarge",
    "StoreClosed",
    "StoreError",
    "StoreUnavailable",
    "Timeout",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "WatchCancelled",
)


class KorchError(Exception):
    """Base of every exception korch raises."""


# -- store -----------------------------------------------------------------------------


class StoreError(KorchError):
    """An error of the key-value store."""


class Compacted(StoreError):
    """The requested revision has been compacted away.

    ``compact_revision`` is the oldest revision the store still serves; a watcher resumes by
    listing again (at the current revision) and watching from there.
    """

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(
            f"revision {requested} has been compacted; the oldest revision kept is "
            f"{compact_revision}"
        )
        self.requested = requested
        self.compact_revision = compact_revision


class FutureRevision(StoreError):
    """The requested revision is newer than the store's current revision."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(
            f"revision {requested} is a future revision; the current revision is {current}"
        )
        self.requested = requested
        self.current = current


class LeaseNotFound(StoreError, LookupError):
    """The lease does not exist (never granted, revoked, or expired)."""

    def __init__(self, lease_id: int) -> None:
        super().__init__(f"lease {lease_id} not found")
        self.lease_id = lease_id


class WatchCancelled(StoreError):
    """The store ended a watch. No event was lost: resume with ``start_revision=revision``.

    Raised, for example, to a watcher that fell more than the store's ``max_watch_lag``
    events behind, or whose store connection broke.
    """

    def __init__(self, reason: str, revision: int) -> None:
        super().__init__(f"watch cancelled: {reason}; resume from revision {revision}")
        self.reason = reason
        self.revision = revision


class StoreClosed(StoreError):
    """The store was closed; no further operations are possible."""


class InvalidRequest(StoreError, ValueError):
    """A malformed store request: bad key range, duplicate key in a transaction, bad TTL."""


class StoreUnavailable(StoreError, OSError):
    """A remote store could not be reached or answered with a server error."""


# -- API -------------------------------------------------------------------------------


@attrs.frozen
class Cause:
    """One field problem of an :class:`Invalid` error, as in a Kubernetes ``Status``.

    ``field`` is the JSON path of the field (``spec.template.spec.containers[0].image``),
    ``reason`` Kubernetes' cause type (``FieldValueRequired``, ``FieldValueInvalid``…).
    """

    field: str
    message: str
    reason: str = "FieldValueInvalid"


class APIError(KorchError):
    """An error of API semantics; ``reason`` is Kubernetes' StatusReason word."""

    reason: str = "Unknown"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(APIError, ValueError):
    reason = "BadRequest"


class Invalid(BadRequest):
    """The object failed validation; ``causes`` names every field that is wrong."""

    reason = "Invalid"

    def __init__(
        self,
        message: str,
        causes: list[Cause] | tuple[Cause, ...] = (),
        *,
        details: dict[str, object] | None = None,
    ) -> None:
        self.causes = tuple(causes)
        if self.causes:
            message = message + ": " + ", ".join(f"{c.field}: {c.message}" for c in self.causes)
        super().__init__(message, details=details)


class Unauthorized(APIError):
    reason = "Unauthorized"


class Forbidden(APIError, PermissionError):
    reason = "Forbidden"


class NotFound(APIError, LookupError):
    reason = "NotFound"


class AlreadyExists(APIError):
    reason = "AlreadyExists"


class Conflict(APIError):
    reason = "Conflict"


class Expired(APIError):
    reason = "Expired"


class MethodNotAllowed(APIError):
    reason = "MethodNotAllowed"


class NotAcceptable(APIError):
    reason = "NotAcceptable"


class UnsupportedMediaType(APIError):
    reason = "UnsupportedMediaType"


class RequestEntityTooLarge(APIError):
    reason = "RequestEntityTooLarge"


class TooManyRequests(APIError):
    reason = "TooManyRequests"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Timeout(APIError, TimeoutError):
    reason = "Timeout"


class InternalError(APIError):
    reason = "InternalError"
