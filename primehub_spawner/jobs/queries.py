"""What a caller asks about their jobs, and the two actions on one job: cancel and delete.

``JobQueries``: the submit dialog's context, list, get, the log (live from the pod or the copy
kept after it), cancel and delete. A user sees their own jobs only; admins see all.
"""

from __future__ import annotations

import asyncio
from typing import Any

from primehub_jobs_contract.errors import Conflict, NotFound, Unavailable
from primehub_jobs_contract.logs import MAX_LOG_CHUNK, read_chunk
from primehub_jobs_contract.states import State

from ..quantities import Resources
from .kube import KubeError
from .manifest import job_object_name
from .model import HubJob
from .shared import Caller, Shared


class JobQueries:
    """Reads of jobs and the cancel/delete actions, each for one caller."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    async def context(self, caller: Caller) -> dict[str, Any]:
        """The caller's groups with instance types and images (for the submit dialog)."""
        view = await self.shared.view(caller)
        settings = self.shared.settings
        return {
            "user": caller.name,
            "admin": caller.admin,
            "projectRoot": settings.project_root,
            "defaultDeadline": settings.default_deadline,
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
        s = self.shared
        job = await s.db(s.store.job, job_id) if job_id else None
        if job is None or not (caller.admin or job.user == caller.name):
            raise NotFound(f"No job with id {job_id!r}.")
        return job

    async def list(
        self, caller: Caller, states: tuple[State, ...] = (), limit: int = 50, offset: int = 0
    ) -> tuple[list[HubJob], int]:
        """The caller's jobs (admins: everyone's), newest first."""
        s = self.shared
        return await s.db(
            s.store.jobs,
            user=None if caller.admin else caller.name,
            states=states,
            limit=limit,
            offset=offset,
        )

    async def read_log(self, caller: Caller, job_id: str, offset: int = 0) -> tuple[bytes, int]:
        """Log bytes from ``offset`` (at most 1 MiB) and the next offset: live from the pod,
        or the copy saved when the job ended."""
        job = await self.get(caller, job_id)
        kube = self.shared.kube
        if job.log_saved:
            data = await asyncio.to_thread(read_chunk, self.shared.log_path(job.id), offset)
        else:
            pods = kube.job_pods(job_object_name(job.id))
            text = ""
            if pods:
                try:
                    text = await kube.pod_log(pods[0]["metadata"]["name"])
                except KubeError as e:
                    raise Unavailable(str(e)) from None
            data = text.encode("utf-8", "replace")[offset : offset + MAX_LOG_CHUNK]
        return data, offset + len(data)

    async def cancel(self, caller: Caller, job_id: str) -> HubJob:
        """Cancel a job: a queued one is dropped, a started one's Job and pod are deleted (the
        executor saves the partial output notebook on SIGTERM)."""
        s = self.shared
        async with s.lock:
            job = await self.get(caller, job_id)
            if job.state.is_final:
                raise Conflict(f"Job {job.id} has already {job.state.value}; nothing to cancel.")
            if job.state != State.PENDING:
                await s.save_log(job)
                try:
                    await s.delete_k8s(job)
                except KubeError as e:
                    raise Unavailable(f"Could not cancel job {job.id}: {e}") from None
            s.finish(job, State.CANCELLED, f"Cancelled by {caller.name}")
            job.cancel_requested = True
            await s.db(s.store.save_job, job)
            return job

    async def delete(self, caller: Caller, job_id: str) -> None:
        """Forget a finished job and its saved log (outputs in the group volume stay)."""
        s = self.shared
        job = await self.get(caller, job_id)
        if not job.state.is_final:
            raise Conflict(f"Job {job.id} is {job.state.value}; cancel it before deleting it.")
        await s.delete_k8s(job)
        await s.db(s.store.delete_job, job.id)
        await asyncio.to_thread(s.log_path(job.id).unlink, missing_ok=True)
