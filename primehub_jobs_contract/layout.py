"""Where a job's files live.

The local backend keeps each job in ``<jobs dir>/<id>/`` outside the served tree; the
Kubernetes backend's job pod works in ``<group volume>/.primehub-jobs/<id>/``. Both use the
same names inside that folder.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

JOBS_FOLDER = ".primehub-jobs"  # in a group volume: the folder of the Kubernetes jobs' files
SNAPSHOT = "input.ipynb"
SPEC = "spec.json"
STATUS = "status.json"
LOG = "job.log"
ARTIFACTS = "artifacts"


@dataclass(frozen=True)
class JobFiles:
    """Paths of one job's files in its folder ``root``."""

    root: Path  # a PurePosixPath for the container paths of a job pod

    @property
    def snapshot(self) -> Path:
        return self.root / SNAPSHOT

    @property
    def spec(self) -> Path:
        return self.root / SPEC

    @property
    def status(self) -> Path:
        return self.root / STATUS

    @property
    def log(self) -> Path:
        return self.root / LOG

    @property
    def artifacts(self) -> Path:
        return self.root / ARTIFACTS


def volume_job_folder(job_id: str) -> str:
    """The job's folder relative to its group volume: ``.primehub-jobs/<id>``."""
    return posixpath.join(JOBS_FOLDER, job_id)


def in_jobs_folder(relative: str) -> bool:
    """True if a normalised volume-relative path lies in the jobs folder."""
    return relative.split("/", 1)[0] == JOBS_FOLDER
