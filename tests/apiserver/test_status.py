"""Errors as Status objects (what an HTTP layer and in-stream watch errors send) and back."""

from __future__ import annotations

import pytest

from korch import errors
from korch.apiserver import error_from_status, status_for_error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.NotFound('pods "web" not found', details={"name": "web", "kind": "pods"}), 404),
        (errors.AlreadyExists('pods "web" already exists'), 409),
        (errors.Conflict("Operation cannot be fulfilled"), 409),
        (errors.Expired("too old resource version: 1 (5)"), 410),
        (errors.Forbidden("nope"), 403),
        (errors.Timeout("Too large resource version: 9, current: 5"), 504),
        (errors.BadRequest("bad"), 400),
    ],
)
def test_round_trip(error: errors.APIError, code: int) -> None:
    status = status_for_error(error)
    assert (status.kind, status.status, status.code) == ("Status", "Failure", code)
    assert (status.reason, status.message) == (error.reason, error.message)
    back = error_from_status(status)
    assert type(back) is type(error)
    assert back.message == error.message
    assert back.details["status"] == status


def test_invalid_keeps_its_causes() -> None:
    cause = errors.Cause("spec.containers", "Required value", "FieldValueRequired")
    error = errors.Invalid('Pod "web" is invalid', [cause], details={"name": "web", "kind": "Pod"})
    status = status_for_error(error)
    assert status.code == 422
    assert status.details is not None
    assert [(c.field, c.reason) for c in status.details.causes] == [
        ("spec.containers", "FieldValueRequired")
    ]
    back = error_from_status(status)
    assert isinstance(back, errors.Invalid)
    assert back.causes == (cause,)
    assert str(back) == str(error)


def test_unexpected_exceptions_are_internal_errors() -> None:
    status = status_for_error(RuntimeError("boom"))
    assert (status.code, status.reason) == (500, "InternalError")
