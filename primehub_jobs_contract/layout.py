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
#: The output notebook's file name, written next to the source notebook, for every submit
#: (JupyterLab's dialog, ``primehub-job``, both REST APIs, schedules): ``{stem}`` is the
#: notebook's name without ``.ipynb``, ``{timestamp}`` the submit time (UTC,
#: ``YYYYmmddHHMMSS``), ``{id:.6}`` the first six characters of the job's id (two submits of
#: one notebook in the same second get different names). ``PrimeHubApp.output_template``
#: may change it on a server (fields ``{stem}``, ``{name}``, ``{id}``, ``{timestamp}``).
OUTPUT_TEMPLATE = "{stem}-{timestamp}-{id:.6}-output.ipynb"


def output_file_name(
    stem: str, timestamp: str, job_id: str, template: str = OUTPUT_TEMPLATE
) -> str:
    """The output notebook's file name (:data:`OUTPUT_TEMPLATE`); ``name`` is the stem."""
    return template.format(stem=stem, name=stem, timestamp=timestamp, id=job_id)


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
