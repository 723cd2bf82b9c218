"""Thin HTTP glue over urllib: JSON in and out, the server's message on a refusal, server-sent
events line by line. Every failure becomes a :class:`CliError` (never a traceback)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from .session import CliError, Unreachable

TIMEOUT = 60


class Api:
    """One REST API: a base URL ending with ``/`` and a token."""

    def __init__(self, base: str, token: str, what: str, forbidden_hint: str = "") -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.token = token
        self.what = what  # "the hub", "the primehub-jobs service", "the Jupyter server"
        self.forbidden_hint = forbidden_hint  # added to a 403: what to do about it
        self.opener = urllib.request.build_opener()  # proxies as the environment says

    def _request(self, method: str, path: str, body: Any = None, accept: str = "") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"token {self.token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if accept:
            headers["Accept"] = accept
        return urllib.request.Request(self.base + path, data=data, method=method, headers=headers)

    def _open(self, request: urllib.request.Request, timeout: float | None = TIMEOUT) -> Any:
        try:
            return self.opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            hint = f"; {self.forbidden_hint}" if e.code == 403 and self.forbidden_hint else ""
            raise CliError(refusal(e.code, e.read(), e.reason) + hint) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise Unreachable(f"cannot reach {self.what} at {self.base}: {reason}") from None

    def poll(self, path: str, tries: int = 5) -> Any:
        """GET ``path`` as a loop that follows something does: a server that does not answer
        (busy, restarting) is asked again a few times before giving up."""
        for attempt in range(tries):
            try:
                return self.call("GET", path)
            except Unreachable:
                if attempt == tries - 1:
                    raise
        return None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """JSON answer (None for an empty one)."""
        with self._open(self._request(method, path, body)) as response:
            payload = response.read()
        try:
            return json.loads(payload) if payload else None
        except ValueError:
            raise CliError(f"{self.what} did not answer with JSON ({path})") from None

    def raw(self, path: str) -> tuple[bytes, dict[str, str]]:
        """Bytes and headers of a GET."""
        with self._open(self._request("GET", path)) as response:
            return response.read(), dict(response.headers)

    def events(self, path: str, timeout: float | None = None) -> Iterator[dict]:
        """The ``data:`` JSON of a server-sent event stream, one by one, until it ends."""
        request = self._request("GET", path, accept="text/event-stream")
        with self._open(request, timeout=timeout) as response:
            for raw in response:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("data:"):
                    try:
                        yield json.loads(line[len("data:") :])
                    except ValueError:
                        continue


def refusal(status: int, body: bytes, reason: str | None) -> str:
    """PURE: what to print for an HTTP error: the server's ``message`` and the status."""
    message = None
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            message = parsed.get("message")
    except (ValueError, TypeError):
        pass
    if not message:
        message = reason or "request refused"
    return f"{message} (HTTP {status})"
