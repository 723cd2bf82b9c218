"""JobsService: submit, queue, run, watch, cancel, logs and schedules of hub notebook jobs.

Glue between the pure parts (``requests``, ``queue``, ``manifest``, ``cron``; the spawner's
``catalog``, ``user_options``, ``launch`` and ``quota``), the SQLite history (``store``) and
Kubernetes (``kube``). A scheduling round (``tick``) runs every few seconds: it reconciles the
active jobs with their Kubernetes Jobs (the truth for anything started), admits pending jobs
within the quotas, fires due schedules and removes finished Jobs after their TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from primehub_jobs_contract.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    JobsError,
    NotFound,
    Unavailable,
)
from primehub_jobs_contract.executor import EXECUTOR_COMMAND
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import iso, utcnow
from primehub_jobs_contract.validation import new_job_id

from ..catalog import CatalogError, CatalogSource, UserView
from ..launch import LaunchRequest, LaunchSettings, PodPlan, label_value, plan_launch
from ..pods import PodSettings
from ..quantities import Resources
from ..quota import exceeded
from ..user_options import Choice, OptionsError, resolve_options
from . import cron
from .kube import Kube, KubeError
from .manifest import (
    JOB_COMPONENT,
    JobPaths,
    executor_spec,
    job_manifest,
    job_object_name,
)
from .model import HubJob, Schedule
from .queue import InFlight, QueuedJob, admit
from .requests import SubmitRequest, output_name, parse_submit, volume_path
from .store import JobStore

ACTIVE = (State.PENDING, State.PREPARING, State.RUNNING)
MAX_LOG_CHUNK = 1024 * 1024
MAX_ARCHIVED_LOG = 20 * 1024 * 1024


@dataclass(frozen=True)
class Caller:
    """Who is asking: a hub user with their JupyterHub groups."""

    name: str
    hub_groups: tuple[str, ...] = ()
    admin: bool = False


@dataclass(frozen=True)
class Settings:
    """Admin settings of the service (from its traits)."""

    namespace: str = "default"
    project_root: str = "/project"
    executor: tuple[str, ...] = EXECUTOR_COMMAND
    default_deadline: int = 86400
    max_deadline: int = 7 * 86400
    finished_ttl: float = 600
    log_retention: timedelta = timedelta(days=7)
    tick_interval: float = 2.0
    extra_env: tuple[tuple[str, str], ...] = ()
    # the admin's pod settings of notebook pods (JobsApp's KubeSpawner-named options)
    pod: PodSettings = field(default_factory=PodSettings)


class JobsService:
    """Everything the REST handlers call."""

    def __init__(
        self,
        store: JobStore,
        kube: Kube,
        catalog: CatalogSource,
        logs_dir: Path,
        settings: Settings,
        log: logging.Logger | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.kube = kube
        self.catalog = catalog
        self.logs_dir = Path(logs_dir)
        self.settings = settings
        self.log = log or logging.getLogger(__name__)
        self.clock = clock
        self._task: asyncio.Task | None = None
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()  # one round or action on a job's state at a time

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect to Kubernetes, reconcile what ran while we were away, start scheduling."""
        await asyncio.to_thread(self.logs_dir.mkdir, parents=True, exist_ok=True)
        await self.kube.start()
        await self.tick()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        """Stop scheduling (Jobs keep running; the next start reconciles them)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.kube.stop()

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.settings.tick_interval)
            except asyncio.TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except (KubeError, Unavailable) as e:  # the API server or catalog is away: retry
                self.log.warning("primehub-jobs: scheduling round skipped: %s", e)
            except Exception:  # one bad round must not stop scheduling
                self.log.exception("primehub-jobs: scheduling round failed")

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _catalog(self):
        try:
            return await asyncio.to_thread(self.catalog.get)
        except CatalogError as e:
            self.log.error("Catalog is invalid: %s", e)
            raise Unavailable(
                "Job options are unavailable: the catalog has an error. Please contact admin."
            ) from None

    async def view(self, caller: Caller) -> UserView:
        """What the caller may launch."""
        catalog = await self._catalog()
        return catalog.for_user(caller.name, caller.hub_groups)

    # -- queries ----------------------------------------------------------------------------------
    async def context(self, caller: Caller) -> dict[str, Any]:
        """The caller's groups with instance types and images (for the submit dialog)."""
        view = await self.view(caller)
        return {
            "user": caller.name,
            "admin": caller.admin,
            "projectRoot": self.settings.project_root,
            "defaultDeadline": self.settings.default_deadline,
            "groups": [
                {
                    "name": g.name,
                    "displayName": g.group.display_name,
                    "instanceTypes": [
                        {
                            "name": it.name,
                            "displayName": it.display_name,
                            "cpu": it.cpu,
                            "memory": Resources(memory=it.memory).to_json()["memory"],
                            "gpu": it.gpu,
                        }
                        for it in g.instance_types
                    ],
                    "images": [
                        {"name": im.name, "displayName": im.display_name, "type": im.type}
                        for im in g.images
                    ],
                }
                for g in view.groups
            ],
        }

    async def get(self, caller: Caller, job_id: str) -> HubJob:
        """The job if the caller may see it (their own; admins all), else NotFound."""
        job = await self._db(self.store.job, job_id) if job_id else None
        if job is None or not (caller.admin or job.user == caller.name):
            raise NotFound(f"No job with id {job_id!r}.")
        return job

    async def list(
        self, caller: Caller, states: tuple[State, ...] = (), limit: int = 50, offset: int = 0
    ) -> tuple[list[HubJob], int]:
        """The caller's jobs (admins: everyone's), newest first."""
        return await self._db(
            self.store.jobs,
            user=None if caller.admin else caller.name,
            states=states,
            limit=limit,
            offset=offset,
        )

    # -- submit -----------------------------------------------------------------------------------
    def _choice(self, view: UserView, req: SubmitRequest) -> Choice:
        options = {"group": req.group, "instance_type": req.instance_type, "image": req.image}
        try:
            choice = resolve_options(view, {k: v for k, v in options.items() if v})
        except OptionsError as e:
            raise JobsError(e.message, e.status) from None
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

    async def submit(self, caller: Caller, body: Any, schedule_id: str | None = None) -> HubJob:
        """Validate and queue a job; nothing is created when a check fails."""
        req = parse_submit(body, max_deadline=self.settings.max_deadline)
        return await self._submit(caller, req, schedule_id)

    async def _submit(self, caller: Caller, req: SubmitRequest, schedule_id: str | None) -> HubJob:
        view = await self.view(caller)
        choice = self._choice(view, req)
        group = choice.group.name
        root = self.settings.project_root
        path = volume_path(req.path, "path", group, root, jobs_folder=False)
        snapshot = (
            volume_path(req.snapshot, "snapshot", group, root, jobs_folder=True)
            if req.snapshot
            else None
        )
        job_id = req.id or new_job_id()
        if req.id and await self._db(self.store.job, req.id) is not None:
            raise Conflict(
                f"A job with id {req.id!r} exists already; leave 'id' out or choose another."
            )
        created = self.clock()
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
            instance_type=choice.instance_type.name,
            image=choice.image.name,
            deadline=req.deadline or self.settings.default_deadline,
            parameters=req.parameters,
            kernel=req.kernel,
            cell_timeout=req.timeout,
            schedule_id=schedule_id,
            created_at=created,
            hub_groups=list(caller.hub_groups),
        )
        await self._db(self.store.save_job, job)
        self.log.info(
            "Job %s submitted by %s in %s: %s (%s, %s)",
            job.id,
            job.user,
            job.group,
            job.path,
            job.instance_type,
            job.image,
        )
        self._wakeup.set()
        return job

    # -- actions ----------------------------------------------------------------------------------
    async def cancel(self, caller: Caller, job_id: str) -> HubJob:
        """Cancel a job: a queued one is dropped, a started one's Job and pod are deleted (the
        executor saves the partial output notebook on SIGTERM)."""
        async with self._lock:
            job = await self.get(caller, job_id)
            if job.state.is_final:
                raise Conflict(f"Job {job.id} has already {job.state.value}; nothing to cancel.")
            if job.state != State.PENDING:
                await self._save_log(job)
                try:
                    await self._delete_k8s(job)
                except KubeError as e:
                    raise Unavailable(f"Could not cancel job {job.id}: {e}") from None
            self._finish(job, State.CANCELLED, f"Cancelled by {caller.name}")
            job.cancel_requested = True
            await self._db(self.store.save_job, job)
            return job

    async def delete(self, caller: Caller, job_id: str) -> None:
        """Forget a finished job and its saved log (outputs in the group volume stay)."""
        job = await self.get(caller, job_id)
        if not job.state.is_final:
            raise Conflict(f"Job {job.id} is {job.state.value}; cancel it before deleting it.")
        await self._delete_k8s(job)
        await self._db(self.store.delete_job, job.id)
        await asyncio.to_thread(self._log_path(job.id).unlink, missing_ok=True)

    async def read_log(self, caller: Caller, job_id: str, offset: int = 0) -> tuple[bytes, int]:
        """Log bytes from ``offset`` (at most 1 MiB) and the next offset: live from the pod,
        or the copy saved when the job ended."""
        job = await self.get(caller, job_id)
        if job.log_saved:
            data = await asyncio.to_thread(_read_chunk, self._log_path(job.id), offset)
        else:
            pods = self.kube.job_pods(job_object_name(job.id))
            text = ""
            if pods:
                try:
                    text = await self.kube.pod_log(pods[0]["metadata"]["name"])
                except KubeError as e:
                    raise Unavailable(str(e)) from None
            data = text.encode("utf-8", "replace")[offset : offset + MAX_LOG_CHUNK]
        return data, offset + len(data)

    def _log_path(self, job_id: str) -> Path:
        return self.logs_dir / f"{job_id}.log"

    async def _save_log(self, job: HubJob) -> None:
        """Keep the pod's log after the pod is gone (pod log API -> the service's logs dir)."""
        if job.log_saved:
            return
        pods = self.kube.job_pods(job_object_name(job.id))
        if not pods:
            return
        try:
            text = await self.kube.pod_log(
                pods[0]["metadata"]["name"], limit_bytes=MAX_ARCHIVED_LOG
            )
        except KubeError as e:
            self.log.warning("Job %s: could not save the log: %s", job.id, e)
            return
        await asyncio.to_thread(self._log_path(job.id).write_text, text)
        job.log_saved = True

    async def _delete_k8s(self, job: HubJob) -> None:
        name = job_object_name(job.id)
        await self.kube.delete_job(name)
        # Pods go with the Job (Background propagation); delete them now so the quota frees
        # and the executor gets SIGTERM without waiting for the garbage collector.
        for pod in self.kube.job_pods(name):
            await self.kube.delete_pod(pod["metadata"]["name"])

    def _finish(self, job: HubJob, state: State, reason: str | None) -> None:
        job.state = state
        job.reason = reason
        job.finished_at = self.clock()
        self.log.info("Job %s %s%s", job.id, state.value, f": {reason}" if reason else "")

    # -- scheduling round -------------------------------------------------------------------------
    async def tick(self) -> None:
        """Reconcile, admit, fire schedules, clean up."""
        async with self._lock:
            k8s_jobs = await self.kube.list_jobs()
            active, _ = await self._db(self.store.jobs, states=ACTIVE, oldest_first=True)
            for job in active:
                if job.state != State.PENDING:
                    await self._reconcile(job, k8s_jobs.get(job_object_name(job.id)))
            await self._fire_schedules()  # after reconciling: "previous run active" is current
            pending, _ = await self._db(self.store.jobs, states=(State.PENDING,), oldest_first=True)
            await self._admit(pending)
            await self._cleanup(k8s_jobs)

    async def _reconcile(self, job: HubJob, k8s_job: dict | None) -> None:
        before = (job.state, job.reason, job.started_at)
        pods = self.kube.job_pods(job_object_name(job.id))
        pod = pods[0] if pods else None
        if k8s_job is None:
            self._finish(
                job,
                State.FAILED,
                "The Kubernetes Job was deleted outside PrimeHub before it finished.",
            )
        else:
            outcome = job_outcome(k8s_job, pod, job.deadline)
            if outcome is not None:
                state, reason, code = outcome
                await self._save_log(job)
                job.exit_code = code
                job.ended_early = ended_early(pod) if state == State.SUCCEEDED else None
                self._finish(job, state, reason)
            elif pod is not None:
                phase = (pod.get("status") or {}).get("phase")
                if phase == "Running" and job.state != State.RUNNING:
                    job.state = State.RUNNING
                    job.reason = None
                    job.started_at = self.clock()
                    self.log.info("Job %s running in pod %s", job.id, pod["metadata"]["name"])
                elif phase == "Pending":
                    job.reason = pending_reason(pod)
        if (job.state, job.reason, job.started_at) != before or job.log_saved:
            await self._db(self.store.save_job, job)

    async def _admit(self, pending: list[HubJob]) -> None:
        if not pending:
            return
        catalog = await self._catalog()
        in_flight, queued, choices = [], [], {}
        preparing, _ = await self._db(self.store.jobs, states=(State.PREPARING,))
        for job in preparing:
            if not self.kube.job_pods(job_object_name(job.id)):
                it = catalog.instance_types.get(job.instance_type)
                if it is not None:
                    in_flight.append(
                        InFlight(
                            job.id,
                            label_value(job.user),
                            label_value(job.group),
                            Resources(it.cpu, it.memory, it.gpu),
                        )
                    )
        for job in pending:
            view = catalog.for_user(job.user, job.hub_groups)
            try:
                choice = self._choice(
                    view,
                    SubmitRequest(
                        path=job.path,
                        group=job.group,
                        instance_type=job.instance_type,
                        image=job.image,
                    ),
                )
            except JobsError as e:
                self._finish(job, State.FAILED, f"Cannot start any more: {e.message}")
                await self._db(self.store.save_job, job)
                continue
            choices[job.id] = (choice, view)
            group = choice.group.group
            queued.append(
                QueuedJob(
                    id=job.id,
                    user=job.user,
                    group=job.group,
                    user_label=label_value(job.user),
                    group_label=label_value(job.group),
                    request=Resources(
                        choice.instance_type.cpu,
                        choice.instance_type.memory,
                        choice.instance_type.gpu,
                    ),
                    quota=group.quota,
                    project_quota=group.project_quota,
                )
            )
        decision = admit(queued, self.kube.pods, in_flight)
        by_id = {j.id: j for j in pending}
        for job_id, reason in decision.waiting.items():
            job = by_id[job_id]
            if job.reason != reason:
                job.reason = reason
                await self._db(self.store.save_job, job)
        for job_id in decision.start:
            job = by_id[job_id]
            choice, view = choices[job_id]
            await self._launch(job, choice, view)

    def plan(self, job: HubJob, choice: Choice, view: UserView) -> PodPlan:
        """The job's pod plan: what a notebook of the same choice gets, without home volume."""
        return plan_launch(
            LaunchRequest(
                user=job.user,
                name=job_object_name(job.id),
                group=choice.group,
                instance_type=choice.instance_type,
                image=choice.image,
                other_groups=tuple(g for g in view.groups if g.name != choice.group.name),
            ),
            LaunchSettings(
                home_pvc_name="",
                project_root=self.settings.project_root,
                component=JOB_COMPONENT,
                usage_component="job",
            ),
        )

    def manifest(self, job: HubJob, choice: Choice, view: UserView) -> tuple[PodPlan, dict]:
        """The plan and the Kubernetes Job manifest of ``job``."""
        plan = self.plan(job, choice, view)
        paths = JobPaths(
            volume=f"{self.settings.project_root.rstrip('/')}/{job.group}",
            notebook=job.path,
            output=job.output,
            job_id=job.id,
            snapshot=job.snapshot,
        )
        spec = executor_spec(
            paths,
            parameters=job.parameters,
            kernel=job.kernel,
            cell_timeout=job.cell_timeout,
        )
        manifest = job_manifest(
            plan,
            job_id=job.id,
            spec=spec,
            deadline_seconds=job.deadline,
            executor=self.settings.executor,
            namespace=self.settings.namespace,
            extra_env=dict(self.settings.extra_env),
            settings=self.settings.pod,
        )
        return plan, manifest

    async def _launch(self, job: HubJob, choice: Choice, view: UserView) -> None:
        plan, manifest = self.manifest(job, choice, view)
        job.state = State.PREPARING
        job.reason = "Creating the Kubernetes Job"
        await self._db(self.store.save_job, job)
        try:
            await self.kube.ensure_pvcs(plan.pvcs)
            await self.kube.create_job(manifest)
        except KubeError as e:
            self._finish(job, State.FAILED, str(e))
        await self._db(self.store.save_job, job)
        self.log.info("Job %s: Kubernetes Job %s created", job.id, manifest["metadata"]["name"])

    async def _cleanup(self, k8s_jobs: dict[str, dict]) -> None:
        """Delete finished Jobs after the TTL (ttlSecondsAfterFinished is alpha in 1.20) and
        saved logs after the retention period."""
        now = self.clock()
        ttl = timedelta(seconds=self.settings.finished_ttl)
        for name in k8s_jobs:
            job_id = name.removeprefix(job_object_name(""))
            job = await self._db(self.store.job, job_id)
            expired = job is not None and job.state.is_final and job.finished_at is not None
            # A Job we have no record of (e.g. a lost database) is only removed once it ended.
            orphan_done = job is None and job_outcome(k8s_jobs[name], None, 0) is not None
            if orphan_done or (expired and now - job.finished_at > ttl):
                if job is not None:
                    await self._save_log(job)
                    await self._db(self.store.save_job, job)
                try:
                    await self.kube.delete_job(name)
                except KubeError as e:
                    self.log.warning("Could not delete finished Job %s: %s", name, e)
        cutoff = iso(now - self.settings.log_retention) or ""
        for job in await self._db(self.store.finished_before, cutoff):
            path = self._log_path(job.id)
            if job.log_saved:
                await asyncio.to_thread(path.unlink, missing_ok=True)
                job.log_saved = False
                job.reason = (job.reason or "") + " (log expired)"
                await self._db(self.store.save_job, job)

    # -- schedules --------------------------------------------------------------------------------
    async def create_schedule(self, caller: Caller, body: Any) -> Schedule:
        """Validate and store a schedule (same rules as a submit, plus the recurrence)."""
        req = parse_submit(body, max_deadline=self.settings.max_deadline, schedule=True)
        schedule = await self._schedule_from(caller, req, new_job_id())
        await self._db(self.store.save_schedule, schedule)
        return schedule

    async def _schedule_from(
        self, caller: Caller, req: SubmitRequest, schedule_id: str
    ) -> Schedule:
        view = await self.view(caller)
        choice = self._choice(view, req)
        group = choice.group.name
        path = volume_path(req.path, "path", group, self.settings.project_root, jobs_folder=False)
        recurrence = req.recurrence or "inactive"
        tz_name = req.timezone or "UTC"
        try:
            tz = cron.zone(tz_name)
            expression = cron.expression_for(recurrence, req.cron)
            next_run = (
                cron.next_run(cron.parse_cron(expression), self.clock(), tz) if expression else None
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
            deadline=req.deadline or self.settings.default_deadline,
            recurrence=recurrence,
            cron=expression if recurrence == "custom" else None,
            timezone=tz_name,
            parameters=req.parameters,
            kernel=req.kernel,
            cell_timeout=req.timeout,
            next_run=next_run,
            hub_groups=list(caller.hub_groups),
        )

    async def get_schedule(self, caller: Caller, schedule_id: str) -> Schedule:
        """The schedule if the caller may see it."""
        found = await self._db(self.store.schedule, schedule_id) if schedule_id else None
        if found is None or not (caller.admin or found.user == caller.name):
            raise NotFound(f"No schedule with id {schedule_id!r}.")
        return found

    async def list_schedules(self, caller: Caller) -> list[Schedule]:
        """The caller's schedules (admins: all)."""
        return await self._db(self.store.schedules, None if caller.admin else caller.name)

    async def update_schedule(self, caller: Caller, schedule_id: str, body: Any) -> Schedule:
        """Replace a schedule's fields (unset ones keep their value)."""
        old = await self.get_schedule(caller, schedule_id)
        if not isinstance(body, dict):
            raise JobsError("The request body must be a JSON object.")
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
        req = parse_submit(merged, max_deadline=self.settings.max_deadline, schedule=True)
        owner = Caller(old.user, tuple(old.hub_groups)) if caller.name != old.user else caller
        new = await self._schedule_from(owner, req, old.id)
        for key in ("last_job_id", "last_run_at", "last_message", "runs", "skipped", "created_at"):
            setattr(new, key, getattr(old, key))
        await self._db(self.store.save_schedule, new)
        return new

    async def delete_schedule(self, caller: Caller, schedule_id: str) -> None:
        """Forget a schedule (its jobs stay)."""
        await self.get_schedule(caller, schedule_id)
        await self._db(self.store.delete_schedule, schedule_id)

    async def run_schedule(self, caller: Caller, schedule_id: str) -> HubJob:
        """Run a schedule now, unless its previous run is still pending or running."""
        async with self._lock:
            schedule = await self.get_schedule(caller, schedule_id)
            job = await self._run(schedule, manual=True)
        if job is None:
            raise Conflict(schedule.last_message or "Skipped")
        return job

    async def _run(self, schedule: Schedule, manual: bool = False) -> HubJob | None:
        now = self.clock()
        previous = (
            await self._db(self.store.job, schedule.last_job_id) if schedule.last_job_id else None
        )
        job = None
        if previous is not None and previous.state.is_active:
            schedule.skipped += 1
            schedule.last_message = (
                f"Skipped the run at {iso(now)}: the previous run (job {previous.id}) "
                f"is still {previous.state.value}."
            )
        else:
            owner = Caller(schedule.user, tuple(schedule.hub_groups))
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
                job = await self._submit(owner, body, schedule.id)
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
        await self._db(self.store.save_schedule, schedule)
        return job

    async def _fire_schedules(self) -> None:
        now = self.clock()
        for schedule in await self._db(self.store.schedules):
            if schedule.next_run is not None and schedule.next_run <= now:
                try:
                    await self._run(schedule)
                except cron.CronError as e:  # a stored expression that no longer parses
                    schedule.next_run = None
                    schedule.last_message = str(e)
                    await self._db(self.store.save_schedule, schedule)


def job_outcome(
    k8s_job: dict, pod: dict | None, deadline: int
) -> tuple[State, str | None, int | None] | None:
    """PURE: the final state of a Kubernetes Job (None while it has not ended)."""
    status = k8s_job.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    code, term_reason = _exit(pod)
    if "Complete" in conditions or (status.get("succeeded") or 0) > 0:
        return State.SUCCEEDED, None, code
    failed = conditions.get("Failed")
    if failed is None:
        # A failed pod alone is not the end yet: the controller's condition says why (a pod
        # killed for the deadline must not read as a cancel).
        return None
    if failed.get("reason") == "DeadlineExceeded":
        return (
            State.FAILED,
            f"Deadline exceeded: the job ran longer than {deadline} seconds "
            "(activeDeadlineSeconds); the partial output notebook was saved.",
            code,
        )
    if code == 1:
        why = "The notebook raised an error; see the log and the output notebook."
        return State.FAILED, why, code
    if code == 143:
        return State.CANCELLED, "The job's pod was stopped (SIGTERM).", code
    if term_reason == "OOMKilled" or code == 137:
        return State.FAILED, f"The job's pod was killed ({term_reason or 'exit code 137'}).", code
    detail = f"exit code {code}" if code is not None else failed.get("message") or "no pod"
    return State.FAILED, f"The job's pod failed ({detail}).", code


def ended_early(pod: dict | None) -> dict[str, Any] | None:
    """PURE: where a succeeded job's notebook ended early (``sys.exit(0)``, papermill's rule),
    from the executor's termination message (``{"state", "endedEarly"}``): ``{"cellIndex",
    "ename", "evalue"}``, or None (ran to the end, or no message: an older executor or a runtime
    without termination messages)."""
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        message = ((cs.get("state") or {}).get("terminated") or {}).get("message")
        if not message:
            continue
        try:
            data = json.loads(message)
        except ValueError:
            return None
        ended = data.get("endedEarly") if isinstance(data, dict) else None
        if not isinstance(ended, dict) or data.get("state") != "succeeded":
            return None
        index = ended.get("cellIndex")
        return {
            "cellIndex": index if isinstance(index, int) and not isinstance(index, bool) else None,
            "ename": str(ended.get("ename") or "SystemExit")[:100],
            "evalue": str(ended.get("evalue") or "")[:200],
        }
    return None


def _exit(pod: dict | None) -> tuple[int | None, str | None]:
    if pod is None:
        return None, None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term:
            return term.get("exitCode"), term.get("reason")
    return None, None


def pending_reason(pod: dict) -> str:
    """PURE: why a job's pod is not running yet, in the scheduler's or node's words."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"Waiting for a node: {cond.get('message') or cond.get('reason')}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return f"Starting: {waiting.get('reason')}" + (
                f" ({waiting['message']})" if waiting.get("message") else ""
            )
    return "Starting the job's pod"


def _read_chunk(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(MAX_LOG_CHUNK)
    except FileNotFoundError:
        return b""
