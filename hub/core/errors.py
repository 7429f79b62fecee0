"""The domain's few exceptions. Services raise them; each protocol maps them to its own error format in one place."""

from __future__ import annotations


class HubError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra


class Invalid(HubError):
    status = 400
    code = "invalid"


class Unauthenticated(HubError):
    status = 401
    code = "unauthenticated"


class Forbidden(HubError):
    status = 403
    code = "forbidden"


class NotFound(HubError):
    status = 404
    code = "not_found"


class Conflict(HubError):
    status = 409
    code = "conflict"


class PreconditionFailed(HubError):
    """A compare-and-swap lost: the branch moved since the caller read it."""

    status = 412
    code = "precondition_failed"


class TooLarge(HubError):
    status = 413
    code = "too_large"


class StorageFailed(HubError):
    status = 507
    code = "storage_failed"
