"""The jobs service's side of the one quota ledger: ask the hub before creating a Job.

The hub's spawner reserves every notebook spawn in its ledger; this client reserves each job
there too (``POST {hub api}/primehub/job-admissions``, see
:mod:`primehub_jobs_contract.hub_admission`), so neither process can admit on top of the
other's launches in flight. A hub that cannot be asked means "wait", never "start".
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from primehub_jobs_contract.hub_admission import ADMISSIONS_PATH, AdmissionRequest

from .model import HubJob

UNREACHABLE = "Waiting: the hub cannot check the quota right now ({})."


@dataclass(frozen=True)
class Refusal:
    """Why the hub did not admit a job: HTTP ``status``, a ``message`` for the user and the
    ``scope`` of a quota or membership refusal (``""`` for others)."""

    status: int
    message: str
    scope: str = ""


class HubLedger:
    """Client of the hub's job-admissions API, with the service's own token."""

    def __init__(
        self,
        api_url: str,
        token: str,
        namespace: str,
        log: logging.Logger,
        timeout: float = 10,
    ) -> None:
        self.url = api_url.rstrip("/") + ADMISSIONS_PATH
        self.token = token
        self.namespace = namespace
        self.log = log
        self.timeout = timeout

    def _request(self, job: HubJob) -> AdmissionRequest:
        return AdmissionRequest(job.id, job.user, job.group, job.instance_type, self.namespace)

    async def admit(self, job: HubJob) -> Refusal | None:
        """Reserve ``job``'s quota (None) or say why not."""
        body = json.dumps(self._request(job).to_json())
        request = HTTPRequest(
            self.url,
            method="POST",
            body=body,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            request_timeout=self.timeout,
        )
        try:
            await AsyncHTTPClient().fetch(request)
            return None
        except HTTPClientError as e:
            if e.response is None or e.code >= 500 or e.code == 599:
                return Refusal(503, UNREACHABLE.format(e.message or e.code))
            try:
                answer = json.loads(e.response.body)
                message, scope = str(answer.get("message")), str(answer.get("scope") or "")
            except (ValueError, AttributeError):
                message, scope = f"The hub refused the job ({e.code}).", ""
            if e.code == 403 and not scope:  # the service's token lacks the scope: admin's
                self.log.error("The hub refused a job admission: %s", message)
                return Refusal(503, UNREACHABLE.format("the service may not reserve quota"))
            return Refusal(e.code, message, scope)
        except OSError as e:
            return Refusal(503, UNREACHABLE.format(e.strerror or e))

    async def release(self, job: HubJob) -> None:
        """Give back ``job``'s reservation (its Kubernetes Job could not be created); best
        effort: an unreleased reservation expires by itself."""
        query = urlencode({"user": job.user, "namespace": self.namespace})
        request = HTTPRequest(
            f"{self.url}/{quote(job.id, safe='')}?{query}",
            method="DELETE",
            headers={"Authorization": f"token {self.token}"},
            request_timeout=self.timeout,
        )
        try:
            await AsyncHTTPClient().fetch(request)
        except (HTTPClientError, OSError) as e:
            self.log.warning("Job %s: could not release its quota reservation: %s", job.id, e)
