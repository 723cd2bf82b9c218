"""HTTP client of the hub's ``primehub-jobs`` service, as the user (the token the "API Token"
dialog governs).

Its answers map onto the contract's errors: no token, a refused connection, a timeout or a 5xx
is :class:`Unavailable` (try again later); a 4xx is the error of that status (400
:class:`InvalidRequest`, 403 :class:`Forbidden`, 404 :class:`NotFound`, 409 :class:`Conflict`,
any other a :class:`JobsError` carrying the status) with the service's message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from primehub_jobs_contract.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    JobsError,
    NotFound,
    TooMany,
    Unavailable,
)

_BY_STATUS: dict[int, type[JobsError]] = {
    400: InvalidRequest,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: TooMany,
}


class HubClient:
    """The REST API of the primehub-jobs service (``<service_url>api/...``)."""

    def __init__(
        self, service_url: str, token: Callable[[], str | None], timeout: float = 30
    ) -> None:
        self.service_url = service_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout

    async def context(self) -> dict[str, Any]:
        """The user's groups with their instance types and images."""
        return await self._json("GET", "api/context")

    async def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The user's newest hub jobs (REST records)."""
        listing = await self._json("GET", f"api/jobs?limit={limit}")
        return listing.get("jobs", [])

    async def job(self, job_id: str) -> dict[str, Any]:
        """One hub job (NotFound if the hub does not know it)."""
        return await self._json("GET", f"api/jobs/{job_id}")

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a hub job; returns its record."""
        return await self._json("POST", "api/jobs", body)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a hub job (Conflict if it has already ended); returns its record."""
        return await self._json("POST", f"api/jobs/{job_id}/cancel")

    async def log(self, job_id: str, offset: int) -> bytes:
        """The job's log bytes from ``offset`` (as much as the service sends in one answer)."""
        return await self._fetch("GET", f"api/jobs/{job_id}/log?offset={offset}")

    async def schedules(self) -> list[dict[str, Any]]:
        """The user's schedules (the service lists only the caller's)."""
        listing = await self._json("GET", "api/schedules")
        return listing.get("schedules", [])

    async def create_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a schedule; returns it (with ``nextRunAt``)."""
        return await self._json("POST", "api/schedules", body)

    async def update_schedule(self, schedule_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change a schedule (e.g. ``{"paused": true}``); returns it."""
        return await self._json("PATCH", f"api/schedules/{quote(schedule_id, safe='')}", body)

    async def delete_schedule(self, schedule_id: str) -> None:
        """Forget a schedule (its jobs stay)."""
        await self._fetch("DELETE", f"api/schedules/{quote(schedule_id, safe='')}")

    async def run_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Run a schedule now (Conflict while its previous run is active); returns the job."""
        return await self._json("POST", f"api/schedules/{quote(schedule_id, safe='')}/run")

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        data = await self._fetch(method, path, body)
        return json.loads(data) if data else None

    async def _fetch(self, method: str, path: str, body: Any = None) -> bytes:
        token = self.token()
        if not token:
            raise Unavailable("no API token is set (use PrimeHub > API Token...)")
        request = HTTPRequest(
            self.service_url + path,
            method=method,
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            body=json.dumps(body) if body is not None else (b"" if method == "POST" else None),
            request_timeout=self.timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            raise hub_error(e) from None
        except OSError as e:
            raise Unavailable(str(e)) from None
        return response.body or b""


def hub_error(error: HTTPClientError) -> JobsError:
    """The contract's error for an HTTP error answer of the service."""
    if error.code >= 500:  # 599: no answer (timeout, closed connection)
        return Unavailable(f"HTTP {error.code}: {_message(error)}")
    cls = _BY_STATUS.get(error.code)
    if cls is not None:
        return cls(_message(error))
    return JobsError(_message(error), error.code)


def _message(error: HTTPClientError) -> str:
    """The service's ``message``, else tornado's text of the error."""
    try:
        return json.loads(error.response.body)["message"]  # type: ignore[union-attr]
    except (AttributeError, ValueError, KeyError, TypeError):
        return str(error)
