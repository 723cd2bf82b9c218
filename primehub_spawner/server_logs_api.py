"""Hub API ``GET /hub/api/primehub/users/<user>/servers/<server>/logs``: a server's pod log.

``primehub notebook logs [-f]`` reads it. A user reads only their own servers' logs (admins any
user's, through ``admin:servers``); for anybody else the server does not exist (404, the same
answer as for a server that is really not there), so the API tells no one which servers others
run. Names arrive escaped as one path segment each (``alice%3Fx`` is the user ``alice?x``, never
``alice``); the default server is ``/hub/api/primehub/users/<user>/server/logs``.

Query: ``tail`` (lines, default 500, at most 10,000) or ``since`` (the ``X-Log-Last`` of the
previous answer: only later lines, what ``-f`` polls with). An answer is at most 1 MiB of text.
Register it in ``jupyterhub_config.py``::

    c.JupyterHub.extra_handlers += server_logs_handlers()

The hub's ServiceAccount needs ``get`` on ``pods/log``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.user import User
from kubernetes_asyncio.client.rest import ApiException
from tornado import web

DEFAULT_TAIL = 500
MAX_TAIL = 10_000
MAX_BYTES = 1 << 20
CONTAINER = "notebook"
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


def parse_stamp(text: str) -> tuple[datetime, int] | None:
    """A Kubernetes log timestamp (RFC 3339, up to nanoseconds, ``Z``) as (second, nanos), so
    that ``...00.1Z`` and ``...00.12Z`` compare by time, not as strings; None if it is not one."""
    match = _STAMP.match(text)
    if not match:
        return None
    second = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    nanos = int((match.group(2) or "0").ljust(9, "0"))
    return second, nanos


def lines_after(text: str, since: tuple[datetime, int] | None) -> tuple[str, str | None]:
    """PURE: the lines of a timestamped log (``<stamp> <line>``) later than ``since``, without
    their stamps, and the stamp of the last line (None if the log has none)."""
    out: list[str] = []
    last = None
    for line in text.splitlines(keepends=True):
        stamp, _, rest = line.partition(" ")
        parsed = parse_stamp(stamp)
        if parsed is None:  # a line the runtime split without a stamp: keep it
            out.append(line)
            continue
        last = stamp
        if since is None or parsed > since:
            out.append(rest)
    return "".join(out), last


def parse_query(tail: str | None, since: str | None) -> tuple[int, tuple[datetime, int] | None]:
    """PURE: the ``tail`` and ``since`` arguments, or an HTTPError 400 that says what to send."""
    parsed_since = None
    if since:
        parsed_since = parse_stamp(since)
        if parsed_since is None:
            raise web.HTTPError(
                400,
                "'since' must be the X-Log-Last of a previous answer, e.g. 2026-01-02T03:04:05.5Z",
            )
    if tail in (None, ""):
        return DEFAULT_TAIL, parsed_since
    try:
        lines = int(tail)
    except ValueError:
        raise web.HTTPError(400, f"'tail' must be a whole number of lines, got {tail!r}") from None
    if not 1 <= lines <= MAX_TAIL:
        raise web.HTTPError(400, f"'tail' must be between 1 and {MAX_TAIL}, got {lines}")
    return lines, parsed_since


class ServerLogsHandler(APIHandler):
    """``GET``: the log of the server's notebook container (see the module docstring)."""

    def _not_found(self, user_name: str, server_name: str) -> web.HTTPError:
        what = f"server {server_name!r}" if server_name else "default server"
        return web.HTTPError(404, f"User {user_name!r} has no {what} whose log you may read.")

    def _may_read(self, user_name: str) -> bool:
        caller = self.current_user
        if caller is None:
            raise web.HTTPError(403, "Send a JupyterHub API token: 'Authorization: token <token>'.")
        if self.has_scope(f"admin:servers!user={user_name}"):
            return True  # admins (and services given admin:servers)
        own = isinstance(caller, User) and caller.name == user_name
        return own and self.has_scope(f"read:servers!user={user_name}")

    async def get(self, user_name: str, server_name: str = "") -> None:
        tail, since = parse_query(self.get_argument("tail", None), self.get_argument("since", None))
        if not self._may_read(user_name):
            raise self._not_found(user_name, server_name)
        user = self.find_user(user_name)
        if user is None or server_name not in user.orm_spawners:
            raise self._not_found(user_name, server_name)
        spawner = user.spawners[server_name]
        pod_name = getattr(spawner, "pod_name", None)
        if not pod_name or not hasattr(spawner, "api"):
            raise web.HTTPError(404, "The hub's spawner does not run servers in pods.")
        kwargs: dict[str, Any] = {"container": CONTAINER, "limit_bytes": MAX_BYTES}
        if since is not None:
            age = (datetime.now(timezone.utc) - since[0]).total_seconds()
            kwargs["since_seconds"] = max(1, math.ceil(age) + 2)  # lines_after drops the overlap
            kwargs["timestamps"] = True
        else:
            kwargs["tail_lines"] = tail
            kwargs["timestamps"] = True
        try:
            raw = await spawner.api.read_namespaced_pod_log(pod_name, spawner.namespace, **kwargs)
        except ApiException as e:
            if e.status == 404:
                raise web.HTTPError(
                    404, f"The server has no pod right now (not running): {pod_name}"
                ) from None
            if e.status == 400:  # e.g. the container is still waiting to start
                raise web.HTTPError(
                    409, f"The server's log cannot be read yet: {_reason(e)}"
                ) from None
            raise web.HTTPError(
                503, f"The Kubernetes API server refused to give the log ({e.status}); try again."
            ) from None
        except (OSError, TimeoutError) as e:
            raise web.HTTPError(
                503, f"The Kubernetes API server did not answer: {e or type(e).__name__}"
            ) from None
        text, last = lines_after(raw or "", since)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Log-Last", last or self.get_argument("since", "") or "")
        self.finish(text.encode("utf-8", "replace"))


def _reason(e: ApiException) -> str:
    try:
        return json.loads(e.body).get("message") or str(e.reason)
    except (ValueError, TypeError, AttributeError):
        return str(e.reason)


def server_logs_handlers() -> list[tuple[str, type]]:
    """The routes to add to ``c.JupyterHub.extra_handlers`` (under ``/hub/api``)."""
    return [
        (r"/api/primehub/users/([^/]+)/server/logs", ServerLogsHandler),
        (r"/api/primehub/users/([^/]+)/servers/([^/]+)/logs", ServerLogsHandler),
    ]
