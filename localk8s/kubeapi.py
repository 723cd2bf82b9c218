"""A small asyncio client for the Kubernetes REST API (plain JSON dicts over aiohttp).

The node agent only needs get/list/watch/create/patch/delete on a handful of resources; plain dicts
keep status patches exact (no model round-trips dropping fields).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        try:
            self.reason = json.loads(body).get("reason", "")
            message = json.loads(body).get("message", body)
        except ValueError:
            self.reason = ""
            message = body
        super().__init__(f"HTTP {status}: {message}")


class KubeApi:
    """Async REST client bound to one API server, CA and bearer token."""

    def __init__(self, server: str, ca_file: str, token: str) -> None:
        self.server = server.rstrip("/")
        self._ssl = ssl.create_default_context(cafile=ca_file)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers, connector=aiohttp.TCPConnector(ssl=self._ssl)
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Send one request and return the decoded JSON answer (ApiError on non-2xx)."""
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self._sess().request(
            method,
            self.server + path,
            params=params,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            if resp.status >= 300:
                raise ApiError(resp.status, text)
            return json.loads(text) if text else {}

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET ``path``."""
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to the collection ``path``."""
        return await self.request("POST", path, body=body)

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch (lists are replaced whole)."""
        return await self.request(
            "PATCH", path, body=body, content_type="application/merge-patch+json"
        )

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        """RFC 6902 JSON patch."""
        return await self.request(
            "PATCH", path, body=ops, content_type="application/json-patch+json"
        )

    async def delete(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """DELETE ``path`` with optional DeleteOptions."""
        return await self.request("DELETE", path, body=body)

    async def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 240, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events (``{"type", "object"}``) until the server ends the stream."""
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
            "allowWatchBookmarks": "true",
            **params,
        }
        async with self._sess().get(
            self.server + path,
            params=query,
            timeout=aiohttp.ClientTimeout(
                total=timeout_seconds + 30, sock_read=timeout_seconds + 30
            ),
        ) as resp:
            if resp.status >= 300:
                raise ApiError(resp.status, await resp.text())
            # Own line splitting: objects can exceed aiohttp's readline limit.
            buf = b""
            async for chunk in resp.content.iter_any():
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
