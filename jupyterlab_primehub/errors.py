"""Domain errors of the server extension.

Services raise these; the HTTP edge (``handlers.py``) maps them to a status code once, so a user's
mistake is always a 4xx with a message that says what to change.
"""

from __future__ import annotations


class PrimeHubError(Exception):
    """Base class: ``message`` is shown to the user as is."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(PrimeHubError):
    """The request is malformed or names something that cannot be used (HTTP 400)."""

    status_code = 400


class Forbidden(PrimeHubError):
    """The request is understood but not allowed for this user or location (HTTP 403)."""

    status_code = 403


class NotFound(PrimeHubError):
    """The addressed job (or other resource) does not exist (HTTP 404)."""

    status_code = 404


class Conflict(PrimeHubError):
    """The resource is in a state that does not allow the operation (HTTP 409)."""

    status_code = 409
