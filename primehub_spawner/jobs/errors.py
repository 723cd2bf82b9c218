"""Domain errors of the jobs service; the REST edge maps ``status`` to the HTTP response."""

from __future__ import annotations


class JobsError(Exception):
    """A request the caller must change (4xx) or a temporary failure (503)."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(JobsError):
    """No such job or schedule visible to the caller."""

    status = 404


class Conflict(JobsError):
    """The job or schedule is in a state that does not allow the action."""

    status = 409


class Unavailable(JobsError):
    """The catalog or cluster cannot be used right now."""

    status = 503
