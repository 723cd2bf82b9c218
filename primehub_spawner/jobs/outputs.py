"""A hub job's output notebook and artifacts, served by the service itself to the job's owner
(and admins), so they are not lost with a stopped server (issue 17, part 6).

They live in the job's group volume (the output next to the source notebook, the artifacts in
``.primehub-jobs/<id>/artifacts/``), which every member of the group can write: the reads go
through :mod:`.volume_files` (confined, no links, capped). Where the service finds a group's
volume is the admin's ``JobsApp.group_volumes``: a folder template with ``{group}`` (the group
volumes mounted into the service), or ``hostPath`` (asked of Kubernetes: the claim's hostPath
or local volume, on a single-node cluster). They are served for ``log_retention`` after the
job ended, like its log; a job's record must exist (another user's job is a 404).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import IO

from primehub_jobs_contract.errors import Forbidden, JobsError, NotFound, Unavailable
from primehub_jobs_contract.layout import ARTIFACTS, volume_job_folder

from ..catalog import group_volume_name
from .model import HubJob
from .queries import JobQueries
from .shared import Caller, Shared
from .volume_files import (
    MAX_ARTIFACT_BYTES,
    MAX_OUTPUT_BYTES,
    Listing,
    Opened,
    TooLarge,
    UnsafePath,
    list_artifacts,
    open_file,
    zip_artifacts,
)

HOST_PATH = "hostPath"  # JobsApp.group_volumes: ask Kubernetes where each claim's volume is
NOT_CONFIGURED = (
    "This jobs service does not read group volumes (its admin has not set "
    "JobsApp.group_volumes): open the job's output and artifacts from your notebook server."
)


class Gone(JobsError):
    """Outputs past their retention period (410)."""

    status_code = 410


class TooLargeToServe(JobsError):
    """A file or set of files over the service's caps (413)."""

    status_code = 413


class JobOutputs:
    """The output notebook and artifacts of one caller's job."""

    def __init__(self, shared: Shared, queries: JobQueries) -> None:
        self.shared = shared
        self.queries = queries

    async def job(self, caller: Caller, job_id: str) -> HubJob:
        """The caller's job (admins: any) whose outputs are still kept, else 404 / 410."""
        s = self.shared
        job = await self.queries.get(caller, job_id)
        if job.finished_at is not None and s.clock() - job.finished_at > s.settings.log_retention:
            days = s.settings.log_retention.total_seconds() / 86400
            raise Gone(
                f"The output and artifacts of job {job.id} are no longer served: they are "
                f"kept {days:g} days after the job ended, like its log."
            )
        return job

    async def volume(self, job: HubJob) -> Path:
        """The root of ``job``'s group volume as this service sees it (admin's setting)."""
        setting = self.shared.settings.group_volumes
        if not setting:
            raise Unavailable(NOT_CONFIGURED)
        if setting == HOST_PATH:
            found = await self.shared.kube.claim_host_path(group_volume_name(job.group))
            if found is None:
                raise NotFound(f"The volume of group {job.group} does not exist (any more).")
            return Path(found)
        return Path(setting.replace("{group}", job.group))

    async def output(self, caller: Caller, job_id: str) -> tuple[HubJob, Opened]:
        """The job's executed notebook, opened (the caller streams and closes it)."""
        job = await self.job(caller, job_id)
        root = await self.volume(job)
        what = f"the output notebook of job {job.id}"
        return job, await _read(open_file, root, job.output, MAX_OUTPUT_BYTES, what, what=what)

    async def artifacts(self, caller: Caller, job_id: str) -> Listing:
        """The job's artifact files (paths relative to its artifacts folder, sizes)."""
        job = await self.job(caller, job_id)
        root = await self.volume(job)
        what = f"the artifacts folder of job {job.id}"
        return await _read(list_artifacts, root, _folder(job), what=what)

    async def artifact(self, caller: Caller, job_id: str, path: str) -> Opened:
        """One artifact file, opened (the caller streams and closes it)."""
        job = await self.job(caller, job_id)
        root = await self.volume(job)
        return await _read(
            open_file,
            root,
            f"{_folder(job)}/{path}",
            MAX_ARTIFACT_BYTES,
            "'path'",
            what=f"artifact {path!r} of job {job.id}",
        )

    async def artifacts_zip(self, caller: Caller, job_id: str) -> IO[bytes]:
        """A zip of the job's artifacts (a rewound temporary file the caller closes)."""
        job = await self.job(caller, job_id)
        root = await self.volume(job)
        what = f"the artifacts of job {job.id}"
        return await _read(zip_artifacts, root, _folder(job), what=what)


def _folder(job: HubJob) -> str:
    return f"{volume_job_folder(job.id)}/{ARTIFACTS}"


async def _read(fn, *args, what: str):  # type: ignore[no-untyped-def]
    """Run a blocking read of the group volume in a thread; its failures said as 4xx."""
    try:
        return await asyncio.to_thread(fn, *args)
    except UnsafePath:
        raise Forbidden(
            f"{what[0].upper()}{what[1:]} is not served: a symbolic link or something other "
            "than a regular file is in its place in the group volume."
        ) from None
    except TooLarge as e:
        raise TooLargeToServe(
            f"{what[0].upper()}{what[1:]} is too large to be served by the jobs service "
            f"({e}); open it from your notebook server."
        ) from None
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"{what[0].upper()}{what[1:]} does not exist (yet).") from None
