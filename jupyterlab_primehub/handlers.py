"""REST API under ``/primehub/api/``: thin handlers over ServerJobs and TokenStore.

Domain errors (``errors.py``) become ``{"message": ...}`` with their 4xx status here, once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.iostream import StreamClosedError

from primehub_executor.params import supported_languages
from primehub_jobs_contract.errors import InvalidRequest, JobsError, Unavailable

from .jobs.model import parse_job_request, parse_page, parse_status_filter
from .jobs.remote import check_new_schedule, check_schedule_change

AUTH_RESOURCE = "primehub"
ZIP_CHUNK = 256 * 1024


def maps_errors(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Turn a JobsError into its status and a JSON message; a failure that is not the user's
    (a full disk, an unwritable or vanished folder, a busy database) into a 503 that says what
    could not be done and why, never a 500 with a traceback."""

    @functools.wraps(method)
    async def wrapper(self: PrimeHubHandler, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except JobsError as e:
            self._error_json(e.status_code, e.message)
        except (OSError, sqlite3.OperationalError) as e:
            self.log.warning("PrimeHub %s %s failed: %r", self.request.method, self.request.path, e)
            reason = (e.strerror if isinstance(e, OSError) else None) or str(e) or type(e).__name__
            self._error_json(
                503, f"{self.failed_action()}: {reason}; try again or contact your admin."
            )

    return wrapper


class PrimeHubHandler(ExtensionHandlerMixin, APIHandler):
    """Base: JSON in and out, jupyter-server auth and XSRF like any server API."""

    auth_resource = AUTH_RESOURCE

    async def prepare(self) -> None:
        await super().prepare()
        if self.current_user:  # a signed-in user is here: jobs may come
            self.service.in_use()

    @property
    def service(self) -> Any:
        return self.settings["primehub_jobs"]

    @property
    def tokens(self) -> Any:
        return self.settings["primehub_tokens"]

    def json_body(self) -> Any:
        """Parse the request body; malformed JSON is the user's mistake (400)."""
        raw = self.request.body
        if not raw:
            raise InvalidRequest("The request body must be a JSON object.")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"The request body is not valid JSON: {e}") from None

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    #: what each method does, for the message of a 503 ("Could not <action>: <reason>")
    actions: dict[str, str] = {}

    def failed_action(self) -> str:
        action = self.actions.get(self.request.method or "", "answer this request")
        return f"Could not {action}"

    def _error_json(self, status: int, message: str) -> None:
        if self._headers_written:  # a download that failed half-way: nothing more can be said
            self.finish()
            return
        self.clear()
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))


class ContextHandler(PrimeHubHandler):
    """``GET /primehub/api/context``."""

    actions = {"GET": "read the job options"}

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self) -> None:
        service = self.service
        data = service.context.to_json()
        data.update(
            backends=[
                {"name": b.name, "description": b.description} for b in service.backends.values()
            ],
            defaultBackend=service.default_backend,
            groupVolumeRoot=service.group_volume_root,
            kernels=await service.kernels(),
            parameterLanguages=supported_languages(),
            defaults={
                "timeout": service.default_cell_timeout,
                "deadline": service.default_deadline,
            },
        )
        for backend in service.backends.values():  # e.g. the group's instance types and images
            options = getattr(backend, "context_options", None)
            if options is not None:
                data.update(options(service.context))
        self.write_json(data)


class JobsHandler(PrimeHubHandler):
    """``GET|POST /primehub/api/jobs``."""

    actions = {"GET": "list the jobs", "POST": "submit the job"}

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self) -> None:
        status = parse_status_filter(self.get_argument("status", None))
        limit, offset = parse_page(
            self.get_argument("limit", None), self.get_argument("offset", None)
        )
        jobs, total = self.service.list(status, limit, offset)
        self.write_json({"jobs": [j.to_json() for j in jobs], "total": total})

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self) -> None:
        request = parse_job_request(self.json_body())
        job = await self.service.submit(request)
        self.set_header("Location", self.base_url.rstrip("/") + f"/primehub/api/jobs/{job.id}")
        self.write_json(job.to_json(), status=201)


class JobEventsHandler(PrimeHubHandler):
    """``GET /primehub/api/jobs/events``: server-sent events of this server's job changes
    (``jobs/events.py``), so the lab shows a job's end as it happens instead of at its next poll.

    Authenticated and authorized like every other handler (only the server's owner, or who the
    hub lets access it, gets the stream); at most ``JobEvents.max_streams`` open at once (429).
    A comment line every ``primehub_events_keepalive`` seconds (setting, default 15) keeps
    proxies from closing a quiet stream and finds clients that went away.
    """

    actions = {"GET": "open the job event stream"}
    _track_activity = False  # an open lab tab is not activity; the jobs themselves count
    _stream: Any = None

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self) -> None:
        events = self.service.events
        self._stream = stream = events.open()
        keepalive = float(self.settings.get("primehub_events_keepalive", 15.0))
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")  # a proxy passes each event on at once
        try:
            text: str | None = events.hello()
            while text is not None:
                self.write(text)
                await self.flush()
                text = await stream.next(keepalive)
        except StreamClosedError:  # the client went away
            return
        finally:
            stream.close()
        self.finish(set_content_type="text/event-stream; charset=utf-8")

    def on_connection_close(self) -> None:
        if self._stream is not None:
            self._stream.close()  # ends the wait in get() now, not at the next keep-alive
        super().on_connection_close()


class JobHandler(PrimeHubHandler):
    """``GET|DELETE /primehub/api/jobs/{id}``."""

    actions = {"GET": "read the job", "DELETE": "delete the job"}

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self, job_id: str) -> None:
        self.write_json(self.service.get(job_id).to_json())

    @web.authenticated
    @authorized
    @maps_errors
    async def delete(self, job_id: str) -> None:
        await self.service.delete(job_id)
        self.set_status(204)
        self.finish()


class JobCancelHandler(PrimeHubHandler):
    """``POST /primehub/api/jobs/{id}/cancel``."""

    actions = {"POST": "cancel the job"}

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self, job_id: str) -> None:
        self.write_json((await self.service.cancel(job_id)).to_json())


class JobLogHandler(PrimeHubHandler):
    """``GET /primehub/api/jobs/{id}/log?offset=N``: text; ``X-Log-Offset`` says where to resume."""

    actions = {"GET": "read the job's log"}

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self, job_id: str) -> None:
        raw = self.get_argument("offset", "0")
        try:
            offset = int(raw)
        except ValueError:
            raise InvalidRequest(f"'offset' must be a whole number, got {raw!r}.") from None
        if offset < 0:
            raise InvalidRequest("'offset' must not be negative.")
        data, next_offset = await self.service.read_log(job_id, offset)
        self.set_header("X-Log-Offset", str(next_offset))
        self.set_header("Cache-Control", "no-store")
        self.finish(data, set_content_type="text/plain; charset=utf-8")


def attachment(name: str) -> str:
    """A Content-Disposition for a download named ``name`` in any script: an ASCII fallback and
    the UTF-8 name (RFC 6266 / RFC 5987 ``filename*``); header values must be Latin-1."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class JobArtifactsHandler(PrimeHubHandler):
    """``GET /primehub/api/jobs/{id}/artifacts``: a zip of the job's artifacts folder."""

    actions = {"GET": "zip the job's artifacts"}

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self, job_id: str) -> None:
        name, archive = await self.service.artifacts_zip(job_id)
        loop = asyncio.get_running_loop()
        try:
            self.set_header("Content-Type", "application/zip")
            self.set_header("Content-Disposition", attachment(name))
            while chunk := await loop.run_in_executor(None, archive.read, ZIP_CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            archive.close()
        self.finish(set_content_type="application/zip")


SCHEDULES_UNAVAILABLE = (
    "Schedules run as Kubernetes jobs through the hub's primehub-jobs service, which this "
    "server does not use (it is not started by a PrimeHub hub with the jobs service)."
)


class ScheduleBase(PrimeHubHandler):
    """Schedules live in the hub's primehub-jobs service; these handlers forward the user's
    calls there with the user's token (the service checks that each schedule is theirs)."""

    @property
    def remote(self) -> Any:
        backend = self.service.backends.get("kubernetes")
        if backend is None:
            raise Unavailable(SCHEDULES_UNAVAILABLE)
        return backend


class SchedulesHandler(ScheduleBase):
    """``GET|POST /primehub/api/schedules``."""

    actions = {"GET": "list the schedules", "POST": "create the schedule"}

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self) -> None:
        if self.service.backends.get("kubernetes") is None:
            self.write_json({"available": False, "message": SCHEDULES_UNAVAILABLE, "schedules": []})
            return
        user = self.service.context.user
        # an admin's token lists everyone's: this server shows its user's own
        found = [s for s in await self.remote.list_schedules() if s.get("user") == user]
        self.write_json({"available": True, "schedules": found})

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self) -> None:
        body = check_new_schedule(self.json_body())
        self.write_json(await self.remote.create_schedule(body), status=201)


class ScheduleHandler(ScheduleBase):
    """``PATCH|DELETE /primehub/api/schedules/{id}``."""

    actions = {"PATCH": "change the schedule", "DELETE": "delete the schedule"}

    @web.authenticated
    @authorized
    @maps_errors
    async def patch(self, schedule_id: str) -> None:
        body = check_schedule_change(self.json_body())
        self.write_json(await self.remote.update_schedule(schedule_id, body))

    @web.authenticated
    @authorized
    @maps_errors
    async def delete(self, schedule_id: str) -> None:
        await self.remote.delete_schedule(schedule_id)
        self.set_status(204)
        self.finish()


class ScheduleRunHandler(ScheduleBase):
    """``POST /primehub/api/schedules/{id}/run``: run now; the run is a job of the panel."""

    actions = {"POST": "run the schedule"}

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self, schedule_id: str) -> None:
        self.write_json(await self.remote.run_schedule(schedule_id), status=201)


class TokenHandler(PrimeHubHandler):
    """``GET|PUT|DELETE /primehub/api/token`` (never returns the token itself)."""

    actions = {"GET": "read the token", "PUT": "save the token", "DELETE": "remove the token"}

    @web.authenticated
    @authorized
    @maps_errors
    async def get(self) -> None:
        self.write_json(self.tokens.info())

    @web.authenticated
    @authorized
    @maps_errors
    async def put(self) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise InvalidRequest('The request body must be a JSON object like {"token": "..."}.')
        self.write_json(self.tokens.save(body.get("token")))

    @web.authenticated
    @authorized
    @maps_errors
    async def delete(self) -> None:
        self.write_json(self.tokens.clear())


class TokenTestHandler(PrimeHubHandler):
    """``POST /primehub/api/token/test``."""

    @web.authenticated
    @authorized
    @maps_errors
    async def post(self) -> None:
        self.write_json(await self.tokens.test())


_ID = r"(?P<job_id>[^/]+)"
_SCHEDULE = r"(?P<schedule_id>[^/]+)"

HANDLERS: list[tuple[str, type[PrimeHubHandler]]] = [
    (r"/primehub/api/context", ContextHandler),
    (r"/primehub/api/jobs", JobsHandler),
    (r"/primehub/api/jobs/events", JobEventsHandler),  # before the job id route
    (rf"/primehub/api/jobs/{_ID}", JobHandler),
    (rf"/primehub/api/jobs/{_ID}/cancel", JobCancelHandler),
    (rf"/primehub/api/jobs/{_ID}/log", JobLogHandler),
    (rf"/primehub/api/jobs/{_ID}/artifacts", JobArtifactsHandler),
    (r"/primehub/api/schedules", SchedulesHandler),
    (rf"/primehub/api/schedules/{_SCHEDULE}", ScheduleHandler),
    (rf"/primehub/api/schedules/{_SCHEDULE}/run", ScheduleRunHandler),
    (r"/primehub/api/token", TokenHandler),
    (r"/primehub/api/token/test", TokenTestHandler),
]
