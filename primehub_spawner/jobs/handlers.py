"""REST API of the ``primehub-jobs`` hub service (thin handlers over JobsService).

Callers authenticate with a JupyterHub token (``Authorization: token ...``) that has
``access:services!service=primehub-jobs``: a user's own token, or a single-user server's token
(the ``server`` role grants it in the reference config). Domain errors become
``{"message": ...}`` with their status here, once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from typing import IO, Any

from jupyterhub.services.auth import HubAuthenticated, UserNotAllowed
from tornado import web
from tornado.log import app_log

from primehub_jobs_contract.errors import Forbidden, InvalidRequest, JobsError
from primehub_jobs_contract.states import State

from .kube import UNREACHABLE, KubeError
from .logtail import Cursor
from .service import Caller, JobsService
from .volume_files import CHUNK, MAX_ARTIFACT_BYTES, MAX_OUTPUT_BYTES

_ID = r"(?P<item_id>[0-9a-f]{12})"


def maps_errors(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A JobsError becomes its status and a JSON message; a failure that is not the caller's
    (the Kubernetes API server away or slow, the service's disk full or unwritable, its
    database busy) a 503 that says so, never a 500."""

    @functools.wraps(method)
    async def wrapper(self: ServiceHandler, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except JobsError as e:
            self.write_json({"message": e.message}, e.status_code)
        except (KubeError, *UNREACHABLE, sqlite3.OperationalError) as e:
            app_log.warning("primehub-jobs: %s %s: %r", self.request.method, self.request.path, e)
            self.write_json({"message": unavailable_message(e)}, 503)

    return wrapper


def unavailable_message(e: BaseException) -> str:
    """What a 503 says: which part failed and the reason, without a traceback."""
    if isinstance(e, KubeError):
        what = f"The Kubernetes API server could not be used: {e}"
    elif isinstance(e, sqlite3.OperationalError):
        what = f"The jobs service's database could not be used: {e}"
    elif isinstance(e, OSError) and e.strerror and not isinstance(e, ConnectionError):
        what = f"The jobs service could not read or write its files: {e.strerror}"
    else:  # a timeout or connection error of a call that did not go through Kube
        what = f"The Kubernetes API server did not answer: {e or type(e).__name__}"
    return f"{what}; try again or contact your admin."


class ServiceHandler(HubAuthenticated, web.RequestHandler):
    """Base: token auth through the hub, JSON in and out, the caller's groups."""

    @property
    def hub_auth(self) -> Any:  # type: ignore[override]
        return self.settings["hub_auth"]

    @property
    def jobs(self) -> JobsService:
        return self.settings["primehub_jobs"]

    async def prepare(self) -> None:
        """Identify the caller from the token (asked of the hub without blocking the loop)."""
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            self.write_json(
                {"message": "Send a JupyterHub API token: 'Authorization: token <token>'."}, 401
            )
            return
        try:
            user = self.check_hub_user(model)
        except UserNotAllowed:
            user = None
        if user is None or user.get("kind", "user") != "user":
            self.write_json(
                {
                    "message": "This token may not use the primehub-jobs service; it needs "
                    "access:services!service=primehub-jobs and must belong to a user."
                },
                403,
            )
            return
        self._hub_auth_user_cache = user

    def get_current_user(self) -> Any:
        # set by prepare(); never the blocking lookup of HubAuthenticated
        return getattr(self, "_hub_auth_user_cache", None)

    def check_xsrf_cookie(self) -> None:
        # Token-authenticated API (no cookies are accepted), so no XSRF check applies.
        return

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # never a traceback: unexpected errors are logged by tornado, the caller gets JSON
        self.write_json({"message": self._reason}, status_code)

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(data))

    async def send_file(self, f: IO[bytes], limit: int, content_type: str, name: str) -> None:
        """Stream an open file of a group volume (read in a thread, at most ``limit`` bytes,
        closed after) as an attachment that a browser never renders or sniffs."""
        try:
            self.set_header("Content-Type", content_type)
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Content-Security-Policy", "sandbox")
            self.set_header("Cache-Control", "no-store")
            safe = re.sub(r"[^\w.-]", "_", name)[-100:] or "file"
            self.set_header("Content-Disposition", f'attachment; filename="{safe}"')
            left = limit
            while left > 0:
                try:
                    data = await asyncio.to_thread(f.read, min(CHUNK, left))
                except OSError as e:
                    if not self._headers_written:
                        raise  # (maps_errors: a 503 that says so)
                    # half sent: end the connection, never a truncated answer that looks whole
                    app_log.warning("primehub-jobs: %s: read failed: %r", self.request.path, e)
                    self.request.connection.close()
                    return
                if not data:
                    break
                left -= len(data)
                self.write(data)
                await self.flush()
        finally:
            await asyncio.to_thread(f.close)
        self.finish()

    def json_body(self) -> Any:
        """The parsed body; malformed JSON is a 400."""
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"The request body is not valid JSON: {e}") from None

    async def caller(self) -> Caller:
        """The authenticated user with their JupyterHub groups and admin flag now (asked of
        the hub with the service's own token, cached a few seconds: :mod:`.hub_users`, the
        same answers the scheduling round re-checks memberships with)."""
        name = self.current_user["name"]
        caller = await self.jobs.users.caller(name)  # Unavailable (503) if the hub is away
        if caller is None:
            raise Forbidden(f"The hub has no user {name!r} any more.")
        return caller


def _states(raw: str | None) -> tuple[State, ...]:
    if not raw:
        return ()
    try:
        return tuple(State(s) for s in raw.split(","))
    except ValueError:
        allowed = ", ".join(s.value for s in State)
        raise InvalidRequest(f"'status' must be one of: {allowed}; got {raw!r}.") from None


def _int(raw: str | None, key: str, default: int, maximum: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"'{key}' must be a whole number, got {raw!r}.") from None
    if not 0 <= value <= maximum:
        raise InvalidRequest(f"'{key}' must be between 0 and {maximum}.")
    return value


class ContextHandler(ServiceHandler):
    """``GET api/context``: the caller's groups, instance types and images."""

    @maps_errors
    async def get(self) -> None:
        self.write_json(await self.jobs.context(await self.caller()))


class JobsHandler(ServiceHandler):
    """``GET|POST api/jobs``."""

    @maps_errors
    async def get(self) -> None:
        states = _states(self.get_argument("status", None))
        limit = _int(self.get_argument("limit", None), "limit", 50, 1000) or 50
        offset = _int(self.get_argument("offset", None), "offset", 0, 10**9)
        jobs, total = await self.jobs.list(await self.caller(), states, limit, offset)
        self.write_json({"jobs": [j.to_json() for j in jobs], "total": total})

    @maps_errors
    async def post(self) -> None:
        job = await self.jobs.submit(await self.caller(), self.json_body())
        self.write_json(job.to_json(), 201)


class JobHandler(ServiceHandler):
    """``GET|DELETE api/jobs/{id}``."""

    @maps_errors
    async def get(self, item_id: str) -> None:
        job = await self.jobs.get(await self.caller(), item_id)
        self.write_json(job.to_json())

    @maps_errors
    async def delete(self, item_id: str) -> None:
        await self.jobs.delete(await self.caller(), item_id)
        self.set_status(204)
        self.finish()


class CancelHandler(ServiceHandler):
    """``POST api/jobs/{id}/cancel``."""

    @maps_errors
    async def post(self, item_id: str) -> None:
        job = await self.jobs.cancel(await self.caller(), item_id)
        self.write_json(job.to_json())


class LogHandler(ServiceHandler):
    """``GET api/jobs/{id}/log?offset=N[&cursor=C]``: text; ``X-Log-Offset`` says where to
    resume, and ``X-Log-Cursor`` (while the pod runs) what to pass as ``cursor`` with it so that
    only new lines are read from Kubernetes (optional: the service remembers recent ones)."""

    @maps_errors
    async def get(self, item_id: str) -> None:
        offset = _int(self.get_argument("offset", None), "offset", 0, 2**62)
        raw_cursor = self.get_argument("cursor", None)
        cursor = Cursor.parse(raw_cursor)
        if raw_cursor and cursor is None:
            raise InvalidRequest(
                f"'cursor' must be the X-Log-Cursor of the previous answer, got {raw_cursor!r}."
            )
        data, next_offset, after = await self.jobs.read_log_at(
            await self.caller(), item_id, offset, cursor
        )
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Log-Offset", str(next_offset))
        if after is not None:
            self.set_header("X-Log-Cursor", after.to_text())
        self.set_header("Cache-Control", "no-store")
        if self.get_argument("download", None):
            self.set_header("Content-Disposition", f'attachment; filename="job-{item_id}.log"')
        self.finish(data)


class OutputHandler(ServiceHandler):
    """``GET api/jobs/{id}/output``: the executed notebook (read from the group volume)."""

    @maps_errors
    async def get(self, item_id: str) -> None:
        job, opened = await self.jobs.outputs.output(await self.caller(), item_id)
        name = job.output.rsplit("/", 1)[-1]
        await self.send_file(opened.file, MAX_OUTPUT_BYTES, "application/x-ipynb+json", name)


class ArtifactsHandler(ServiceHandler):
    """``GET api/jobs/{id}/artifacts``: the list of artifact files; ``?format=zip``: a zip."""

    @maps_errors
    async def get(self, item_id: str) -> None:
        fmt = self.get_argument("format", None) or "json"
        if fmt not in ("json", "zip"):
            raise InvalidRequest(f"'format' must be json or zip, got {fmt!r}.")
        caller = await self.caller()
        if fmt == "json":
            listing = await self.jobs.outputs.artifacts(caller, item_id)
            self.write_json(listing.to_json())
            return
        archive = await self.jobs.outputs.artifacts_zip(caller, item_id)
        await self.send_file(
            archive, 2 * MAX_ARTIFACT_BYTES, "application/zip", f"job-{item_id}-artifacts.zip"
        )


class ArtifactHandler(ServiceHandler):
    """``GET api/jobs/{id}/artifacts/{path}``: one artifact file."""

    @maps_errors
    async def get(self, item_id: str, path: str) -> None:
        opened = await self.jobs.outputs.artifact(await self.caller(), item_id, path)
        name = path.rsplit("/", 1)[-1]
        await self.send_file(opened.file, MAX_ARTIFACT_BYTES, "application/octet-stream", name)


class SchedulesHandler(ServiceHandler):
    """``GET|POST api/schedules``."""

    @maps_errors
    async def get(self) -> None:
        found = await self.jobs.list_schedules(await self.caller())
        self.write_json({"schedules": [s.to_json() for s in found]})

    @maps_errors
    async def post(self) -> None:
        schedule = await self.jobs.create_schedule(await self.caller(), self.json_body())
        self.write_json(schedule.to_json(), 201)


class ScheduleHandler(ServiceHandler):
    """``GET|PATCH|DELETE api/schedules/{id}``."""

    @maps_errors
    async def get(self, item_id: str) -> None:
        schedule = await self.jobs.get_schedule(await self.caller(), item_id)
        self.write_json(schedule.to_json())

    @maps_errors
    async def patch(self, item_id: str) -> None:
        schedule = await self.jobs.update_schedule(await self.caller(), item_id, self.json_body())
        self.write_json(schedule.to_json())

    @maps_errors
    async def delete(self, item_id: str) -> None:
        await self.jobs.delete_schedule(await self.caller(), item_id)
        self.set_status(204)
        self.finish()


class ScheduleRunHandler(ServiceHandler):
    """``POST api/schedules/{id}/run``: run now (409 while the previous run is active)."""

    @maps_errors
    async def post(self, item_id: str) -> None:
        job = await self.jobs.run_schedule(await self.caller(), item_id)
        self.write_json(job.to_json(), 201)


def handlers(prefix: str) -> list[tuple[str, type]]:
    """Routes under the service prefix (e.g. ``/services/primehub-jobs/``)."""
    base = prefix.rstrip("/") + "/api"
    return [
        (f"{base}/context", ContextHandler),
        (f"{base}/jobs", JobsHandler),
        (rf"{base}/jobs/{_ID}", JobHandler),
        (rf"{base}/jobs/{_ID}/cancel", CancelHandler),
        (rf"{base}/jobs/{_ID}/log", LogHandler),
        (rf"{base}/jobs/{_ID}/output", OutputHandler),
        (rf"{base}/jobs/{_ID}/artifacts", ArtifactsHandler),
        (rf"{base}/jobs/{_ID}/artifacts/(?P<path>.+)", ArtifactHandler),
        (f"{base}/schedules", SchedulesHandler),
        (rf"{base}/schedules/{_ID}", ScheduleHandler),
        (rf"{base}/schedules/{_ID}/run", ScheduleRunHandler),
    ]
