"""What the parts of the jobs service share.

``Caller`` (who is asking, :mod:`.hub_users`), ``Settings`` (the admin's, from ``JobsApp``'s
traits) and ``Shared``: the store, Kubernetes, catalog, hub users, clock and lock of one
service, with the few steps on one job that more than one part takes (finish it, keep its log,
delete its Kubernetes objects, check its owner is still a member of its group).
The parts are :mod:`.queries`, :mod:`.submit`, :mod:`.admission` and :mod:`.schedules`;
:mod:`.service` wires them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from primehub_jobs_contract.errors import Forbidden, Unavailable
from primehub_jobs_contract.executor import EXECUTOR_COMMAND
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import utcnow

from ..catalog import Catalog, CatalogError, CatalogSource, UserView
from ..pods import PodSettings
from .hub_users import Caller, NoHub, UserDirectory
from .kube import Kube, KubeError
from .manifest import job_object_name
from .model import HubJob
from .store import JobStore

ACTIVE = (State.PENDING, State.PREPARING, State.RUNNING)
MAX_ARCHIVED_LOG = 20 * 1024 * 1024


__all__ = ["ACTIVE", "Caller", "NotMember", "Settings", "Shared", "no_longer_member"]


class NotMember(Forbidden):
    """The owner of a queued job or a schedule is no longer a member of its group (403)."""


def no_longer_member(user: str, group: str, deleted: bool = False) -> str:
    """PURE: the reason a job or schedule of ``user`` in ``group`` may not run any more."""
    why = " (the user was deleted from the hub)" if deleted else ""
    return f"{user} is no longer a member of group {group}{why}"


@dataclass(frozen=True)
class Settings:
    """Admin settings of the service (from its traits)."""

    namespace: str = "default"
    project_root: str = "/project"
    executor: tuple[str, ...] = EXECUTOR_COMMAND
    default_deadline: int = 86400
    max_deadline: int = 7 * 86400
    finished_ttl: float = 600
    # seconds a started job may wait for its pod to run before it fails (0: no limit); the
    # catalog's instance type may say otherwise (``preparingTimeout``)
    preparing_timeout: float = 600
    log_retention: timedelta = timedelta(days=7)
    # records of finished jobs older than this are deleted (the history stays bounded)
    history_retention: timedelta = timedelta(days=90)
    # one user cannot fill the queue for everyone: past these, submits and schedules get 429
    max_active_jobs_per_user: int = 100
    max_schedules_per_user: int = 50
    tick_interval: float = 2.0
    # where the service reads group volumes (outputs, artifacts): a folder with "{group}",
    # "hostPath" (the claims' hostPath/local volumes), or "" (not served)
    group_volumes: str = ""
    extra_env: tuple[tuple[str, str], ...] = ()
    # the admin's pod settings of notebook pods (JobsApp's KubeSpawner-named options)
    pod: PodSettings = field(default_factory=PodSettings)


class Shared:
    """One service's store, Kubernetes, catalog, settings, clock and the lock that keeps one
    scheduling round or action on a job's state at a time."""

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
        self.store = store
        # the users' current hub groups (None: no hub, only the catalog's members lists count)
        self.users: UserDirectory = users if users is not None else NoHub()
        self.kube = kube
        self.catalog = catalog
        self.logs_dir = Path(logs_dir)
        self.settings = settings
        self.log = log or logging.getLogger("primehub_spawner.jobs.service")
        self.clock = clock
        self.lock = asyncio.Lock()  # one round or action on a job's state at a time
        self.wakeup = asyncio.Event()  # set: run the next scheduling round now
        # the hub's quota ledger (``hub_ledger.HubLedger``); None: this service's view only
        self.ledger: Any = None
        self._releases: set[asyncio.Task] = set()  # reservations being given back

    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a store call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def load_catalog(self) -> Catalog:
        """The catalog; an invalid one makes the service unavailable (503), not broken."""
        try:
            return await asyncio.to_thread(self.catalog.get)
        except CatalogError as e:
            self.log.error("Catalog is invalid: %s", e)
            raise Unavailable(
                "Job options are unavailable: the catalog has an error. Please contact admin."
            ) from None

    async def view(self, caller: Caller) -> UserView:
        """What the caller may launch."""
        catalog = await self.load_catalog()
        return catalog.for_user(caller.name, caller.hub_groups)

    async def owner(self, catalog: Catalog, user: str, group: str) -> Caller:
        """``user`` as the hub knows them now (current groups), checked to still be a member
        of ``group``: ``NotMember`` with the reason when not (left the group, or deleted from
        the hub), ``Unavailable`` when the hub cannot tell right now. A group gone from the
        catalog is left to the catalog checks (``choose``)."""
        now = await self.users.caller(user)
        if now is None:
            raise NotMember(no_longer_member(user, group, deleted=True))
        found = catalog.groups.get(group)
        if found is not None and not catalog.is_member(found, user, now.hub_groups):
            raise NotMember(no_longer_member(user, group))
        return now

    def log_path(self, job_id: str) -> Path:
        """Where a job's log is kept after its pod is gone."""
        return self.logs_dir / f"{job_id}.log"

    def finish(self, job: HubJob, state: State, reason: str | None) -> None:
        """Mark ``job`` ended now (the caller saves it). A job that was admitted gives its
        reservation in the hub's ledger back: its pod may have come and gone between two of
        the hub's quota checks, so the hub may never have seen it to release it."""
        admitted = job.state in (State.PREPARING, State.RUNNING)
        job.state = state
        job.reason = reason
        job.finished_at = self.clock()
        self.log.info("Job %s %s%s", job.id, state.value, f": {reason}" if reason else "")
        if admitted and self.ledger is not None:
            task = asyncio.get_running_loop().create_task(self.ledger.release(job))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    async def save_log(self, job: HubJob) -> None:
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
        await asyncio.to_thread(self.log_path(job.id).write_text, text)
        job.log_saved = True

    async def delete_k8s(self, job: HubJob) -> None:
        """Delete the job's Kubernetes Job and its pods."""
        name = job_object_name(job.id)
        await self.kube.delete_job(name)
        # Pods go with the Job (Background propagation); delete them now so the quota frees
        # and the executor gets SIGTERM without waiting for the garbage collector.
        for pod in self.kube.job_pods(name):
            await self.kube.delete_pod(pod["metadata"]["name"])
