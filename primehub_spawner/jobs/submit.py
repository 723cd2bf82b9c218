"""Submitting a job: check a request against the catalog and quotas, then queue it.

``choose`` applies the spawn rules (:mod:`..user_options`) to a job request and refuses a job
that could never start; ``Submissions`` is the one public way a job enters the queue: a REST
body (``submit``) and a schedule's run (``submit_request``, :mod:`.schedules`) alike. Nothing
is created when a check fails; the admission round (:mod:`.admission`) starts queued jobs.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from primehub_jobs_contract.errors import Forbidden, InvalidRequest, TooMany, Unavailable
from primehub_jobs_contract.validation import new_job_id

from ..catalog import UserView
from ..quantities import Resources
from ..quota import exceeded
from ..user_options import Choice, resolve_options
from .model import HubJob
from .requests import SubmitRequest, output_name, parse_submit, volume_path
from .shared import ACTIVE, Caller, Shared


def choose(view: UserView, req: SubmitRequest) -> Choice:
    """The group, instance type and image of ``req`` as the spawner would resolve them; a job
    larger than its quotas is refused now instead of waiting forever."""
    options = {"group": req.group, "instance_type": req.instance_type, "image": req.image}
    choice = resolve_options(view, {k: v for k, v in options.items() if v})  # OptionsError: 4xx
    group = choice.group.group
    request = Resources(
        choice.instance_type.cpu, choice.instance_type.memory, choice.instance_type.gpu
    )
    # A job that could never start is refused now instead of waiting forever.
    never = exceeded(f"User {view.user}", group.quota, Resources(), request) or exceeded(
        f"Group {group.name}", group.project_quota, Resources(), request
    )
    if never:
        raise Forbidden(f"{never} (the instance type is larger than the quota)")
    return choice


class Submissions:
    """Validate and queue jobs."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    async def submit(self, caller: Caller, body: Any, schedule_id: str | None = None) -> HubJob:
        """Validate a REST body with the contract's rules and queue the job."""
        req = parse_submit(body, max_deadline=self.shared.settings.max_deadline)
        return await self.submit_request(caller, req, schedule_id)

    async def submit_request(
        self, caller: Caller, req: SubmitRequest, schedule_id: str | None = None
    ) -> HubJob:
        """Queue a checked request (a REST body's, or a schedule's run) for ``caller``."""
        s = self.shared
        limit = s.settings.max_active_jobs_per_user
        _, active = await s.db(s.store.jobs, user=caller.name, states=ACTIVE, limit=0)
        if active >= limit:
            raise TooMany(
                f"You have {active} jobs pending or running (at most {limit}); wait for some "
                "to finish, or cancel some, before submitting more."
            )
        view = await s.view(caller)
        choice = choose(view, req)
        group = choice.group.name
        root = s.settings.project_root
        path = volume_path(req.path, "path", group, root, jobs_folder=False)
        snapshot = (
            volume_path(req.snapshot, "snapshot", group, root, jobs_folder=True)
            if req.snapshot
            else None
        )
        if req.id is not None:
            # a client's id could be claimed first by another member of the group (who sees
            # it as a folder name in the group volume): ids are the service's
            raise InvalidRequest(
                "'id' is chosen by the service: leave it out (the answer's 'id' is the job's)."
            )
        job_id = new_job_id()
        created = s.clock()
        output = (
            volume_path(req.output, "output", group, root, jobs_folder=False)
            if req.output
            else output_name(path, created.strftime("%Y%m%d%H%M%S"), job_id)
        )
        if output == path:
            raise InvalidRequest("'output' must differ from the notebook itself.")
        job = HubJob(
            id=job_id,
            user=caller.name,
            group=group,
            name=req.name or path.rsplit("/", 1)[-1][: -len(".ipynb")],
            path=path,
            output=output,
            snapshot=snapshot,
            snapshot_sha256=req.snapshot_sha256 if snapshot else None,
            instance_type=choice.instance_type.name,
            image=choice.image.name,
            deadline=req.deadline or s.settings.default_deadline,
            parameters=req.parameters,
            kernel=req.kernel,
            cell_timeout=req.timeout,
            schedule_id=schedule_id,
            created_at=created,
            hub_groups=list(caller.hub_groups),
        )
        for _ in range(3):  # atomic: an existing id is never replaced (a new one is drawn)
            try:
                await s.db(s.store.add_job, job)
                break
            except sqlite3.IntegrityError:
                job.id = new_job_id()
        else:
            raise Unavailable("Could not find a free job id; please submit again.")
        s.log.info(
            "Job %s submitted by %s in %s: %s (%s, %s)",
            job.id,
            job.user,
            job.group,
            job.path,
            job.instance_type,
            job.image,
        )
        s.wakeup.set()
        return job
