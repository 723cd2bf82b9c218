"""One error base for every process: ``message`` is shown to the user, ``status_code`` is the
HTTP status an edge answers with (always 4xx for a request the caller must change, 503 for a
temporary failure)."""

from __future__ import annotations


class JobsError(Exception):
    """A request the caller must change (4xx) or a temporary failure (503)."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class InvalidRequest(JobsError):
    """The request is malformed or names something that cannot be used (HTTP 400)."""

    status_code = 400


class Forbidden(JobsError):
    """Understood, but not allowed for this user or location (HTTP 403)."""

    status_code = 403


class NotFound(JobsError):
    """No such job, schedule or file visible to the caller (HTTP 404)."""

    status_code = 404


class Conflict(JobsError):
    """The resource is in a state that does not allow the operation (HTTP 409)."""

    status_code = 409


class TooMany(JobsError):
    """A per-user limit is reached (HTTP 429): wait, or cancel or delete something first."""

    status_code = 429


class Unavailable(JobsError):
    """The catalog, the hub or the cluster cannot be used right now (HTTP 503)."""

    status_code = 503
