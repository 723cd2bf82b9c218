"""The job backend interface: where a job's executor runs.

``local`` runs executors as processes next to this server (``local.py``); ``kubernetes`` hands
jobs to the hub's ``primehub-jobs`` service, which runs them as Kubernetes Jobs (``remote.py``).
Both implement these methods; the job's ``backend`` field selects one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ..context import ServerContext
from .model import Job, JobRequest


class JobBackend(ABC):
    """Runs, cancels and reports jobs of one kind. Records live in the shared JobStore."""

    name: str = ""
    description: str = ""

    @abstractmethod
    async def start(self) -> None:
        """Begin scheduling; recover jobs left by a previous server process."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop scheduling. Running jobs keep running (they are detached)."""

    @abstractmethod
    def validate(self, request: JobRequest, context: ServerContext) -> None:
        """Raise InvalidRequest if this backend cannot honour the request's options."""

    @abstractmethod
    def wake(self) -> None:
        """A job was submitted: schedule soon."""

    def in_use(self) -> None:  # noqa: B027 (optional hook: most backends prepare nothing)
        """A signed-in user called the jobs API: prepare for jobs (nothing by default)."""

    @abstractmethod
    async def cancel(self, job: Job) -> Job:
        """Cancel a pending or running job; returns the updated record."""

    @abstractmethod
    def active_count(self) -> int:
        """Jobs pending or running on this backend (keeps the server from being culled)."""

    @abstractmethod
    def job_dir(self, job_id: str) -> Path:
        """Private folder of the job: snapshot, status, log, artifacts."""
