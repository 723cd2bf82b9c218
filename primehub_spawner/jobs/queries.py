"""What a caller asks about their jobs, and the two actions on one job: cancel and delete.

``JobQueries``: the submit dialog's context, list, get, the log (live from the pod or the copy
kept after it), cancel and delete. A user sees their own jobs only; admins see all.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from primehub_jobs_contract.errors import Conflict, NotFound, Unavailable
from primehub_jobs_contract.logs import MAX_LOG_CHUNK, read_chunk
from primehub_jobs_contract.states import State

from ..quantities import Resources
from .kube import KubeError
from .logtail import Cursor, new_lines, since_second, split_lines, stamp_ns
from .manifest import job_object_name
from .model import HubJob
from .shared import Caller, Shared

# where recent readers of live logs are: (job id, next offset) -> cursor, so a client that
# passes only the offset (the REST contract before cursors) still reads incrementally
CURSOR_MEMO = 1024
# raw bytes asked of the log API per read: the answer's cap plus room for the timestamps
RAW_LOG_LIMIT = 2 * MAX_LOG_CHUNK


class JobQueries:
    """Reads of jobs and the cancel/delete actions, each for one caller."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self._cursors: OrderedDict[tuple[str, int], Cursor] = OrderedDict()

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
        data, next_offset, _ = await self.read_log_at(caller, job_id, offset)
        return data, next_offset

    async def read_log_at(
        self, caller: Caller, job_id: str, offset: int = 0, cursor: Cursor | None = None
    ) -> tuple[bytes, int, Cursor | None]:
        """:meth:`read_log` with the live log's cursor: given the cursor of the previous read
        (or remembered for ``offset``), only the lines after it are asked of Kubernetes."""
        job = await self.get(caller, job_id)
        if job.log_saved:
            data = await asyncio.to_thread(read_chunk, self.shared.log_path(job.id), offset)
            return data, offset + len(data), None
        kube = self.shared.kube
        pods = kube.job_pods(job_object_name(job.id))
        if not pods:
            return b"", offset, cursor
        pod = pods[0]["metadata"]["name"]
        cursor = cursor or self._cursors.get((job.id, offset))
        try:
            if cursor is not None or offset == 0:
                # only what is new: the lines since the cursor's second, boundary lines dropped
                raw = await kube.pod_log(
                    pod,
                    limit_bytes=RAW_LOG_LIMIT,
                    since_time=since_second(cursor.stamp) if cursor else None,
                    timestamps=True,
                )
                truncated = len(raw.encode("utf-8", "replace")) >= RAW_LOG_LIMIT
                data, after = new_lines(raw, cursor, MAX_LOG_CHUNK, truncated)
            else:
                # an offset without a cursor (another client's): read up to it once, then on
                raw = await kube.pod_log(pod, timestamps=True)
                data, after = _skip_to(raw, offset)
        except KubeError as e:
            raise Unavailable(str(e)) from None
        next_offset = offset + len(data)
        if after is not None:
            self._cursors[(job.id, next_offset)] = after
            self._cursors.move_to_end((job.id, next_offset))
            while len(self._cursors) > CURSOR_MEMO:
                self._cursors.popitem(last=False)
        return data, next_offset, after

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


def _skip_to(raw: str, offset: int) -> tuple[bytes, Cursor | None]:
    """From a whole ``timestamps=true`` log: up to 1 MiB of whole lines from byte ``offset`` of
    the log without timestamps, and the cursor after them (None if ``offset`` is not at a line
    start: that reader goes on by offset alone)."""
    lines = split_lines(raw)
    position = 0
    for index in range(len(lines) + 1):
        if position == offset:
            if index == 0:
                return new_lines(raw, None, MAX_LOG_CHUNK)
            stamp = lines[index - 1][0]
            ns = stamp_ns(stamp)
            if ns is None:
                break
            seen = sum(1 for s, _ in lines[:index] if stamp_ns(s) == ns)
            return new_lines(raw, Cursor(stamp, seen), MAX_LOG_CHUNK)
        if position > offset or index == len(lines):
            break
        position += len(lines[index][1].encode("utf-8", "replace"))
    text = b"".join(t.encode("utf-8", "replace") for _, t in lines)
    return text[offset : offset + MAX_LOG_CHUNK], None
