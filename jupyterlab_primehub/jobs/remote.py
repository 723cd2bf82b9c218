"""Kubernetes backend: hands jobs to the hub's ``primehub-jobs`` service, which runs them as
Kubernetes Jobs with their own instance type and image.

The record, snapshot, log and artifacts of a job stay in this server's jobs dir like a local job's
(so the REST API, CLI and panel work the same). Dispatching copies the snapshot into the group
volume (``<group volume>/.primehub-jobs/<id>/input.ipynb``), where the job pod reads it and writes
its status file and artifacts; the job keeps the same id on the hub. Each round then mirrors the
hub's state, the new log bytes and the executor's progress into the local record, and copies the
artifacts in when the job ends. The token is the one the "API Token" dialog governs.

The HTTP calls are ``hub_client.HubClient``'s; this backend's own state (which jobs were handed
to the hub, in which group volume, and which hub jobs were already imported) is in the JobStore.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from primehub_executor.artifacts import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, copy_limited
from primehub_jobs_contract import validation
from primehub_jobs_contract.errors import (
    Conflict,
    InvalidRequest,
    JobsError,
    NotFound,
    Unavailable,
)
from primehub_jobs_contract.executor import ExecutorSpec
from primehub_jobs_contract.layout import SNAPSHOT, JobFiles, volume_job_folder
from primehub_jobs_contract.safefiles import make_folders, replace_file
from primehub_jobs_contract.states import FINAL_STATES, State
from primehub_jobs_contract.status import read_status
from primehub_jobs_contract.times import from_iso, iso, utcnow
from primehub_jobs_contract.wire import HUB_SCHEDULE_FIELDS

from ..context import ServerContext
from .backend import JobBackend
from .hub_client import HubClient
from .model import EndedEarly, Job, JobError, JobRequest
from .paths import GROUP_VOLUME_MESSAGE, resolve_notebook
from .store import JobStore

_FINAL = {s.value for s in FINAL_STATES}
# Where older versions kept this backend's state (now in the store; imported once on start):
MARKER = "remote.json"  # <jobs dir>/<id>/remote.json: {"group", "hub"} of a job on the hub
SEEN = "kubernetes-jobs-seen.json"  # <jobs dir>/kubernetes-jobs-seen.json: hub job ids seen
# What the lab may send for a schedule (the service checks the values again); the group is
# where the notebook lies, never the lab's to say
SCHEDULE_FIELDS = HUB_SCHEDULE_FIELDS - {"group"}


def check_new_schedule(body: Any) -> dict[str, Any]:
    """The lab's body of a new schedule, or the 400 that says what to change.

    Checked before anything asks whether the hub's service is there, so bad input gets a 400
    on every server."""
    body = validation.require_object(body)
    validation.reject_unknown(body, SCHEDULE_FIELDS)
    if not validation.text(body, "path"):
        raise InvalidRequest("'path' is required: the notebook to run on the schedule.")
    return body


def check_schedule_change(body: Any) -> dict[str, Any]:
    """The lab's body of a schedule change (``paused``, the recurrence, the job fields; not
    its notebook), or the 400 that says what to change."""
    body = validation.require_object(body)
    validation.reject_unknown(body, SCHEDULE_FIELDS - {"path"} | {"paused"})
    return body


class KubernetesJobBackend(JobBackend):
    """Jobs run by the hub's primehub-jobs service; this server mirrors their state."""

    name = "kubernetes"
    description = "Run as a Kubernetes Job with its own instance type and image"

    def __init__(
        self,
        store: JobStore,
        jobs_dir: Path,
        *,
        service_url: str,
        token: Callable[[], str | None],
        root_dir: str,
        project_root: str = "/project",
        poll_interval: float = 2.0,
        retention: timedelta = timedelta(days=7),
        log: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self.store = store
        self.jobs_dir = Path(jobs_dir)
        self.hub = HubClient(service_url, token)
        self.root_dir = root_dir
        self.project_root = project_root.rstrip("/") or "/project"
        self.poll_interval = poll_interval
        self.retention = retention
        self._last_expiry = float("-inf")
        self.log = log or logging.getLogger(__name__)
        self.options: dict[str, Any] | None = None  # the hub's context: groups and choices
        self._task: asyncio.Task | None = None
        self._wakeup = asyncio.Event()
        self.tick_errors = 0  # unexpected round errors so far (logged; a health signal)

    # -- JobBackend -----------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def validate(self, request: JobRequest, context: ServerContext) -> None:
        group, _ = self.locate(request.path)
        if self.options is None:
            return  # the hub checks again when the job is dispatched
        groups = {g["name"]: g for g in self.options.get("groups", [])}
        if group not in groups:
            mine = ", ".join(repr(g) for g in groups) or "none"
            raise InvalidRequest(f"group: you are not a member of {group!r} (your groups: {mine})")
        for key, wanted, field in (
            ("instanceType", request.instance_type, "instanceTypes"),
            ("image", request.image, "images"),
        ):
            allowed = [c["name"] for c in groups[group].get(field, [])]
            if wanted and wanted not in allowed:
                raise InvalidRequest(
                    f"{key}: {wanted!r} is not available in group {group!r} "
                    f"(allowed: {', '.join(repr(a) for a in allowed) or 'none'})"
                )

    def locate(self, api_path: str) -> tuple[str, str]:
        """(group, path inside its volume) of a notebook, or InvalidRequest."""
        notebook = resolve_notebook(api_path, self.root_dir, self.project_root)
        rel = os.path.relpath(notebook.real_path, os.path.realpath(self.project_root))
        group, _, inside = rel.partition(os.sep)
        if rel.startswith("..") or not inside:
            raise InvalidRequest(GROUP_VOLUME_MESSAGE)
        return group, inside.replace(os.sep, "/")

    async def start(self) -> None:
        await self.import_marker_files()
        self._wakeup = asyncio.Event()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def wake(self) -> None:
        self._wakeup.set()

    def active_count(self) -> int:
        # Only jobs not handed to the hub yet need this server; dispatched ones run without it.
        pending = self.store.with_status(State.PENDING, backend=self.name)
        return sum(1 for job in pending if self.store.remote_group(job.id) is None)

    async def cancel(self, job: Job) -> Job:
        if job.status.is_final:
            raise Conflict(f"Job {job.id} has already {job.status.value}; nothing to cancel.")
        if self.store.remote_group(job.id) is None:
            self._finalize(job, State.CANCELLED, "Cancelled by user")
            return job
        hub_id = self.store.hub_id(job.id)
        try:
            remote = await self.hub.cancel(hub_id)
        except Unavailable as e:
            raise Conflict(f"Could not reach the hub jobs service to cancel: {e}") from None
        except Conflict:  # it has ended on the hub already: show how
            remote = await self.hub.job(hub_id)
        except JobsError as e:
            raise Conflict(f"The hub refused to cancel job {job.id}: {e.message}") from None
        await self._mirror(job, remote)
        return self.store.get(job.id) or job

    async def refresh_options(self) -> None:
        """The user's groups, instance types and images from the hub (for the submit dialog)."""
        try:
            self.options = await self.hub.context()
        except JobsError as e:
            self.log.warning("PrimeHub jobs: hub context unavailable: %s", e)

    def context_options(self, context: ServerContext) -> dict[str, Any]:
        """Instance types and images of this server's group for the submit dialog."""
        if not self.options:
            return {}
        for group in self.options.get("groups", []):
            if group["name"] == context.group_name:
                return {"instanceTypes": group["instanceTypes"], "images": group["images"]}
        return {}

    # -- schedules (kept by the hub service; this server forwards with the user's token) ------
    async def list_schedules(self) -> list[dict[str, Any]]:
        """The user's schedules, each with where its notebook is in this server."""
        return [self.schedule_view(s) for s in await self.hub.schedules()]

    async def create_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        """A schedule of a notebook of this server (``path`` as the lab names it), from a body
        :func:`check_new_schedule` accepted."""
        group, path = self.locate(body["path"])
        forward = {k: v for k, v in body.items() if v is not None and v != {}}
        forward.update(group=group, path=path)
        return self.schedule_view(await self.hub.create_schedule(forward))

    async def update_schedule(self, schedule_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change a schedule with a body :func:`check_schedule_change` accepted."""
        return self.schedule_view(await self.hub.update_schedule(schedule_id, body))

    async def delete_schedule(self, schedule_id: str) -> None:
        """Forget a schedule; the jobs it ran stay."""
        await self.hub.delete_schedule(schedule_id)

    async def run_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Run a schedule now; the run is listed as a job of this server at once."""
        remote = await self.hub.run_schedule(schedule_id)
        await self._import_new()
        return remote

    def schedule_view(self, schedule: dict[str, Any]) -> dict[str, Any]:
        """The service's schedule plus what the panel shows: the notebook's path in this server,
        whether it is paused and the state of its last run (from this server's copy)."""
        view = dict(schedule)
        group, path = schedule.get("group"), schedule.get("path")
        view["notebookPath"] = self.api_path(group, path) if group and path else None
        view["paused"] = schedule.get("recurrence") not in (None, "inactive") and not schedule.get(
            "nextRunAt"
        )
        last = self.store.get(schedule["lastJobId"]) if schedule.get("lastJobId") else None
        view["lastStatus"] = last.status.value if last is not None else None
        return view

    # -- scheduling -----------------------------------------------------------------------------
    async def _loop(self) -> None:
        rounds = 0
        while True:
            try:
                if rounds % 30 == 0:
                    await self.refresh_options()
                rounds += 1
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep mirroring whatever one job looks like
                self.tick_errors += 1
                self.log.exception("PrimeHub jobs: kubernetes backend round failed")
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._wakeup.clear()

    async def tick(self) -> None:
        """Dispatch new jobs, mirror the state of dispatched ones, expire old job folders."""
        await self._import_new()
        if time.monotonic() - self._last_expiry > 3600:
            self._last_expiry = time.monotonic()
            await self.expire_volume_folders()
        for job in self.store.with_status(State.PENDING, State.RUNNING, backend=self.name):
            fresh = self.store.get(job.id)
            if fresh is None or fresh.status.is_final:
                continue
            try:
                await self._sync(fresh)
            except Exception:  # one job's trouble must not stop the others
                self.log.exception("PrimeHub job %s: could not sync with the hub", job.id)

    async def _sync(self, job: Job) -> None:
        if self.store.remote_group(job.id) is None:
            await self._dispatch(job)
            return
        try:
            remote = await self.hub.job(self.store.hub_id(job.id))
        except Unavailable as e:
            self.log.warning("PrimeHub job %s: hub unavailable: %s", job.id, e)
            return
        except NotFound:
            self._finalize(job, State.FAILED, "The hub no longer knows this job.")
            return
        await self._mirror(job, remote)

    async def import_marker_files(self) -> None:
        """Once, after an upgrade: this backend's state from the files an older version kept in
        the jobs dir (``<id>/remote.json``, ``kubernetes-jobs-seen.json``) into the store; the
        files are removed once imported."""
        markers, seen = await asyncio.to_thread(_read_marker_files, self.jobs_dir)
        if not markers and seen is None:
            return
        # the store's connection belongs to the loop's thread; only the file work is offloaded
        for job_id, data in markers.items():
            group = data.get("group") if isinstance(data, dict) else None
            if group and self.store.remote_group(job_id) is None:
                self.store.set_remote(job_id, str(group), data.get("hub"))
        if seen:
            self.store.remember_hub_jobs(seen)
        await asyncio.to_thread(_remove_marker_files, self.jobs_dir, set(markers), seen is not None)
        self.log.info(
            "PrimeHub jobs: imported %d kubernetes job marker(s) and %d seen hub job id(s) into "
            "the job store",
            len(markers),
            len(seen or ()),
        )

    def api_path(self, group: str, path: str) -> str | None:
        """Where a file of a group volume appears in this server (via ``~/<group>``), if at all."""
        volume = os.path.realpath(os.path.join(self.project_root, group))
        root = os.path.realpath(self.root_dir)
        if os.path.realpath(os.path.join(self.root_dir, group)) == volume:
            return f"{group}/{path}"
        if volume == root or volume.startswith(root.rstrip(os.sep) + os.sep):
            return os.path.relpath(os.path.join(volume, path), root).replace(os.sep, "/")
        return None

    async def _import_new(self) -> None:
        """Jobs the hub ran for this user without this server (schedules, the REST API) appear
        here too, once each (a job the user deletes here does not come back)."""
        try:
            listing = await self.hub.jobs(limit=50)
        except JobsError as e:
            self.log.debug("PrimeHub jobs: cannot list hub jobs: %s", e)
            return
        seen = self.store.seen_hub_jobs()
        new = {j["id"]: j for j in listing if j["id"] not in seen}
        if not new:
            return
        for job_id, remote in new.items():
            if self.store.get(job_id) is not None:
                continue
            path = self.api_path(remote["group"], remote["path"])
            output = self.api_path(remote["group"], remote["outputPath"])
            if path is None or output is None:
                continue
            job = Job(
                id=job_id,
                name=remote["name"],
                path=path,
                output_path=output,
                backend=self.name,
                kernel=remote.get("kernel") or "python3",
                parameters=remote.get("parameters") or {},
                cell_timeout=remote.get("timeout"),
                deadline=remote.get("deadline"),
                instance_type=remote.get("instanceType"),
                image=remote.get("image"),
                created_at=from_iso(remote.get("createdAt")) or utcnow(),
            )
            # its private folder (log, artifacts copy), as a job submitted here has one
            await asyncio.to_thread(self.job_dir(job_id).mkdir, parents=True, exist_ok=True)
            self.store.add(job)
            self.store.set_remote(job_id, remote["group"])
            await self._mirror(job, remote)
        self.store.remember_hub_jobs(set(new))

    async def expire_volume_folders(self) -> None:
        """Remove the group-volume folders (status, artifacts, snapshot) of this user's jobs
        that finished longer ago than the retention period; the local copy of the artifacts
        follows the server's own artifact retention."""
        cutoff = iso(utcnow() - self.retention) or ""
        # the store's connection belongs to the loop's thread; only the file work is offloaded
        for job in self.store.finished_before(cutoff):
            group = self.store.remote_group(job.id)
            if job.backend != self.name or not group:
                continue
            # the snapshot's folder (this server's id) and the job's (the hub's id)
            volume = Path(self.project_root) / group
            for folder_id in {job.id, self.store.hub_id(job.id)}:
                folder = volume / volume_job_folder(folder_id)
                if await asyncio.to_thread(_remove_folder, folder):
                    self.log.info(
                        "PrimeHub job %s: group volume folder %s expired and removed",
                        job.id,
                        folder_id,
                    )

    async def _dispatch(self, job: Job) -> None:
        files = JobFiles(self.job_dir(job.id))
        try:
            group, path = self.locate(job.path)
            spec = ExecutorSpec.read(files.spec)
            _, output = self.locate_file(spec.output, group)
            snapshot = f"{volume_job_folder(job.id)}/{SNAPSHOT}"
            volume = Path(self.project_root) / group
            digest = await asyncio.to_thread(
                _copy_snapshot, files.snapshot, volume / snapshot, volume
            )
        except (InvalidRequest, OSError, ValueError) as e:  # SpecError is a ValueError
            message = getattr(e, "message", None) or str(e)
            self._finalize(job, State.FAILED, f"Could not hand the job to the hub: {message}")
            return
        body = {  # no id: the hub chooses it (this server keeps its own and the mapping)
            "group": group,
            "path": path,
            "output": output,
            "snapshot": snapshot,
            "snapshotSha256": digest,
            "name": job.name,
            "parameters": job.parameters,
            "kernel": job.kernel,
            "timeout": job.cell_timeout,
            "deadline": job.deadline,
            "instanceType": job.instance_type,
            "image": job.image,
        }
        try:
            remote = await self.hub.submit({k: v for k, v in body.items() if v})
        except Unavailable as e:
            job.reason = f"Waiting for the hub jobs service: {e}"
            self.store.save(job)
            return
        except JobsError as e:
            self._finalize(job, State.FAILED, e.message)
            return
        self.store.set_remote(job.id, group, remote["id"])
        self.store.remember_hub_jobs({remote["id"]})  # not imported again from the hub's list
        self.log.info(
            "PrimeHub job %s handed to the hub as job %s (group %s)", job.id, remote["id"], group
        )
        await self._mirror(job, remote)

    def locate_file(self, real: str, group: str) -> tuple[str, str]:
        """(group, path in the volume) of an output file next to the notebook."""
        volume = os.path.realpath(os.path.join(self.project_root, group))
        rel = os.path.relpath(os.path.realpath(real), volume)
        if rel.startswith(".."):
            raise InvalidRequest(GROUP_VOLUME_MESSAGE)
        return group, rel.replace(os.sep, "/")

    async def _mirror(self, job: Job, remote: dict[str, Any]) -> None:
        """Copy the hub's view (state, reason, times), the new log and the progress in."""
        files = JobFiles(self.job_dir(job.id))
        group = self.store.remote_group(job.id) or ""
        hub_id = self.store.hub_id(job.id)
        # the job pod writes its status and artifacts in the folder of the hub's id
        volume_files = Path(self.project_root) / group / volume_job_folder(hub_id)
        await self._pull_log(hub_id, files.log)
        status = await asyncio.to_thread(read_status, JobFiles(volume_files).status) or {}
        progress = status.get("progress") or {}
        job.progress_done = int(progress.get("done", job.progress_done))
        job.progress_total = int(progress.get("total", job.progress_total))
        job.started_at = from_iso(remote.get("startedAt")) or job.started_at
        job.reason = remote.get("reason")
        state = remote.get("status")
        if state in _FINAL:
            job.error = JobError.from_json(status.get("error")) if state == "failed" else None
            # Whether it ended early: the executor's status file, else the hub's record (from
            # the pod's termination message).
            ended = status.get("endedEarly") or remote.get("endedEarly")
            ok = state == "succeeded" and isinstance(ended, dict)
            job.ended_early = EndedEarly.from_json(ended) if ok else None
            await asyncio.to_thread(
                _copy_artifacts, JobFiles(volume_files).artifacts, files.artifacts
            )
            job.finished_at = from_iso(remote.get("finishedAt")) or utcnow()
            job.status = State(state)
            self.log.info("PrimeHub job %s %s on Kubernetes", job.id, state)
        elif state == "running":
            job.status = State.RUNNING
        self.store.save(job)

    async def _pull_log(self, job_id: str, path: Path) -> None:
        offset = await asyncio.to_thread(_size, path)
        try:
            data = await self.hub.log(job_id, offset)
        except JobsError as e:
            self.log.debug("PrimeHub job %s: log not available: %s", job_id, e)
            return
        if data:
            await asyncio.to_thread(_append, path, data)

    def _finalize(self, job: Job, state: State, reason: str) -> None:
        job.status = state
        job.reason = reason
        job.finished_at = utcnow()
        self.store.save(job)
        self.log.info("PrimeHub job %s %s: %s", job.id, state.value, reason)


def _read_marker_files(jobs_dir: Path) -> tuple[dict[str, Any], set[str] | None]:
    """({job id: remote.json's content}, the seen ids or None without a seen file)."""
    markers: dict[str, Any] = {}
    for path in sorted(jobs_dir.glob(f"*/{MARKER}")):
        try:
            markers[path.parent.name] = json.loads(path.read_text())
        except (OSError, ValueError):
            markers[path.parent.name] = None  # unreadable: as before, not dispatched
    try:
        seen: set[str] | None = {str(i) for i in json.loads((jobs_dir / SEEN).read_text())}
    except FileNotFoundError:
        seen = None
    except (OSError, ValueError, TypeError):
        seen = set()
    return markers, seen


def _remove_marker_files(jobs_dir: Path, job_ids: set[str], seen: bool) -> None:
    for job_id in job_ids:
        (jobs_dir / job_id / MARKER).unlink(missing_ok=True)
    if seen:
        (jobs_dir / SEEN).unlink(missing_ok=True)


def _copy_snapshot(source: Path, target: Path, volume: Path) -> str:
    """Into the shared group volume: no folder on the way and not the file may be a link.
    Returns the SHA-256 of what was written: the job pod runs the copy only if it still has
    it (any group member can edit the copy until then)."""
    data = source.read_bytes()
    make_folders(target.parent, volume)
    replace_file(target, data, volume)
    return hashlib.sha256(data).hexdigest()


def _copy_artifacts(source: Path, target: Path) -> None:
    """From the shared group volume: regular files only, links never followed, capped."""
    target.mkdir(parents=True, exist_ok=True)
    copy_limited(source, target, DEFAULT_MAX_FILES, DEFAULT_MAX_BYTES)


def _remove_folder(folder: Path) -> bool:
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)
        return True
    return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)
