"""Recurring jobs: schedules (create, read, update, delete, run now) and their due runs.

A schedule is a checked job request plus a recurrence (:mod:`.cron`). Each run goes through
the same public submit as a user's job (:class:`.submit.Submissions`), as the schedule's owner,
so it meets today's catalog and quotas; a run is skipped while the previous one is still active.
The admission round calls ``fire_due`` once per round.
"""

from __future__ import annotations

from typing import Any

from primehub_jobs_contract.errors import Conflict, JobsError, NotFound, TooMany, Unavailable
from primehub_jobs_contract.times import iso
from primehub_jobs_contract.validation import new_job_id

from . import cron
from .model import HubJob, Schedule
from .requests import SubmitRequest, parse_submit, volume_path
from .shared import Caller, NotMember, Shared
from .submit import Submissions, choose

# what a schedule keeps across an update (the rest comes from the merged request)
_HISTORY = ("last_job_id", "last_run_at", "last_message", "runs", "skipped", "created_at")


class Schedules:
    """Schedules of one service; their runs are submitted through ``submissions``."""

    def __init__(self, shared: Shared, submissions: Submissions) -> None:
        self.shared = shared
        self.submissions = submissions

    async def create(self, caller: Caller, body: Any) -> Schedule:
        """Validate and store a schedule (same rules as a submit, plus the recurrence)."""
        s = self.shared
        req = parse_submit(body, max_deadline=s.settings.max_deadline, schedule=True)
        limit = s.settings.max_schedules_per_user
        if len(await s.db(s.store.schedules, caller.name)) >= limit:
            raise TooMany(
                f"You have {limit} schedules (at most {limit}); delete one before adding another."
            )
        schedule = await self._schedule_from(caller, req, new_job_id())
        await s.db(s.store.save_schedule, schedule)
        return schedule

    async def _schedule_from(
        self, caller: Caller, req: SubmitRequest, schedule_id: str
    ) -> Schedule:
        s = self.shared
        view = await s.view(caller)
        choice = choose(view, req)
        group = choice.group.name
        path = volume_path(req.path, "path", group, s.settings.project_root, jobs_folder=False)
        recurrence = req.recurrence or "inactive"
        tz_name = req.timezone or "UTC"
        try:
            tz = cron.zone(tz_name)
            expression = cron.expression_for(recurrence, req.cron)
            next_run = (
                cron.next_run(cron.parse_cron(expression), s.clock(), tz) if expression else None
            )
        except cron.CronError as e:
            raise JobsError(str(e)) from None
        return Schedule(
            id=schedule_id,
            user=caller.name,
            group=group,
            name=req.name or path.rsplit("/", 1)[-1][: -len(".ipynb")],
            path=path,
            instance_type=choice.instance_type.name,
            image=choice.image.name,
            deadline=req.deadline or s.settings.default_deadline,
            recurrence=recurrence,
            cron=expression if recurrence == "custom" else None,
            timezone=tz_name,
            parameters=req.parameters,
            kernel=req.kernel,
            cell_timeout=req.timeout,
            next_run=next_run,
            hub_groups=list(caller.hub_groups),
        )

    async def get(self, caller: Caller, schedule_id: str) -> Schedule:
        """The schedule if the caller may see it."""
        s = self.shared
        found = await s.db(s.store.schedule, schedule_id) if schedule_id else None
        if found is None or not (caller.admin or found.user == caller.name):
            raise NotFound(f"No schedule with id {schedule_id!r}.")
        return found

    async def list(self, caller: Caller) -> list[Schedule]:
        """The caller's schedules (admins: all)."""
        s = self.shared
        return await s.db(s.store.schedules, None if caller.admin else caller.name)

    async def update(self, caller: Caller, schedule_id: str, body: Any) -> Schedule:
        """Replace a schedule's fields (unset ones keep their value)."""
        s = self.shared
        old = await self.get(caller, schedule_id)
        if not isinstance(body, dict):
            raise JobsError("The request body must be a JSON object.")
        # "paused": true keeps the recurrence but clears the next run (as a refused run does);
        # any update without it (or "paused": false) resumes from the next matching time
        body = dict(body)
        paused = body.pop("paused", False)
        if not isinstance(paused, bool):
            raise JobsError(f"'paused' must be true or false, got {paused!r}.")
        merged = {
            "group": old.group,
            "path": old.path,
            "name": old.name,
            "instanceType": old.instance_type,
            "image": old.image,
            "parameters": old.parameters,
            "kernel": old.kernel,
            "timeout": old.cell_timeout,
            "deadline": old.deadline,
            "recurrence": old.recurrence,
            "cron": old.cron,
            "timezone": old.timezone,
            **body,
        }
        req = parse_submit(merged, max_deadline=s.settings.max_deadline, schedule=True)
        # an admin edits it for its owner: the owner's groups now
        owner = (
            await s.owner(await s.load_catalog(), old.user, old.group)
            if caller.name != old.user
            else caller
        )
        new = await self._schedule_from(owner, req, old.id)
        if paused:
            new.next_run = None
        for key in _HISTORY:
            setattr(new, key, getattr(old, key))
        await s.db(s.store.save_schedule, new)
        return new

    async def delete(self, caller: Caller, schedule_id: str) -> None:
        """Forget a schedule (its jobs stay)."""
        s = self.shared
        await self.get(caller, schedule_id)
        await s.db(s.store.delete_schedule, schedule_id)

    async def run_now(self, caller: Caller, schedule_id: str) -> HubJob:
        """Run a schedule now, unless its previous run is still pending or running."""
        async with self.shared.lock:
            schedule = await self.get(caller, schedule_id)
            job = await self._run(schedule, manual=True)
        if job is None:
            raise Conflict(schedule.last_message or "Skipped")
        return job

    async def fire_due(self) -> None:
        """Run every schedule whose next run is due (the caller holds the lock)."""
        s = self.shared
        now = s.clock()
        for schedule in await s.db(s.store.schedules):
            if schedule.next_run is not None and schedule.next_run <= now:
                try:
                    await self._run(schedule)
                except cron.CronError as e:  # a stored expression that no longer parses
                    schedule.next_run = None
                    schedule.last_message = str(e)
                    await s.db(s.store.save_schedule, schedule)

    async def _run(self, schedule: Schedule, manual: bool = False) -> HubJob | None:
        s = self.shared
        now = s.clock()
        previous = await s.db(s.store.job, schedule.last_job_id) if schedule.last_job_id else None
        job = None
        if previous is not None and previous.state.is_active:
            schedule.skipped += 1
            schedule.last_message = (
                f"Skipped the run at {iso(now)}: the previous run (job {previous.id}) "
                f"is still {previous.state.value}."
            )
        else:
            body = SubmitRequest(
                path=schedule.path,
                group=schedule.group,
                name=schedule.name,
                instance_type=schedule.instance_type,
                image=schedule.image,
                parameters=schedule.parameters,
                kernel=schedule.kernel,
                timeout=schedule.cell_timeout,
                deadline=schedule.deadline,
            )
            try:
                # the owner's groups now, not when the schedule was made
                owner = await s.owner(await s.load_catalog(), schedule.user, schedule.group)
                job = await self.submissions.submit_request(owner, body, schedule.id)
            except Unavailable as e:
                if manual:
                    raise
                # the catalog, cluster or hub is away for a while: the run waits for it, it is
                # not refused (the next round tries again; next_run stays where it is)
                schedule.last_message = (
                    f"The run due at {iso(schedule.next_run)} waits: {e.message}"
                )
                await s.db(s.store.save_schedule, schedule)
                return None
            except NotMember as e:
                # the owner left the group (or was deleted): refused, and paused so that it
                # is not refused again every minute; an update (by them or an admin) resumes it
                schedule.next_run = None
                schedule.last_message = (
                    f"The run at {iso(now)} was refused: {e.message}. The schedule is paused."
                )
                await s.db(s.store.save_schedule, schedule)
                if manual:
                    raise
                return None
            except JobsError as e:
                schedule.last_message = f"The run at {iso(now)} was refused: {e.message}"
            else:
                schedule.runs += 1
                schedule.last_job_id = job.id
                schedule.last_run_at = now
                schedule.last_message = None
        if not manual and schedule.recurrence != "inactive":
            expression = cron.expression_for(schedule.recurrence, schedule.cron)
            if expression:
                schedule.next_run = cron.next_run(
                    cron.parse_cron(expression), now, cron.zone(schedule.timezone)
                )
        await s.db(s.store.save_schedule, schedule)
        return job
