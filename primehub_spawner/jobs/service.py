"""JobsService: the one entry point of the REST handlers and ``JobsApp`` (a thin facade).

It wires the focused parts over one :class:`.shared.Shared` (store, Kubernetes, catalog, clock,
lock) and runs the scheduling loop:

- :mod:`.queries`: context, list, get, log, cancel, delete;
- :mod:`.outputs`: a job's output notebook and artifacts, read from its group volume;
- :mod:`.submit`: check a request against the catalog and quotas, queue the job;
- :mod:`.admission`: the scheduling round (reconcile with the Kubernetes Jobs, admit within the
  quotas, launch, clean up), using the pure :mod:`.outcome` and :mod:`.queue`;
- :mod:`.schedules`: recurring runs, submitted through the same public submit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from primehub_jobs_contract.errors import Unavailable
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import utcnow

from ..catalog import CatalogSource, UserView
from ..launch import PodPlan
from ..user_options import Choice
from .admission import AdmissionRound
from .hub_users import UserDirectory
from .kube import Kube, KubeError
from .logtail import Cursor
from .model import HubJob, Schedule
from .outputs import JobOutputs
from .queries import JobQueries
from .schedules import Schedules
from .shared import Caller, Settings, Shared
from .store import JobStore
from .submit import Submissions

__all__ = ["Caller", "JobsService", "Settings"]


class JobsService:
    """Everything the REST handlers call, delegated to the part that does it."""

    def __init__(
        self,
        store: JobStore,
        kube: Kube,
        catalog: CatalogSource,
        logs_dir: Path,
        settings: Settings,
        log: logging.Logger | None = None,
        clock: Callable[[], datetime] = utcnow,
        users: UserDirectory | None = None,
    ) -> None:
        # users: the hub users' current groups (HubUsers), shared with the REST handlers;
        # None: no hub, only the catalog's members lists make members
        self.shared = Shared(store, kube, catalog, logs_dir, settings, log, clock, users)
        self.queries = JobQueries(self.shared)
        self.outputs = JobOutputs(self.shared, self.queries)
        self.submissions = Submissions(self.shared)
        self.schedules = Schedules(self.shared, self.submissions)
        self.round = AdmissionRound(self.shared, self.schedules.fire_due)
        self._task: asyncio.Task | None = None

    @property
    def store(self) -> JobStore:
        return self.shared.store

    @property
    def users(self) -> UserDirectory:
        """Who the hub's users are now (their groups, admin flag), cached a few seconds."""
        return self.shared.users

    @property
    def catalog(self) -> CatalogSource:
        return self.shared.catalog

    @property
    def logs_dir(self) -> Path:
        return self.shared.logs_dir

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect to Kubernetes, reconcile what ran while we were away, start scheduling."""
        await asyncio.to_thread(self.logs_dir.mkdir, parents=True, exist_ok=True)
        await self.shared.kube.start()
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
        await self.shared.kube.stop()

    async def _loop(self) -> None:
        s = self.shared
        while True:
            try:
                await asyncio.wait_for(s.wakeup.wait(), s.settings.tick_interval)
            except asyncio.TimeoutError:
                pass
            s.wakeup.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except (KubeError, Unavailable) as e:  # the API server or catalog is away: retry
                s.log.warning("primehub-jobs: scheduling round skipped: %s", e)
            except Exception:  # one bad round must not stop scheduling
                s.log.exception("primehub-jobs: scheduling round failed")

    async def tick(self) -> None:
        """One scheduling round (:class:`.admission.AdmissionRound`)."""
        await self.round.tick()

    # -- jobs -------------------------------------------------------------------------------------
    async def view(self, caller: Caller) -> UserView:
        """What the caller may launch."""
        return await self.shared.view(caller)

    async def context(self, caller: Caller) -> dict[str, Any]:
        return await self.queries.context(caller)

    async def get(self, caller: Caller, job_id: str) -> HubJob:
        return await self.queries.get(caller, job_id)

    async def list(
        self, caller: Caller, states: tuple[State, ...] = (), limit: int = 50, offset: int = 0
    ) -> tuple[list[HubJob], int]:
        return await self.queries.list(caller, states, limit, offset)

    async def read_log(self, caller: Caller, job_id: str, offset: int = 0) -> tuple[bytes, int]:
        return await self.queries.read_log(caller, job_id, offset)

    async def read_log_at(
        self, caller: Caller, job_id: str, offset: int = 0, cursor: Cursor | None = None
    ) -> tuple[bytes, int, Cursor | None]:
        return await self.queries.read_log_at(caller, job_id, offset, cursor)

    async def cancel(self, caller: Caller, job_id: str) -> HubJob:
        return await self.queries.cancel(caller, job_id)

    async def delete(self, caller: Caller, job_id: str) -> None:
        await self.queries.delete(caller, job_id)

    async def submit(self, caller: Caller, body: Any, schedule_id: str | None = None) -> HubJob:
        return await self.submissions.submit(caller, body, schedule_id)

    def plan(self, job: HubJob, choice: Choice, view: UserView) -> PodPlan:
        return self.round.plan(job, choice, view)

    def manifest(self, job: HubJob, choice: Choice, view: UserView) -> tuple[PodPlan, dict]:
        return self.round.manifest(job, choice, view)

    # -- schedules --------------------------------------------------------------------------------
    async def create_schedule(self, caller: Caller, body: Any) -> Schedule:
        return await self.schedules.create(caller, body)

    async def get_schedule(self, caller: Caller, schedule_id: str) -> Schedule:
        return await self.schedules.get(caller, schedule_id)

    async def list_schedules(self, caller: Caller) -> list[Schedule]:
        return await self.schedules.list(caller)

    async def update_schedule(self, caller: Caller, schedule_id: str, body: Any) -> Schedule:
        return await self.schedules.update(caller, schedule_id, body)

    async def delete_schedule(self, caller: Caller, schedule_id: str) -> None:
        await self.schedules.delete(caller, schedule_id)

    async def run_schedule(self, caller: Caller, schedule_id: str) -> HubJob:
        return await self.schedules.run_now(caller, schedule_id)
