"""The scheduling round: reconcile started jobs, fire due schedules, admit and launch queued
jobs within the quotas, remove finished Jobs after their TTL.

``AdmissionRound.tick`` runs every few seconds (and right after a submit). The Kubernetes Jobs
are the truth for anything started (:mod:`.outcome` reads them); the pure queue
(:mod:`.queue`) decides which pending jobs start, over the group pods of the watch cache; a job
starts as a Kubernetes Job whose pod is the notebook pod of the same choice
(:mod:`..launch`, :mod:`.manifest`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import NamedTuple

from primehub_jobs_contract.errors import JobsError, Unavailable
from primehub_jobs_contract.hub_admission import GROUP, MEMBERSHIP, USER_GONE
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import iso

from ..catalog import Catalog, UserView
from ..launch import LaunchRequest, LaunchSettings, PodPlan, label_value, plan_launch
from ..podcache import StaleCache
from ..quantities import Resources
from ..user_options import Choice
from .hub_ledger import Refusal
from .kube import KubeError
from .manifest import JOB_COMPONENT, JobPaths, executor_spec, job_manifest, job_object_name
from .model import HubJob
from .outcome import (
    final_outcome,
    job_outcome,
    pending_reason,
    preparing_expired,
    timed_out_reason,
)
from .queue import Ask, InFlight, QueuedJob, admit
from .requests import SubmitRequest
from .shared import Caller, NotMember, Shared
from .store import QueueEntry
from .submit import choose

# A preparing job's reason before its Kubernetes Job is confirmed created, and after: a job
# still "creating" with no Job was cut off by a stop of the service (queued again), one
# "created" with no Job was deleted outside PrimeHub (failed).
CREATING = "Creating the Kubernetes Job"
CREATED = "Kubernetes Job created; waiting for its pod"
REQUEUED = "Queued again: the service stopped before it created the Kubernetes Job"
# the jobs a round reconciles with their Kubernetes Jobs
STARTED = (State.PREPARING, State.RUNNING)


class Resolved(NamedTuple):
    """A queued choice as the round resolved it: what it asks of the quotas, and what its
    launch needs."""

    ask: Ask
    choice: Choice
    view: UserView


class AdmissionRound:
    """One service's scheduling round; ``fire_schedules`` runs between reconciling and admitting
    (so "the previous run is still active" is current)."""

    def __init__(self, shared: Shared, fire_schedules: Callable[[], Awaitable[None]]) -> None:
        self.shared = shared
        self.fire_schedules = fire_schedules

    async def tick(self) -> None:
        """Reconcile, admit, fire schedules, clean up."""
        s = self.shared
        async with s.lock:
            k8s_jobs = await s.kube.list_jobs()
            # every started job (no window: one user's queue must not hide the others'); the
            # per-user limit keeps this O(users x limit), finished history is never read here;
            # pending jobs are read once, after the schedules fired
            started, _ = await s.db(s.store.jobs, states=STARTED, oldest_first=True, limit=-1)
            catalog = await self.catalog_if_valid() if started else None
            with s.kube.one_view():  # one pass over the pod cache for every job's pods
                for job in started:
                    await self.reconcile(job, k8s_jobs.get(job_object_name(job.id)), catalog)
            await self.fire_schedules()  # after reconciling: "previous run active" is current
            # the queue as the decision needs it (a few columns, not each job's whole record)
            with s.kube.one_view():
                await self.admit(await s.db(s.store.queue))
            await self.cleanup(k8s_jobs)

    async def catalog_if_valid(self) -> Catalog | None:
        """The catalog, or None while it is invalid (started jobs are reconciled anyway, with
        the service's default preparing timeout)."""
        try:
            return await self.shared.load_catalog()
        except Unavailable:
            return None

    async def reconcile(
        self, job: HubJob, k8s_job: dict | None, catalog: Catalog | None = None
    ) -> None:
        """Bring a started job up to date with its Kubernetes Job (None: gone) and pod; a job
        whose pod has not started within its preparing timeout is failed with the reason it
        was waiting for, its pod deleted and its quota given back."""
        s = self.shared
        if k8s_job is None and job.state == State.PREPARING and job.reason == CREATING:
            # the service stopped between saving "preparing" and creating the Job: it was never
            # created (not deleted outside), so it is queued again; the next launch creates it
            # (or adopts it, if the create did reach the API server: same job's labels only)
            job.state = State.PENDING
            job.reason = REQUEUED
            s.log.info("Job %s: its Kubernetes Job was never created; queued again", job.id)
            await s.db(s.store.save_job, job)
            return
        before = (job.state, job.reason, job.started_at, job.preparing_since)
        if k8s_job is not None and job.reason == CREATING:
            job.reason = CREATED  # created, though the service stopped before it said so
        if k8s_job is not None and job.preparing_since is None:
            job.preparing_since = s.clock()  # (a job launched by an older version)
        it = catalog.instance_types.get(job.instance_type) if catalog is not None else None
        request = Resources(it.cpu, it.memory, it.gpu) if it is not None else None
        pods = s.kube.job_pods(job_object_name(job.id))
        pod = pods[0] if pods else None
        outcome = final_outcome(k8s_job, pod, job.deadline)
        if outcome is not None:
            if k8s_job is not None:  # (a Job deleted outside leaves no exit code to keep)
                await s.save_log(job)
                job.exit_code = outcome.exit_code
                job.ended_early = outcome.ended_early
            s.finish(job, outcome.state, outcome.reason)
        elif pod is not None:
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Running" and job.state != State.RUNNING:
                job.state = State.RUNNING
                job.reason = None
                job.started_at = s.clock()
                s.log.info("Job %s running in pod %s", job.id, pod["metadata"]["name"])
            elif phase == "Pending":
                job.reason = pending_reason(pod, request)
        if outcome is None and job.state == State.PREPARING:
            timeout = s.settings.preparing_timeout
            if it is not None and it.preparing_timeout is not None:
                timeout = it.preparing_timeout
            if preparing_expired(job.preparing_since, s.clock(), timeout):
                await self.time_out(job, timeout)
                return
        if (job.state, job.reason, job.started_at, job.preparing_since) != before or (
            job.log_saved
        ):
            await s.db(s.store.save_job, job)

    async def time_out(self, job: HubJob, timeout: float) -> None:
        """Fail a job whose pod did not start within ``timeout`` seconds: delete its Job and
        pod (so they hold no quota and never start later), then record why it was waiting
        (``finish`` gives its reservation in the hub's ledger back). While Kubernetes does
        not answer, the job stays as it is and the next round tries again."""
        s = self.shared
        try:
            await s.delete_k8s(job)
        except KubeError as e:
            s.log.warning("Job %s: preparing timeout, could not delete its Job: %s", job.id, e)
            await s.db(s.store.save_job, job)
            return
        s.finish(job, State.FAILED, timed_out_reason(timeout, job.reason))
        await s.db(s.store.save_job, job)

    async def admit(self, pending: list[QueueEntry]) -> None:
        """Start the pending jobs the quotas allow (oldest first); the others say why they
        wait. A job's whole record is read only to change its state or launch it."""
        if not pending:
            return
        s = self.shared
        catalog = await s.load_catalog()
        in_flight, queued, choices = [], [], {}
        preparing, _ = await s.db(s.store.jobs, states=(State.PREPARING,))
        for job in preparing:
            if not s.kube.job_pods(job_object_name(job.id)):
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
        hub_down: Unavailable | None = None  # once the hub does not answer, the rest wait too
        # a queue of 1,000 jobs has far fewer distinct users and choices: each user's view
        # (and hub groups), each membership and each choice is resolved once in a round
        views: dict[tuple[str, tuple[str, ...]], UserView] = {}
        owners: dict[tuple[str, str], Caller] = {}  # (user, group) -> owner, checked once
        resolved: dict[tuple[str, str, str, str], Resolved | str] = {}
        reasons: dict[str, str] = {}  # new reasons of waiting jobs, saved together
        ended: set[str] = set()
        for job in pending:
            key = (job.user, job.group, job.instance_type, job.image)
            found = resolved.get(key) if hub_down is None else None
            if found is None:
                try:
                    if hub_down is not None:
                        raise hub_down
                    found = resolved[key] = await self.resolve(job, catalog, owners, views)
                except Unavailable as e:
                    hub_down = e
                    if job.reason != (reason := f"Waiting for the hub: {e.message}"):
                        reasons[job.id] = reason
                    continue
            if isinstance(found, str):
                await self.fail(job.id, found)
                ended.add(job.id)
                continue
            choices[job.id] = found
            queued.append(QueuedJob(job.id, found.ask))
        try:
            pods = await s.kube.fresh_pods()  # never admit on a cache that may be stale
        except StaleCache as e:
            for job in pending:
                if job.id not in ended and job.reason != str(e):
                    reasons[job.id] = str(e)
            await s.db(s.store.set_reasons, reasons)
            return
        decision = admit(queued, pods, in_flight)
        by_id = {j.id: j for j in pending}
        for job_id, reason in decision.waiting.items():
            if by_id[job_id].reason != reason:
                reasons[job_id] = reason
        if reasons:  # one transaction: a new queue head changes many reasons at once
            await s.db(s.store.set_reasons, reasons)
        held: set[str] = set()  # groups whose quota the hub's ledger found full
        for job_id in decision.start:
            if by_id[job_id].group in held:
                continue  # it keeps its place (and its reason) for the next round
            job = await s.db(s.store.job, job_id)
            if job is None or job.state != State.PENDING:
                continue
            if s.ledger is not None:  # the hub's ledger decides: spawns in flight count too
                refusal = await s.ledger.admit(job)
                if refusal is not None:
                    if await self.refused(job, refusal):
                        break  # the hub cannot decide now: nothing starts this round
                    if refusal.scope == GROUP:
                        held.add(job.group)
                    continue
            chosen = choices[job_id]
            await self.launch(job, chosen.choice, chosen.view)

    async def resolve(
        self,
        job: QueueEntry,
        catalog: Catalog,
        owners: dict[tuple[str, str], Caller],
        views: dict[tuple[str, tuple[str, ...]], UserView],
    ) -> Resolved | str:
        """What the queued jobs of ``job``'s user, group and choice ask for now, or why they
        cannot start any more. Membership is checked now, not at submit: a user who left the
        group (or was deleted) has their queued jobs failed; while the hub cannot tell,
        ``Unavailable`` (the jobs wait)."""
        owner = owners.get((job.user, job.group))
        if owner is None:
            try:
                owner = await self.shared.owner(catalog, job.user, job.group)
            except NotMember as e:
                return e.message
            owners[job.user, job.group] = owner
        view_key = (job.user, tuple(owner.hub_groups))
        view = views.get(view_key)
        if view is None:
            view = views[view_key] = catalog.for_user(job.user, owner.hub_groups)
        request = SubmitRequest(
            path=job.path, group=job.group, instance_type=job.instance_type, image=job.image
        )
        try:
            choice = choose(view, request)
        except JobsError as e:
            return f"Cannot start any more: {e.message}"
        it, group = choice.instance_type, choice.group.group
        ask = Ask(
            user=job.user,
            group=job.group,
            user_label=label_value(job.user),
            group_label=label_value(job.group),
            request=Resources(it.cpu, it.memory, it.gpu),
            quota=group.quota,
            project_quota=group.project_quota,
        )
        return Resolved(ask, choice, view)

    async def fail(self, job_id: str, reason: str) -> None:
        """End the queued job ``job_id`` as failed with ``reason``."""
        s = self.shared
        job = await s.db(s.store.job, job_id)
        if job is not None and job.state == State.PENDING:
            s.finish(job, State.FAILED, reason)
            await s.db(s.store.save_job, job)

    async def refused(self, job: HubJob, refusal: Refusal) -> bool:
        """Apply the hub ledger's refusal to ``job``; True when no job can start now."""
        s = self.shared
        if refusal.scope in (MEMBERSHIP, USER_GONE):
            s.finish(job, State.FAILED, f"Cannot start any more: {refusal.message}")
        elif job.reason != refusal.message:
            job.reason = refusal.message
        else:
            return refusal.status >= 500
        await s.db(s.store.save_job, job)
        return refusal.status >= 500

    def plan(self, job: HubJob, choice: Choice, view: UserView) -> PodPlan:
        """The job's pod plan: what a notebook of the same choice gets, without home volume
        and with only the job's own group: its volume and its datasets, never the user's other
        groups' (a job of group T must not write into group U's volume or datasets, where a
        member of T could have planted links)."""
        return plan_launch(
            LaunchRequest(
                user=job.user,
                name=job_object_name(job.id),
                group=choice.group,
                instance_type=choice.instance_type,
                image=choice.image,
                other_groups=(),
            ),
            LaunchSettings(
                home_pvc_name="",
                project_root=self.shared.settings.project_root,
                component=JOB_COMPONENT,
                usage_component="job",
            ),
        )

    def manifest(self, job: HubJob, choice: Choice, view: UserView) -> tuple[PodPlan, dict]:
        """The plan and the Kubernetes Job manifest of ``job``."""
        settings = self.shared.settings
        plan = self.plan(job, choice, view)
        paths = JobPaths(
            volume=f"{settings.project_root.rstrip('/')}/{job.group}",
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
            snapshot_sha256=job.snapshot_sha256,
        )
        manifest = job_manifest(
            plan,
            job_id=job.id,
            spec=spec,
            deadline_seconds=job.deadline,
            executor=settings.executor,
            namespace=settings.namespace,
            extra_env=dict(settings.extra_env),
            settings=settings.pod,
        )
        return plan, manifest

    async def launch(self, job: HubJob, choice: Choice, view: UserView) -> None:
        """Create the job's volumes and Kubernetes Job (it is then ``preparing``)."""
        s = self.shared
        plan, manifest = self.manifest(job, choice, view)
        job.state = State.PREPARING
        job.reason = CREATING  # until the create is confirmed (see reconcile)
        await s.db(s.store.save_job, job)
        try:
            await s.kube.ensure_pvcs(plan.pvcs)
            await s.kube.create_job(manifest)
        except KubeError as e:
            s.finish(job, State.FAILED, str(e))  # (gives the hub's reservation back)
        else:
            job.reason = CREATED  # from now on, a missing Job was deleted outside PrimeHub
            job.preparing_since = s.clock()  # the preparing timeout counts from here
            s.log.info("Job %s: Kubernetes Job %s created", job.id, manifest["metadata"]["name"])
        await s.db(s.store.save_job, job)

    async def cleanup(self, k8s_jobs: dict[str, dict]) -> None:
        """Delete finished Jobs after the TTL (ttlSecondsAfterFinished is alpha in 1.20) and
        saved logs after the retention period."""
        s = self.shared
        now = s.clock()
        ttl = timedelta(seconds=s.settings.finished_ttl)
        prefix = job_object_name("")
        # one query for when every Job's job ended, not one per Job; a record is read only
        # for a Job to delete
        ended = await s.db(s.store.finish_times, [n.removeprefix(prefix) for n in k8s_jobs])
        for name in k8s_jobs:
            job_id = name.removeprefix(prefix)
            finished_at = ended.get(job_id)
            # A Job we have no record of (e.g. a lost database) is only removed once it ended.
            orphan_done = job_id not in ended and job_outcome(k8s_jobs[name], None, 0) is not None
            if orphan_done or (finished_at is not None and now - finished_at > ttl):
                job = None if orphan_done else await s.db(s.store.job, job_id)
                if job is not None:
                    await s.save_log(job)
                    await s.db(s.store.save_job, job)
                try:
                    await s.kube.delete_job(name)
                except KubeError as e:
                    s.log.warning("Could not delete finished Job %s: %s", name, e)
        for job in await s.db(s.store.finished_before, iso(now - s.settings.history_retention)):
            await asyncio.to_thread(s.log_path(job.id).unlink, missing_ok=True)
            await s.db(s.store.delete_job, job.id)
        cutoff = iso(now - s.settings.log_retention) or ""
        # only the records whose log is still kept (an index): the cost is the saved logs,
        # not the history
        for job in await s.db(s.store.saved_logs_before, cutoff):
            await asyncio.to_thread(s.log_path(job.id).unlink, missing_ok=True)
            job.log_saved = False
            job.reason = (job.reason or "") + " (log expired)"
            await s.db(s.store.save_job, job)
