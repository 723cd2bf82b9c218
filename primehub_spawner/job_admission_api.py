"""Hub API ``/hub/api/primehub/job-admissions``: the hub's quota ledger, asked by the
``primehub-jobs`` service before it creates a job's Kubernetes Job (the wire format is
:mod:`primehub_jobs_contract.hub_admission`'s).

Notebook spawns and jobs then reserve in one ledger, so ten spawns and ten jobs racing for a quota
of two start exactly two. Register it in ``jupyterhub_config.py``::

    c.JupyterHub.custom_scopes = {ADMIT_SCOPE: {"description": ADMIT_SCOPE_DESCRIPTION}}
    c.JupyterHub.extra_handlers += job_admission_handlers()

and give the ``primehub-jobs`` service's role the scope ``custom:primehub:admit-jobs``. Only a
token with that scope may call it: it reserves quota on behalf of any user.
"""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from primehub_jobs_contract.errors import JobsError
from primehub_jobs_contract.hub_admission import (
    ADMISSIONS_PATH,
    ADMIT_SCOPE,
    MEMBERSHIP,
    USER_GONE,
    AdmissionRequest,
    parse_request,
    reservation_key,
)

__all__ = [
    "MEMBERSHIP",
    "AdmissionRequest",
    "JobAdmissionHandler",
    "JobAdmissionRefused",
    "job_admission_handlers",
]


class JobAdmissionRefused(Exception):
    """The ledger says no: ``status`` and ``message`` for the service, ``scope`` says why
    (``user``/``group`` quota, ``membership``, ``user-gone``; empty for other errors)."""

    def __init__(self, status: int, message: str, scope: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.scope = scope


class JobAdmissionHandler(APIHandler):
    """``POST`` admits (reserves) a job; ``DELETE .../<job>?namespace=`` releases it."""

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def _allowed(self) -> bool:
        if self.current_user is None or not self.has_scope(ADMIT_SCOPE):
            self._reply(403, {"message": f"This API needs the scope {ADMIT_SCOPE}."})
            return False
        return True

    def _spawner(self, name: str) -> Any:
        user = self.find_user(name)
        if user is None:
            raise JobAdmissionRefused(404, f"There is no user {name!r} on this hub.", USER_GONE)
        spawner = user.spawner
        if not hasattr(spawner, "admit_job"):
            raise JobAdmissionRefused(404, "The hub's spawner is not PrimeHubSpawner.")
        return spawner

    async def post(self, job: str = "") -> None:
        if not self._allowed():
            return
        try:
            body = json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            self._reply(400, {"message": "The request body is not valid JSON."})
            return
        try:
            request = parse_request(body)
            await self._spawner(request.user).admit_job(request)
        except JobsError as e:
            self._reply(e.status_code, {"message": e.message})
            return
        except JobAdmissionRefused as e:
            self._reply(e.status, {"message": e.message, "scope": e.scope})
            return
        except web.HTTPError as e:  # the spawner's own 4xx/503 (broken catalog, stale cache)
            message = getattr(e, "jupyterhub_message", None) or e.log_message or ""
            self._reply(e.status_code, {"message": message % e.args if e.args else message})
            return
        self._reply(200, {"admitted": True, "key": request.key})

    async def delete(self, job: str = "") -> None:
        if not self._allowed():
            return
        user = self.get_argument("user", "")
        namespace = self.get_argument("namespace", "")
        if not (job and user and namespace):
            self._reply(400, {"message": "Name the job in the path, ?user= and ?namespace=."})
            return
        try:
            spawner = self._spawner(user)
        except JobAdmissionRefused as e:
            self._reply(e.status, {"message": e.message, "scope": e.scope})
            return
        spawner.release_job(reservation_key(namespace, job))
        self.set_status(204)
        self.finish()


def job_admission_handlers() -> list[tuple[str, type]]:
    """The routes to add to ``c.JupyterHub.extra_handlers`` (under ``/hub/api``)."""
    return [
        (rf"/api{ADMISSIONS_PATH}", JobAdmissionHandler),
        (rf"/api{ADMISSIONS_PATH}/(?P<job>[0-9a-f]{{12}})", JobAdmissionHandler),
    ]
