"""The user's PrimeHub API token for remote job backends: stored server-side, never echoed back.

Sources, in order: a token the user saved (``PUT /primehub/api/token``, file mode 0600 in the jobs
dir), else the hub's own ``JUPYTERHUB_API_TOKEN`` when this server runs under JupyterHub.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from primehub_jobs_contract.errors import InvalidRequest

MAX_TOKEN_LENGTH = 4096


def hint(token: str) -> str:
    """A recognisable but useless fragment of a token."""
    return f"…{token[-4:]}" if len(token) >= 12 else "…"


class TokenStore:
    """Reads, saves, clears and tests the API token."""

    def __init__(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.env = os.environ if env is None else env

    def _saved(self) -> str | None:
        try:
            token = self.path.read_text().strip()
        except OSError:
            return None
        return token or None

    def current(self) -> tuple[str | None, str | None]:
        """(token, source) with source "user", "hub" or None."""
        saved = self._saved()
        if saved:
            return saved, "user"
        hub = self.env.get("JUPYTERHUB_API_TOKEN")
        if hub:
            return hub, "hub"
        return None, None

    def info(self) -> dict[str, Any]:
        """``GET /primehub/api/token``: whether a token is set, where from, and a short hint."""
        token, source = self.current()
        return {"set": token is not None, "source": source, "hint": hint(token) if token else None}

    def save(self, token: Any) -> dict[str, Any]:
        """Store the user's token with 0600 permissions."""
        if not isinstance(token, str) or not token.strip():
            raise InvalidRequest("'token' must be a non-empty string.")
        token = token.strip()
        if len(token) > MAX_TOKEN_LENGTH or any(ch.isspace() for ch in token):
            raise InvalidRequest(
                f"'token' must be one word of at most {MAX_TOKEN_LENGTH} characters."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return self.info()

    def clear(self) -> dict[str, Any]:
        """Forget the saved token (the hub's own token, if any, remains the source)."""
        self.path.unlink(missing_ok=True)
        return self.info()

    async def test(self) -> dict[str, Any]:
        """``POST /primehub/api/token/test``: ask the hub who this token belongs to."""
        token, source = self.current()
        api_url = self.env.get("JUPYTERHUB_API_URL")
        if not api_url:
            return {
                "ok": False,
                "message": "No remote job backend is configured: this server does not run under "
                "JupyterHub. Local jobs need no token.",
            }
        if not token:
            return {"ok": False, "message": "No API token is set."}
        request = HTTPRequest(
            api_url.rstrip("/") + "/user",
            headers={"Authorization": f"token {token}"},
            request_timeout=10,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            if e.code in (401, 403):
                return {"ok": False, "message": f"The hub rejected the {source} token ({e.code})."}
            return {"ok": False, "message": f"The hub answered with HTTP {e.code}."}
        except OSError as e:
            return {"ok": False, "message": f"Cannot reach the hub API: {e.strerror or e}"}
        try:
            name = json.loads(response.body).get("name")
        except (ValueError, AttributeError):
            name = None
        return {"ok": True, "message": f"The {source} token works (user {name or 'unknown'})."}
